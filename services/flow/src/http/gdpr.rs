//! GDPR data-subject requests: an administrator files an erasure or export request about a
//! person (e-mail) or a company (CVR); flow announces it on `tekup.flow.gdpr` and collects
//! every service's answer (its own included) as the request's evidence.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_events::gdpr::{Erase, Kind, Part};
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_proto::flow::v1::{ErasureRequested, ExportRequested};
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::{FieldError, not_found};
use tekup_runtime::validate::{check, cvr_in, email};
use tekup_runtime::{Problem, in_context};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::gdpr::{self, Answer, NewRequest, Request, SERVICES};

/// Where flow keeps personal data: raw inbound deliveries, and executions whose data mention
/// the subject. flow answers its own requests like every other service (a consumer of
/// `tekup.flow.gdpr`). The requests themselves are kept: they are the evidence of compliance.
pub const GDPR: &[Part] = &[
    Part {
        table: "flow.webhook_deliveries",
        by_email: Some("strpos(lower(encode(body, 'escape')), lower($2)) > 0"),
        by_cvr: Some("strpos(encode(body, 'escape'), $2) > 0"),
        erase: Erase::Delete,
    },
    Part {
        table: "flow.executions",
        by_email: Some("strpos(lower(input::text || outputs::text), lower($2)) > 0"),
        by_cvr: Some("strpos(input::text || outputs::text, $2) > 0"),
        erase: Erase::Anonymise("input = '{\"erased\": true}', outputs = '{}'"),
    },
    Part {
        table: "flow.execution_steps",
        by_email: Some("strpos(lower(coalesce(output::text, '')), lower($2)) > 0"),
        by_cvr: Some("strpos(coalesce(output::text, ''), $2) > 0"),
        erase: Erase::Anonymise("output = '{\"erased\": true}'"),
    },
];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// erasure (art. 17) or export (art. 15 and 20).
    kind: String,
    /// The person, by e-mail address.
    #[serde(default)]
    email: Option<String>,
    /// Or the company, by CVR number.
    #[serde(default)]
    cvr: Option<String>,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerView {
    service: String,
    /// Rows erased or exported, per table.
    #[schema(value_type = Object)]
    counts: Value,
    /// An export's data from this service.
    #[schema(value_type = Object)]
    bundle: Option<Value>,
    answered_at: DateTime<Utc>,
}

impl From<Answer> for AnswerView {
    fn from(a: Answer) -> Self {
        Self {
            service: a.service,
            counts: a.counts,
            bundle: a.bundle,
            answered_at: a.answered_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    id: Uuid,
    kind: String,
    email: Option<String>,
    cvr: Option<String>,
    reason: String,
    /// open until every service answered, then completed.
    status: String,
    requested_at: DateTime<Utc>,
    /// One month after the request (GDPR art. 12(3)).
    deadline: DateTime<Utc>,
    overdue: bool,
    completed_at: Option<DateTime<Utc>>,
    answers: Vec<AnswerView>,
    /// Services that have not answered yet.
    pending: Vec<&'static str>,
}

fn view(request: Request, answers: Vec<Answer>) -> RequestView {
    let pending = SERVICES
        .iter()
        .copied()
        .filter(|s| !answers.iter().any(|a| a.service == *s))
        .collect();
    RequestView {
        overdue: request.status == "open" && request.deadline < Utc::now(),
        id: request.id,
        kind: request.kind,
        email: request.email,
        cvr: request.cvr,
        reason: request.reason,
        status: request.status,
        requested_at: request.requested_at,
        deadline: request.deadline,
        completed_at: request.completed_at,
        answers: answers.into_iter().map(AnswerView::from).collect(),
        pending,
    }
}

/// File a data-subject request (administrators).
#[utoipa::path(post, path = "/v1/gdpr/requests", tag = "gdpr", security(("user" = [])),
    request_body = RequestBody,
    responses((status = 202, body = RequestView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<RequestBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let mut errors = Vec::new();
    let kind = match body.kind.as_str() {
        "erasure" => Some(Kind::Erasure),
        "export" => Some(Kind::Export),
        _ => {
            errors.push(FieldError::new("kind", "must be erasure or export"));
            None
        }
    };
    let address = body
        .email
        .as_deref()
        .map(|e| email("email", e, &mut errors));
    let cvr = body
        .cvr
        .as_deref()
        .and_then(|c| cvr_in("cvr", c, &mut errors))
        .map(|c| c.as_str().to_owned());
    if body.email.is_none() && body.cvr.is_none() {
        errors.push(FieldError::new(
            "email",
            "name the person (email) or the company (cvr)",
        ));
    }
    if body.reason.chars().count() > 2000 {
        errors.push(FieldError::new("reason", "must be at most 2000 characters"));
    }
    check(errors)?;
    let kind = kind.ok_or_else(|| Problem::internal(&"checked above"))?;
    let (request, answers) = in_context!(&pool, principal.context(), |conn| {
        let request = gdpr::create(
            conn,
            NewRequest {
                org_id: principal.org_id,
                kind: kind.as_str(),
                email: address.as_deref(),
                cvr: cvr.as_deref(),
                reason: body.reason.trim(),
                requested_by: principal.user_id,
            },
        )
        .await?;
        announce(conn, &request).await?;
        let answers = gdpr::answers(conn, request.id).await?;
        Ok::<_, Problem>((request, answers))
    })?;
    Ok(HttpResponse::Accepted().json(view(request, answers)))
}

/// Announces a request on `tekup.flow.gdpr`, for every service (flow too) to answer.
async fn announce(
    conn: &mut diesel_async::AsyncPgConnection,
    request: &Request,
) -> Result<(), Problem> {
    let topic = topic("flow", "gdpr");
    let (request_id, org_id) = (request.id.to_string(), request.org_id.to_string());
    let (cvr, email) = (
        request.cvr.clone().unwrap_or_default(),
        request.email.clone().unwrap_or_default(),
    );
    let subject = request.id.to_string();
    if request.kind == "erasure" {
        let payload = ErasureRequested {
            request_id,
            org_id,
            cvr,
            email,
        };
        outbox::publish(
            conn,
            Outgoing {
                topic: &topic,
                org_id: Some(request.org_id),
                cvr: request.cvr.as_deref(),
                subject: &subject,
                payload: &payload,
            },
        )
        .await?;
    } else {
        let payload = ExportRequested {
            request_id,
            org_id,
            cvr,
            email,
        };
        outbox::publish(
            conn,
            Outgoing {
                topic: &topic,
                org_id: Some(request.org_id),
                cvr: request.cvr.as_deref(),
                subject: &subject,
                payload: &payload,
            },
        )
        .await?;
    }
    Ok(())
}

/// The organization's requests, newest first (administrators).
#[utoipa::path(get, path = "/v1/gdpr/requests", tag = "gdpr", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of requests: {items, next_cursor}")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let limit = query.limit()?;
    let after = parse_time_cursor(query.after.as_deref())?;
    let items = in_context!(&pool, principal.context(), |conn| {
        let mut items = Vec::new();
        for request in gdpr::list(conn, after, limit).await? {
            let answers = gdpr::answers(conn, request.id).await?;
            items.push(view(request, answers));
        }
        Ok::<_, Problem>(items)
    })?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |r| {
        time_cursor(r.requested_at, r.id)
    })))
}

/// A request with every service's answer (administrators).
#[utoipa::path(get, path = "/v1/gdpr/requests/{id}", tag = "gdpr", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RequestView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn show(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let (request, answers) = in_context!(&pool, principal.context(), |conn| {
        let request = gdpr::find(conn, *id)
            .await
            .map_err(not_found("such request"))?;
        let answers = gdpr::answers(conn, *id).await?;
        Ok::<_, Problem>((request, answers))
    })?;
    Ok(HttpResponse::Ok().json(view(request, answers)))
}

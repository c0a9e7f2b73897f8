//! Next-step recommendations and the company timeline.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_company, read_in_company};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{check, company_exists, cvr, of_existing_company, text};
use crate::domain::recommender;
use crate::store::steps::{self, ManualStep, Step, TimelineItem};
use tekup_runtime::problem::not_found;

#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    id: Uuid,
    cvr: String,
    recommendation_text: String,
    /// 0–1; steps are ranked by it.
    confidence_score: f64,
    /// Why it is recommended.
    reason: String,
    /// The recommender rule that made it; absent for steps made by a user.
    rule: Option<String>,
    based_on_conversation_id: Option<Uuid>,
    based_on_thread_id: Option<Uuid>,
    status: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<Step> for StepView {
    fn from(s: Step) -> Self {
        let _ = s.source_ref;
        Self {
            id: s.id,
            cvr: s.cvr,
            recommendation_text: s.recommendation_text,
            confidence_score: s.confidence_score,
            reason: s.reason,
            rule: s.rule,
            based_on_conversation_id: s.based_on_conversation_id,
            based_on_thread_id: s.based_on_thread_id,
            status: s.status,
            created_by: s.created_by,
            created_at: s.created_at,
        }
    }
}

/// Run the recommender over the company's data and return its active steps, ranked (write
/// access). Steps completed or skipped before are not proposed again.
#[utoipa::path(post, path = "/v1/companies/{cvr}/process-steps/recommend", tag = "process steps",
    security(("user" = [])),
    responses((status = 200, body = [StepView]),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn recommend(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let active = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        company_exists(conn, principal.org_id, &cvr).await?;
        let facts = steps::facts(conn, principal.org_id, cvr.as_str()).await?;
        steps::propose(
            conn,
            principal.org_id,
            cvr.as_str(),
            &recommender::recommend(&facts),
        )
        .await?;
        Ok::<_, Problem>(steps::list(conn, principal.org_id, cvr.as_str(), Some("active")).await?)
    })?;
    let active: Vec<StepView> = active.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(active))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StepQuery {
    /// active, completed or skipped.
    status: Option<String>,
}

/// A company's process steps, most confident first (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/process-steps", tag = "process steps",
    security(("user" = [])),
    params(StepQuery),
    responses((status = 200, body = [StepView]),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<StepQuery>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let status = query.status.clone();
    if status
        .as_deref()
        .is_some_and(|s| !["active", "completed", "skipped"].contains(&s))
    {
        return Err(Problem::validation(vec![FieldError::new(
            "status",
            "must be active, completed or skipped",
        )]));
    }
    let items = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        of_existing_company(
            conn,
            principal.org_id,
            &cvr,
            steps::list(conn, principal.org_id, cvr.as_str(), status.as_deref()),
        )
        .await
    })?;
    let items: Vec<StepView> = items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(items))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    recommendation_text: String,
    /// 0–1.
    confidence_score: f64,
    #[serde(default)]
    reason: String,
    /// The renos conversation it is based on.
    based_on_conversation_id: Option<Uuid>,
    /// The renos e-mail thread it is based on.
    based_on_thread_id: Option<Uuid>,
}

/// Add a step by hand (write access).
#[utoipa::path(post, path = "/v1/companies/{cvr}/process-steps", tag = "process steps",
    security(("user" = [])),
    request_body = StepBody,
    responses((status = 201, body = StepView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<StepBody>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let text = text(
        "recommendation_text",
        &body.recommendation_text,
        1000,
        &mut errors,
    );
    if !(0.0..=1.0).contains(&body.confidence_score) {
        errors.push(FieldError::new(
            "confidence_score",
            "must be between 0 and 1",
        ));
    }
    check(errors)?;
    let step = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        company_exists(conn, principal.org_id, &cvr).await?;
        let step = ManualStep {
            text: &text,
            confidence: body.confidence_score,
            reason: &body.reason,
            based_on_conversation_id: body.based_on_conversation_id,
            based_on_thread_id: body.based_on_thread_id,
            by: principal.user_id,
        };
        Ok::<_, Problem>(steps::create(conn, principal.org_id, cvr.as_str(), step).await?)
    })?;
    Ok(HttpResponse::Created().json(StepView::from(step)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepStatus {
    /// active, completed or skipped.
    status: String,
}

/// Complete or skip a step, or make it active again (write access).
#[utoipa::path(patch, path = "/v1/companies/{cvr}/process-steps/{id}", tag = "process steps",
    security(("user" = [])),
    request_body = StepStatus,
    responses((status = 200, body = StepView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn set_status(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<StepStatus>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let step = set_status_checked(&pool, &principal, &cvr_text, id, &body.status).await?;
    Ok(HttpResponse::Ok().json(StepView::from(step)))
}

/// Sets a step's status after checking it (write access): the way in of the API and of the
/// web console.
pub(crate) async fn set_status_checked(
    pool: &Pool,
    principal: &Principal,
    cvr_text: &str,
    id: Uuid,
    status: &str,
) -> Result<Step, Problem> {
    let cvr = cvr("cvr", cvr_text)?;
    if !["active", "completed", "skipped"].contains(&status) {
        return Err(Problem::validation(vec![FieldError::new(
            "status",
            "must be active, completed or skipped",
        )]));
    }
    in_company!(pool, principal, &cvr, AccessLevel::Write, |conn| {
        Ok::<_, Problem>(steps::set_status(conn, principal.org_id, cvr.as_str(), id, status).await?)
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineView {
    /// One of the kinds the `kind` filter takes.
    kind: String,
    id: Uuid,
    at: DateTime<Utc>,
    /// What the item is named by; a booking's is the visit's time (RFC 3339), an invoice's its
    /// number, a price calculation's its service code.
    title: String,
    /// The item's state: its status, a deal's stage, an activity's kind, an e-mail's direction.
    detail: Option<String>,
    /// The amount of a deal, price calculation, quote or invoice, in øre.
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_ore: Option<i64>,
}

impl From<TimelineItem> for TimelineView {
    fn from(i: TimelineItem) -> Self {
        Self {
            kind: i.kind,
            id: i.id,
            at: i.at,
            title: i.title,
            detail: i.detail,
            amount_ore: i.amount_ore,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Comma-separated kinds to include (conversation, email_thread, email, document, activity,
    /// task, deal, process_step, interaction, price_calculation, quote, booking, invoice).
    kind: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// Everything about a company, newest first (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/timeline", tag = "process steps",
    security(("user" = [])),
    params(TimelineQuery),
    responses((status = 200, description = "A page of timeline items: {items, next_cursor}"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn timeline(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    let before = parse_time_cursor(query.after.as_deref())?;
    let kinds: Option<Vec<String>> = query
        .kind
        .as_deref()
        .map(|k| k.split(',').map(|s| s.trim().to_owned()).collect());
    if let Some(unknown) = kinds
        .iter()
        .flatten()
        .find(|k| !steps::KINDS.contains(&k.as_str()))
    {
        return Err(Problem::validation(vec![FieldError::new(
            "kind",
            format!("`{unknown}` is not one of {}", steps::KINDS.join(", ")),
        )]));
    }
    let items = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        of_existing_company(
            conn,
            principal.org_id,
            &cvr,
            steps::timeline(conn, principal.org_id, cvr.as_str(), kinds, before, limit),
        )
        .await
    })?;
    let page = Page::new(
        items.into_iter().map(TimelineView::from).collect(),
        limit,
        |i: &TimelineView| time_cursor(i.at, i.id),
    );
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunicationView {
    id: Uuid,
    cvr: String,
    /// conversation (chatbot) or email_thread.
    kind: String,
    title: String,
    channel: String,
    customer_email: Option<String>,
    /// [{author, text, sent_at}], oldest first.
    #[schema(value_type = Vec<Object>)]
    messages: serde_json::Value,
    message_count: i32,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    /// The customer wrote last.
    awaiting_reply: bool,
}

impl From<steps::Communication> for CommunicationView {
    fn from(c: steps::Communication) -> Self {
        Self {
            id: c.id,
            cvr: c.cvr,
            kind: c.kind,
            title: c.title,
            channel: c.channel,
            customer_email: c.customer_email,
            messages: c.messages,
            message_count: c.message_count,
            first_at: c.first_at,
            last_at: c.last_at,
            awaiting_reply: c.awaiting_reply,
        }
    }
}

/// A chatbot conversation or e-mail thread of the company's timeline, with its messages
/// (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/communications/{id}", tag = "process steps",
    security(("user" = [])),
    params(("cvr" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = CommunicationView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn communication(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let cvr = cvr("cvr", &cvr_text)?;
    let item = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        let item = async {
            steps::communication(conn, principal.org_id, cvr.as_str(), id)
                .await
                .map_err(not_found("such conversation or e-mail thread"))
        };
        of_existing_company(conn, principal.org_id, &cvr, item).await
    })?;
    Ok(HttpResponse::Ok().json(CommunicationView::from(item)))
}

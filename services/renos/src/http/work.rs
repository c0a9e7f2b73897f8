//! Checklists, cleaners' breaks and escalations.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::FieldError;
use tekup_runtime::validate::{check, text};
use tekup_runtime::{Problem, in_context};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::operations::{booking_access, booking_problem};
use super::{customer_access, invalid, not_found, org_editor, require};
use crate::events::Scope;
use crate::store::plans;
use crate::store::work::{self, Break, Escalation, NewEscalation, Task};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    title: String,
    #[serde(default)]
    position: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    id: Uuid,
    /// Set for a plan's item (on every visit).
    plan_id: Option<Uuid>,
    /// Set for one visit's own item.
    booking_id: Option<Uuid>,
    title: String,
    position: i32,
    /// Ticked off by an execution (when listed for a booking).
    done: bool,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        Self {
            id: t.id,
            plan_id: t.plan_id,
            booking_id: t.booking_id,
            title: t.title,
            position: t.position,
            done: t.done,
        }
    }
}

fn task_body(body: &TaskBody) -> Result<String, Problem> {
    let mut errors = Vec::new();
    let title = text("title", &body.title, 200, &mut errors);
    if !(0..=1000).contains(&body.position) {
        errors.push(FieldError::new("position", "must be 0 to 1000"));
    }
    check(errors)?;
    Ok(title)
}

/// Add an item to a plan's checklist, done on each of its visits (write access).
#[utoipa::path(post, path = "/v1/plans/{id}/tasks", tag = "operations", security(("user" = [])),
    request_body = TaskBody,
    responses((status = 201, body = TaskView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn add_plan_task(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
    body: web::Json<TaskBody>,
) -> Result<HttpResponse, Problem> {
    let plan_id = path.into_inner();
    let title = task_body(&body)?;
    let task = in_context!(&pool, principal.context(), |conn| {
        let bookings = plans::plan_bookings(conn, plan_id).await?;
        let Some(first) = bookings.as_slice().first() else {
            return Err(Problem::not_found("No such plan."));
        };
        require(conn, &principal, first.cvr.as_deref(), AccessLevel::Write).await?;
        let scope = Scope {
            org_id: principal.org_id,
            cvr: first.cvr.clone(),
        };
        Ok::<_, Problem>(
            work::add_task(conn, &scope, Some(plan_id), None, &title, body.position).await?,
        )
    })?;
    Ok(HttpResponse::Created().json(TaskView::from(task)))
}

/// Add an item to one visit's checklist (write access).
#[utoipa::path(post, path = "/v1/bookings/{id}/tasks", tag = "operations", security(("user" = [])),
    request_body = TaskBody,
    responses((status = 201, body = TaskView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn add_booking_task(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
    body: web::Json<TaskBody>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let title = task_body(&body)?;
    let task = in_context!(&pool, principal.context(), |conn| {
        let booking = booking_access(conn, &principal, id, AccessLevel::Write).await?;
        let scope = Scope {
            org_id: principal.org_id,
            cvr: booking.cvr.clone(),
        };
        Ok::<_, Problem>(work::add_task(conn, &scope, None, Some(id), &title, body.position).await?)
    })?;
    Ok(HttpResponse::Created().json(TaskView::from(task)))
}

/// A visit's checklist: its plan's items and its own, with what was done.
#[utoipa::path(get, path = "/v1/bookings/{id}/tasks", tag = "operations", security(("user" = [])),
    responses((status = 200, body = [TaskView]),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn booking_tasks(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let tasks = in_context!(&pool, principal.context(), |conn| {
        let booking = booking_access(conn, &principal, id, AccessLevel::Read).await?;
        Ok::<_, Problem>(work::booking_tasks(conn, id, booking.plan_id).await?)
    })?;
    let views: Vec<TaskView> = tasks.into_iter().map(TaskView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakBody {
    cleaner_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreakView {
    id: Uuid,
    cleaner_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    reason: String,
}

impl From<Break> for BreakView {
    fn from(b: Break) -> Self {
        Self {
            id: b.id,
            cleaner_id: b.cleaner_id,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            reason: b.reason,
        }
    }
}

/// Record a cleaner's break (admins and analysts). A break over a booked visit, or over
/// another break, is a 409.
#[utoipa::path(post, path = "/v1/breaks", tag = "operations", security(("user" = [])),
    request_body = BreakBody,
    responses((status = 201, body = BreakView),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn add_break(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<BreakBody>,
) -> Result<HttpResponse, Problem> {
    org_editor(&principal, "plan the staff")?;
    let body = body.into_inner();
    if body.ends_at <= body.starts_at || body.ends_at - body.starts_at > chrono::Duration::days(60)
    {
        return Err(invalid(
            "ends_at",
            "must be after starts_at, within 60 days",
        ));
    }
    if body.reason.chars().count() > 500 {
        return Err(invalid("reason", "must be at most 500 characters"));
    }
    let created = in_context!(&pool, principal.context(), |conn| {
        work::add_break(
            conn,
            principal.org_id,
            body.cleaner_id,
            body.starts_at,
            body.ends_at,
            &body.reason,
        )
        .await
        .map_err(booking_problem)
    })?;
    Ok(HttpResponse::Created().json(BreakView::from(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BreakQuery {
    cleaner_id: Option<Uuid>,
    /// Only breaks still running at this time, e.g. now for the ones to come.
    from: Option<DateTime<Utc>>,
    /// Items per page, 1–200 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    after: Option<String>,
}

/// Cleaners' breaks, in time order, a page at a time: `{items, next_cursor}`.
#[utoipa::path(get, path = "/v1/breaks", tag = "operations", security(("user" = [])),
    params(BreakQuery), responses((status = 200, description = "A page of BreakView: {items, next_cursor}")))]
pub async fn breaks(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<BreakQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.into_inner();
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    let after = parse_time_cursor(query.after.as_deref())?;
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(work::breaks(conn, query.cleaner_id, query.from, after, limit).await?)
    })?;
    let views: Vec<BreakView> = list.into_iter().map(BreakView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |b| time_cursor(b.starts_at, b.id))))
}

const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationBody {
    customer_id: Uuid,
    /// The visit complained about, if one.
    booking_id: Option<Uuid>,
    /// low, medium, high or critical.
    severity: String,
    description: String,
    /// Who handles it.
    owner_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationChanges {
    owner_id: Option<Uuid>,
    /// Resolves the escalation with this account of what was done.
    resolution: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EscalationView {
    id: Uuid,
    /// Absent when raised from a message of someone not (yet) a customer.
    customer_id: Option<Uuid>,
    booking_id: Option<Uuid>,
    /// The chatbot conversation it was raised from.
    conversation_id: Option<Uuid>,
    /// The e-mail thread it was raised from.
    email_thread_id: Option<Uuid>,
    severity: String,
    description: String,
    owner_id: Option<Uuid>,
    /// open or resolved.
    status: String,
    resolution: Option<String>,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
}

impl From<Escalation> for EscalationView {
    fn from(e: Escalation) -> Self {
        Self {
            id: e.id,
            customer_id: e.customer_id,
            booking_id: e.booking_id,
            conversation_id: e.conversation_id,
            email_thread_id: e.email_thread_id,
            severity: e.severity,
            description: e.description,
            owner_id: e.owner_id,
            status: e.status,
            resolution: e.resolution,
            created_at: e.created_at,
            resolved_at: e.resolved_at,
        }
    }
}

/// Escalate a customer's complaint (write access to the customer).
#[utoipa::path(post, path = "/v1/escalations", tag = "operations", security(("user" = [])),
    request_body = EscalationBody,
    responses((status = 201, body = EscalationView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn escalate(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<EscalationBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    if !SEVERITIES.contains(&body.severity.as_str()) {
        errors.push(FieldError::new(
            "severity",
            format!("must be one of {}", SEVERITIES.join(", ")),
        ));
    }
    let description = text("description", &body.description, 5000, &mut errors);
    check(errors)?;
    let escalation = in_context!(&pool, principal.context(), |conn| {
        let customer =
            customer_access(conn, &principal, body.customer_id, AccessLevel::Write).await?;
        if let Some(booking) = body.booking_id {
            let booking = booking_access(conn, &principal, booking, AccessLevel::Read).await?;
            if booking.customer_id != customer.id {
                return Err(invalid("booking_id", "is not a booking of the customer"));
            }
        }
        Ok::<_, Problem>(
            work::escalate(
                conn,
                NewEscalation {
                    scope: &Scope {
                        org_id: principal.org_id,
                        cvr: customer.cvr.clone(),
                    },
                    customer_id: customer.id,
                    booking_id: body.booking_id,
                    severity: &body.severity,
                    description: &description,
                    owner_id: body.owner_id,
                },
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(EscalationView::from(escalation)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EscalationQuery {
    /// open or resolved.
    status: Option<String>,
    /// Items per page, 1–200 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    after: Option<String>,
}

/// Escalations the user may read, most severe and oldest first, a page at a time:
/// `{items, next_cursor}`.
#[utoipa::path(get, path = "/v1/escalations", tag = "operations", security(("user" = [])),
    params(EscalationQuery), responses((status = 200, description = "A page of EscalationView: {items, next_cursor}")))]
pub async fn escalations(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<EscalationQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.into_inner();
    if let Some(status) = &query.status
        && !["open", "resolved"].contains(&status.as_str())
    {
        return Err(invalid("status", "must be open or resolved"));
    }
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    // `<rank>_<time cursor>`: the list's order is severity first.
    let after = match query.after.as_deref() {
        None => None,
        Some(cursor) => {
            let (rank, rest) = cursor
                .split_once('_')
                .and_then(|(rank, rest)| Some((rank.parse::<i32>().ok()?, rest)))
                .ok_or_else(|| invalid("after", "is not a valid cursor"))?;
            parse_time_cursor(Some(rest))?.map(|(at, id)| (rank, at, id))
        }
    };
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(work::escalations(conn, query.status.as_deref(), after, limit).await?)
    })?;
    let views: Vec<EscalationView> = list.into_iter().map(EscalationView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |e| {
        format!(
            "{}_{}",
            work::severity_rank(&e.severity),
            time_cursor(e.created_at, e.id)
        )
    })))
}

/// Hand an escalation to an owner, or resolve it (write access); a resolved one is final.
#[utoipa::path(patch, path = "/v1/escalations/{id}", tag = "operations", security(("user" = [])),
    request_body = EscalationChanges,
    responses((status = 200, body = EscalationView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn update_escalation(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
    body: web::Json<EscalationChanges>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let body = body.into_inner();
    let resolution = match &body.resolution {
        Some(r) => {
            let mut errors = Vec::new();
            let r = text("resolution", r, 5000, &mut errors);
            check(errors)?;
            Some(r)
        }
        None => None,
    };
    let escalation = in_context!(&pool, principal.context(), |conn| {
        let current = work::find_escalation(conn, id)
            .await
            .map_err(not_found("such escalation"))?;
        require(conn, &principal, current.cvr.as_deref(), AccessLevel::Write).await?;
        if current.status == "resolved" {
            return Err(Problem::conflict("The escalation is resolved."));
        }
        Ok::<_, Problem>(
            work::update_escalation(conn, id, body.owner_id, resolution.as_deref()).await?,
        )
    })?;
    Ok(HttpResponse::Ok().json(EscalationView::from(escalation)))
}

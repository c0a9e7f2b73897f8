//! What happened with a company, and what is to be done.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
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
use crate::store::activities::{self, Activity, NewActivity, NewTask, Task};

const KINDS: [&str; 4] = ["call", "meeting", "note", "email"];
const STATUSES: [&str; 3] = ["open", "done", "cancelled"];

fn one_of(field: &str, value: &str, allowed: &[&str], errors: &mut Vec<FieldError>) {
    if !allowed.contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be one of {}", allowed.join(", ")),
        ));
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityBody {
    /// call, meeting, note or email.
    pub(crate) kind: String,
    pub(crate) subject: String,
    #[serde(default)]
    pub(crate) body: String,
    pub(crate) contact_id: Option<Uuid>,
    pub(crate) deal_id: Option<Uuid>,
    /// When it happened; now when absent. Not in the future.
    pub(crate) occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityView {
    id: Uuid,
    cvr: String,
    kind: String,
    subject: String,
    body: String,
    contact_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    occurred_at: DateTime<Utc>,
    created_by: Option<Uuid>,
}

impl From<Activity> for ActivityView {
    fn from(a: Activity) -> Self {
        let _ = (a.org_id, a.created_at);
        Self {
            id: a.id,
            cvr: a.cvr,
            kind: a.kind,
            subject: a.subject,
            body: a.body,
            contact_id: a.contact_id,
            deal_id: a.deal_id,
            occurred_at: a.occurred_at,
            created_by: a.created_by,
        }
    }
}

/// Record a call, meeting, note or e-mail (write access).
#[utoipa::path(post, path = "/v1/companies/{cvr}/activities", tag = "activities", security(("user" = [])),
    request_body = ActivityBody,
    responses((status = 201, body = ActivityView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn record(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<ActivityBody>,
) -> Result<HttpResponse, Problem> {
    let activity = record_checked(&pool, &principal, &path, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(ActivityView::from(activity)))
}

/// Checks an activity and records it for company `cvr` (write access): the way in of the API
/// and of the web console.
pub(crate) async fn record_checked(
    pool: &Pool,
    principal: &Principal,
    cvr_text: &str,
    body: ActivityBody,
) -> Result<Activity, Problem> {
    let cvr = cvr("cvr", cvr_text)?;
    let mut errors = Vec::new();
    one_of("kind", &body.kind, &KINDS, &mut errors);
    let subject = text("subject", &body.subject, 200, &mut errors);
    if body.body.chars().count() > 20_000 {
        errors.push(FieldError::new("body", "must be at most 20000 characters"));
    }
    let occurred_at = body.occurred_at.unwrap_or_else(Utc::now);
    if occurred_at > Utc::now() + chrono::Duration::minutes(5) {
        errors.push(FieldError::new("occurred_at", "must not be in the future"));
    }
    check(errors)?;
    in_company!(pool, principal, &cvr, AccessLevel::Write, |conn| {
        company_exists(conn, principal.org_id, &cvr).await?;
        super::of_this_company(conn, principal.org_id, &cvr, body.contact_id, body.deal_id).await?;
        let new = NewActivity {
            kind: &body.kind,
            subject: &subject,
            body: &body.body,
            contact_id: body.contact_id,
            deal_id: body.deal_id,
            occurred_at,
            by: principal.user_id,
        };
        Ok::<_, Problem>(activities::record(conn, principal.org_id, cvr.as_str(), new).await?)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Only this kind: call, meeting, note or email.
    kind: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// A company's activities, newest first (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/activities", tag = "activities", security(("user" = [])),
    params(ActivityQuery),
    responses((status = 200, description = "A page of activities: {items, next_cursor}"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<ActivityQuery>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    let before = parse_time_cursor(query.after.as_deref())?;
    if let Some(kind) = &query.kind {
        let mut errors = Vec::new();
        one_of("kind", kind, &KINDS, &mut errors);
        check(errors)?;
    }
    let kind = query.kind.clone();
    let items = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        of_existing_company(
            conn,
            principal.org_id,
            &cvr,
            activities::list(
                conn,
                principal.org_id,
                cvr.as_str(),
                kind.as_deref(),
                before,
                limit,
            ),
        )
        .await
    })?;
    let page = Page::new(
        items.into_iter().map(ActivityView::from).collect(),
        limit,
        |a: &ActivityView| time_cursor(a.occurred_at, a.id),
    );
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    pub(crate) title: String,
    pub(crate) due_date: Option<NaiveDate>,
    pub(crate) assignee_id: Option<Uuid>,
    pub(crate) deal_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskStatus {
    /// open, done or cancelled.
    status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    id: Uuid,
    cvr: String,
    title: String,
    due_date: Option<NaiveDate>,
    assignee_id: Option<Uuid>,
    status: String,
    deal_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        let _ = (t.org_id, t.created_by);
        Self {
            id: t.id,
            cvr: t.cvr,
            title: t.title,
            due_date: t.due_date,
            assignee_id: t.assignee_id,
            status: t.status,
            deal_id: t.deal_id,
            created_at: t.created_at,
            completed_at: t.completed_at,
        }
    }
}

/// Add a task (write access).
#[utoipa::path(post, path = "/v1/companies/{cvr}/tasks", tag = "activities", security(("user" = [])),
    request_body = TaskBody,
    responses((status = 201, body = TaskView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn add_task(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<TaskBody>,
) -> Result<HttpResponse, Problem> {
    let task = add_task_checked(&pool, &principal, &path, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(TaskView::from(task)))
}

/// Checks a task and adds it for company `cvr` (write access): the way in of the API and of
/// the web console.
pub(crate) async fn add_task_checked(
    pool: &Pool,
    principal: &Principal,
    cvr_text: &str,
    body: TaskBody,
) -> Result<Task, Problem> {
    let cvr = cvr("cvr", cvr_text)?;
    let mut errors = Vec::new();
    let title = text("title", &body.title, 200, &mut errors);
    check(errors)?;
    in_company!(pool, principal, &cvr, AccessLevel::Write, |conn| {
        company_exists(conn, principal.org_id, &cvr).await?;
        super::of_this_company(conn, principal.org_id, &cvr, None, body.deal_id).await?;
        let new = NewTask {
            title: &title,
            due_date: body.due_date,
            assignee_id: body.assignee_id,
            deal_id: body.deal_id,
            by: principal.user_id,
        };
        Ok::<_, Problem>(activities::add_task(conn, principal.org_id, cvr.as_str(), new).await?)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only tasks with this status.
    status: Option<String>,
    limit: Option<i64>,
}

/// A company's tasks by due date (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/tasks", tag = "activities", security(("user" = [])),
    params(TaskQuery),
    responses((status = 200, body = [TaskView]),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn tasks(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<TaskQuery>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    if let Some(status) = &query.status {
        let mut errors = Vec::new();
        one_of("status", status, &STATUSES, &mut errors);
        check(errors)?;
    }
    let status = query.status.clone();
    let items = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        of_existing_company(
            conn,
            principal.org_id,
            &cvr,
            activities::tasks(
                conn,
                principal.org_id,
                cvr.as_str(),
                status.as_deref(),
                limit,
            ),
        )
        .await
    })?;
    let items: Vec<TaskView> = items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(items))
}

/// Complete, cancel or reopen a task (write access).
#[utoipa::path(patch, path = "/v1/companies/{cvr}/tasks/{id}", tag = "activities", security(("user" = [])),
    request_body = TaskStatus,
    responses((status = 200, body = TaskView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn set_task_status(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<TaskStatus>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let cvr = cvr("cvr", &cvr_text)?;
    let mut errors = Vec::new();
    one_of("status", &body.status, &STATUSES, &mut errors);
    check(errors)?;
    let task = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        Ok::<_, Problem>(
            activities::set_task_status(conn, principal.org_id, cvr.as_str(), id, &body.status)
                .await?,
        )
    })?;
    Ok(HttpResponse::Ok().json(TaskView::from(task)))
}

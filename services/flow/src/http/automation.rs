//! Schedules, integrations (outgoing webhooks, HTTP endpoints) with their delivery logs, and
//! variables. Administrators only: they hold secrets or decide when things run.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::{FieldError, not_found};
use tekup_runtime::validate::check;
use tekup_runtime::{Problem, in_context};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::State;
use crate::domain::cron::{self, Cron};
use crate::signature;
use crate::store::integrations::{self, Delivery, Integration, NewIntegration};
use crate::store::schedules::{self, NewSchedule, Schedule};

const MISSED: [&str; 3] = ["skip", "run_once", "run_all"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// The workflow to run (its active version at each run).
    workflow: String,
    /// Five cron fields on Copenhagen's wall clock, e.g. `0 7 * * MON-FRI`.
    cron: String,
    /// Only Europe/Copenhagen.
    #[serde(default = "copenhagen")]
    timezone: String,
    /// Skip runs that fall on a Danish public holiday.
    #[serde(default)]
    skip_holidays: bool,
    /// Runs missed while flow was down: skip, run_once (default) or run_all.
    #[serde(default = "run_once")]
    missed: String,
    #[serde(default = "empty")]
    #[schema(value_type = Object)]
    input: Value,
}

fn copenhagen() -> String {
    "Europe/Copenhagen".into()
}
fn run_once() -> String {
    "run_once".into()
}
fn empty() -> Value {
    json!({})
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    id: Uuid,
    workflow: String,
    cron: String,
    timezone: String,
    skip_holidays: bool,
    missed: String,
    #[schema(value_type = Object)]
    input: Value,
    active: bool,
    next_run_at: DateTime<Utc>,
    last_run_at: Option<DateTime<Utc>>,
    /// The next five runs (holidays left out when they are skipped).
    upcoming: Vec<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        let upcoming = Cron::parse(&s.cron)
            .map(|c| {
                c.between(
                    s.next_run_at - chrono::TimeDelta::seconds(1),
                    s.next_run_at + chrono::TimeDelta::days(400),
                    40,
                )
                .into_iter()
                .filter(|at| !(s.skip_holidays && cron::on_holiday(*at)))
                .take(5)
                .collect()
            })
            .unwrap_or_default();
        Self {
            id: s.id,
            workflow: s.workflow_name,
            cron: s.cron,
            timezone: s.timezone,
            skip_holidays: s.skip_holidays,
            missed: s.missed,
            input: s.input,
            active: s.active,
            next_run_at: s.next_run_at,
            last_run_at: s.last_run_at,
            upcoming,
            created_at: s.created_at,
        }
    }
}

/// Schedule a workflow (administrators).
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules", security(("user" = [])),
    request_body = ScheduleBody,
    responses((status = 201, body = ScheduleView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_schedule(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<ScheduleBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let mut errors = Vec::new();
    let cron = match Cron::parse(&body.cron) {
        Ok(cron) => Some(cron),
        Err(e) => {
            errors.push(FieldError::new("cron", e));
            None
        }
    };
    let next = cron.as_ref().and_then(|c| c.next_after(Utc::now()));
    if cron.is_some() && next.is_none() {
        errors.push(FieldError::new("cron", "never runs"));
    }
    if body.timezone != "Europe/Copenhagen" {
        errors.push(FieldError::new("timezone", "must be Europe/Copenhagen"));
    }
    if !MISSED.contains(&body.missed.as_str()) {
        errors.push(FieldError::new(
            "missed",
            format!("must be one of {}", MISSED.join(", ")),
        ));
    }
    if !body.input.is_object() {
        errors.push(FieldError::new("input", "must be an object"));
    }
    check(errors)?;
    let next = next.ok_or_else(|| Problem::internal(&"checked above"))?;
    let schedule = in_context!(&pool, principal.context(), |conn| {
        crate::store::workflows::active(conn, principal.org_id, &body.workflow)
            .await
            .map_err(|_| {
                Problem::validation(vec![FieldError::new(
                    "workflow",
                    "is not an active workflow",
                )])
            })?;
        Ok::<_, Problem>(
            schedules::create(
                conn,
                NewSchedule {
                    org_id: principal.org_id,
                    workflow_name: &body.workflow,
                    cron: body.cron.trim(),
                    skip_holidays: body.skip_holidays,
                    missed: &body.missed,
                    input: &body.input,
                    next_run_at: next,
                    created_by: principal.user_id,
                },
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(ScheduleView::from(schedule)))
}

/// The organization's schedules, newest first.
#[utoipa::path(get, path = "/v1/schedules", tag = "schedules", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of schedules: {items, next_cursor}")))]
pub async fn schedules(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let after = parse_time_cursor(query.after.as_deref())?;
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(schedules::list(conn, after, limit).await?)
    })?;
    let views: Vec<ScheduleView> = items.into_iter().map(ScheduleView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |s| time_cursor(s.created_at, s.id))))
}

/// Delete a schedule (administrators).
#[utoipa::path(delete, path = "/v1/schedules/{id}", tag = "schedules", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_schedule(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let found = in_context!(&pool, principal.context(), |conn| {
        schedules::find(conn, *id)
            .await
            .map_err(not_found("such schedule"))?;
        Ok::<_, Problem>(schedules::delete(conn, *id).await?)
    })?;
    crate::http::deleted(found, "schedule")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationBody {
    /// webhook (signed per Standard Webhooks) or http (a base URL for http steps).
    kind: String,
    url: String,
    /// Sent with every request (e.g. an API key for an http integration).
    #[serde(default)]
    #[schema(value_type = Object)]
    headers: serde_json::Map<String, Value>,
    /// A webhook's signing secret (`whsec_...`); generated when absent.
    #[serde(default)]
    secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    id: Uuid,
    name: String,
    kind: String,
    url: String,
    /// Header names only: their values may be credentials.
    headers: Vec<String>,
    created_at: DateTime<Utc>,
}

impl From<&Integration> for IntegrationView {
    fn from(i: &Integration) -> Self {
        Self {
            id: i.id,
            name: i.name.clone(),
            kind: i.kind.clone(),
            url: i.url.clone(),
            headers: i
                .headers
                .as_object()
                .map(|h| h.keys().cloned().collect())
                .unwrap_or_default(),
            created_at: i.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedIntegration {
    #[serde(flatten)]
    integration: IntegrationView,
    /// The signing secret, shown once.
    secret: String,
}

/// Create or replace an integration (administrators). Its secret is stored sealed.
#[utoipa::path(put, path = "/v1/integrations/{name}", tag = "integrations", security(("user" = [])),
    params(("name" = String, Path)),
    request_body = IntegrationBody,
    responses((status = 200, body = SavedIntegration),
              (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn save_integration(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    name: web::Path<String>,
    body: web::Json<IntegrationBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let mut errors = Vec::new();
    if !crate::http::name_ok(&name) {
        errors.push(FieldError::new(
            "name",
            "must be 1-100 lower-case letters, digits, _ . or -",
        ));
    }
    if !["webhook", "http"].contains(&body.kind.as_str()) {
        errors.push(FieldError::new("kind", "must be webhook or http"));
    }
    let url_ok = (body.url.starts_with("http://") || body.url.starts_with("https://"))
        && body.url.len() <= 2000
        && reqwest::Url::parse(&body.url).is_ok();
    if !url_ok {
        errors.push(FieldError::new("url", "must be an absolute http(s) URL"));
    }
    for (header, value) in &body.headers {
        let valid = reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok()
            && value
                .as_str()
                .is_some_and(|v| reqwest::header::HeaderValue::from_str(v).is_ok());
        if !valid {
            errors.push(FieldError::new(
                format!("headers.{header}"),
                "must be a header name with a text value",
            ));
        }
    }
    if body
        .secret
        .as_ref()
        .is_some_and(|s| s.len() < 24 || s.len() > 200)
    {
        errors.push(FieldError::new("secret", "must be 24 to 200 characters"));
    }
    check(errors)?;
    let cipher = state.cipher.as_ref().ok_or_else(|| {
        Problem::unavailable("Integrations need app.secret_key, which is not configured.")
    })?;
    let secret = body
        .secret
        .clone()
        .unwrap_or_else(signature::generate_secret);
    let sealed = cipher
        .seal(principal.org_id, &secret)
        .map_err(|e| Problem::internal(&e))?;
    let integration = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            integrations::save(
                conn,
                NewIntegration {
                    org_id: principal.org_id,
                    name: &name,
                    kind: &body.kind,
                    url: &body.url,
                    headers: &Value::Object(body.headers.clone()),
                    secret: sealed,
                    created_by: principal.user_id,
                },
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Ok().json(SavedIntegration {
        integration: IntegrationView::from(&integration),
        secret,
    }))
}

/// The organization's integrations by name (administrators).
#[utoipa::path(get, path = "/v1/integrations", tag = "integrations", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of integrations: {items, next_cursor}")))]
pub async fn integrations(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let limit = query.limit()?;
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(integrations::list(conn, query.after.as_deref(), limit).await?)
    })?;
    let views: Vec<IntegrationView> = items.iter().map(IntegrationView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |i| i.name.clone())))
}

/// Remove an integration (administrators); steps naming it fail from then on.
#[utoipa::path(delete, path = "/v1/integrations/{name}", tag = "integrations", security(("user" = [])),
    params(("name" = String, Path)),
    responses((status = 204),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_integration(
    principal: Principal,
    pool: web::Data<Pool>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let found = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(integrations::deactivate(conn, principal.org_id, &name).await?)
    })?;
    crate::http::deleted(found, "integration")
}

/// An integration's outgoing deliveries, newest first: every attempt, with the receiver's
/// status (administrators).
#[utoipa::path(get, path = "/v1/integrations/{name}/deliveries", tag = "integrations", security(("user" = [])),
    params(("name" = String, Path), PageQuery),
    responses((status = 200, description = "A page of deliveries: {items, next_cursor}"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn deliveries(
    principal: Principal,
    pool: web::Data<Pool>,
    name: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let limit = query.limit()?;
    let after = parse_time_cursor(query.after.as_deref())?;
    let items: Vec<Delivery> = in_context!(&pool, principal.context(), |conn| {
        let integration = integrations::by_name(conn, principal.org_id, &name)
            .await
            .map_err(not_found("such integration"))?;
        Ok::<_, Problem>(integrations::deliveries(conn, integration.id, after, limit).await?)
    })?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |d| {
        time_cursor(d.delivered_at, d.id)
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableBody {
    #[schema(value_type = Object)]
    value: Value,
    /// Sealed at rest, never shown again, kept out of logs; must be a string.
    #[serde(default)]
    secret: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariableView {
    name: String,
    secret: bool,
    /// Absent for a secret.
    #[schema(value_type = Object)]
    value: Option<Value>,
    updated_at: DateTime<Utc>,
}

/// Set a variable (administrators); workflows read it as `vars.<name>`.
#[utoipa::path(put, path = "/v1/variables/{name}", tag = "variables", security(("user" = [])),
    params(("name" = String, Path)),
    request_body = VariableBody,
    responses((status = 204),
              (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn set_variable(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    name: web::Path<String>,
    body: web::Json<VariableBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let mut errors = Vec::new();
    let name_valid = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_valid {
        errors.push(FieldError::new(
            "name",
            "must be letters, digits and _ (not starting with a digit)",
        ));
    }
    if body.secret && !body.value.is_string() {
        errors.push(FieldError::new("value", "a secret must be a string"));
    }
    if body.value.to_string().len() > 64 * 1024 {
        errors.push(FieldError::new("value", "must be at most 64 KiB"));
    }
    check(errors)?;
    let sealed = if body.secret {
        let cipher = state.cipher.as_ref().ok_or_else(|| {
            Problem::unavailable("Secret variables need app.secret_key, which is not configured.")
        })?;
        let plain = body.value.as_str().unwrap_or_default();
        Some(
            cipher
                .seal(principal.org_id, plain)
                .map_err(|e| Problem::internal(&e))?,
        )
    } else {
        None
    };
    in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            integrations::set_variable(
                conn,
                principal.org_id,
                &name,
                (!body.secret).then_some(&body.value),
                sealed.as_ref(),
                principal.user_id,
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::NoContent().finish())
}

/// The organization's variables; secret values are not shown (administrators).
#[utoipa::path(get, path = "/v1/variables", tag = "variables", security(("user" = [])),
    responses((status = 200, body = [VariableView])))]
pub async fn variables(
    principal: Principal,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(integrations::variables(conn, principal.org_id).await?)
    })?;
    let views: Vec<VariableView> = items
        .into_iter()
        .map(|v| VariableView {
            name: v.name,
            secret: v.secret,
            value: if v.secret { None } else { v.value },
            updated_at: v.updated_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Delete a variable (administrators).
#[utoipa::path(delete, path = "/v1/variables/{name}", tag = "variables", security(("user" = [])),
    params(("name" = String, Path)),
    responses((status = 204),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_variable(
    principal: Principal,
    pool: web::Data<Pool>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let found = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(integrations::delete_variable(conn, principal.org_id, &name).await?)
    })?;
    crate::http::deleted(found, "variable")
}

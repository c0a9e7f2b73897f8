//! E-mails logged against a company, and the organization's sales figures.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_context};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{check, company_access, cvr};
use crate::store::emails::{self, Email, NewEmail};
use tekup_runtime::validate::email;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    /// inbound or outbound.
    direction: String,
    subject: String,
    #[serde(default)]
    body: String,
    from: String,
    to: Vec<String>,
    contact_id: Option<Uuid>,
    /// When it was sent; now when absent.
    sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailView {
    id: Uuid,
    cvr: String,
    direction: String,
    subject: String,
    body: String,
    from: String,
    to: Vec<String>,
    contact_id: Option<Uuid>,
    sent_at: DateTime<Utc>,
}

impl From<Email> for EmailView {
    fn from(e: Email) -> Self {
        Self {
            id: e.id,
            cvr: e.cvr,
            direction: e.direction,
            subject: e.subject,
            body: e.body,
            from: e.from_address,
            to: e.to_addresses,
            contact_id: e.contact_id,
            sent_at: e.sent_at,
        }
    }
}

/// Log an e-mail sent to or received from a company (write access).
#[utoipa::path(post, path = "/v1/companies/{cvr}/emails", tag = "activities", security(("user" = [])),
    request_body = EmailBody,
    responses((status = 201, body = EmailView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn log(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<EmailBody>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr(&path)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    if !["inbound", "outbound"].contains(&body.direction.as_str()) {
        errors.push(FieldError::new("direction", "must be inbound or outbound"));
    }
    if body.subject.chars().count() > 500 {
        errors.push(FieldError::new("subject", "must be at most 500 characters"));
    }
    if body.body.chars().count() > 100_000 {
        errors.push(FieldError::new("body", "must be at most 100000 characters"));
    }
    let from = email("from", &body.from, &mut errors);
    if body.to.is_empty() {
        errors.push(FieldError::new("to", "needs at least one address"));
    }
    let to: Vec<String> = body
        .to
        .iter()
        .map(|a| email("to", a, &mut errors))
        .collect();
    check(errors)?;
    let sent_at = body.sent_at.unwrap_or_else(Utc::now);
    let email = in_context!(&pool, principal.context(), |conn| {
        company_access(conn, &principal, &cvr, AccessLevel::Write).await?;
        let new = NewEmail {
            direction: &body.direction,
            subject: &body.subject,
            body: &body.body,
            from_address: &from,
            to_addresses: &to,
            contact_id: body.contact_id,
            sent_at,
            by: principal.user_id,
        };
        Ok::<_, Problem>(emails::log(conn, principal.org_id, cvr.as_str(), new).await?)
    })?;
    Ok(HttpResponse::Created().json(EmailView::from(email)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    /// Words to find in subject or body (Danish or English).
    q: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// A company's logged e-mails, newest first (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/emails", tag = "activities", security(("user" = [])),
    params(EmailQuery),
    responses((status = 200, description = "A page of e-mails: {items, next_cursor}"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<EmailQuery>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr(&path)?;
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    let before = parse_time_cursor(query.after.as_deref())?;
    let q = query.q.clone().filter(|q| !q.trim().is_empty());
    let items = in_context!(&pool, principal.context(), |conn| {
        company_access(conn, &principal, &cvr, AccessLevel::Read).await?;
        Ok::<_, Problem>(
            emails::list(
                conn,
                principal.org_id,
                cvr.as_str(),
                q.as_deref(),
                before,
                limit,
            )
            .await?,
        )
    })?;
    let page = Page::new(
        items.into_iter().map(EmailView::from).collect(),
        limit,
        |e: &EmailView| time_cursor(e.sent_at, e.id),
    );
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// First day of the period (default: the first of this month).
    from: Option<NaiveDate>,
    /// Day after the period (default: the first of next month).
    to: Option<NaiveDate>,
}

/// Sales KPIs of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsView {
    from: NaiveDate,
    to: NaiveDate,
    /// Open deals now, and their value.
    open_deals: i64,
    pipeline_value_ore: i64,
    won: i64,
    won_value_ore: i64,
    lost: i64,
    lost_value_ore: i64,
    /// Deals opened in the period.
    created: i64,
    /// won / (won + lost) in the period; absent when nothing closed.
    win_rate: Option<f64>,
}

/// Pipeline value, won and lost, and the win rate over the deals the caller may see.
#[utoipa::path(get, path = "/v1/metrics", tag = "deals", security(("user" = [])),
    params(MetricsQuery),
    responses((status = 200, body = MetricsView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn metrics(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<MetricsQuery>,
) -> Result<HttpResponse, Problem> {
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let from = query.from.unwrap_or(first);
    let to = query.to.unwrap_or_else(|| {
        first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first)
    });
    if to <= from {
        return Err(Problem::validation(vec![FieldError::new(
            "to",
            "must be after from",
        )]));
    }
    let m = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(emails::metrics(conn, principal.org_id, from, to).await?)
    })?;
    let closed = m.won + m.lost;
    #[allow(clippy::cast_precision_loss)]
    let win_rate = (closed > 0).then(|| m.won as f64 / closed as f64);
    Ok(HttpResponse::Ok().json(MetricsView {
        from,
        to,
        open_deals: m.open_deals,
        pipeline_value_ore: m.pipeline_value_ore,
        won: m.won,
        won_value_ore: m.won_value_ore,
        lost: m.lost,
        lost_value_ore: m.lost_value_ore,
        created: m.created,
        win_rate,
    }))
}

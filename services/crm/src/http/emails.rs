//! E-mails logged against a company.

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

use super::{check, company_exists, cvr, of_existing_company};
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
    let cvr = cvr("cvr", &path)?;
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
    let email = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        company_exists(conn, principal.org_id, &cvr).await?;
        super::of_this_company(conn, principal.org_id, &cvr, body.contact_id, None).await?;
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
    let cvr = cvr("cvr", &path)?;
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    let before = parse_time_cursor(query.after.as_deref())?;
    let q = query.q.clone().filter(|q| !q.trim().is_empty());
    let items = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        of_existing_company(
            conn,
            principal.org_id,
            &cvr,
            emails::list(
                conn,
                principal.org_id,
                cvr.as_str(),
                q.as_deref(),
                before,
                limit,
            ),
        )
        .await
    })?;
    let page = Page::new(
        items.into_iter().map(EmailView::from).collect(),
        limit,
        |e: &EmailView| time_cursor(e.sent_at, e.id),
    );
    Ok(HttpResponse::Ok().json(page))
}

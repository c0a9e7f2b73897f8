//! The people at a company.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::Page;
use tekup_runtime::{Problem, in_company, read_in_company};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{check, company_exists, cvr, of_existing_company, present, text};
use crate::store::contacts::{self, Contact, Fields};
use tekup_runtime::validate::{email, phone};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    first_name: String,
    last_name: String,
    email: Option<String>,
    #[schema(example = "+45 12 34 56 78")]
    phone: Option<String>,
    title: Option<String>,
}

/// Changes to a contact; absent fields stay, `null` clears the optional ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactChanges {
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    id: Uuid,
    cvr: String,
    first_name: String,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        let _ = c.org_id;
        Self {
            id: c.id,
            cvr: c.cvr,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            phone: c.phone,
            title: c.title,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

fn fields_of_body(body: ContactBody) -> Result<Fields, Problem> {
    let mut errors = Vec::new();
    let fields = Fields {
        first_name: Some(text("first_name", &body.first_name, 100, &mut errors)),
        last_name: Some(text("last_name", &body.last_name, 100, &mut errors)),
        email: Some(body.email.map(|e| email("email", &e, &mut errors))),
        phone: Some(body.phone.map(|p| phone("phone", &p, &mut errors))),
        title: Some(body.title.map(|t| text("title", &t, 100, &mut errors))),
    };
    check(errors).map(|()| fields)
}

fn fields_of_changes(changes: ContactChanges) -> Result<Fields, Problem> {
    let mut errors = Vec::new();
    let fields = Fields {
        first_name: changes
            .first_name
            .map(|v| text("first_name", &v, 100, &mut errors)),
        last_name: changes
            .last_name
            .map(|v| text("last_name", &v, 100, &mut errors)),
        email: changes
            .email
            .map(|v| v.map(|e| email("email", &e, &mut errors))),
        phone: changes
            .phone
            .map(|v| v.map(|p| phone("phone", &p, &mut errors))),
        title: changes
            .title
            .map(|v| v.map(|t| text("title", &t, 100, &mut errors))),
    };
    check(errors).map(|()| fields)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Words that must all appear in the name, e-mail or title.
    q: Option<String>,
    /// 1–200, default 50.
    limit: Option<i64>,
    after: Option<String>,
}

/// A company's contacts (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/contacts", tag = "contacts", security(("user" = [])),
    params(ContactQuery),
    responses((status = 200, description = "A page of contacts: {items, next_cursor}"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<ContactQuery>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let page = tekup_runtime::pagination::PageQuery {
        limit: query.limit,
        after: query.after.clone(),
    };
    let limit = page.limit()?;
    let after = page.after_uuid()?;
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let items = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        of_existing_company(
            conn,
            principal.org_id,
            &cvr,
            contacts::list(
                conn,
                principal.org_id,
                cvr.as_str(),
                q.as_deref(),
                after,
                limit,
            ),
        )
        .await
    })?;
    let page = Page::new(
        items.into_iter().map(ContactView::from).collect(),
        limit,
        |c| c.id.to_string(),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// Add a contact to a company (write access).
#[utoipa::path(post, path = "/v1/companies/{cvr}/contacts", tag = "contacts", security(("user" = [])),
    request_body = ContactBody,
    responses((status = 201, body = ContactView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<ContactBody>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let fields = fields_of_body(body.into_inner())?;
    let contact = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        company_exists(conn, principal.org_id, &cvr).await?;
        Ok::<_, Problem>(contacts::create(conn, principal.org_id, cvr.as_str(), fields).await?)
    })?;
    Ok(HttpResponse::Created().json(ContactView::from(contact)))
}

/// One contact (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/contacts/{id}", tag = "contacts", security(("user" = [])),
    responses((status = 200, body = ContactView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let cvr = cvr("cvr", &cvr_text)?;
    let contact = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        contacts::find(conn, principal.org_id, cvr.as_str(), id)
            .await
            .map_err(tekup_runtime::problem::not_found("such contact"))
    })?;
    Ok(HttpResponse::Ok().json(ContactView::from(contact)))
}

/// Change a contact (write access).
#[utoipa::path(patch, path = "/v1/companies/{cvr}/contacts/{id}", tag = "contacts", security(("user" = [])),
    request_body = ContactChanges,
    responses((status = 200, body = ContactView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<ContactChanges>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let cvr = cvr("cvr", &cvr_text)?;
    let fields = fields_of_changes(body.into_inner())?;
    let contact = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        Ok::<_, Problem>(contacts::update(conn, principal.org_id, cvr.as_str(), id, fields).await?)
    })?;
    Ok(HttpResponse::Ok().json(ContactView::from(contact)))
}

/// Delete a contact (write access).
#[utoipa::path(delete, path = "/v1/companies/{cvr}/contacts/{id}", tag = "contacts", security(("user" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let cvr = cvr("cvr", &cvr_text)?;
    in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        Ok::<_, Problem>(contacts::delete(conn, principal.org_id, cvr.as_str(), id).await?)
    })?;
    Ok(HttpResponse::NoContent().finish())
}

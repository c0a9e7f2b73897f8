//! CRM records of customer companies.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery};
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_company, in_context, read_in_company};
use tekup_types::AccessLevel;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{check, cvr, text};
use crate::store::companies::{self, Company, Record};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyBody {
    #[schema(example = "Rengøring Nord ApS")]
    name: String,
    #[schema(example = "erhverv")]
    segment: Option<String>,
    street: Option<String>,
    /// Danish postal code, 4 digits.
    #[schema(example = "8000")]
    zipcode: Option<String>,
    city: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyView {
    id: Uuid,
    cvr: String,
    name: String,
    segment: Option<String>,
    street: Option<String>,
    zipcode: Option<String>,
    city: Option<String>,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// `active`, or `inactive` for a company that has ceased, as registered in shared.
    registry_status: String,
    /// The registry's advertising protection (reklamebeskyttelse): no marketing to it.
    advertising_protected: bool,
}

impl From<Company> for CompanyView {
    fn from(c: Company) -> Self {
        let _ = c.org_id;
        Self {
            id: c.id,
            cvr: c.cvr,
            name: c.name,
            segment: c.segment,
            street: c.street,
            zipcode: c.zipcode,
            city: c.city,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
            registry_status: c.registry_status,
            advertising_protected: c.advertising_protected,
        }
    }
}

/// The CRM companies the caller may see, by CVR.
#[utoipa::path(get, path = "/v1/companies", tag = "companies", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of companies: {items, next_cursor}"),
              (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let after = query.after.clone();
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(companies::list(conn, after.as_deref(), limit).await?)
    })?;
    let page = Page::new(
        items.into_iter().map(CompanyView::from).collect(),
        limit,
        |c| c.cvr.clone(),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// One company's CRM record; 404 when the caller has no access to the company or it has none.
#[utoipa::path(get, path = "/v1/companies/{cvr}", tag = "companies", security(("user" = [])),
    responses((status = 200, body = CompanyView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let company = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        match companies::find(conn, principal.org_id, cvr.as_str()).await {
            Err(diesel::result::Error::NotFound) => {
                Err(Problem::not_found(format!("No CRM record for {cvr}.")))
            }
            found => Ok(found?),
        }
    })?;
    Ok(HttpResponse::Ok().json(CompanyView::from(company)))
}

/// Create or update a company's CRM record (write access to the company).
#[utoipa::path(put, path = "/v1/companies/{cvr}", tag = "companies", security(("user" = [])),
    request_body = CompanyBody,
    responses((status = 200, description = "Updated", body = CompanyView),
              (status = 201, description = "Created", body = CompanyView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<CompanyBody>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let name = text("name", &body.name, 200, &mut errors);
    let segment = body
        .segment
        .as_deref()
        .map(|s| text("segment", s, 100, &mut errors));
    if let Some(zipcode) = &body.zipcode
        && !(zipcode.len() == 4 && zipcode.bytes().all(|b| b.is_ascii_digit()))
    {
        errors.push(FieldError::new("zipcode", "must be 4 digits"));
    }
    check(errors)?;
    let (company, created) = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        let record = Record {
            org_id: principal.org_id,
            cvr: cvr.as_str(),
            name: &name,
            segment: segment.as_deref(),
            street: body.street.as_deref(),
            zipcode: body.zipcode.as_deref(),
            city: body.city.as_deref(),
            by: principal.user_id,
        };
        Ok::<_, Problem>(companies::upsert(conn, record).await?)
    })?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(CompanyView::from(company)))
}

/// Delete a company's CRM record with its contacts, deals, activities, tasks, e-mails and
/// steps (write access).
#[utoipa::path(delete, path = "/v1/companies/{cvr}", tag = "companies", security(("user" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        companies::delete(conn, principal.org_id, cvr.as_str())
            .await
            .map_err(|_| Problem::not_found(format!("No CRM record for {cvr}.")))
    })?;
    Ok(HttpResponse::NoContent().finish())
}

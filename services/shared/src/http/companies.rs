//! Companies by CVR, and who may act on them.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery};
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_context};
use tekup_types::{AccessLevel, Cvr};
use utoipa::ToSchema;
use uuid::Uuid;

use super::check;
use crate::domain::validation;
use crate::store::{companies, users};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyBody {
    /// 8 digits passing the modulus-11 check; `DK` prefix and spaces are accepted.
    #[schema(example = "13585628")]
    cvr: String,
    #[schema(example = "Rengøring Nord ApS")]
    name: String,
    /// The registry's advertising protection (reklamebeskyttelse): no marketing to it.
    #[serde(default)]
    advertising_protected: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyChanges {
    name: Option<String>,
    /// `active`, or `inactive` for a company that has ceased.
    status: Option<String>,
    advertising_protected: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyView {
    id: Uuid,
    org_id: Uuid,
    cvr: String,
    name: String,
    status: String,
    advertising_protected: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<companies::Company> for CompanyView {
    fn from(company: companies::Company) -> Self {
        Self {
            id: company.id,
            org_id: company.org_id,
            cvr: company.cvr,
            name: company.name,
            status: company.status,
            advertising_protected: company.advertising_protected,
            created_at: company.created_at,
            updated_at: company.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    access_level: AccessLevel,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    user_id: Uuid,
    org_id: Uuid,
    cvr: String,
    access_level: String,
    granted_at: DateTime<Utc>,
    granted_by: Option<Uuid>,
}

impl From<companies::Grant> for GrantView {
    fn from(grant: companies::Grant) -> Self {
        Self {
            user_id: grant.user_id,
            org_id: grant.org_id,
            cvr: grant.cvr,
            access_level: grant.access_level,
            granted_at: grant.granted_at,
            granted_by: grant.granted_by,
        }
    }
}

fn parse_cvr(text: &str) -> Result<Cvr, Problem> {
    tekup_runtime::validate::cvr("cvr", text)
}

/// Register a company of the caller's organization by its CVR (administrators).
#[utoipa::path(post, path = "/v1/companies", tag = "companies", security(("user" = [])),
    request_body = CompanyBody,
    responses(
        (status = 201, body = CompanyView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid CVR or name", body = Problem, content_type = "application/problem+json")))]
pub async fn register(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<CompanyBody>,
) -> Result<HttpResponse, Problem> {
    let mut errors = Vec::new();
    let cvr = tekup_runtime::validate::cvr_in("cvr", &body.cvr, &mut errors);
    let name = validation::name("name", &body.name, 200, &mut errors);
    check(errors)?;
    principal.require_admin()?;
    let Some(cvr) = cvr else {
        return Err(Problem::validation(vec![FieldError::new(
            "cvr",
            "is required",
        )]));
    };
    let org_id = principal.org_id;
    let company = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            companies::register(
                conn,
                org_id,
                cvr.as_str(),
                &name,
                body.advertising_protected,
            )
            .await?,
        )
    })
    .map_err(|problem| {
        if problem.status == 409 {
            Problem::conflict(format!(
                "CVR {cvr} is already registered in this organization."
            ))
        } else {
            problem
        }
    })?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/companies/{cvr}")))
        .json(CompanyView::from(company)))
}

/// The companies the caller may see: all of the organization's for administrators, the
/// granted ones for everyone else.
#[utoipa::path(get, path = "/v1/companies", tag = "companies", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of companies by CVR: {items, next_cursor}")))]
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
        |company| company.cvr.clone(),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// One company; 404 when it does not exist or the caller may not see it.
#[utoipa::path(get, path = "/v1/companies/{cvr}", tag = "companies", security(("user" = [])),
    responses((status = 200, body = CompanyView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    principal: Principal,
    pool: web::Data<Pool>,
    cvr: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let cvr = parse_cvr(&cvr)?;
    let org_id = principal.org_id;
    let company = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(companies::find(conn, org_id, cvr.as_str()).await?)
    })
    .map_err(|p| not_found(p, &cvr))?;
    Ok(HttpResponse::Ok().json(CompanyView::from(company)))
}

/// Change a company's registry facts: name, status, advertising protection (administrators).
#[utoipa::path(patch, path = "/v1/companies/{cvr}", tag = "companies", security(("user" = [])),
    request_body = CompanyChanges,
    responses((status = 200, body = CompanyView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    principal: Principal,
    pool: web::Data<Pool>,
    cvr: web::Path<String>,
    body: web::Json<CompanyChanges>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let cvr = parse_cvr(&cvr)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let name = body
        .name
        .map(|v| validation::name("name", &v, 200, &mut errors));
    if let Some(status) = body.status.as_deref()
        && !["active", "inactive"].contains(&status)
    {
        errors.push(FieldError::new("status", "must be active or inactive"));
    }
    if name.is_none() && body.status.is_none() && body.advertising_protected.is_none() {
        errors.push(FieldError::new(
            "body",
            "names nothing to change (name, status, advertising_protected)",
        ));
    }
    check(errors)?;
    let org_id = principal.org_id;
    let changes = companies::Changes {
        name,
        status: body.status,
        advertising_protected: body.advertising_protected,
    };
    let company = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(companies::update(conn, org_id, cvr.as_str(), changes).await?)
    })
    .map_err(|p| not_found(p, &cvr))?;
    Ok(HttpResponse::Ok().json(CompanyView::from(company)))
}

fn not_found(problem: Problem, cvr: &Cvr) -> Problem {
    if problem.status == 404 {
        Problem::not_found(format!("No company {cvr}."))
    } else {
        problem
    }
}

/// Who may act on a company (administrators).
#[utoipa::path(get, path = "/v1/companies/{cvr}/grants", tag = "companies", security(("user" = [])),
    responses((status = 200, body = [GrantView]),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn grants(
    principal: Principal,
    pool: web::Data<Pool>,
    cvr: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let cvr = parse_cvr(&cvr)?;
    principal.require_admin()?;
    let org_id = principal.org_id;
    let grants = in_context!(&pool, principal.context(), |conn| {
        companies::find(conn, org_id, cvr.as_str()).await?;
        Ok::<_, Problem>(companies::grants_of_company(conn, org_id, cvr.as_str()).await?)
    })
    .map_err(|p| not_found(p, &cvr))?;
    let grants: Vec<GrantView> = grants.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(grants))
}

/// Grant a user of the organization access to a company, or change its level
/// (administrators). The grant reaches every service through its event.
#[utoipa::path(put, path = "/v1/companies/{cvr}/grants/{user_id}", tag = "companies",
    security(("user" = [])),
    request_body = GrantBody,
    responses((status = 200, body = GrantView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such company or user in the organization", body = Problem,
               content_type = "application/problem+json")))]
pub async fn grant(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<GrantBody>,
) -> Result<HttpResponse, Problem> {
    let (cvr, user_id) = path.into_inner();
    let cvr = parse_cvr(&cvr)?;
    principal.require_admin()?;
    let org_id = principal.org_id;
    let by = principal.user_id;
    let level = body.access_level;
    let grant = in_context!(&pool, principal.context(), |conn| {
        companies::find(conn, org_id, cvr.as_str()).await?;
        // Row Level Security shows only users of the caller's organization.
        if users::find(conn, user_id).await.is_err() {
            return Err(Problem::not_found(format!(
                "No user {user_id} in this organization."
            )));
        }
        Ok::<_, Problem>(companies::grant(conn, org_id, cvr.as_str(), user_id, level, by).await?)
    })
    .map_err(|p| not_found(p, &cvr))?;
    Ok(HttpResponse::Ok().json(GrantView::from(grant)))
}

/// Revoke a user's access to a company (administrators).
#[utoipa::path(delete, path = "/v1/companies/{cvr}/grants/{user_id}", tag = "companies",
    security(("user" = [])),
    responses((status = 204, description = "Revoked"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (cvr, user_id) = path.into_inner();
    let cvr = parse_cvr(&cvr)?;
    principal.require_admin()?;
    let org_id = principal.org_id;
    in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(companies::revoke(conn, org_id, cvr.as_str(), user_id).await?)
    })
    .map_err(|problem| {
        if problem.status == 404 {
            Problem::not_found(format!("User {user_id} has no grant on {cvr}."))
        } else {
            problem
        }
    })?;
    Ok(HttpResponse::NoContent().finish())
}

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_db::Pool;
use tekup_runtime::Problem;
use tekup_runtime::http::checkout;
use tekup_runtime::pagination::{Page, PageQuery};
use tekup_runtime::problem::FieldError;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Operator;
use crate::store::organizations::{self as store, Organization};

/// An organization's editable fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationBody {
    /// 1–200 characters; unique, ignoring case.
    #[schema(example = "Rendetalje ApS")]
    name: String,
}

impl OrganizationBody {
    fn name(&self) -> Result<&str, Problem> {
        let name = self.name.trim();
        let length = name.chars().count();
        if !(1..=200).contains(&length) {
            return Err(Problem::validation(vec![FieldError::new(
                "name",
                "must be 1 to 200 characters",
            )]));
        }
        Ok(name)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationView {
    fn from(org: Organization) -> Self {
        Self {
            id: org.id,
            name: org.name,
            created_at: org.created_at,
            updated_at: org.updated_at,
        }
    }
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OrganizationPage {
    items: Vec<OrganizationView>,
    next_cursor: Option<String>,
}

/// Create an organization; every service learns of it through its event.
#[utoipa::path(post, path = "/v1/organizations", tag = "organizations",
    security(("operator" = [])),
    request_body = OrganizationBody,
    responses(
        (status = 201, body = OrganizationView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    _: Operator,
    pool: web::Data<Pool>,
    body: web::Json<OrganizationBody>,
) -> Result<HttpResponse, Problem> {
    let name = body.name()?;
    let created = store::create(&mut *checkout(&pool).await?, name).await?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/organizations/{}", created.id)))
        .json(OrganizationView::from(created)))
}

/// List organizations, oldest first.
#[utoipa::path(get, path = "/v1/organizations", tag = "organizations",
    security(("operator" = [])),
    params(PageQuery),
    responses((status = 200, body = OrganizationPage)))]
pub async fn list(
    _: Operator,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let items = store::list(&mut *checkout(&pool).await?, query.after_uuid()?, limit).await?;
    let page = Page::new(
        items.into_iter().map(OrganizationView::from).collect(),
        limit,
        |org| org.id.to_string(),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// One organization.
#[utoipa::path(get, path = "/v1/organizations/{id}", tag = "organizations",
    security(("operator" = [])),
    responses(
        (status = 200, body = OrganizationView),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    _: Operator,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let org = store::find(&mut *checkout(&pool).await?, *id).await?;
    Ok(HttpResponse::Ok().json(OrganizationView::from(org)))
}

/// Rename an organization.
#[utoipa::path(patch, path = "/v1/organizations/{id}", tag = "organizations",
    security(("operator" = [])),
    request_body = OrganizationBody,
    responses(
        (status = 200, body = OrganizationView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn rename(
    _: Operator,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
    body: web::Json<OrganizationBody>,
) -> Result<HttpResponse, Problem> {
    let name = body.name()?;
    let org = store::rename(&mut *checkout(&pool).await?, *id, name).await?;
    Ok(HttpResponse::Ok().json(OrganizationView::from(org)))
}

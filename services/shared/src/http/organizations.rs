//! The platform operator's endpoints: organizations and their first users.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_runtime::pagination::{Page, PageQuery};
use tekup_runtime::{Problem, in_context};
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::{UserBody, UserView};
use super::{Operator, check};
use crate::domain::validation;
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
    fn name(&self) -> Result<String, Problem> {
        let mut errors = Vec::new();
        let name = validation::name("name", &self.name, 200, &mut errors);
        check(errors).map(|()| name)
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
    let created = in_context!(&pool, Context::System, |conn| {
        Ok::<_, Problem>(store::create(conn, &name).await?)
    })?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/organizations/{}", created.id)))
        .json(OrganizationView::from(created)))
}

/// List organizations, oldest first.
#[utoipa::path(get, path = "/v1/organizations", tag = "organizations",
    security(("operator" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of organizations: {items, next_cursor}")))]
pub async fn list(
    _: Operator,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let after = query.after_uuid()?;
    let items = in_context!(&pool, Context::System, |conn| {
        Ok::<_, Problem>(store::list(conn, after, limit).await?)
    })?;
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
    let id = *id;
    let org = in_context!(&pool, Context::System, |conn| {
        Ok::<_, Problem>(store::find(conn, id).await?)
    })?;
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
    let id = *id;
    let org = in_context!(&pool, Context::System, |conn| {
        Ok::<_, Problem>(store::rename(conn, id, &name).await?)
    })?;
    Ok(HttpResponse::Ok().json(OrganizationView::from(org)))
}

/// Create a user in an organization (its first administrator, typically).
#[utoipa::path(post, path = "/v1/organizations/{id}/users", tag = "organizations",
    security(("operator" = [])),
    request_body = UserBody,
    responses(
        (status = 201, body = UserView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The e-mail is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_user(
    _: Operator,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, Problem> {
    let org_id = *id;
    let exists = in_context!(&pool, Context::System, |conn| {
        Ok::<_, Problem>(store::find(conn, org_id).await.is_ok())
    })?;
    if !exists {
        return Err(Problem::not_found(format!("No organization {org_id}.")));
    }
    super::users::create_in(&pool, Context::System, org_id, body.into_inner()).await
}

//! Document categories and sync status of an organization.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::problem::FieldError;
use tekup_runtime::validate::{check, text};
use tekup_runtime::{Problem, in_context};
use utoipa::ToSchema;
use uuid::Uuid;

use super::not_found;
use crate::store::categories::{self, Category};
use crate::store::sync::{self, SyncStatus};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryChanges {
    description: Option<String>,
    /// Inactive categories stay on their documents but take no new ones.
    active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    id: Uuid,
    name: String,
    description: String,
    active: bool,
    created_at: DateTime<Utc>,
}

impl From<Category> for CategoryView {
    fn from(c: Category) -> Self {
        Self {
            id: c.id,
            name: c.name,
            description: c.description,
            active: c.active,
            created_at: c.created_at,
        }
    }
}

/// The organization's document categories.
#[utoipa::path(get, path = "/v1/categories", tag = "catalog", security(("user" = [])),
    responses((status = 200, body = [CategoryView])))]
pub async fn categories(
    principal: Principal,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, Problem> {
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(categories::list(conn).await?)
    })?;
    let views: Vec<CategoryView> = list.into_iter().map(CategoryView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Create a document category (organization administrators).
#[utoipa::path(post, path = "/v1/categories", tag = "catalog", security(("user" = [])),
    request_body = CategoryBody,
    responses((status = 201, body = CategoryView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_category(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<CategoryBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let mut errors = Vec::new();
    let name = text("name", &body.name, 100, &mut errors);
    if body.description.chars().count() > 1000 {
        errors.push(FieldError::new(
            "description",
            "must be at most 1000 characters",
        ));
    }
    check(errors)?;
    let category = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            categories::create(conn, principal.org_id, &name, &body.description).await?,
        )
    })?;
    Ok(HttpResponse::Created().json(CategoryView::from(category)))
}

/// Change a category's description or retire it (organization administrators).
#[utoipa::path(patch, path = "/v1/categories/{id}", tag = "catalog", security(("user" = [])),
    request_body = CategoryChanges,
    responses((status = 200, body = CategoryView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn update_category(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
    body: web::Json<CategoryChanges>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        return Err(Problem::validation(vec![FieldError::new(
            "description",
            "must be at most 1000 characters",
        )]));
    }
    let id = path.into_inner();
    let category = in_context!(&pool, principal.context(), |conn| {
        categories::update(conn, id, body.description.as_deref(), body.active)
            .await
            .map_err(not_found("such category"))
    })?;
    Ok(HttpResponse::Ok().json(CategoryView::from(category)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncView {
    source: String,
    repository: String,
    /// ok or failed.
    status: String,
    /// Documents created or changed by deliveries from this source.
    documents: i64,
    last_synced_at: DateTime<Utc>,
    last_error: Option<String>,
}

impl From<SyncStatus> for SyncView {
    fn from(s: SyncStatus) -> Self {
        Self {
            source: s.source,
            repository: s.repository,
            status: s.status,
            documents: s.documents,
            last_synced_at: s.last_synced_at,
            last_error: s.last_error,
        }
    }
}

/// When each source last delivered documents to the organization, and how many.
#[utoipa::path(get, path = "/v1/sync-status", tag = "catalog", security(("user" = [])),
    responses((status = 200, body = [SyncView])))]
pub async fn sync_status(
    principal: Principal,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, Problem> {
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(sync::list(conn).await?)
    })?;
    let views: Vec<SyncView> = list.into_iter().map(SyncView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

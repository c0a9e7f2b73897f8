//! The users of an organization, managed by its administrators.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_runtime::pagination::{Page, PageQuery};
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_context};
use tekup_types::Role;
use utoipa::ToSchema;
use uuid::Uuid;

use super::check;
use crate::domain::{credentials, validation};
use crate::store::{sessions, users};

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    #[schema(example = "mette@rendetalje.dk")]
    email: String,
    /// 12–128 characters.
    password: String,
    first_name: String,
    last_name: String,
    role: Role,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    first_name: Option<String>,
    last_name: Option<String>,
    role: Option<Role>,
    /// `false` deactivates the account and ends its logins.
    active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    id: Uuid,
    org_id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
    role: String,
    /// Permissions beyond the role.
    permissions: serde_json::Value,
    active: bool,
    last_login_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<users::User> for UserView {
    fn from(user: users::User) -> Self {
        Self {
            id: user.id,
            org_id: user.org_id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            role: user.role,
            permissions: user.permissions,
            active: user.active,
            last_login_at: user.last_login_at,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// Creates a user in `org_id` with the given context (the operator's or an org admin's).
pub async fn create_in(
    pool: &Pool,
    context: Context,
    org_id: Uuid,
    body: UserBody,
) -> Result<HttpResponse, Problem> {
    let mut errors = Vec::new();
    let email = validation::email(&body.email, &mut errors);
    validation::password(&body.password, &mut errors);
    let first_name = validation::name("first_name", &body.first_name, 100, &mut errors);
    let last_name = validation::name("last_name", &body.last_name, 100, &mut errors);
    check(errors)?;
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || credentials::hash_password(&password))
        .await
        .map_err(|err| Problem::internal(&err))?
        .map_err(|err| Problem::internal(&err))?;
    let user = in_context!(pool, context, |conn| {
        let new = users::NewUser {
            org_id,
            email: &email,
            password_hash: &hash,
            first_name: &first_name,
            last_name: &last_name,
            role: body.role.as_str(),
        };
        Ok::<_, Problem>(users::create(conn, new).await?)
    })
    .map_err(|problem| {
        if problem.status == 409 {
            Problem::conflict("A user with this e-mail already exists.")
        } else {
            problem
        }
    })?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/users/{}", user.id)))
        .json(UserView::from(user)))
}

/// Create a user in the caller's organization (administrators).
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("user" = [])),
    request_body = UserBody,
    responses(
        (status = 201, body = UserView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    create_in(
        &pool,
        principal.context(),
        principal.org_id,
        body.into_inner(),
    )
    .await
}

/// The users of the caller's organization.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of users: {items, next_cursor}")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let after = query.after_uuid()?;
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(users::list(conn, after, limit).await?)
    })?;
    let page = Page::new(
        items.into_iter().map(UserView::from).collect(),
        limit,
        |user| user.id.to_string(),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// One user of the caller's organization.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("user" = [])),
    responses((status = 200, body = UserView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = *id;
    let user = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(users::find(conn, id).await?)
    })?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// Change a user (administrators). Deactivating ends the user's logins.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("user" = [])),
    request_body = UserChanges,
    responses(
        (status = 200, body = UserView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
    body: web::Json<UserChanges>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let id = *id;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let first_name = body
        .first_name
        .map(|v| validation::name("first_name", &v, 100, &mut errors));
    let last_name = body
        .last_name
        .map(|v| validation::name("last_name", &v, 100, &mut errors));
    if id == principal.user_id
        && (body.active == Some(false) || body.role.is_some_and(|r| r != Role::Admin))
    {
        errors.push(FieldError::new(
            "active",
            "an administrator cannot deactivate or demote themselves",
        ));
    }
    check(errors)?;
    let changes = users::Changes {
        first_name,
        last_name,
        role: body.role.map(|r| r.as_str().to_owned()),
        active: body.active,
    };
    let user = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(users::update(conn, id, changes).await?)
    })?;
    if !user.active {
        in_context!(&pool, Context::System, |conn| {
            Ok::<_, Problem>(sessions::revoke_user(conn, id).await?)
        })?;
    }
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

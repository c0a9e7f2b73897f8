//! The HTTP API of the shared service.

pub mod audit;
pub use tekup_runtime::pagination::{parse_time_cursor, time_cursor};
pub use tekup_runtime::validate::check;
mod auth;
mod companies;
mod organizations;
mod users;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use secrecy::ExposeSecret;
use tekup_runtime::Problem;
use tekup_runtime::pagination::constant_time_eq;
use utoipa::OpenApi;

use crate::Config;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(auth::jwks))
        .service(
            web::scope("/v1/auth")
                .route("/login", web::post().to(auth::login))
                .route("/refresh", web::post().to(auth::refresh))
                .route("/logout", web::post().to(auth::logout)),
        )
        .route("/v1/me", web::get().to(auth::me))
        .service(
            web::scope("/v1/organizations")
                .route("", web::post().to(organizations::create))
                .route("", web::get().to(organizations::list))
                .route("/{id}", web::get().to(organizations::get))
                .route("/{id}", web::patch().to(organizations::rename))
                .route("/{id}/users", web::post().to(organizations::create_user)),
        )
        .service(
            web::scope("/v1/users")
                .route("", web::post().to(users::create))
                .route("", web::get().to(users::list))
                .route("/{id}", web::get().to(users::get))
                .route("/{id}", web::patch().to(users::update)),
        )
        .service(
            web::scope("/v1/companies")
                .route("", web::post().to(companies::register))
                .route("", web::get().to(companies::list))
                .route("/{cvr}", web::get().to(companies::get))
                .route("/{cvr}", web::patch().to(companies::update))
                .route("/{cvr}/grants", web::get().to(companies::grants))
                .route("/{cvr}/grants/{user_id}", web::put().to(companies::grant))
                .route(
                    "/{cvr}/grants/{user_id}",
                    web::delete().to(companies::revoke),
                ),
        )
        .route("/v1/audit", web::get().to(audit::query))
        .route("/v1/system-logs", web::get().to(audit::system_logs));
}

#[derive(OpenApi)]
#[openapi(
    info(description = "Identity and tenancy: organizations, users, CVR companies, access grants, sessions and the audit trail."),
    paths(
        auth::jwks, auth::login, auth::refresh, auth::logout, auth::me,
        organizations::create, organizations::list, organizations::get, organizations::rename,
        organizations::create_user,
        users::create, users::list, users::get, users::update,
        companies::register, companies::list, companies::get, companies::update, companies::grants,
        companies::grant, companies::revoke,
        audit::query, audit::system_logs,
    ),
    components(schemas(
        tekup_auth::Jwks, tekup_auth::Jwk, tekup_types::Role, tekup_types::AccessLevel,
        auth::LoginBody, auth::RefreshBody, auth::TokenPair, auth::MeView,
        organizations::OrganizationBody, organizations::OrganizationView,
        users::UserBody, users::UserChanges, users::UserView,
        companies::CompanyBody, companies::CompanyChanges, companies::CompanyView, companies::GrantBody, companies::GrantView,
        audit::AuditView, audit::SystemLogView,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Login, token refresh and logout"),
        (name = "organizations", description = "The tenants of the platform (operator)"),
        (name = "users", description = "The users of an organization"),
        (name = "companies", description = "Companies by CVR and who may act on them"),
        (name = "audit", description = "What happened, across every service"),
    )
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        tekup_runtime::http::UserAuth.modify(openapi);
    }
}

/// The platform operator, proven by the bearer token `app.admin_token`.
pub struct Operator;

impl FromRequest for Operator {
    type Error = Problem;
    type Future = std::future::Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(operator(req))
    }
}

fn operator(req: &HttpRequest) -> Result<Operator, Problem> {
    let expected = req
        .app_data::<web::Data<Config>>()
        .and_then(|config| config.admin_token.clone())
        .ok_or_else(|| Problem::forbidden("Operator endpoints are disabled on this instance."))?;
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Problem::unauthorized("Send the operator token as `Authorization: Bearer <token>`.")
        })?;
    if constant_time_eq(given.as_bytes(), expected.expose_secret().as_bytes()) {
        Ok(Operator)
    } else {
        Err(Problem::unauthorized("The operator token is not valid."))
    }
}

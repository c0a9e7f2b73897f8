//! The HTTP API of the shared service.

mod organizations;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use secrecy::ExposeSecret;
use tekup_runtime::Problem;
use tekup_runtime::pagination::constant_time_eq;
use utoipa::OpenApi;

use crate::Config;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/organizations")
            .route("", web::post().to(organizations::create))
            .route("", web::get().to(organizations::list))
            .route("/{id}", web::get().to(organizations::get))
            .route("/{id}", web::patch().to(organizations::rename)),
    );
}

#[derive(OpenApi)]
#[openapi(
    info(description = "Identity and tenancy: organizations, users, CVR companies, access grants, sessions and the audit trail."),
    paths(
        organizations::create,
        organizations::list,
        organizations::get,
        organizations::rename
    ),
    components(schemas(
        organizations::OrganizationBody,
        organizations::OrganizationView,
        organizations::OrganizationPage
    )),
    modifiers(&OperatorAuth),
    tags((name = "organizations", description = "The tenants of the platform"))
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

struct OperatorAuth;

impl utoipa::Modify for OperatorAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
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
        .ok_or_else(|| {
            Problem::forbidden("Organization administration is disabled on this instance.")
        })?;
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

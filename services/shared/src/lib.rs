//! Identity and tenancy: organizations, users, CVR companies, access grants, sessions and the audit trail.
//!
//! Owns the `shared` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_runtime::{NoConfig, Service, ServiceApp};
use utoipa::OpenApi;

/// The shared service.
pub struct Shared;

#[derive(OpenApi)]
#[openapi(info(
    description = "Identity and tenancy: organizations, users, CVR companies, access grants, sessions and the audit trail."
))]
struct Api;

impl ServiceApp for Shared {
    const SERVICE: Service = Service::Shared;
    type Config = NoConfig;

    fn openapi() -> utoipa::openapi::OpenApi {
        Api::openapi()
    }

    fn routes(_cfg: &mut web::ServiceConfig) {}
}

//! Identity and tenancy: organizations, users, CVR companies, access grants, sessions and the
//! audit trail.
//!
//! Owns the `shared` schema. Announces organizations on `tekup.shared.organization`, from
//! which every other service keeps its own projection.

mod http;
mod schema;
mod store;

use actix_web::web;
use secrecy::SecretString;
use serde::Deserialize;
use tekup_runtime::{Service, ServiceApp};

/// The shared service.
pub struct Shared;

/// Settings of the shared service (`TEKUP__SHARED__APP__...`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Bearer token of the platform operator, who may create and rename organizations.
    /// Unset: organization administration is refused.
    pub admin_token: Option<SecretString>,
}

impl ServiceApp for Shared {
    const SERVICE: Service = Service::Shared;
    type Config = Config;

    fn openapi() -> utoipa::openapi::OpenApi {
        http::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        http::routes(cfg);
    }

    fn topics() -> Vec<String> {
        vec![tekup_events::projection::organization_topic()]
    }
}

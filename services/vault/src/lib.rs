//! The knowledge layer: documents, versions and embeddings, searchable by meaning.
//!
//! Owns the `vault` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp};
use utoipa::OpenApi;

/// The vault service.
pub struct Vault;

#[derive(OpenApi)]
#[openapi(info(
    description = "The knowledge layer: documents, versions and embeddings, searchable by meaning."
))]
struct Api;

impl ServiceApp for Vault {
    const SERVICE: Service = Service::Vault;
    type Config = NoConfig;

    fn openapi() -> utoipa::openapi::OpenApi {
        Api::openapi()
    }

    fn routes(_cfg: &mut web::ServiceConfig) {}

    fn subscriptions() -> Vec<Subscription> {
        vec![tekup_events::projection::organizations()]
    }
}

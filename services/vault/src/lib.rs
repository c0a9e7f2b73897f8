//! The knowledge layer: documents, versions and embeddings, searchable by meaning.
//!
//! Owns the `vault` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp, Start};
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
    type State = ();

    async fn state(_: &Start<'_, NoConfig>) -> anyhow::Result<()> {
        Ok(())
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        Api::openapi()
    }

    fn routes(_cfg: &mut web::ServiceConfig) {}

    fn subscriptions() -> Vec<Subscription> {
        vec![
            tekup_events::projection::organizations(),
            tekup_events::projection::access_grants(),
        ]
    }
}

//! The Billy.dk accounting integration: organizations, cached invoices, customers and products.
//!
//! Owns the `billy` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp, Start};
use utoipa::OpenApi;

/// The billy service.
pub struct Billy;

#[derive(OpenApi)]
#[openapi(info(
    description = "The Billy.dk accounting integration: organizations, cached invoices, customers and products."
))]
struct Api;

impl ServiceApp for Billy {
    const SERVICE: Service = Service::Billy;
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

//! The CRM: companies by CVR, contacts, pipeline, activities, customer insights and next-step recommendations.
//!
//! Owns the `crm` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp, Start};
use utoipa::OpenApi;

/// The crm service.
pub struct Crm;

#[derive(OpenApi)]
#[openapi(info(
    description = "The CRM: companies by CVR, contacts, pipeline, activities, customer insights and next-step recommendations."
))]
struct Api;

impl ServiceApp for Crm {
    const SERVICE: Service = Service::Crm;
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

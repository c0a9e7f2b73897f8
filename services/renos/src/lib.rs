//! The cleaning-business OS: leads, customers, quotes, bookings, plans, invoices, conversations and e-mail threads.
//!
//! Owns the `renos` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp, Start};
use utoipa::OpenApi;

/// The renos service.
pub struct Renos;

#[derive(OpenApi)]
#[openapi(info(
    description = "The cleaning-business OS: leads, customers, quotes, bookings, plans, invoices, conversations and e-mail threads."
))]
struct Api;

impl ServiceApp for Renos {
    const SERVICE: Service = Service::Renos;
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

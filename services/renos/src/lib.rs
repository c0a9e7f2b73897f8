//! The cleaning-business OS: leads, customers, quotes, bookings, plans, invoices, conversations and e-mail threads.
//!
//! Owns the `renos` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp};
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

    fn openapi() -> utoipa::openapi::OpenApi {
        Api::openapi()
    }

    fn routes(_cfg: &mut web::ServiceConfig) {}

    fn subscriptions() -> Vec<Subscription> {
        vec![tekup_events::projection::organizations()]
    }
}

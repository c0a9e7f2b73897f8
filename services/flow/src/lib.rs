//! The workflow engine: workflows, executions, schedules, webhooks, variables and GDPR requests.
//!
//! Owns the `flow` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp};
use utoipa::OpenApi;

/// The flow service.
pub struct Flow;

#[derive(OpenApi)]
#[openapi(info(
    description = "The workflow engine: workflows, executions, schedules, webhooks, variables and GDPR requests."
))]
struct Api;

impl ServiceApp for Flow {
    const SERVICE: Service = Service::Flow;
    type Config = NoConfig;

    fn openapi() -> utoipa::openapi::OpenApi {
        Api::openapi()
    }

    fn routes(_cfg: &mut web::ServiceConfig) {}

    fn subscriptions() -> Vec<Subscription> {
        vec![tekup_events::projection::organizations()]
    }
}

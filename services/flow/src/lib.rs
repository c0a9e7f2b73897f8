//! The workflow engine: workflows, executions, schedules, webhooks, variables and GDPR requests.
//!
//! Owns the `flow` schema; talks to the other services only through Kafka events.

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp, Start};
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

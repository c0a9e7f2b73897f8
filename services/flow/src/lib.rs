//! The workflow engine: workflows, executions, schedules, webhooks, variables and GDPR requests.
//!
//! Owns the `flow` schema; talks to the other services only through Kafka events. Inbound
//! webhooks (the WotNot chatbot, forwarded e-mail, any Standard Webhooks sender) are received
//! here, stored raw and announced as `tekup.flow.webhook` events for the services that read them.

mod http;
pub mod signature;
mod store;

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp, Start};

/// The flow service.
pub struct Flow;

impl ServiceApp for Flow {
    const SERVICE: Service = Service::Flow;
    type Config = NoConfig;
    type State = ();

    async fn state(_: &Start<'_, NoConfig>) -> anyhow::Result<()> {
        Ok(())
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        http::routes(cfg);
    }

    fn topics() -> Vec<String> {
        tekup_events::catalog::of("flow")
    }

    fn subscriptions() -> Vec<Subscription> {
        vec![
            tekup_events::projection::organizations(),
            tekup_events::projection::access_grants(),
        ]
    }
}

//! The CRM: companies by CVR, contacts, pipeline, activities, customer insights and next-step
//! recommendations.
//!
//! Owns the `crm` schema; talks to the other services only through Kafka events. What a user
//! may see and change follows their grants on each company, which crm keeps as a projection
//! of shared's access events and enforces in the handlers and again by Row Level Security.

mod domain;
mod events;
mod http;
mod schema;
mod store;

use actix_web::web;
use tekup_events::Subscription;
use tekup_runtime::{NoConfig, Service, ServiceApp, Start};

/// The crm service.
pub struct Crm;

impl ServiceApp for Crm {
    const SERVICE: Service = Service::Crm;
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
        tekup_events::catalog::of("crm")
    }

    fn subscriptions() -> Vec<Subscription> {
        vec![
            tekup_events::projection::organizations(),
            tekup_events::projection::access_grants(),
            events::companies(),
            events::similar_items(),
            events::communications(),
        ]
    }
}

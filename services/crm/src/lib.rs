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
pub mod web;

use tekup_events::Subscription;
use tekup_events::gdpr::{Erase, Part};
use tekup_runtime::{Service, ServiceApp, Start};

/// The crm service.
pub struct Crm;

/// crm's own settings (`app.*`).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The web console's upstream services and cookies.
    pub web: web::WebConfig,
}

impl ServiceApp for Crm {
    const SERVICE: Service = Service::Crm;
    type Config = Config;
    type State = web::Upstream;

    async fn state(start: &Start<'_, Config>) -> anyhow::Result<web::Upstream> {
        web::Upstream::new(&start.settings.app.web)
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::openapi()
    }

    fn routes(cfg: &mut actix_web::web::ServiceConfig) {
        http::routes(cfg);
        web::routes(cfg);
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
            events::company_records(),
            events::deal_requests(),
            tekup_events::gdpr::subscription("crm", GDPR),
        ]
    }
}

/// Where crm keeps personal data, for flow's data-subject requests (erasure and export).
pub const GDPR: &[Part] = &[
    Part {
        table: "crm.contacts",
        by_email: Some("lower(email) = lower($2)"),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Delete,
    },
    Part {
        table: "crm.customers",
        by_email: Some("lower(email) = lower($2)"),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Delete,
    },
    Part {
        table: "crm.communications",
        by_email: Some("lower(customer_email) = lower($2)"),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Delete,
    },
    Part {
        table: "crm.company_records",
        by_email: None,
        by_cvr: Some("cvr = $2"),
        erase: Erase::Delete,
    },
    Part {
        table: "crm.emails",
        // Mail from the person and mail to them.
        by_email: Some(
            "lower(from_address) = lower($2) OR EXISTS (SELECT 1 FROM unnest(to_addresses) AS a WHERE lower(a) = lower($2))",
        ),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Delete,
    },
];

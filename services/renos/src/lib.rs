//! The cleaning-business OS: leads, customers, quotes, bookings, plans, invoices, conversations and e-mail threads.
//!
//! Owns the `renos` schema; talks to the other services only through Kafka events. From a
//! lead to a quote with a stored, explainable price calculation, a recurring plan whose
//! bookings keep their wall-clock time in Copenhagen, the work done, and an invoice numbered
//! without gaps that billy syncs to Billy.dk.

mod domain;
mod events;
mod http;
mod inbound;
mod store;

use actix_web::web;
use tekup_events::Subscription;
use tekup_events::gdpr::{Erase, Part};
use tekup_runtime::{NoConfig, Service, ServiceApp, Start};

/// The renos service.
pub struct Renos;

impl ServiceApp for Renos {
    const SERVICE: Service = Service::Renos;
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
        tekup_events::catalog::of("renos")
    }

    fn subscriptions() -> Vec<Subscription> {
        vec![
            tekup_events::projection::organizations(),
            tekup_events::projection::access_grants(),
            events::invoice_sync(),
            events::inbound(),
            tekup_events::gdpr::subscription("renos", GDPR),
        ]
    }
}

/// Where renos keeps personal data, for flow's data-subject requests (erasure and export).
pub const GDPR: &[Part] = &[
    Part {
        table: "renos.conversations",
        by_email: Some("lower(customer_email) = lower($2)"),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Delete,
    },
    Part {
        table: "renos.email_threads",
        by_email: Some("lower(customer_email) = lower($2)"),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Delete,
    },
    Part {
        table: "renos.email_messages",
        by_email: Some("lower(from_address) = lower($2)"),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Delete,
    },
    Part {
        table: "renos.leads",
        by_email: Some("lower(email) = lower($2)"),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Anonymise(
            "name = 'Slettet (GDPR)', email = NULL, phone = NULL, message = ''",
        ),
    },
    Part {
        table: "renos.customers",
        by_email: Some("lower(email) = lower($2)"),
        by_cvr: Some("cvr = $2"),
        erase: Erase::Anonymise(
            "name = 'Slettet (GDPR)', email = NULL, phone = NULL, street = NULL, zipcode = NULL, city = NULL",
        ),
    },
];

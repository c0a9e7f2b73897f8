//! The event backbone. Services talk only through Kafka events, and this crate makes that
//! channel trustworthy:
//!
//! - [`outbox::publish`] writes an event in the same transaction as the change it announces:
//!   no event for a rolled-back change, no committed change without its event;
//! - [`relay::Relay`] moves committed outbox rows to Kafka with an idempotent producer, keyed by
//!   aggregate, one active relay per service (an advisory-lock leader) so an aggregate's events
//!   keep their order;
//! - [`consumer::Consumer`] applies each event once: the handler's writes and the inbox row
//!   commit together, offsets are stored only afterwards, failures retry with backoff and then
//!   go to `<service>.dlq`, so a poison message never blocks its partition.

pub mod catalog;
pub mod config;
pub mod consumer;
pub mod envelope;
pub mod gdpr;
pub mod kafka;
pub mod outbox;
pub mod projection;
pub mod relay;
pub mod schema;

pub use config::EventsConfig;
pub use consumer::{Consumer, HandleError, Handler, Subscription};
pub use envelope::Event;

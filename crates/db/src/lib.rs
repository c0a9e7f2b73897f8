//! Database access shared by every service.
//!
//! One PostgreSQL database holds six schemas, one per service. Each service logs in as its own
//! role, which owns its schema and has no privilege on the other five ([`provision`]). A service
//! migrates only its own schema at start-up ([`migrate`]) and talks to it through a bounded
//! diesel-async pool ([`pool`]): every wait (checkout, connect, statement) has a limit, so a
//! database that goes away turns into errors the HTTP layer can answer with 503, never into
//! stuck workers.

pub mod limit;
pub mod migrate;
pub mod pool;
pub mod provision;
pub mod redact;
mod service;
pub mod tenancy;

pub use pool::{Conn, DatabaseConfig, DbError, Pool};
pub use service::Service;

//! Queries of the `renos` schema, on the caller's transaction (whose tenant context Row Level
//! Security applies); changes write their events to the same transaction's outbox.

pub mod analytics;
pub mod chat;
pub mod customers;
pub mod invoices;
pub mod mail;
pub mod plans;
pub mod sales;
pub mod work;

pub type SqlUuid = diesel::sql_types::Uuid;

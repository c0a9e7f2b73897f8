//! Queries of the `flow` schema, on the caller's transaction (whose tenant context Row Level
//! Security applies); changes write their events to the same transaction's outbox.

pub mod executions;
pub mod gdpr;
pub mod integrations;
pub mod schedules;
pub mod webhooks;
pub mod workflows;

pub type SqlUuid = diesel::sql_types::Uuid;

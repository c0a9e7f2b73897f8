//! Queries of the `crm` schema, on the caller's transaction (whose tenant context Row Level
//! Security applies); changes write their events to the same transaction's outbox.

pub mod activities;
pub mod companies;
pub mod contacts;
pub mod deals;
pub mod emails;
pub mod insights;
pub mod records;
pub mod steps;

//! Queries of the `shared` schema. Each function runs on the caller's transaction, whose
//! tenant context Row Level Security applies; changes write their events to the same
//! transaction's outbox.

pub mod audit;
pub mod companies;
pub mod organizations;
pub mod sessions;
pub mod users;

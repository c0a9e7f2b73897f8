//! Queries of the `vault` schema, on the caller's transaction (whose tenant context Row Level
//! Security applies).

pub mod categories;
pub mod documents;
pub mod sync;

pub type SqlUuid = diesel::sql_types::Uuid;

//! Queries of the `shared` schema. Every change and the event announcing it commit together.

pub mod organizations;

//! Rules of the CRM, free of I/O.

pub mod pipeline;
pub mod recommender;

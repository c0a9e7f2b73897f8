//! Rules of identity, free of I/O.

pub mod credentials;
pub mod validation;

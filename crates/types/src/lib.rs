//! Domain types every service shares. They parse, they do not merely validate: holding a
//! [`Cvr`] means holding a valid CVR number.

mod access;
pub mod copenhagen;
mod cvr;

pub use access::{AccessLevel, Role};
pub use cvr::{Cvr, CvrError};

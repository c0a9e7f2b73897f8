//! RFC 9457 problem details: the one error body every endpoint answers with, and the request
//! id it quotes.

mod problem;
pub mod request_id;

pub use problem::{CONTENT_TYPE, FieldError, Problem, not_found};

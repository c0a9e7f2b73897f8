//! Access tokens for the whole platform.
//!
//! shared signs short-lived access tokens (JWT, EdDSA/Ed25519, with a `kid` naming the key)
//! and publishes its public keys at `/.well-known/jwks.json`. Every service verifies them with a
//! [`Verifier`]: keys come from that JWKS, cached and fetched again when a token names an
//! unknown `kid` (key rotation). Only EdDSA is accepted, per key: `alg: none`, HMAC algorithms
//! and any other key type are refused, as are tokens for another issuer or audience and
//! expired ones. The [`Principal`] extractor turns a valid bearer token into the caller.

mod access;
mod claims;
mod keys;
mod principal;
pub mod sealing;
mod verifier;

pub use access::{enter_company, require_access, require_level};
pub use claims::Claims;
pub use keys::{Jwk, Jwks, SigningKey};
pub use principal::Principal;
pub use verifier::{AuthError, AuthSettings, Verifier};

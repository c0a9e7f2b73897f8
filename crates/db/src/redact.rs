//! Serializing settings for the configuration reference without revealing secrets.

use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;

/// A secret shows as `<secret>` when set, and as an empty string when not.
pub fn secret<S: Serializer>(value: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    if value.expose_secret().is_empty() {
        serializer.serialize_str("")
    } else {
        serializer.serialize_str("<secret>")
    }
}

/// An optional secret shows as `<secret>` when set, and as null when not.
pub fn optional_secret<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_str("<secret>"),
        None => serializer.serialize_none(),
    }
}

//! Standard Webhooks (<https://www.standardwebhooks.com>): a delivery carries `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated list of
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` (several while a secret rotates).
//! Secrets are `whsec_<base64 key>`. Used for the deliveries we receive and those we send.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far a delivery's timestamp may be from now, either way (replay protection).
pub const TOLERANCE_SECS: i64 = 5 * 60;

const PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(key))
}

fn key(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix(PREFIX).unwrap_or(secret);
    STANDARD
        .decode(encoded)
        .unwrap_or_else(|_| encoded.as_bytes().to_vec())
}

fn mac(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key(secret))
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for a delivery.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Missing(&'static str),
    Timestamp,
    Signature,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(header) => write!(f, "the {header} header is missing"),
            Self::Timestamp => write!(
                f,
                "webhook-timestamp is not a Unix time within {TOLERANCE_SECS} seconds of now"
            ),
            Self::Signature => write!(f, "no webhook-signature matches the body"),
        }
    }
}

/// The headers of a signed delivery.
pub struct Signed<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signatures: Option<&'a str>,
}

/// Checks a delivery against the secret; on success returns its `webhook-id`.
pub fn verify<'a>(
    secret: &str,
    headers: &Signed<'a>,
    body: &[u8],
    now: i64,
) -> Result<&'a str, Rejection> {
    let id = headers
        .id
        .filter(|id| !id.is_empty())
        .ok_or(Rejection::Missing("webhook-id"))?;
    let timestamp = headers
        .timestamp
        .ok_or(Rejection::Missing("webhook-timestamp"))?;
    let signatures = headers
        .signatures
        .ok_or(Rejection::Missing("webhook-signature"))?;
    let at: i64 = timestamp.parse().map_err(|_| Rejection::Timestamp)?;
    if (now - at).abs() > TOLERANCE_SECS {
        return Err(Rejection::Timestamp);
    }
    let expected = mac(secret, id, timestamp, body).finalize().into_bytes();
    let matches = signatures.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|tag| STANDARD.decode(tag).ok())
            .is_some_and(|tag| bool::from(tag.as_slice().ct_eq(&expected[..])))
    });
    if matches {
        Ok(id)
    } else {
        Err(Rejection::Signature)
    }
}

/// Compares a presented token with the secret in constant time (for senders, like WotNot,
/// that authenticate with a shared token instead of a signature).
pub fn token_matches(secret: &str, presented: &str) -> bool {
    bool::from(secret.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference implementations.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signs_like_the_reference_implementation() {
        assert_eq!(
            sign(SECRET, ID, TIMESTAMP, BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn accepts_any_listed_signature_and_refuses_tampering() {
        let signature = sign(SECRET, ID, TIMESTAMP, BODY);
        let listed = format!("v1,bm90IGl0 {signature}");
        let headers = Signed {
            id: Some(ID),
            timestamp: Some("1614265330"),
            signatures: Some(&listed),
        };
        assert_eq!(verify(SECRET, &headers, BODY, TIMESTAMP + 10), Ok(ID));
        assert_eq!(
            verify(SECRET, &headers, b"{\"test\": 1}", TIMESTAMP),
            Err(Rejection::Signature)
        );
        assert_eq!(
            verify(SECRET, &headers, BODY, TIMESTAMP + TOLERANCE_SECS + 1),
            Err(Rejection::Timestamp)
        );
        let other = generate_secret();
        assert_eq!(
            verify(&other, &headers, BODY, TIMESTAMP),
            Err(Rejection::Signature)
        );
        let unsigned = Signed {
            signatures: None,
            ..headers
        };
        assert_eq!(
            verify(SECRET, &unsigned, BODY, TIMESTAMP),
            Err(Rejection::Missing("webhook-signature"))
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("whsec_abc", "whsec_abc"));
        assert!(!token_matches("whsec_abc", "whsec_ab"));
        assert!(!token_matches("whsec_abc", ""));
    }
}

//! Verifying access tokens against the issuer's published keys.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tekup_problem::Problem;
use tokio::sync::{Mutex, RwLock};

use crate::{Claims, Jwk, Jwks};

/// Where keys come from and what a valid token says (`auth.*` in every service's settings).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// shared's JWKS.
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp`.
    pub leeway_secs: u64,
    /// At most one JWKS fetch this often, however many unknown `kid`s arrive.
    pub jwks_refresh_min_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwks_url: "http://127.0.0.1:8086/.well-known/jwks.json".into(),
            issuer: "tekup".into(),
            audience: "tekup".into(),
            leeway_secs: 30,
            jwks_refresh_min_secs: 10,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Send an access token as `Authorization: Bearer <token>`.")]
    Missing,
    #[error("The access token is malformed.")]
    Malformed,
    #[error("The access token's algorithm {0:?} is not accepted.")]
    Algorithm(Algorithm),
    #[error("The access token was signed with an unknown key.")]
    UnknownKey,
    #[error("The access token has expired.")]
    Expired,
    #[error("The access token is not valid: {0}.")]
    Invalid(&'static str),
    #[error("The signing keys cannot be fetched right now.")]
    KeysUnavailable,
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let problem = match self {
            AuthError::KeysUnavailable => Problem::unavailable(self.to_string()),
            _ => Problem::unauthorized(self.to_string()),
        };
        let mut response = problem.error_response();
        if self.status_code() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

enum Source {
    Url(String),
    Fixed,
}

/// Verifies access tokens; share one per process.
pub struct Verifier {
    settings: AuthSettings,
    source: Source,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    client: reqwest::Client,
    /// Tokens already verified, by their SHA-256, with their claims: a token is checked once,
    /// not on every request it is sent with (an Ed25519 verification per request was a large
    /// part of a read's CPU). An entry is used only until the token expires.
    verified: std::sync::Mutex<HashMap<[u8; 32], Claims>>,
}

/// Verified tokens kept at most; when full, expired ones go, and if none had, all.
const VERIFIED_CAPACITY: usize = 10_000;

impl Verifier {
    /// Keys fetched from `settings.jwks_url` on first need and whenever a token names a `kid`
    /// not seen yet.
    pub fn new(settings: AuthSettings) -> Self {
        let source = Source::Url(settings.jwks_url.clone());
        Self::build(settings, source, HashMap::new())
    }

    /// A fixed set of keys (tests, or an issuer verifying its own tokens).
    pub fn with_keys(settings: AuthSettings, jwks: &Jwks) -> Self {
        Self::build(settings, Source::Fixed, decoding_keys(jwks))
    }

    fn build(settings: AuthSettings, source: Source, keys: HashMap<String, DecodingKey>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            settings,
            source,
            keys: RwLock::new(keys),
            verified: std::sync::Mutex::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            client,
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The claims of a valid token.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = unix_now();
        if let Some(claims) = self.cached(&digest, now) {
            return Ok(claims);
        }
        let claims = self.verify_signed(token).await?;
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, c| c.exp > now);
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    fn cached(&self, digest: &[u8; 32], now: i64) -> Option<Claims> {
        let verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verified.get(digest).filter(|c| c.exp > now).cloned()
    }

    async fn verify_signed(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(AuthError::Invalid("no key id"))?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.refresh().await?;
                self.key(&kid).await.ok_or(AuthError::UnknownKey)?
            }
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.settings.leeway_secs;
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature"),
                ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer"),
                ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience"),
                ErrorKind::InvalidAlgorithm => AuthError::Invalid("wrong algorithm for its key"),
                ErrorKind::MissingRequiredClaim(_) => AuthError::Invalid("a claim is missing"),
                ErrorKind::ImmatureSignature => AuthError::Invalid("not valid yet"),
                _ => AuthError::Malformed,
            })
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().await.get(kid).cloned()
    }

    /// Fetches the JWKS again, at most once per `jwks_refresh_min_secs`, so a flood of tokens
    /// with made-up key ids cannot turn into a flood of fetches.
    async fn refresh(&self) -> Result<(), AuthError> {
        let Source::Url(url) = &self.source else {
            return Err(AuthError::UnknownKey);
        };
        // The lock is held across the fetch, so concurrent requests wait for one fetch. The
        // time is recorded only when a fetch completed: a request abandoned mid-fetch (its
        // client gone, another extractor failed first) must not leave the keys unfetched for
        // the next `jwks_refresh_min_secs`.
        let mut last = self.last_fetch.lock().await;
        let min = Duration::from_secs(self.settings.jwks_refresh_min_secs);
        if last.is_some_and(|at| at.elapsed() < min) {
            return Ok(());
        }
        let fetched: Result<Jwks, reqwest::Error> = async {
            self.client
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await;
        *last = Some(Instant::now());
        let jwks = fetched.map_err(|err| {
            tracing::warn!(error = %err, url, "cannot fetch the JWKS");
            AuthError::KeysUnavailable
        })?;
        let keys = decoding_keys(&jwks);
        tracing::info!(keys = keys.len(), "fetched the JWKS");
        *self.keys.write().await = keys;
        Ok(())
    }
}

/// Only Ed25519 keys meant for EdDSA signatures are taken; anything else in a JWKS is ignored,
/// so no token can pick an algorithm its key was not made for.
fn decoding_keys(jwks: &Jwks) -> HashMap<String, DecodingKey> {
    jwks.keys
        .iter()
        .filter(|jwk: &&Jwk| {
            jwk.kty == "OKP" && jwk.crv == "Ed25519" && jwk.alg == "EdDSA" && jwk.usage == "sig"
        })
        .filter_map(|jwk| {
            DecodingKey::from_ed_components(&jwk.x)
                .ok()
                .map(|key| (jwk.kid.clone(), key))
        })
        .collect()
}

/// Seconds since the Unix epoch, as `exp` counts them.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use uuid::Uuid;

    use super::*;
    use crate::SigningKey;

    fn new_key() -> SigningKey {
        let seed: [u8; 32] = rand::random();
        SigningKey::from_seed(&seed).unwrap()
    }

    fn claims(exp_offset: i64) -> Claims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Claims {
            sub: Uuid::now_v7(),
            org: Uuid::now_v7(),
            role: tekup_types::Role::Analyst,
            iss: "tekup".into(),
            aud: "tekup".into(),
            iat: now,
            exp: now + exp_offset,
            jti: Uuid::now_v7(),
        }
    }

    fn verifier(key: &SigningKey) -> Verifier {
        Verifier::with_keys(
            AuthSettings::default(),
            &Jwks {
                keys: vec![key.jwk()],
            },
        )
    }

    #[tokio::test]
    async fn a_valid_token_yields_its_claims() {
        let key = new_key();
        let claims = claims(900);
        let token = key.sign(&claims).unwrap();
        assert_eq!(verifier(&key).verify(&token).await.unwrap(), claims);
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let key = new_key();
        let token = key.sign(&claims(-120)).unwrap();
        assert!(matches!(
            verifier(&key).verify(&token).await,
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn a_token_of_another_key_with_the_same_kid_is_refused() {
        let key = new_key();
        let impostor = new_key();
        // The impostor's signed token, relabelled with the genuine key's id.
        let token = impostor.sign(&claims(900)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid().to_owned());
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let forged = format!("{header}.{}.{}", parts[1], parts[2]);
        assert!(matches!(
            verifier(&key).verify(&forged).await,
            Err(AuthError::Invalid("bad signature"))
        ));
    }

    #[tokio::test]
    async fn a_tampered_payload_is_refused() {
        let key = new_key();
        let token = key.sign(&claims(900)).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        payload["role"] = "admin".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
        let tampered = parts.join(".");
        assert!(matches!(
            verifier(&key).verify(&tampered).await,
            Err(AuthError::Invalid("bad signature"))
        ));
    }

    #[tokio::test]
    async fn alg_none_and_hmac_tokens_are_refused() {
        let key = new_key();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(900)).unwrap());
        for alg in ["none", "HS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(
                r#"{{"alg":"{alg}","typ":"JWT","kid":"{}"}}"#,
                key.kid()
            ));
            let token = format!("{header}.{payload}.");
            let result = verifier(&key).verify(&token).await;
            assert!(
                matches!(result, Err(AuthError::Algorithm(_) | AuthError::Malformed)),
                "{alg}: {result:?}"
            );
        }
        // HS256 signed with the public key as the secret: the classic confusion attack.
        let public = URL_SAFE_NO_PAD.decode(key.jwk().x).unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.kid = Some(key.kid().to_owned());
        let confused = jsonwebtoken::encode(
            &header,
            &claims(900),
            &jsonwebtoken::EncodingKey::from_secret(&public),
        )
        .unwrap();
        assert!(matches!(
            verifier(&key).verify(&confused).await,
            Err(AuthError::Algorithm(Algorithm::HS256))
        ));
    }

    #[tokio::test]
    async fn wrong_issuer_or_audience_is_refused() {
        let key = new_key();
        let mut other = claims(900);
        other.iss = "elsewhere".into();
        assert!(matches!(
            verifier(&key).verify(&key.sign(&other).unwrap()).await,
            Err(AuthError::Invalid("wrong issuer"))
        ));
        let mut other = claims(900);
        other.aud = "another-app".into();
        assert!(matches!(
            verifier(&key).verify(&key.sign(&other).unwrap()).await,
            Err(AuthError::Invalid("wrong audience"))
        ));
    }

    #[tokio::test]
    async fn an_unknown_key_is_refused() {
        let token = new_key().sign(&claims(900)).unwrap();
        assert!(matches!(
            verifier(&new_key()).verify(&token).await,
            Err(AuthError::UnknownKey)
        ));
    }
}

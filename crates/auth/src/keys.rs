//! Signing keys (shared only) and their public form, the JWKS.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Claims;

/// An Ed25519 key that signs access tokens.
pub struct SigningKey {
    kid: String,
    public: [u8; 32],
    encoding: EncodingKey,
}

impl SigningKey {
    /// From the key's 32-byte seed, base64-encoded (what `app.jwt.signing_key` holds; make one
    /// with `head -c 32 /dev/urandom | base64`).
    pub fn from_seed_base64(seed: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(seed.trim())
            .map_err(|err| format!("signing key is not base64: {err}"))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("signing key must be 32 bytes, got {}", b.len()))?;
        Self::from_seed(&seed)
    }

    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, String> {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let der = key
            .to_pkcs8_der()
            .map_err(|err| format!("cannot encode signing key: {err}"))?;
        let public = key.verifying_key().to_bytes();
        Ok(Self {
            kid: kid_of(&public),
            public,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
        })
    }

    /// The key id: derived from the public key, so it needs no configuration and changes
    /// exactly when the key does.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// The public half, as a JWK.
    pub fn jwk(&self) -> Jwk {
        Jwk::ed25519(&self.public)
    }
}

fn kid_of(public: &[u8; 32]) -> String {
    let digest = Sha256::digest(public);
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// A public key in JWK form (RFC 8037: `kty` OKP, `crv` Ed25519).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub usage: String,
}

impl Jwk {
    pub fn ed25519(public: &[u8; 32]) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(public),
            kid: kid_of(public),
            alg: "EdDSA".into(),
            usage: "sig".into(),
        }
    }

    /// A JWK from a base64url public key (a previous key kept for verification after
    /// rotation).
    pub fn from_public_base64url(x: &str) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(x.trim())
            .map_err(|err| format!("public key is not base64url: {err}"))?;
        let public: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("public key must be 32 bytes, got {}", b.len()))?;
        Ok(Self::ed25519(&public))
    }
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

//! Secrets at rest (Billy.dk API tokens, flow's secret variables and signing keys): AES-256-GCM
//! under a key from configuration, a fresh 96-bit nonce per encryption, the organization's id
//! as associated data (a ciphertext copied to another organization's row does not decrypt),
//! and the key's id stored beside it so that keys can be rotated: new secrets use the current
//! key, old ones still decrypt with a retired key until they are stored again.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("{0} is not set: it must be 32 random bytes in base64")]
    NoKey(String),
    #[error("{0} is not 32 bytes in base64")]
    BadKey(String),
    #[error("the token was encrypted with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("the token cannot be decrypted (wrong key, or the row was altered)")]
    Decrypt,
}

/// A token as stored.
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

pub struct TokenCipher {
    /// The settings the keys come from, named in errors: (current, retired).
    settings: (String, String),
    current: String,
    keys: HashMap<String, Aes256Gcm>,
}

fn key(name: &str, encoded: &str) -> Result<Aes256Gcm, CryptoError> {
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|_| CryptoError::BadKey(name.to_owned()))?;
    Aes256Gcm::new_from_slice(&bytes).map_err(|_| CryptoError::BadKey(name.to_owned()))
}

impl TokenCipher {
    /// The current key (`key_id`, `key`) and retired ones (`id=base64;id=base64`), which only
    /// decrypt; `settings` names where they are configured (e.g. `app.token_key`,
    /// `app.retired_token_keys`), for errors.
    pub fn new(
        settings: (&str, &str),
        key_id: &str,
        current: &SecretString,
        retired: &SecretString,
    ) -> Result<Self, CryptoError> {
        let (current_name, retired_name) = settings;
        if current.expose_secret().trim().is_empty() {
            return Err(CryptoError::NoKey(current_name.to_owned()));
        }
        let mut keys = HashMap::from([(
            key_id.to_owned(),
            key(current_name, current.expose_secret())?,
        )]);
        for entry in retired
            .expose_secret()
            .split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (id, encoded) = entry
                .split_once('=')
                .ok_or_else(|| CryptoError::BadKey(retired_name.to_owned()))?;
            keys.entry(id.trim().to_owned())
                .or_insert(key(retired_name, encoded)?);
        }
        Ok(Self {
            settings: (current_name.to_owned(), retired_name.to_owned()),
            current: key_id.to_owned(),
            keys,
        })
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    pub fn seal(&self, org_id: Uuid, token: &str) -> Result<Sealed, CryptoError> {
        let cipher = self
            .keys
            .get(&self.current)
            .ok_or_else(|| CryptoError::NoKey(self.settings.0.clone()))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: token.as_bytes(),
                    aad: org_id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(Sealed {
            key_id: self.current.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, org_id: Uuid, sealed: &Sealed) -> Result<SecretString, CryptoError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        let nonce: [u8; 12] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Decrypt)?;
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: org_id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    const SETTINGS: (&str, &str) = ("app.token_key", "app.retired_token_keys");
    const KEY_1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn a_token_round_trips_and_is_not_in_the_ciphertext() {
        let cipher = TokenCipher::new(SETTINGS, "1", &secret(KEY_1), &secret("")).unwrap();
        let org = Uuid::now_v7();
        let sealed = cipher.seal(org, "billy-token-123").unwrap();
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"billy"));
        assert_eq!(
            cipher.open(org, &sealed).unwrap().expose_secret(),
            "billy-token-123"
        );
        // Two seals of one token differ (fresh nonces).
        assert_ne!(
            cipher.seal(org, "billy-token-123").unwrap().ciphertext,
            sealed.ciphertext
        );
    }

    #[test]
    fn another_organization_or_key_cannot_open_it() {
        let cipher = TokenCipher::new(SETTINGS, "1", &secret(KEY_1), &secret("")).unwrap();
        let org = Uuid::now_v7();
        let sealed = cipher.seal(org, "t").unwrap();
        assert_eq!(
            cipher.open(Uuid::now_v7(), &sealed).unwrap_err(),
            CryptoError::Decrypt
        );
        let other = TokenCipher::new(SETTINGS, "1", &secret(KEY_2), &secret("")).unwrap();
        assert_eq!(other.open(org, &sealed).unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn a_rotated_key_still_opens_old_tokens() {
        let old = TokenCipher::new(SETTINGS, "1", &secret(KEY_1), &secret("")).unwrap();
        let org = Uuid::now_v7();
        let sealed = old.seal(org, "t").unwrap();
        let rotated = TokenCipher::new(
            SETTINGS,
            "2",
            &secret(KEY_2),
            &secret(&format!("1={KEY_1}")),
        )
        .unwrap();
        assert_eq!(rotated.open(org, &sealed).unwrap().expose_secret(), "t");
        assert_eq!(rotated.seal(org, "t").unwrap().key_id, "2");
        let forgot = TokenCipher::new(SETTINGS, "2", &secret(KEY_2), &secret("")).unwrap();
        assert_eq!(
            forgot.open(org, &sealed).unwrap_err(),
            CryptoError::UnknownKey("1".into())
        );
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(
            TokenCipher::new(SETTINGS, "1", &secret(""), &secret("")).err(),
            Some(CryptoError::NoKey("app.token_key".into()))
        );
        assert!(TokenCipher::new(SETTINGS, "1", &secret("c2hvcnQ="), &secret("")).is_err());
    }
}

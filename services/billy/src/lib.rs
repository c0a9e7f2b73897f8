//! The Billy.dk accounting integration: organizations, cached invoices, customers and products.
//!
//! Owns the `billy` schema; talks to the other services only through Kafka events. An
//! organization connects its Billy.dk organization with an API token (kept encrypted); invoices
//! renos issues are put into Billy.dk exactly once (our invoice id as Billy's `externalId`,
//! looked up before every create); Billy's invoices, contacts and products are polled into
//! caches and their changes announced, since Billy.dk sends no webhooks. Every call is rate
//! limited per organization and audited.

mod client;
pub use tekup_auth::sealing as crypto;
mod events;
mod governance;
mod http;
mod push;
mod store;
mod sync;

use std::sync::Arc;

use actix_web::web;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tekup_events::Subscription;
use tekup_events::gdpr::{Erase, Part};
use tekup_runtime::{Service, ServiceApp, Start};

pub use client::{Billy as Client, BillyError};

/// A database failure of background work (`in_context!` answers with a `Problem`).
pub(crate) fn database(p: tekup_runtime::Problem) -> anyhow::Error {
    anyhow::anyhow!("database: {p}")
}

/// The billy service.
pub struct Billy;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub api: ApiConfig,
    pub rate: RateConfig,
    /// The id stored beside tokens encrypted with `token_key`.
    pub token_key_id: String,
    /// 32 random bytes in base64 (AES-256-GCM); without it no organization can connect.
    #[serde(serialize_with = "tekup_db::redact::secret")]
    pub token_key: SecretString,
    /// Earlier keys that still decrypt, `id=base64;id=base64`, while tokens are re-stored.
    #[serde(serialize_with = "tekup_db::redact::secret")]
    pub retired_token_keys: SecretString,
    pub sync: SyncConfig,
    pub push: PushConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            api: ApiConfig::default(),
            rate: RateConfig::default(),
            token_key_id: "1".into(),
            token_key: SecretString::from(""),
            retired_token_keys: SecretString::from(""),
            sync: SyncConfig::default(),
            push: PushConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Billy.dk API v2.
    pub base_url: String,
    /// Per request.
    pub timeout_ms: u64,
    /// Attempts of a request answered by 5xx or 429, or not at all (reads only).
    pub max_attempts: u32,
    /// First pause between attempts; doubles each time (a 429's Retry-After wins).
    pub retry_backoff_ms: u64,
    /// Records per page (Billy.dk allows up to 1000).
    pub page_size: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.billysbilling.com/v2".into(),
            timeout_ms: 15_000,
            max_attempts: 4,
            retry_backoff_ms: 500,
            page_size: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Calls an organization may make at once (the bucket's size).
    pub capacity: f64,
    /// Calls per second the bucket refills.
    pub refill_per_sec: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            capacity: 20.0,
            refill_per_sec: 5.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Poll every connected organization in the background.
    pub enabled: bool,
    pub interval_ms: u64,
    /// Invoices are re-read from this many days before the newest entry date seen.
    pub overlap_days: i64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 300_000,
            overlap_days: 7,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Put issued invoices into Billy.dk in the background.
    pub enabled: bool,
    pub poll_interval_ms: u64,
    /// Attempts before an invoice is given up (and announced as failed).
    pub max_attempts: i32,
    /// Pause after a failed attempt; doubles each time.
    pub retry_backoff_ms: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 1_000,
            max_attempts: 8,
            retry_backoff_ms: 2_000,
        }
    }
}

pub struct State {
    pub config: Config,
    /// `None` until a token key is configured.
    pub cipher: Option<Arc<crypto::TokenCipher>>,
    pub client: Client,
    pub wake_push: Arc<tokio::sync::Notify>,
}

impl ServiceApp for Billy {
    const SERVICE: Service = Service::Billy;
    type Config = Config;
    type State = State;

    async fn state(start: &Start<'_, Config>) -> anyhow::Result<State> {
        let config = start.settings.app.clone();
        let cipher = match crypto::TokenCipher::new(
            ("app.token_key", "app.retired_token_keys"),
            &config.token_key_id,
            &config.token_key,
            &config.retired_token_keys,
        ) {
            Ok(cipher) => Some(Arc::new(cipher)),
            Err(crypto::CryptoError::NoKey(_)) => {
                tracing::warn!("app.token_key is not set: organizations cannot connect Billy.dk");
                None
            }
            Err(err) => anyhow::bail!("{err}"),
        };
        let client = Client::new(config.api.clone(), config.rate.clone(), start.pool.clone())?;
        let state = State {
            config,
            cipher,
            client,
            wake_push: Arc::new(tokio::sync::Notify::new()),
        };
        if let Some(cipher) = &state.cipher {
            if state.config.push.enabled {
                push::spawn(start.pool.clone(), &state, Arc::clone(cipher));
            }
            if state.config.sync.enabled {
                sync::spawn(start.pool.clone(), &state, Arc::clone(cipher));
            }
        }
        Ok(state)
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        http::routes(cfg);
    }

    fn topics() -> Vec<String> {
        tekup_events::catalog::of("billy")
    }

    fn subscriptions() -> Vec<Subscription> {
        vec![
            tekup_events::projection::organizations(),
            tekup_events::projection::access_grants(),
            events::issued_invoices(),
            tekup_events::gdpr::subscription_remembering("billy", GDPR, "billy.erased_subjects"),
        ]
    }
}

/// Where billy keeps personal data, for flow's data-subject requests (erasure and export).
pub const GDPR: &[Part] = &[Part {
    table: "billy.cached_customers",
    by_email: Some("lower(email) = lower($2)"),
    by_cvr: Some("cvr = $2"),
    erase: Erase::Delete,
}];

//! The workflow engine: workflows, executions, schedules, webhooks, variables and GDPR requests.
//!
//! Owns the `flow` schema; talks to the other services only through Kafka events. Inbound
//! webhooks (the WotNot chatbot, forwarded e-mail, any Standard Webhooks sender) are received
//! here, stored raw and announced as `tekup.flow.webhook` events for the services that read them.
//! Workflows start on events, inbound webhooks, schedules or by hand, and run durably in the
//! [`engine`]; data-subject requests are announced to every service and their answers collected.

pub mod domain;
pub mod engine;
mod events;
mod http;
pub mod limit;
pub mod reach;
pub mod signature;
mod store;

use std::sync::Arc;

use actix_web::web;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tekup_auth::sealing::{CryptoError, TokenCipher};
use tekup_events::Subscription;
use tekup_runtime::{Service, ServiceApp, Start};

pub use http::gdpr::GDPR;

/// The flow service.
pub struct Flow;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub engine: engine::EngineConfig,
    pub webhooks: WebhooksConfig,
    /// The id stored beside secrets sealed with `secret_key`.
    pub secret_key_id: String,
    /// 32 random bytes in base64 (AES-256-GCM) sealing secret variables and integrations'
    /// signing secrets; without it neither can be stored.
    #[serde(serialize_with = "tekup_db::redact::secret")]
    pub secret_key: SecretString,
    /// Earlier keys that still open secrets, `id=base64;id=base64`.
    #[serde(serialize_with = "tekup_db::redact::secret")]
    pub retired_secret_keys: SecretString,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            engine: engine::EngineConfig::default(),
            webhooks: WebhooksConfig::default(),
            secret_key_id: "1".into(),
            secret_key: SecretString::from(""),
            retired_secret_keys: SecretString::from(""),
        }
    }
}

/// Inbound webhooks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Deliveries one webhook takes per minute on each instance; more are answered 429 before
    /// their body is read. 0: no limit.
    pub max_per_minute: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            max_per_minute: 600,
        }
    }
}

/// What handlers share: the sealing key, a way to wake the engine, the webhooks' limiter.
pub struct State {
    pub cipher: Option<Arc<TokenCipher>>,
    wake: Option<Arc<tokio::sync::Notify>>,
    pub hooks: limit::Limiter,
}

impl State {
    /// Lets the engine look for work now rather than at its next poll.
    pub fn wake(&self) {
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
    }
}

impl ServiceApp for Flow {
    const SERVICE: Service = Service::Flow;
    type Config = Config;
    type State = State;

    async fn state(start: &Start<'_, Config>) -> anyhow::Result<State> {
        let config = &start.settings.app;
        let cipher = match TokenCipher::new(
            ("app.secret_key", "app.retired_secret_keys"),
            &config.secret_key_id,
            &config.secret_key,
            &config.retired_secret_keys,
        ) {
            Ok(cipher) => Some(Arc::new(cipher)),
            Err(CryptoError::NoKey(_)) => {
                tracing::warn!("app.secret_key is not set: no secret variables, no integrations");
                None
            }
            Err(err) => anyhow::bail!("{err}"),
        };
        let wake = if config.engine.enabled {
            let engine = Arc::new(engine::Engine::new(
                start.pool.clone(),
                cipher.clone(),
                config.engine.clone(),
            )?);
            let wake = Arc::clone(&engine.wake);
            engine.spawn();
            Some(wake)
        } else {
            None
        };
        Ok(State {
            cipher,
            wake,
            hooks: limit::Limiter::new(config.webhooks.max_per_minute),
        })
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        http::routes(cfg);
    }

    fn topics() -> Vec<String> {
        tekup_events::catalog::of("flow")
    }

    fn subscriptions() -> Vec<Subscription> {
        vec![
            tekup_events::projection::organizations(),
            tekup_events::projection::access_grants(),
            events::triggers(),
            events::gdpr_answers(),
            tekup_events::gdpr::subscription("flow", GDPR),
        ]
    }
}

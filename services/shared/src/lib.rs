//! Identity and tenancy: organizations, users, CVR companies, access grants, sessions and the
//! audit trail.
//!
//! Owns the `shared` schema. Signs the platform's access tokens and publishes their keys at
//! `/.well-known/jwks.json`; announces organizations, users, companies and access grants, from
//! which every other service keeps its own projections; and records every service's events in
//! the audit trail.

mod domain;
mod events;
mod http;
mod schema;
mod source;
mod store;

use actix_web::web;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tekup_auth::{Jwk, Jwks, SigningKey, Verifier};
use tekup_events::Subscription;
use tekup_events::gdpr::{Erase, Part};
use tekup_runtime::{Service, ServiceApp, Start};

/// The shared service.
pub struct Shared;

/// Settings of the shared service (`TEKUP__SHARED__APP__...`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Bearer token of the platform operator, who creates organizations and their first users.
    /// Unset: operator endpoints are refused.
    #[serde(serialize_with = "tekup_db::redact::optional_secret")]
    pub admin_token: Option<SecretString>,
    pub jwt: JwtConfig,
    pub login: LoginConfig,
}

/// Access and refresh tokens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// The Ed25519 signing key's 32-byte seed, base64 (`head -c 32 /dev/urandom | base64`).
    /// Unset: a key is made at start-up, and tokens do not outlive the process.
    #[serde(serialize_with = "tekup_db::redact::optional_secret")]
    pub signing_key: Option<SecretString>,
    /// Public keys (base64url) of earlier signing keys, still published so that tokens they
    /// signed stay valid until they expire.
    pub previous_public_keys: Vec<String>,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            signing_key: None,
            previous_public_keys: Vec::new(),
            access_ttl_secs: 900,
            refresh_ttl_secs: 7 * 24 * 3600,
        }
    }
}

/// Brute-force protection of the login.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    /// Failed logins for one account within the window before further tries are refused.
    pub max_failures_per_account: i64,
    /// Failed logins from one source address within the window.
    pub max_failures_per_source: i64,
    pub window_secs: i64,
    /// Address ranges of the proxies in front of shared (ingress, crm's console), comma
    /// separated: a login through them is counted against the client address they forward
    /// (`X-Forwarded-For`), not their own. Anything else is counted against its own address.
    /// Only loopback by default: a range trusted here may name any client it likes.
    pub trusted_proxies: String,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_source: 30,
            window_secs: 900,
            trusted_proxies: "127.0.0.0/8,::1".into(),
        }
    }
}

/// What the handlers share.
pub struct State {
    pub signing: SigningKey,
    pub jwks: Jwks,
    pub issuer: String,
    pub audience: String,
    pub jwt: JwtConfig,
    pub login: LoginConfig,
    /// `login.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<source::Cidr>,
}

/// Keeps the audit and system log partitions three months ahead, checking daily; rows outside
/// them land in the default partition, so a missed day loses nothing.
async fn maintain_log_partitions(pool: tekup_db::Pool) {
    loop {
        let result =
            tekup_runtime::in_context!(&pool, tekup_db::tenancy::Context::System, |conn| {
                Ok::<_, tekup_runtime::Problem>(store::audit::ensure_partitions(conn, 3).await?)
            });
        if let Err(problem) = result {
            tracing::warn!(%problem, "cannot create log partitions; retrying in an hour");
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            continue;
        }
        tokio::time::sleep(std::time::Duration::from_secs(24 * 3600)).await;
    }
}

impl ServiceApp for Shared {
    const SERVICE: Service = Service::Shared;
    type Config = Config;
    type State = State;

    async fn state(start: &Start<'_, Config>) -> anyhow::Result<State> {
        let config = &start.settings.app;
        let signing = match &config.jwt.signing_key {
            Some(seed) => SigningKey::from_seed_base64(seed.expose_secret())
                .map_err(|err| anyhow::anyhow!("app.jwt.signing_key: {err}"))?,
            None => {
                tracing::warn!("app.jwt.signing_key is not set: tokens will not survive a restart");
                SigningKey::from_seed(&rand::random())
                    .map_err(|err| anyhow::anyhow!("cannot make a signing key: {err}"))?
            }
        };
        let mut keys = vec![signing.jwk()];
        for (n, public) in config.jwt.previous_public_keys.iter().enumerate() {
            keys.push(
                Jwk::from_public_base64url(public)
                    .map_err(|err| anyhow::anyhow!("app.jwt.previous_public_keys[{n}]: {err}"))?,
            );
        }
        tokio::spawn(maintain_log_partitions(start.pool.clone()));
        Ok(State {
            signing,
            jwks: Jwks { keys },
            issuer: start.settings.auth.issuer.clone(),
            audience: start.settings.auth.audience.clone(),
            jwt: config.jwt.clone(),
            login: config.login.clone(),
            trusted_proxies: source::parse_ranges(&config.login.trusted_proxies)
                .map_err(|err| anyhow::anyhow!("app.login.trusted_proxies: {err}"))?,
        })
    }

    fn verifier(settings: &tekup_runtime::Settings<Config>, state: &State) -> Verifier {
        Verifier::with_keys(settings.auth.clone(), &state.jwks)
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        http::routes(cfg);
    }

    fn topics() -> Vec<String> {
        events::all_topics()
    }

    fn subscriptions() -> Vec<Subscription> {
        vec![
            http::audit::subscription(),
            tekup_events::gdpr::subscription("shared", GDPR),
        ]
    }
}

/// Where shared keeps personal data, for flow's data-subject requests (erasure and export).
pub const GDPR: &[Part] = &[Part {
    table: "shared.users",
    by_email: Some("email = lower($2)"),
    by_cvr: None,
    erase: Erase::Anonymise(
        "email = 'erased-' || id || '@invalid', first_name = 'Slettet', last_name = 'Slettet', active = false",
    ),
}];

//! What every service runs on, so that a service's `main.rs` is one line:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     tekup_runtime::main::<crm::Crm>()
//! }
//! ```
//!
//! - [`settings`]: defaults → optional file → `TEKUP__<SERVICE>__...` environment; a bad value
//!   stops start-up with a message naming the key;
//! - [`telemetry`]: tracing to stdout (text or JSON), OpenTelemetry export when configured;
//! - [`http`]: the actix-web server with request ids, access spans, problem+json errors,
//!   `/healthz`, `/readyz`, `/metrics` and `/openapi.json`, and graceful shutdown.

mod background;
pub mod http;
pub mod metrics;
pub mod net;
pub mod pagination;
pub mod settings;
pub mod telemetry;
pub mod validate;

use anyhow::Context;
use serde::de::DeserializeOwned;
pub use tekup_db::Service;

pub use crate::http::Application;
pub use crate::settings::Settings;
pub use tekup_problem::{self as problem, Problem};

/// A service of the platform: its identity, its own configuration section and its routes.
pub trait ServiceApp: 'static {
    /// Which service this is; decides the schema, role, default port and config prefix.
    const SERVICE: Service;

    /// The service's own configuration, read from the `app` section
    /// (`TEKUP__<SERVICE>__APP__...`).
    type Config: DeserializeOwned + serde::Serialize + Default + Clone + Send + Sync + 'static;

    /// What the service's handlers share (clients, keys, caches), built once at start-up and
    /// registered as `web::Data<State>`.
    type State: Send + Sync + 'static;

    /// Builds the state; a failure stops start-up with its cause.
    fn state(
        start: &Start<'_, Self::Config>,
    ) -> impl std::future::Future<Output = anyhow::Result<Self::State>> + Send;

    /// The service's part of the OpenAPI document (the runtime adds its own endpoints).
    fn openapi() -> utoipa::openapi::OpenApi;

    /// The verifier of access tokens; by default one that fetches `auth.jwks_url`. The issuer
    /// of the tokens verifies with its own keys instead.
    fn verifier(settings: &Settings<Self::Config>, state: &Self::State) -> tekup_auth::Verifier {
        let _ = state;
        tekup_auth::Verifier::new(settings.auth.clone())
    }

    /// Registers the service's routes.
    fn routes(cfg: &mut actix_web::web::ServiceConfig);

    /// Topics this service publishes to; created at start-up when missing.
    fn topics() -> Vec<String> {
        Vec::new()
    }

    /// The event handlers this service runs.
    fn subscriptions() -> Vec<tekup_events::Subscription> {
        Vec::new()
    }
}

/// Re-exports for the macros of this crate.
#[doc(hidden)]
pub mod __private {
    pub use {diesel_async, tekup_auth, tekup_db, tekup_types};
}

/// Runs a block in one transaction on a pooled connection, with the tenant context entered
/// first, so Row Level Security applies to every statement of it. Errors (and the `?` inside)
/// are [`Problem`]s; any error rolls the whole transaction back. The settings go to the
/// database with the `BEGIN`, in one round trip ([`tekup_db::tenancy::transaction`]).
///
/// ```ignore
/// let company = in_context!(&pool, principal.context(), |conn| {
///     store::companies::find(conn, &cvr).await
/// })?;
/// ```
#[macro_export]
macro_rules! in_context {
    ($pool:expr, $context:expr, |$conn:ident| $body:expr) => {{
        let context = $context;
        $crate::__in_transaction!(
            $pool,
            async |conn| {
                let mut conn = conn;
                $crate::__private::tekup_db::tenancy::enter(&mut conn, &context).await
            },
            |$conn, _entered| $body
        )
    }};
}

/// The skeleton of [`in_context!`] and [`in_company!`]: a pooled connection, one transaction
/// opened together with `opening`'s statements, [`Problem`]s as errors.
#[doc(hidden)]
#[macro_export]
macro_rules! __in_transaction {
    ($pool:expr, $opening:expr, |$conn:ident, $opened:ident| $body:expr) => {
        match $crate::http::checkout($pool).await {
            Err(problem) => Err(problem),
            Ok(mut pooled) => {
                $crate::__private::tekup_db::tenancy::transaction::<_, _, $crate::Problem, _, _>(
                    &mut *pooled,
                    $opening,
                    async |$conn, $opened| $body,
                )
                .await
            }
        }
    };
}

/// [`in_context!`] for a request about one company: runs the block in one transaction with the
/// principal's tenant context entered and `needed` access to company `cvr` required first (404
/// out of reach, 403 below the level: [`tekup_auth::require_level`]). `BEGIN`, the settings and
/// the access check go to the database in one round trip ([`tekup_auth::enter_company`]). `|conn, level|` also binds the access level the
/// principal has.
///
/// ```ignore
/// let contact = in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
///     store::contacts::find(conn, principal.org_id, cvr.as_str(), id).await
/// })?;
/// ```
#[macro_export]
macro_rules! in_company {
    ($pool:expr, $principal:expr, $cvr:expr, $needed:expr, |$conn:ident, $level:ident| $body:expr) => {{
        let principal: &$crate::__private::tekup_auth::Principal = $principal;
        let cvr: &$crate::__private::tekup_types::Cvr = $cvr;
        $crate::__in_transaction!(
            $pool,
            async |conn| $crate::__private::tekup_auth::enter_company(conn, principal, cvr).await,
            |$conn, level| {
                let $level = $crate::__private::tekup_auth::require_level(level, cvr, $needed)?;
                $body
            }
        )
    }};
    ($pool:expr, $principal:expr, $cvr:expr, $needed:expr, |$conn:ident| $body:expr) => {
        $crate::in_company!($pool, $principal, $cvr, $needed, |$conn, _level| $body)
    };
}

/// [`in_company!`] for a read whose statements need no answer from each other: `BEGIN`, the
/// tenant settings, the access check, the block's statements and `COMMIT` go to the database
/// in one round trip ([`tekup_db::tenancy::read`]). The access check still decides first:
/// what was read is only returned at `needed` access, else the same 404 or 403.
///
/// `conn` is a shared `&AsyncPgConnection`. The block must send all its statements at once
/// (one query, or several joined); a statement sent after another's answer would run after the
/// `COMMIT` and find nothing. Anything else goes through [`in_company!`].
///
/// ```ignore
/// let contact = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
///     Ok(store::contacts::find(conn, principal.org_id, cvr.as_str(), id).await?)
/// })?;
/// ```
#[macro_export]
macro_rules! read_in_company {
    ($pool:expr, $principal:expr, $cvr:expr, $needed:expr, |$conn:ident| $reads:expr) => {{
        let principal: &$crate::__private::tekup_auth::Principal = $principal;
        let cvr: &$crate::__private::tekup_types::Cvr = $cvr;
        match $crate::http::checkout($pool).await {
            Err(problem) => Err(problem),
            Ok(mut pooled) => {
                match $crate::__private::tekup_db::tenancy::read::<_, _, $crate::Problem, _, _>(
                    &mut *pooled,
                    async |conn| {
                        $crate::__private::tekup_auth::enter_company(conn, principal, cvr).await
                    },
                    async |$conn| $reads,
                )
                .await
                {
                    Err(problem) => Err(problem),
                    Ok((level, read)) => {
                        $crate::__private::tekup_auth::require_level(level, cvr, $needed).and(read)
                    }
                }
            }
        }
    }};
}

/// What a service's [`ServiceApp::state`] can build from.
pub struct Start<'a, C> {
    pub settings: &'a Settings<C>,
    pub pool: &'a tekup_db::Pool,
}

/// A configuration section for services that have no settings of their own yet.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Runs a service: loads its settings, starts telemetry, migrates its schema, serves HTTP until
/// SIGTERM or SIGINT, then finishes in-flight requests and flushes telemetry. A failure prints
/// its cause chain on one line and exits non-zero.
pub fn main<S: ServiceApp>() -> std::process::ExitCode {
    match serve::<S>() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(
                error = format!("{err:#}"),
                "{} stopped on an error",
                S::SERVICE
            );
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve<S: ServiceApp>() -> anyhow::Result<()> {
    let settings = Settings::<S::Config>::load(S::SERVICE)
        .with_context(|| format!("{} cannot start: invalid configuration", S::SERVICE))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let _telemetry = telemetry::init(S::SERVICE.name(), &settings.telemetry)
            .context("cannot start telemetry")?;
        let app = Application::build::<S>(settings).await?;
        tracing::info!(url = %app.url(), "{} is listening", S::SERVICE);
        app.run_until_stopped().await?;
        tracing::info!("{} stopped", S::SERVICE);
        Ok(())
    })
}

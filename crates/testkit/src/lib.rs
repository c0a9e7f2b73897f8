//! Test support against the real infrastructure that `make test` starts.
//!
//! - [`TestDb::new`] hands every test its own database, cloned from a template that was
//!   provisioned (roles, schemas, extensions) and migrated once per migration fingerprint;
//! - [`spawn_app`] starts a service on port 0 with the same code as its `main`.
//!
//! The cluster is named by `TEKUP_TEST_PG_URL` (an administrator's URL); `make test` sets it.
//!
//! Third-party services that tests cannot reach have local fakes speaking their real API:
//! [`fake_openai`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use tekup_db::provision::{ident, literal};
use tekup_db::{Service, migrate, provision};
use tekup_events::EventsConfig;
use tekup_runtime::{Application, ServiceApp, Settings};

/// Every service role's password in test clusters (which listen on loopback only and live for
/// one `make test`).
pub const TEST_ROLE_PASSWORD: &str = "tekup-test";

/// The administrator's URL of the test cluster.
pub fn admin_url() -> anyhow::Result<String> {
    std::env::var("TEKUP_TEST_PG_URL").context(
        "TEKUP_TEST_PG_URL is not set: run the tests with `make test`, which starts PostgreSQL",
    )
}

/// A database of its own for one test, laid out like production.
pub struct TestDb {
    name: String,
    server: String,
}

impl TestDb {
    /// Clones a fresh database from the migrated template (building the template first if no
    /// test has yet).
    pub async fn new() -> anyhow::Result<Self> {
        tekup_runtime::telemetry::init_for_tests();
        let admin = admin_url()?;
        let template = ensure_template(&admin).await?;
        let name = format!("test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = connect(&admin).await?;
        conn.batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE {}",
            ident(&name),
            ident(&template)
        ))
        .await
        .with_context(|| format!("cannot create test database {name}"))?;
        Ok(Self {
            name,
            server: server_part(&admin)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL a service uses: its own role on this database.
    pub fn url(&self, service: Service) -> String {
        self.url_as(&service.role(), TEST_ROLE_PASSWORD)
    }

    /// This database as any role.
    pub fn url_as(&self, role: &str, password: &str) -> String {
        format!("postgres://{role}:{password}@{}/{}", self.server, self.name)
    }

    /// This database as the administrator.
    pub fn admin_url(&self) -> anyhow::Result<String> {
        with_database(&admin_url()?, &self.name)
    }

    /// Event settings for this database's services: the test broker, and a namespace of this
    /// database's own, so topics and consumer groups of concurrent tests never meet. Events are
    /// off when `make test` did not start a broker.
    pub fn events(&self) -> EventsConfig {
        EventsConfig {
            brokers: std::env::var("TEKUP_TEST_KAFKA_BROKERS").unwrap_or_default(),
            namespace: format!("{}.", self.name),
            session_timeout_ms: 1_000,
            max_poll_interval_ms: 5_000,
            relay_poll_interval_ms: 200,
            retry_backoff_ms: 20,
            batch_max_messages: 1,
            fetch_wait_max_ms: 20,
            ..EventsConfig::default()
        }
    }

    /// A pool of `service`'s role on this database.
    pub fn pool(&self, service: Service) -> anyhow::Result<tekup_db::Pool> {
        let config = tekup_db::DatabaseConfig {
            url: self.url(service).into(),
            background_pool_size: 4,
            ..Default::default()
        };
        Ok(tekup_db::pool::pool(&config, service)?)
    }
}

/// Polls `check` until it holds or `timeout` passes; panics naming `what` on time-out.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `user:password@host:port` → `host:port`, from `postgres://user:password@host:port/db`.
fn server_part(url: &str) -> anyhow::Result<String> {
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .context("TEKUP_TEST_PG_URL is not a URL")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    Ok(authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned())
}

fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, _) = url
        .rsplit_once('/')
        .context("TEKUP_TEST_PG_URL has no database part")?;
    Ok(format!("{base}/{database}"))
}

async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .with_context(|| "cannot reach the test cluster (is `make test` running it?)".to_string())
}

/// Builds `tekup_tpl_<fingerprint>` once: roles, schemas and extensions, then every service's
/// migrations as that service's role. Test processes run in parallel, so the work happens under
/// an advisory lock and the template appears under its final name only when complete.
async fn ensure_template(admin: &str) -> anyhow::Result<String> {
    let template = format!("tekup_tpl_{}", migrate::FINGERPRINT);
    let mut lock = connect(admin).await?;
    lock.batch_execute("SELECT pg_advisory_lock(7419003)")
        .await?;
    let result = build_template(admin, &template, &mut lock).await;
    lock.batch_execute("SELECT pg_advisory_unlock(7419003)")
        .await?;
    result.map(|()| template)
}

async fn build_template(
    admin: &str,
    template: &str,
    conn: &mut AsyncPgConnection,
) -> anyhow::Result<()> {
    if provision::database_exists(conn, template).await? {
        return Ok(());
    }
    let passwords: Vec<_> = Service::ALL
        .iter()
        .map(|s| (*s, TEST_ROLE_PASSWORD.to_owned()))
        .collect();
    provision::roles(admin, &passwords).await?;

    let building = format!("{template}_building");
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS {}", ident(&building)))
        .await?;
    provision::create_database(admin, &building).await?;
    provision::schemas(&with_database(admin, &building)?).await?;
    let server = server_part(admin)?;
    for service in Service::ALL {
        let url = format!(
            "postgres://{}:{TEST_ROLE_PASSWORD}@{server}/{building}",
            service.role()
        );
        migrate::run(&url, service)
            .await
            .with_context(|| format!("migrating {service} in the template"))?;
    }
    conn.batch_execute(&format!(
        "ALTER DATABASE {} RENAME TO {}; COMMENT ON DATABASE {} IS {}",
        ident(&building),
        ident(template),
        ident(template),
        literal("tekup test template")
    ))
    .await
    .context("cannot finish the template database")?;
    Ok(())
}

/// A service started for a test, serving on a free port of loopback.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub db: Arc<TestDb>,
    /// The in-process server; `None` for a service running elsewhere (its own binary).
    handle: Option<actix_web_handle::Handle>,
}

pub mod broker;
pub mod browser;
pub mod fake_billy;
pub mod fake_openai;
pub mod fixtures;
pub mod gate;
pub mod identity;
pub mod receiver;

mod actix_web_handle {
    /// Stops the server when the test ends.
    pub struct Handle(pub tokio::task::JoinHandle<std::io::Result<()>>);

    impl Drop for Handle {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
}

impl TestApp {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        match self.client.get(self.at(path)).send().await {
            Ok(response) => response,
            Err(err) => panic!("GET {path}: {err}"),
        }
    }

    /// Whether the server task is still running.
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.0.is_finished())
    }

    /// A service running outside this process (e.g. its binary, started by the test) at `url`.
    pub fn remote(url: &str, db: Arc<TestDb>) -> Self {
        Self {
            url: url.to_owned(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            db,
            handle: None,
        }
    }
}

/// Starts service `S` on its own fresh database with `overrides` applied on top of the test
/// settings (environment-style keys without the prefix, e.g. `("HTTP__WORKERS", "1")`).
pub async fn spawn_app<S: ServiceApp>(overrides: &[(&str, &str)]) -> anyhow::Result<TestApp> {
    let db = Arc::new(TestDb::new().await?);
    spawn_app_on::<S>(db, overrides).await
}

/// The environment a test instance of `service` runs with on `db` (its schema, the test
/// broker, port 0): for [`spawn_app_on`], and for running a service's binary.
pub fn service_env(db: &TestDb, service: Service) -> HashMap<String, String> {
    let prefix = format!("TEKUP__{}__", service.name().to_uppercase());
    let mut env = HashMap::from([
        (format!("{prefix}HTTP__PORT"), "0".to_owned()),
        (format!("{prefix}HTTP__WORKERS"), "2".to_owned()),
        (format!("{prefix}DATABASE__URL"), db.url(service)),
        (format!("{prefix}DATABASE__POOL_SIZE"), "4".to_owned()),
    ]);
    let events = db.events();
    if events.enabled() {
        for (key, value) in [
            ("BROKERS", events.brokers.clone()),
            ("NAMESPACE", events.namespace.clone()),
            ("SESSION_TIMEOUT_MS", events.session_timeout_ms.to_string()),
            (
                "MAX_POLL_INTERVAL_MS",
                events.max_poll_interval_ms.to_string(),
            ),
            (
                "RELAY_POLL_INTERVAL_MS",
                events.relay_poll_interval_ms.to_string(),
            ),
            ("RETRY_BACKOFF_MS", events.retry_backoff_ms.to_string()),
            ("BATCH_MAX_MESSAGES", events.batch_max_messages.to_string()),
            ("FETCH_WAIT_MAX_MS", events.fetch_wait_max_ms.to_string()),
        ] {
            env.insert(format!("{prefix}EVENTS__{key}"), value);
        }
    }
    if service == Service::Vault {
        // vault's local embedding model, installed by `make test`; the indexer polls often.
        if let Ok(dir) = std::env::var("TEKUP_TEST_MODEL_DIR") {
            env.insert(format!("{prefix}APP__EMBEDDER__MODEL_DIR"), dir);
        }
        env.insert(
            format!("{prefix}APP__INDEXER__POLL_INTERVAL_MS"),
            "50".to_owned(),
        );
    }
    env
}

/// Starts service `S` on an existing test database, which several services may share (each
/// in its own schema) to exchange events.
pub async fn spawn_app_on<S: ServiceApp>(
    db: Arc<TestDb>,
    overrides: &[(&str, &str)],
) -> anyhow::Result<TestApp> {
    tekup_runtime::telemetry::init_for_tests();
    let prefix = format!("TEKUP__{}__", S::SERVICE.name().to_uppercase());
    let mut env = service_env(&db, S::SERVICE);
    for (key, value) in overrides {
        env.insert(format!("{prefix}{key}"), (*value).to_owned());
    }
    let settings = Settings::<S::Config>::load_from(S::SERVICE, None, env)?;
    let app = Application::build::<S>(settings).await?;
    let url = format!("http://127.0.0.1:{}", app.port());
    let handle = actix_web_handle::Handle(tokio::spawn(app.run_until_stopped()));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    if handle.0.is_finished() {
        bail!("the server stopped at once");
    }
    Ok(TestApp {
        url,
        client,
        db,
        handle: Some(handle),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_part_drops_credentials_and_database() {
        assert_eq!(
            server_part("postgres://postgres:pw@127.0.0.1:25432/postgres").unwrap(),
            "127.0.0.1:25432"
        );
        assert_eq!(
            with_database("postgres://a:b@h:1/postgres", "x").unwrap(),
            "postgres://a:b@h:1/x"
        );
    }
}

//! The connection pool every service uses, with every wait bounded.

use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{PoolError, Timeouts};
use diesel::ConnectionError;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::Service;

/// A pool of connections to one service's schema.
pub type Pool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;
/// A connection checked out of a [`Pool`].
pub type Conn = deadpool::managed::Object<AsyncDieselConnectionManager<AsyncPgConnection>>;

/// How a service reaches its database. Every timeout exists so that an outage shows up as an
/// error within a bounded time instead of a request that hangs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://role:password@host:port/database`; the role is the service's own.
    #[serde(serialize_with = "crate::redact::secret")]
    pub url: SecretString,
    /// Most connections the HTTP workers open together, split evenly between them: each worker
    /// keeps a pool of its own ([`pool_sized`]).
    pub pool_size: usize,
    /// Most connections the background work opens: the outbox relay, the event consumers,
    /// the readiness probe.
    pub background_pool_size: usize,
    /// How long a request waits for a free connection before it fails.
    pub checkout_timeout_ms: u64,
    /// How long opening a new connection may take.
    pub connect_timeout_ms: u64,
    /// Server-side limit on a single statement (`statement_timeout`).
    pub statement_timeout_ms: u64,
    /// Apply pending migrations of the service's schema at start-up.
    pub migrate_on_start: bool,
    /// How long start-up waits for the database to become reachable.
    pub startup_wait_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from(""),
            pool_size: 16,
            background_pool_size: 8,
            checkout_timeout_ms: 2_000,
            connect_timeout_ms: 3_000,
            statement_timeout_ms: 10_000,
            migrate_on_start: true,
            startup_wait_ms: 30_000,
        }
    }
}

/// Failures of the database layer that callers tell apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database configuration: {0}")]
    Config(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<PoolError<diesel_async::pooled_connection::PoolError>> for DbError {
    fn from(err: PoolError<diesel_async::pooled_connection::PoolError>) -> Self {
        DbError::Unavailable(err.to_string())
    }
}

/// Opens one connection as `service`'s role and prepares the session: its own schema first on
/// the search path and the statement timeout from the config.
pub async fn connect(
    url: &str,
    service: Service,
    statement_timeout_ms: u64,
) -> Result<AsyncPgConnection, ConnectionError> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    conn.batch_execute(&session_setup(service, statement_timeout_ms))
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

fn session_setup(service: Service, statement_timeout_ms: u64) -> String {
    format!(
        "SET search_path = \"{}\", public; SET statement_timeout = {statement_timeout_ms}; \
         SET idle_in_transaction_session_timeout = {}",
        service.schema(),
        statement_timeout_ms.saturating_mul(3),
    )
}

/// Builds the pool for `service`'s background work ([`DatabaseConfig::background_pool_size`]).
/// Connections are opened lazily, so a service can start while the database is still coming up;
/// `/readyz` tells when it is reachable.
pub fn pool(config: &DatabaseConfig, service: Service) -> Result<Pool, DbError> {
    pool_sized(config, service, config.background_pool_size)
}

/// Builds a pool of at most `size` connections for `service`.
///
/// A connection is checked for breakage, not pinged, when it is handed out: one whose server
/// went away is closed by its I/O task (PostgreSQL tells every session when it stops), and a
/// query on a connection that broke since fails like any other query and retires it. A ping
/// would cost every request a round trip.
pub fn pool_sized(config: &DatabaseConfig, service: Service, size: usize) -> Result<Pool, DbError> {
    let url = config.url.expose_secret();
    if url.is_empty() {
        return Err(DbError::Config("database.url is empty".into()));
    }
    let statement_timeout_ms = config.statement_timeout_ms;
    let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move {
            tokio::time::timeout(
                connect_timeout,
                connect(&url, service, statement_timeout_ms),
            )
            .await
            .unwrap_or_else(|_| {
                Err(ConnectionError::BadConnection(format!(
                    "no connection within {} ms",
                    connect_timeout.as_millis()
                )))
            })
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(url, manager_config);
    Pool::builder(manager)
        .max_size(size.max(1))
        .timeouts(Timeouts {
            wait: Some(Duration::from_millis(config.checkout_timeout_ms)),
            create: Some(connect_timeout),
            recycle: Some(connect_timeout),
        })
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| DbError::Config(err.to_string()))
}

/// Checks that the database answers: a connection can be checked out and runs a query.
pub async fn ping(pool: &Pool) -> Result<(), DbError> {
    let mut conn = pool.get().await?;
    conn.batch_execute("SELECT 1")
        .await
        .map_err(|err| DbError::Unavailable(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_setup_puts_the_own_schema_first_and_bounds_statements() {
        let sql = session_setup(Service::Crm, 5_000);
        assert!(
            sql.starts_with("SET search_path = \"crm\", public;"),
            "{sql}"
        );
        assert!(sql.contains("statement_timeout = 5000"), "{sql}");
    }

    #[test]
    fn a_pool_without_url_is_refused_with_the_key_named() {
        let Err(err) = pool(&DatabaseConfig::default(), Service::Crm) else {
            panic!("a pool without URL was built");
        };
        assert!(err.to_string().contains("database.url"), "{err}");
    }
}

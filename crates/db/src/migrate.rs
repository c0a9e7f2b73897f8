//! Per-schema migrations, embedded in the binary from `migrations/<schema>/`.
//!
//! A service migrates only its own schema, as its own role, at start-up. Diesel keeps its
//! bookkeeping table (`__diesel_schema_migrations`) in the schema being migrated, because the
//! session's search path starts there; so each schema carries its own history.

use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::Service;
use crate::pool::{DbError, connect};

const VAULT: EmbeddedMigrations = embed_migrations!("../../migrations/vault");
const BILLY: EmbeddedMigrations = embed_migrations!("../../migrations/billy");
const RENOS: EmbeddedMigrations = embed_migrations!("../../migrations/renos");
const CRM: EmbeddedMigrations = embed_migrations!("../../migrations/crm");
const FLOW: EmbeddedMigrations = embed_migrations!("../../migrations/flow");
const SHARED: EmbeddedMigrations = embed_migrations!("../../migrations/shared");

/// A fingerprint of every migration file: changes whenever any migration changes.
pub const FINGERPRINT: &str = env!("TEKUP_MIGRATIONS_HASH");

/// The migrations of one service's schema.
pub fn embedded(service: Service) -> EmbeddedMigrations {
    match service {
        Service::Vault => VAULT,
        Service::Billy => BILLY,
        Service::Renos => RENOS,
        Service::Crm => CRM,
        Service::Flow => FLOW,
        Service::Shared => SHARED,
    }
}

/// Applies the pending migrations of `service`'s schema, connected as the service's role, and
/// returns the versions it applied (empty when the schema was up to date). Each migration runs
/// in its own transaction, so a failure leaves the schema at the last good version.
pub async fn run(url: &str, service: Service) -> Result<Vec<String>, DbError> {
    // Migrations may legitimately take longer than a request's statement timeout.
    let mut conn = connect(url, service, 0)
        .await
        .map_err(|err| DbError::Unavailable(err.to_string()))?;
    // Several replicas may start at once: one migrates, the others wait and then find nothing
    // left to do. The lock is the session's, released when the connection closes.
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        &format!(
            "SELECT pg_advisory_lock(hashtext('tekup.migrate.{}'))",
            service.schema()
        ),
    )
    .await?;
    with_harness(conn, move |harness| {
        harness
            .run_pending_migrations(embedded(service))
            .map(|versions| versions.iter().map(ToString::to_string).collect())
    })
    .await
}

mod up_sql {
    include!(concat!(env!("OUT_DIR"), "/up_sql.rs"));
}

/// The SQL a migration of `service` applies, by its name (`2026-11-23-000001_event_tables`).
pub fn up_sql(service: Service, name: &str) -> Option<&'static str> {
    up_sql::UP_SQL
        .iter()
        .find(|(schema, n, _)| *schema == service.schema() && *n == name)
        .map(|(_, _, sql)| *sql)
}

/// The names of every migration of `service` this binary carries, oldest first.
pub fn names(service: Service) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = up_sql::UP_SQL
        .iter()
        .filter(|(schema, _, _)| *schema == service.schema())
        .map(|(_, name, _)| *name)
        .collect();
    names.sort_unstable();
    names
}

/// The names of the migrations not yet applied to `service`'s schema, in order.
pub async fn pending(url: &str, service: Service) -> Result<Vec<String>, DbError> {
    let conn = connect(url, service, 0)
        .await
        .map_err(|err| DbError::Unavailable(err.to_string()))?;
    with_harness(conn, move |harness| {
        harness
            .pending_migrations(embedded(service))
            .map(|migrations| migrations.iter().map(|m| m.name().to_string()).collect())
    })
    .await
}

/// The versions applied to `service`'s schema, oldest first.
pub async fn applied(url: &str, service: Service) -> Result<Vec<String>, DbError> {
    let conn = connect(url, service, 0)
        .await
        .map_err(|err| DbError::Unavailable(err.to_string()))?;
    with_harness(conn, |harness| {
        harness
            .applied_migrations()
            .map(|versions| versions.iter().map(ToString::to_string).collect())
    })
    .await
}

/// Diesel's migration harness is synchronous: run it on a blocking thread, where the wrapper
/// drives the async connection with the current runtime's handle.
async fn with_harness<T, F>(conn: AsyncPgConnection, work: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> diesel::migration::Result<T>
        + Send
        + 'static,
{
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        work(&mut harness).map_err(|err| DbError::Migration(err.to_string()))
    })
    .await
    .map_err(|err| DbError::Migration(format!("migration task failed: {err}")))?
}

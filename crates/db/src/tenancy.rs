//! Tenancy in the database: Row Level Security driven by transaction-local settings.
//!
//! Every schema's migrations install the same functions (`tenant_org()`, `tenant_user()`,
//! `tenant_role()`, `tenant_system()`, `can_access(org, cvr, level)`) over a grants table
//! (`access_grants`: shared's own grants, or the projection other services keep from shared's
//! events), and tenant tables carry `FORCE ROW LEVEL SECURITY` policies that call them. So a
//! handler that forgets a filter still cannot read or write another tenant's rows: without
//! [`enter`] a query sees nothing at all.
//!
//! The settings are `set_config(..., true)`: local to the transaction, gone at commit or
//! rollback, so they can never leak to the next request on a pooled connection.

use diesel::QueryResult;
use diesel::connection::TransactionDepthChange;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager};
use tekup_types::Role;
use uuid::Uuid;

/// The two statements every request runs, as query-builder expressions rather than SQL text:
/// diesel keeps a prepared statement for each on the connection (it never does for
/// `sql_query`), so PostgreSQL parses and plans them once per connection, not per request.
mod sql {
    use diesel::sql_types::{Bool, Text, Uuid};

    diesel::define_sql_function! {
        /// PostgreSQL's `set_config(setting, value, is_local)`.
        fn set_config(setting: Text, value: Text, is_local: Bool) -> Text;
    }

    diesel::define_sql_function! {
        /// The schema's `can_access(org, cvr, level)` (found on the role's search path).
        fn can_access(org: Uuid, cvr: Text, level: Text) -> Bool;
    }
}

/// On whose behalf a transaction runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// An authenticated user of an organization.
    Tenant {
        org_id: Uuid,
        user_id: Uuid,
        role: Role,
    },
    /// The service itself: consumers applying events, the relay, login before anyone is
    /// known, the platform operator. Policies let it through; use it only where no user acts.
    System,
}

/// Runs `body` in one transaction, with `opening`'s statements sent in the same round trip as
/// the `BEGIN` (pipelined): typically [`enter`], or [`enter_with_access`]. PostgreSQL runs them
/// in the order they are polled, `BEGIN` first, so they are part of the transaction.
/// `body` gets what `opening` returned; its error (or `opening`'s) rolls everything back,
/// as diesel's own `transaction` does.
///
/// diesel-async's `transaction` sends `BEGIN` alone and waits for it: one round trip more on
/// every request, where a round trip costs more than the statements it carries.
pub async fn transaction<T, R, E, O, B>(
    conn: &mut AsyncPgConnection,
    opening: O,
    body: B,
) -> Result<R, E>
where
    O: AsyncFnOnce(&AsyncPgConnection) -> QueryResult<T>,
    B: AsyncFnOnce(&mut AsyncPgConnection, T) -> Result<R, E>,
    E: From<diesel::result::Error>,
{
    mark_open(conn)?;
    let mut begin = &*conn;
    let opened = futures_util::future::try_join(begin.batch_execute("BEGIN"), opening(&*conn))
        .await
        .map(|((), opened)| opened);
    let outcome = match opened {
        Ok(opened) => body(conn, opened).await,
        Err(error) => Err(error.into()),
    };
    match outcome {
        Ok(value) => {
            Manager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(conn).await {
            // A connection that cannot roll back is marked broken, and the pool drops it; the
            // error that caused the rollback is the one worth reporting.
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

type Manager = diesel_async::AnsiTransactionManager;

/// Counts the transaction as open before its `BEGIN` leaves: a request dropped while the
/// opening is under way leaves the connection marked as inside a transaction, and the pool
/// discards such a connection instead of handing it to the next request.
fn mark_open(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    let status = Manager::transaction_manager_status_mut(conn).transaction_state()?;
    if status.transaction_depth().is_some() {
        return Err(diesel::result::Error::AlreadyInTransaction);
    }
    status.change_transaction_depth(TransactionDepthChange::IncreaseDepth)
}

/// A read in one round trip: `BEGIN`, `opening`'s statements, the `reads` and `COMMIT` all go
/// out together (pipelined) and run in that order. Returns what `opening` found and, apart,
/// the outcome of the reads, so the caller can judge access before anything read is used.
/// The outer error is the database's own (the transaction could not begin or end).
///
/// `reads` must send every statement on its first poll: issue them side by side (`join`),
/// never one after another's answer. A statement sent later would run after the `COMMIT`,
/// without the tenant settings, and Row Level Security would show it nothing. For anything
/// that writes, or reads in steps, use [`transaction`].
pub async fn read<T, R, E, O, Q>(
    conn: &mut AsyncPgConnection,
    opening: O,
    reads: Q,
) -> Result<(T, Result<R, E>), E>
where
    O: AsyncFnOnce(&AsyncPgConnection) -> QueryResult<T>,
    Q: AsyncFnOnce(&AsyncPgConnection) -> Result<R, E>,
    E: From<diesel::result::Error>,
{
    mark_open(conn)?;
    let mut begin = &*conn;
    // `COMMIT` goes the way the reads go (prepared, queued in poll order), so that on a fresh
    // connection, where the reads wait for their statements to be prepared, it still runs
    // after them.
    let mut commit = &*conn;
    let (begun, opened, read, committed) = futures_util::future::join4(
        begin.batch_execute("BEGIN"),
        opening(&*conn),
        reads(&*conn),
        Commit.execute(&mut commit),
    )
    .await;
    match committed {
        // `COMMIT` ends the transaction whatever ran before it: after an error PostgreSQL
        // rolls back instead.
        Ok(_) => {
            Manager::transaction_manager_status_mut(conn)
                .transaction_state()?
                .change_transaction_depth(TransactionDepthChange::DecreaseDepth)?;
        }
        Err(error) => {
            // The connection is broken, or the transaction still open: a failed rollback marks
            // the connection broken and the pool replaces it.
            let _ = Manager::rollback_transaction(conn).await;
            return Err(error.into());
        }
    }
    begun?;
    Ok((opened?, read))
}

/// `COMMIT` as a prepared statement, so that it queues behind the statements sent before it.
#[derive(diesel::query_builder::QueryId)]
struct Commit;

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for Commit {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("COMMIT");
        Ok(())
    }
}

/// [`enter`], then [`access_level`], pipelined: PostgreSQL runs them in that order, so the
/// check sees the settings. Most requests open their transaction with it
/// ([`transaction`]).
pub async fn enter_with_access(
    conn: &AsyncPgConnection,
    context: &Context,
    org_id: Uuid,
    cvr: &str,
) -> QueryResult<Option<tekup_types::AccessLevel>> {
    // `try_join` polls the settings first. diesel-async queues a statement on its first poll
    // (or, the first time on a connection, prepares it under a lock taken in that order), so
    // the settings always go out first.
    let (mut first, mut second) = (conn, conn);
    let ((), level) = futures_util::future::try_join(
        enter(&mut first, context),
        access_level(&mut second, org_id, cvr),
    )
    .await?;
    Ok(level)
}

/// Sets the tenant context for the rest of the current transaction. Call it first in the
/// transaction (outside one it would last a single statement, leaving the queries after it
/// without access).
pub async fn enter<C>(conn: &mut C, context: &Context) -> Result<(), diesel::result::Error>
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg>,
{
    let (org, user, role, system) = match context {
        Context::Tenant {
            org_id,
            user_id,
            role,
        } => (
            org_id.to_string(),
            user_id.to_string(),
            role.as_str(),
            "off",
        ),
        Context::System => (String::new(), String::new(), "", "on"),
    };
    diesel::select((
        sql::set_config("app.org_id", org, true),
        sql::set_config("app.user_id", user, true),
        sql::set_config("app.role", role, true),
        sql::set_config("app.system", system, true),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// The access the current tenant has to company `cvr` of `org_id`, as this schema's Row Level
/// Security sees it (`can_access`): `None` when the company is out of reach altogether.
pub async fn access_level<C>(
    conn: &mut C,
    org_id: Uuid,
    cvr: &str,
) -> Result<Option<tekup_types::AccessLevel>, diesel::result::Error>
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg>,
{
    let levels: (bool, bool, bool) = diesel::select((
        sql::can_access(org_id, cvr, "read"),
        sql::can_access(org_id, cvr, "write"),
        sql::can_access(org_id, cvr, "admin"),
    ))
    .get_result(conn)
    .await?;
    use tekup_types::AccessLevel::{Admin, Read, Write};
    Ok(match levels {
        (_, _, true) => Some(Admin),
        (_, true, _) => Some(Write),
        (true, _, _) => Some(Read),
        _ => None,
    })
}

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

use diesel_async::{AsyncPgConnection, RunQueryDsl};
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

/// [`enter`], then [`access_level`], in one round trip: both statements go out together
/// (pipelined) and PostgreSQL runs them in that order, so the check sees the settings. Most
/// requests start this way, and a round trip costs more than either statement.
pub async fn enter_with_access(
    conn: &mut AsyncPgConnection,
    context: &Context,
    org_id: Uuid,
    cvr: &str,
) -> Result<Option<tekup_types::AccessLevel>, diesel::result::Error> {
    // `try_join` polls the settings first. diesel-async queues a statement on its first poll
    // (or, the first time on a connection, prepares it under a lock taken in that order), so
    // the settings always go out first.
    let (mut first, mut second) = (&*conn, &*conn);
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

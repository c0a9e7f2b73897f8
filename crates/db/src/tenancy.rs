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

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_types::Role;
use uuid::Uuid;

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

/// Sets the tenant context for the rest of the current transaction. Call it first in the
/// transaction (outside one it would last a single statement, leaving the queries after it
/// without access).
pub async fn enter(
    conn: &mut AsyncPgConnection,
    context: &Context,
) -> Result<(), diesel::result::Error> {
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
    diesel::sql_query(
        "SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true), \
         set_config('app.role', $3, true), set_config('app.system', $4, true)",
    )
    .bind::<Text, _>(org)
    .bind::<Text, _>(user)
    .bind::<Text, _>(role)
    .bind::<Text, _>(system)
    .execute(conn)
    .await?;
    Ok(())
}

/// The access the current tenant has to company `cvr` of `org_id`, as this schema's Row Level
/// Security sees it (`can_access`): `None` when the company is out of reach altogether.
pub async fn access_level(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
) -> Result<Option<tekup_types::AccessLevel>, diesel::result::Error> {
    #[derive(diesel::QueryableByName)]
    struct Levels {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        read: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        write: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        admin: bool,
    }
    let levels: Levels = diesel::sql_query(
        "SELECT can_access($1, $2, 'read') AS read, can_access($1, $2, 'write') AS write, \
         can_access($1, $2, 'admin') AS admin",
    )
    .bind::<diesel::sql_types::Uuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .get_result(conn)
    .await?;
    use tekup_types::AccessLevel::{Admin, Read, Write};
    Ok(match (levels.read, levels.write, levels.admin) {
        (_, _, true) => Some(Admin),
        (_, true, _) => Some(Write),
        (true, _, _) => Some(Read),
        _ => None,
    })
}

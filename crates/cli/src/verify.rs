//! `tekup verify`: the database's integrity, as an administrator sees it. Each check passes or
//! fails with what is wrong:
//! - every tenant table (one with `org_id`, but the event plumbing) of a service schema has Row
//!   Level Security enabled, forced, and at least one policy;
//! - each service role is a plain role (no superuser, BYPASSRLS, CREATEROLE, CREATEDB), owns its
//!   schema, and has no privilege on another service's schema or tables;
//! - no tenant row belongs to an organization its service does not know (orphans), and each
//!   service's projection of the organizations matches shared's (events applied).

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use tekup_db::Service;

/// Tables whose `org_id` is not a tenant boundary: the event plumbing.
const NOT_TENANT_TABLES: [&str; 2] = ["outbox", "inbox"];

#[derive(Debug, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(QueryableByName)]
struct TenantTable {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    rls: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
    #[diesel(sql_type = BigInt)]
    policies: i64,
}

#[derive(QueryableByName)]
struct Role {
    #[diesel(sql_type = Bool)]
    exists: bool,
    #[diesel(sql_type = Bool)]
    plain: bool,
    #[diesel(sql_type = Bool)]
    owns: bool,
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
    let row: Count = diesel::sql_query(sql).get_result(conn).await?;
    Ok(row.n)
}

/// Every check, in order.
pub async fn run(admin_url: &str) -> anyhow::Result<Vec<Check>> {
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .context("connecting as the administrator")?;
    let mut checks = Vec::new();
    let mut push = |check: String, problems: Vec<String>, ok_detail: String| {
        checks.push(Check {
            check,
            ok: problems.is_empty(),
            detail: if problems.is_empty() {
                ok_detail
            } else {
                problems.join("; ")
            },
        });
    };
    for service in Service::ALL {
        let schema = service.schema();
        let role = service.role();

        let tables: Vec<TenantTable> = diesel::sql_query(
            "SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, \
                    (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
        )
        .bind::<Text, _>(schema)
        .load(&mut conn)
        .await?;
        let tenant: Vec<&TenantTable> = tables
            .iter()
            .filter(|t| !NOT_TENANT_TABLES.contains(&t.name.as_str()))
            .collect();
        let mut problems = Vec::new();
        for t in &tenant {
            if !t.rls {
                problems.push(format!(
                    "{schema}.{}: Row Level Security is not enabled",
                    t.name
                ));
            } else if !t.forced {
                problems.push(format!(
                    "{schema}.{}: Row Level Security is not forced",
                    t.name
                ));
            }
            if t.policies == 0 {
                problems.push(format!("{schema}.{}: no policy", t.name));
            }
        }
        push(
            format!("{schema}: row level security"),
            problems,
            format!("{} tenant tables enabled and forced", tenant.len()),
        );

        let mut problems = Vec::new();
        let found: Role = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists, \
                    coalesce((SELECT NOT (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb) \
                              FROM pg_roles WHERE rolname = $1), false) AS plain, \
                    coalesce((SELECT pg_get_userbyid(nspowner) = $1 FROM pg_namespace \
                              WHERE nspname = $2), false) AS owns",
        )
        .bind::<Text, _>(&role)
        .bind::<Text, _>(schema)
        .get_result(&mut conn)
        .await?;
        if !found.exists {
            problems.push(format!("role {role} does not exist"));
        } else {
            if !found.plain {
                problems.push(format!(
                    "{role} is superuser, BYPASSRLS, CREATEROLE or CREATEDB"
                ));
            }
            if !found.owns {
                problems.push(format!("{role} does not own schema {schema}"));
            }
            for other in Service::ALL.iter().filter(|o| **o != service) {
                let usage: Vec<Named> = diesel::sql_query(
                    "SELECT $2::text AS name WHERE has_schema_privilege($1, $2, 'USAGE') \
                     OR has_schema_privilege($1, $2, 'CREATE')",
                )
                .bind::<Text, _>(&role)
                .bind::<Text, _>(other.schema())
                .load(&mut conn)
                .await?;
                for u in usage {
                    problems.push(format!("{role} may use schema {}", u.name));
                }
            }
            let grants: Vec<Named> = diesel::sql_query(
                "SELECT DISTINCT c.relnamespace::regnamespace::text || '.' || c.relname AS name \
                 FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) AS acl \
                 WHERE c.relnamespace::regnamespace::text = ANY($2) \
                   AND c.relnamespace::regnamespace::text <> $3 \
                   AND acl.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) \
                 ORDER BY 1",
            )
            .bind::<Text, _>(&role)
            .bind::<diesel::sql_types::Array<Text>, _>(
                Service::ALL.iter().map(|s| s.schema()).collect::<Vec<_>>(),
            )
            .bind::<Text, _>(schema)
            .load(&mut conn)
            .await?;
            for g in grants {
                problems.push(format!("{role} holds privileges on {}", g.name));
            }
        }
        push(
            format!("{schema}: role {role}"),
            problems,
            "a plain role that owns its schema and nothing else".into(),
        );

        // Orphans, and the organizations projection against shared's organizations.
        let mut problems = Vec::new();
        if service != Service::Shared {
            for t in &tenant {
                let n = count(
                    &mut conn,
                    &format!(
                        "SELECT count(*) AS n FROM {schema}.{} x WHERE NOT EXISTS \
                         (SELECT 1 FROM {schema}.organizations o WHERE o.id = x.org_id)",
                        t.name
                    ),
                )
                .await?;
                if n > 0 {
                    problems.push(format!(
                        "{n} row(s) of {schema}.{} belong to no organization {service} knows",
                        t.name
                    ));
                }
            }
            let unknown = count(
                &mut conn,
                &format!(
                    "SELECT count(*) AS n FROM {schema}.organizations o WHERE NOT EXISTS \
                     (SELECT 1 FROM shared.organizations s WHERE s.id = o.id)"
                ),
            )
            .await?;
            if unknown > 0 {
                problems.push(format!(
                    "{unknown} organization(s) of {schema} are unknown to shared"
                ));
            }
            let missing = count(
                &mut conn,
                &format!(
                    "SELECT count(*) AS n FROM shared.organizations s WHERE NOT EXISTS \
                     (SELECT 1 FROM {schema}.organizations o WHERE o.id = s.id)"
                ),
            )
            .await?;
            if missing > 0 {
                problems.push(format!(
                    "{missing} organization(s) of shared not (yet) in {schema}: events not applied"
                ));
            }
        }
        push(
            format!("{schema}: projections"),
            problems,
            if service == Service::Shared {
                "the source of the organizations".into()
            } else {
                "every row's organization known, organizations as in shared".into()
            },
        );
    }
    Ok(checks)
}

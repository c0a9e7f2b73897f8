//! Creates the database, the six schemas and the six login roles, as an administrator.
//!
//! Run once per database (idempotent): by `tekup provision` for the local platform, and by the
//! test kit for every test cluster. Afterwards each role owns exactly its schema; it can connect
//! to the database and use the shared extensions in `public`, and nothing else.

use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::Service;
use crate::pool::DbError;

/// Extensions the services use, created once by the administrator in `public`.
pub const EXTENSIONS: [&str; 3] = ["vector", "pg_trgm", "btree_gist"];

/// Quotes a string as an SQL literal.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Quotes a name as an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates `database` if it does not exist, connected to the administrator's `admin_url`
/// (any database of the cluster).
pub async fn create_database(admin_url: &str, database: &str) -> Result<bool, DbError> {
    let mut conn = admin(admin_url).await?;
    let exists = database_exists(&mut conn, database).await?;
    if !exists {
        conn.batch_execute(&format!("CREATE DATABASE {}", ident(database)))
            .await?;
    }
    Ok(!exists)
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Whether the cluster has a database called `name`.
pub async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, DbError> {
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(name)
            .get_result(conn)
            .await?;
    Ok(row.exists)
}

/// Creates (or updates the password of) every service's login role. Roles are cluster-wide:
/// one set serves every database of the cluster.
pub async fn roles(admin_url: &str, passwords: &[(Service, String)]) -> Result<(), DbError> {
    let mut conn = admin(admin_url).await?;
    let mut sql = String::new();
    for (service, password) in passwords {
        let role = service.role();
        sql.push_str(&format!(
            "DO $$ BEGIN \
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN \
                 CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION; \
               END IF; END $$; \
             ALTER ROLE {role} PASSWORD {password}; \
             ALTER ROLE {role} SET search_path = {schema}, public;",
            name = literal(&role),
            role = ident(&role),
            password = literal(password),
            schema = ident(service.schema()),
        ));
    }
    // Several test processes may provision at once: serialise them on an advisory lock held
    // by the one transaction all statements run in.
    conn.batch_execute(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock(7419001); {sql} COMMIT;"
    ))
    .await?;
    Ok(())
}

/// Lays out `database` (connected to it through `admin_url`): extensions in `public`, one
/// schema per service owned by its role, and no privilege for anyone else.
pub async fn schemas(admin_url: &str) -> Result<(), DbError> {
    let mut conn = admin(admin_url).await?;
    let mut sql = String::from(
        "BEGIN; SELECT pg_advisory_xact_lock(7419002); \
         REVOKE CREATE ON SCHEMA public FROM PUBLIC; ",
    );
    for extension in EXTENSIONS {
        sql.push_str(&format!(
            "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public; ",
            ident(extension)
        ));
    }
    // Row Level Security keeps an operator that is not leakproof from running before its
    // policies, which rules out index scans with it. JSON containment and text search cannot
    // leak row contents through errors, so declaring them leakproof lets the GIN indexes serve
    // them under RLS. Needs a superuser; where the cluster has none (managed services), the
    // queries stay correct and fall back to filtering.
    sql.push_str(
        "DO $$ BEGIN \
           IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN \
             ALTER FUNCTION pg_catalog.jsonb_contains(jsonb, jsonb) LEAKPROOF; \
             ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF; \
           END IF; END $$; ",
    );
    for service in Service::ALL {
        let role = ident(&service.role());
        let schema = ident(service.schema());
        sql.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}; \
             ALTER SCHEMA {schema} OWNER TO {role}; \
             REVOKE ALL ON SCHEMA {schema} FROM PUBLIC; "
        ));
    }
    sql.push_str("COMMIT;");
    conn.batch_execute(&sql).await?;
    Ok(())
}

async fn admin(url: &str) -> Result<AsyncPgConnection, DbError> {
    AsyncPgConnection::establish(url)
        .await
        .map_err(|err| DbError::Unavailable(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_cannot_be_broken_out_of() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}

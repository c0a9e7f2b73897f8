//! `tekup backup` and `tekup restore`: one pg_dump file per schema (custom format, the schemas
//! dumped in parallel, restored with `pg_restore --jobs`), and a manifest of what was saved —
//! each schema's migration version, and per table its row count and an order-independent
//! checksum of its rows — which a restore checks after loading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tekup_db::Service;

const MANIFEST: &str = "manifest.json";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub created_at: String,
    pub database: String,
    pub schemas: BTreeMap<String, SchemaEntry>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SchemaEntry {
    pub file: String,
    pub sha256: String,
    /// The newest migration applied.
    pub migration: String,
    pub tables: BTreeMap<String, TableEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, QueryableByName)]
pub struct TableEntry {
    #[diesel(sql_type = BigInt)]
    pub rows: i64,
    /// The sum of the first 60 bits of each row's MD5: independent of order.
    #[diesel(sql_type = Text)]
    pub checksum: String,
}

/// Where pg_dump and pg_restore are: `--pg-bin`, else the PATH.
fn tool(pg_bin: Option<&Path>, name: &str) -> PathBuf {
    pg_bin.map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

fn schemas(only: &[Service]) -> Vec<Service> {
    if only.is_empty() {
        Service::ALL.to_vec()
    } else {
        only.to_vec()
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Row counts and checksums of every table of `schema`, and its migration version.
async fn measure(
    conn: &mut AsyncPgConnection,
    schema: &str,
) -> anyhow::Result<(String, BTreeMap<String, TableEntry>)> {
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
    )
    .bind::<Text, _>(schema)
    .load(conn)
    .await?;
    let mut measured = BTreeMap::new();
    for table in tables {
        let entry: TableEntry = diesel::sql_query(format!(
            "SELECT count(*) AS rows, coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint::numeric), 0)::text AS checksum \
             FROM {schema}.{} t",
            tekup_db::provision::ident(&table.name)
        ))
        .get_result(conn)
        .await
        .with_context(|| format!("measuring {schema}.{}", table.name))?;
        measured.insert(table.name, entry);
    }
    let migration: Vec<Name> = diesel::sql_query(format!(
        "SELECT coalesce(max(version), '') AS name FROM {schema}.__diesel_schema_migrations"
    ))
    .load(conn)
    .await
    .unwrap_or_default();
    let migration = migration
        .into_iter()
        .next()
        .map(|n| n.name)
        .unwrap_or_default();
    Ok((migration, measured))
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn wait(children: Vec<(String, Child)>, what: &str) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for (schema, child) in children {
        let output = child.wait_with_output()?;
        if !output.status.success() {
            failed.push(format!(
                "{schema}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    if !failed.is_empty() {
        bail!("{what} failed: {}", failed.join("; "));
    }
    Ok(())
}

/// Dumps the schemas into `out` with a manifest.
pub async fn backup(
    admin_url: &str,
    out: &Path,
    only: &[Service],
    pg_bin: Option<&Path>,
) -> anyhow::Result<Manifest> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Every customer's data is in there: the owner's alone.
    private(out, 0o700)?;
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .context("connecting as the administrator")?;
    let services = schemas(only);
    // The manifest measures what the dump holds: one snapshot, exported to the dumps.
    conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let snapshot: Name = diesel::sql_query("SELECT pg_export_snapshot() AS name")
        .get_result(&mut conn)
        .await?;
    eprintln!("dumping {} schema(s) in parallel", services.len());
    let mut children = Vec::new();
    for service in &services {
        let schema = service.schema();
        let file = out.join(format!("{schema}.dump"));
        let child = connecting(Command::new(tool(pg_bin, "pg_dump")), admin_url)
            .arg("--format=custom")
            .arg(format!("--schema={schema}"))
            .arg(format!("--snapshot={}", snapshot.name))
            .arg(format!("--file={}", file.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting pg_dump (set --pg-bin or TEKUP_PG_BIN)")?;
        children.push((schema.to_owned(), child));
    }
    let mut schemas = BTreeMap::new();
    for service in &services {
        let schema = service.schema();
        let (migration, tables) = measure(&mut conn, schema).await?;
        schemas.insert(
            schema.to_owned(),
            SchemaEntry {
                file: format!("{schema}.dump"),
                sha256: String::new(),
                migration,
                tables,
            },
        );
    }
    let blocking = tokio::task::spawn_blocking(move || wait(children, "pg_dump"));
    blocking.await??;
    conn.batch_execute("COMMIT").await?;
    for entry in schemas.values_mut() {
        private(&out.join(&entry.file), 0o600)?;
        entry.sha256 = sha256(&out.join(&entry.file))?;
    }
    let database: Name = diesel::sql_query("SELECT current_database()::text AS name")
        .get_result(&mut conn)
        .await?;
    let manifest = Manifest {
        created_at: chrono_now(),
        database: database.name,
        schemas,
    };
    std::fs::write(out.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    private(&out.join(MANIFEST), 0o600)?;
    Ok(manifest)
}

fn private(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("making {} private", path.display()))
}

/// `command` (pg_dump, pg_restore) connecting to `url`, with the password in its environment
/// (`PGPASSWORD`), not on its command line, where every user of the machine could read it.
fn connecting(mut command: Command, url: &str) -> Command {
    let (url, password) = without_password(url);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.arg(format!("--dbname={url}"));
    command
}

/// The url without its password, and the password (percent-decoded); a url that does not
/// parse is given back as it is.
fn without_password(url: &str) -> (String, Option<String>) {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return (url.to_owned(), None);
    };
    let Some(password) = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    }) else {
        return (url.to_owned(), None);
    };
    if parsed.set_password(None).is_err() {
        return (url.to_owned(), None);
    }
    (parsed.to_string(), Some(password))
}

fn chrono_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{now}")
}

/// What a restore found.
pub struct Restored {
    pub tables: usize,
    pub rows: i64,
    pub mismatches: Vec<String>,
}

/// Replaces the schemas with those of the backup in `from`, then checks every table against
/// the manifest.
pub async fn restore(
    admin_url: &str,
    from: &Path,
    only: &[Service],
    jobs: u32,
    pg_bin: Option<&Path>,
) -> anyhow::Result<Restored> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST))
            .with_context(|| format!("reading {}", from.join(MANIFEST).display()))?,
    )
    .context("the manifest does not parse")?;
    let services: Vec<Service> = schemas(only)
        .into_iter()
        .filter(|s| manifest.schemas.contains_key(s.schema()))
        .collect();
    if services.is_empty() {
        bail!("the backup holds none of the schemas asked for");
    }
    for service in &services {
        let entry = &manifest.schemas[service.schema()];
        let actual = sha256(&from.join(&entry.file))?;
        if actual != entry.sha256 {
            bail!(
                "{} does not match its checksum in the manifest: the backup is damaged",
                entry.file
            );
        }
    }
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .context("connecting as the administrator")?;
    for service in &services {
        let schema = service.schema();
        eprintln!("restoring {schema}");
        conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await?;
        let file = from.join(&manifest.schemas[schema].file);
        let child = connecting(Command::new(tool(pg_bin, "pg_restore")), admin_url)
            .arg(format!("--jobs={}", jobs.max(1)))
            .arg("--exit-on-error")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting pg_restore (set --pg-bin or TEKUP_PG_BIN)")?;
        let name = schema.to_owned();
        tokio::task::spawn_blocking(move || wait(vec![(name, child)], "pg_restore")).await??;
    }
    let mut restored = Restored {
        tables: 0,
        rows: 0,
        mismatches: Vec::new(),
    };
    for service in &services {
        let schema = service.schema();
        let expected = &manifest.schemas[schema];
        let (migration, tables) = measure(&mut conn, schema).await?;
        if migration != expected.migration {
            restored.mismatches.push(format!(
                "{schema}: migration {migration}, the manifest says {}",
                expected.migration
            ));
        }
        for (table, want) in &expected.tables {
            match tables.get(table) {
                None => restored
                    .mismatches
                    .push(format!("{schema}.{table} is missing")),
                Some(got) if got != want => restored.mismatches.push(format!(
                    "{schema}.{table}: {} rows (checksum {}), the manifest says {} ({})",
                    got.rows, got.checksum, want.rows, want.checksum
                )),
                Some(got) => {
                    restored.tables += 1;
                    restored.rows += got.rows;
                }
            }
        }
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (url, password) =
            without_password("postgres://postgres:s%40cr%3At@127.0.0.1:5432/tekup");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/tekup");
        assert_eq!(password.as_deref(), Some("s@cr:t"));
        let (url, password) = without_password("postgres://postgres@127.0.0.1/tekup");
        assert_eq!(
            (url.as_str(), password),
            ("postgres://postgres@127.0.0.1/tekup", None)
        );
        let (url, password) = without_password("host=/tmp dbname=tekup");
        assert_eq!((url.as_str(), password), ("host=/tmp dbname=tekup", None));
    }
}

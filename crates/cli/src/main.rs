//! `tekup`: operations on the platform's database.

// A command-line tool: its reports (tables, JSON) are its output.
#![allow(clippy::print_stdout)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use tekup_db::{Service, provision};

mod backup;
mod health;
mod legacy;
mod mail;
mod seed;
mod verify;

#[derive(Parser)]
#[command(name = "tekup", version, about = "Operations on the Tekup platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database, the six schemas and the six service roles (idempotent).
    ///
    /// Each role's password comes from `TEKUP_<SERVICE>_DB_PASSWORD` when set, otherwise from
    /// `<password-dir>/<service>`; a missing file is created with a new random password (mode
    /// 0600), so running again keeps the passwords.
    Provision {
        /// An administrator's URL to any database of the cluster.
        #[arg(long, env = "TEKUP_ADMIN_URL", hide_env_values = true)]
        admin_url: String,
        /// The platform's database.
        #[arg(long, default_value = "tekup")]
        database: String,
        /// Where the service roles' passwords are kept.
        #[arg(long)]
        password_dir: Option<PathBuf>,
    },
    /// Apply every pending migration of the given services' schemas (all by default), each as
    /// its own role: the URL comes from `TEKUP__<SERVICE>__DATABASE__URL`, as the service
    /// reads it. Safe to run while services start: migrations of a schema are serialised.
    Migrate {
        /// Only this service (repeatable).
        #[arg(long = "service")]
        services: Vec<Service>,
        /// Print the SQL of the pending migrations instead of applying them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Back up the schemas (all six by default) into a directory: one pg_dump file per schema
    /// (custom format, dumped in parallel from one snapshot) and `manifest.json` with each
    /// schema's migration version and each table's row count and checksum.
    Backup {
        #[arg(long, env = "TEKUP_ADMIN_URL", hide_env_values = true)]
        admin_url: String,
        /// The directory to write (created when missing).
        #[arg(long)]
        out: PathBuf,
        /// Only this service's schema (repeatable).
        #[arg(long = "service")]
        services: Vec<Service>,
        /// Where pg_dump is (default: the PATH).
        #[arg(long, env = "TEKUP_PG_BIN")]
        pg_bin: Option<PathBuf>,
    },
    /// Restore schemas from a backup directory: each is dropped and loaded again with
    /// `pg_restore --jobs`, then every table is checked against the manifest. Exits with 1 on a
    /// mismatch. The roles must exist (`tekup provision`); stop the services first.
    Restore {
        #[arg(long, env = "TEKUP_ADMIN_URL", hide_env_values = true)]
        admin_url: String,
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        /// Only this service's schema (repeatable).
        #[arg(long = "service")]
        services: Vec<Service>,
        /// Parallel jobs of pg_restore.
        #[arg(long, default_value_t = 2)]
        jobs: u32,
        #[arg(long, env = "TEKUP_PG_BIN")]
        pg_bin: Option<PathBuf>,
    },
    /// Every service's readiness, every schema's migrations, every outbox's backlog and every
    /// consumer group's lag, as a table (or JSON). Exits with 1 when anything is unhealthy.
    Health {
        #[arg(long, env = "TEKUP_ADMIN_URL", hide_env_values = true)]
        admin_url: String,
        /// A service's address, `service=url` (repeatable); default: make run's ports on
        /// 127.0.0.1.
        #[arg(long = "url")]
        urls: Vec<String>,
        /// The broker, for consumer lag (skipped when absent).
        #[arg(long, env = "TEKUP_BROKERS")]
        brokers: Option<String>,
        /// The topic and group name prefix the services run with.
        #[arg(long, env = "TEKUP_EVENTS_NAMESPACE", default_value = "")]
        namespace: String,
        /// Unhealthy when an unpublished event is older than this.
        #[arg(long, default_value_t = 60)]
        max_outbox_age_secs: i64,
        /// Unhealthy when a consumer group is further behind than this.
        #[arg(long, default_value_t = 1000)]
        max_lag: i64,
        #[arg(long)]
        json: bool,
    },
    /// Copy a legacy database (the original's Prisma-era schemas: crm."CrmCompany",
    /// crm."CrmContact", renos.leads) into the platform for one organization, in batches,
    /// resumable after an interruption, announcing each imported row as an event. Prints a
    /// parity report per table (rows and a checksum of the mapped columns) and exits with 1
    /// on any mismatch.
    MigrateData {
        /// The legacy database.
        #[arg(long, env = "TEKUP_LEGACY_URL", hide_env_values = true)]
        from: String,
        /// An administrator's URL to the platform's database.
        #[arg(long, env = "TEKUP_ADMIN_URL", hide_env_values = true)]
        to: String,
        /// The organization (in shared) the data belongs to.
        #[arg(long)]
        org: uuid::Uuid,
        /// A legacy schema's name when it differs from the service's: `legacy=service`.
        #[arg(long = "map")]
        maps: Vec<String>,
        /// Rows per batch (one transaction each).
        #[arg(long, default_value_t = 500)]
        batch: i64,
        /// Stop after this many batches; run again to resume.
        #[arg(long)]
        max_batches: Option<u64>,
        /// How long to wait for a projection (e.g. crm's companies) to catch up.
        #[arg(long, default_value_t = 120)]
        wait_secs: u64,
        #[arg(long)]
        json: bool,
    },
    /// Seed realistic, deterministic Danish test data through the services' APIs: an
    /// organization with an administrator, an analyst and a viewer, companies with valid CVR
    /// numbers, contacts, deals, activities, customers, leads, e-mail threads and chatbot
    /// conversations. Prints the organization and the administrator's login.
    Seed {
        #[command(flatten)]
        target: SeedTarget,
    },
    /// The test environment's daily reset: drop the six schemas, migrate them again and seed.
    /// Refuses unless `--env test` is given and the database looks like a test database (its
    /// name says test, dev or local, or it is on this machine), never one named for production.
    Reset {
        /// Must be `test`.
        #[arg(long)]
        env: String,
        #[arg(long, env = "TEKUP_ADMIN_URL", hide_env_values = true)]
        admin_url: String,
        #[command(flatten)]
        target: SeedTarget,
    },
    /// Check the database's integrity: Row Level Security enabled and forced with policies on
    /// every tenant table, each service role limited to its own schema, no orphaned tenant
    /// rows, every service's organizations as in shared. Exits with 1 when a check fails.
    Verify {
        /// An administrator's URL to the platform's database.
        #[arg(long, env = "TEKUP_ADMIN_URL", hide_env_values = true)]
        admin_url: String,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Back-fill e-mails into renos: mbox files, `.eml` files and directories of them (Maildir
    /// included), sent in batches that renos records as ingest runs. Known messages are counted
    /// as duplicates, so an interrupted import can simply be run again. Exits with 2 when a
    /// message could not be ingested (each is printed with its reason).
    ImportMail {
        /// renos's address.
        #[arg(long, env = "TEKUP_RENOS_URL")]
        renos_url: String,
        /// An access token of an administrator of the organization (from shared's login).
        #[arg(long, env = "TEKUP_TOKEN", hide_env_values = true)]
        token: String,
        /// mbox files, e-mail files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct SeedTarget {
    /// Multiplies every count (1: 10 companies, 30 contacts, 20 leads, ...).
    #[arg(long, default_value_t = 1)]
    scale: u32,
    #[arg(long, default_value = "Rendetalje ApS")]
    org_name: String,
    /// shared's operator token (creates the organization and its users).
    #[arg(long, env = "TEKUP_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: String,
    /// The seeded users' password.
    #[arg(
        long,
        env = "TEKUP_SEED_PASSWORD",
        hide_env_values = true,
        default_value = "Rengøring-2026!"
    )]
    password: String,
    /// A service's address, `service=url` (repeatable); default: make run's ports.
    #[arg(long = "url")]
    urls: Vec<String>,
}

impl SeedTarget {
    fn urls(&self) -> anyhow::Result<seed::Urls> {
        let addresses = service_urls(&self.urls)?;
        let url = |s: Service| {
            addresses
                .get(&s)
                .cloned()
                .unwrap_or_else(|| health::default_url(s))
        };
        Ok(seed::Urls {
            shared: url(Service::Shared),
            crm: url(Service::Crm),
            renos: url(Service::Renos),
            flow: url(Service::Flow),
        })
    }

    async fn seed(&self) -> anyhow::Result<()> {
        let options = seed::Options {
            scale: self.scale,
            org_name: self.org_name.clone(),
            operator_token: self.operator_token.clone(),
            password: self.password.clone(),
        };
        eprintln!("seeding at scale {}", self.scale);
        let seeded = seed::run(&self.urls()?, &options).await?;
        println!("{}", serde_json::to_string_pretty(&seeded)?);
        Ok(())
    }
}

/// `--url service=url` arguments, by service.
fn service_urls(entries: &[String]) -> anyhow::Result<std::collections::HashMap<Service, String>> {
    entries
        .iter()
        .map(|entry| {
            let (name, url) = entry
                .split_once('=')
                .with_context(|| format!("--url {entry}: expected service=url"))?;
            let service: Service = name
                .parse()
                .map_err(|e| anyhow::anyhow!("--url {entry}: {e}"))?;
            Ok((service, url.trim_end_matches('/').to_owned()))
        })
        .collect()
}

/// Whether `url` names a database that may be wiped: not named for production, and named for
/// testing or on this machine.
fn looks_like_test(url: &str) -> bool {
    let lower = url.to_lowercase();
    let (rest, database) = lower.rsplit_once('/').unwrap_or((&lower, ""));
    let database = database.split('?').next().unwrap_or_default();
    let host = rest.rsplit('@').next().unwrap_or(rest);
    if ["prod", "live", "production"]
        .iter()
        .any(|w| database.contains(w) || host.contains(w))
    {
        return false;
    }
    ["test", "dev", "local"]
        .iter()
        .any(|w| database.contains(w))
        || host.starts_with("127.0.0.1")
        || host.starts_with("localhost")
        || host.starts_with("[::1]")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Provision {
            admin_url,
            database,
            password_dir,
        } => provision(&admin_url, &database, password_dir.as_deref()).await,
        Command::Migrate { services, dry_run } => migrate(services, dry_run).await,
        Command::Backup {
            admin_url,
            out,
            services,
            pg_bin,
        } => {
            let manifest = backup::backup(&admin_url, &out, &services, pg_bin.as_deref()).await?;
            for (schema, entry) in &manifest.schemas {
                let rows: i64 = entry.tables.values().map(|t| t.rows).sum();
                eprintln!(
                    "{schema}: {} tables, {rows} rows, migration {}",
                    entry.tables.len(),
                    entry.migration
                );
            }
            eprintln!("backup written to {}", out.display());
            Ok(())
        }
        Command::Restore {
            admin_url,
            from,
            services,
            jobs,
            pg_bin,
        } => {
            let restored =
                backup::restore(&admin_url, &from, &services, jobs, pg_bin.as_deref()).await?;
            for mismatch in &restored.mismatches {
                println!("MISMATCH  {mismatch}");
            }
            eprintln!(
                "restored {} tables, {} rows; {} mismatch(es) with the manifest",
                restored.tables,
                restored.rows,
                restored.mismatches.len()
            );
            if !restored.mismatches.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Health {
            admin_url,
            urls,
            brokers,
            namespace,
            max_outbox_age_secs,
            max_lag,
            json,
        } => {
            let addresses = service_urls(&urls)?;
            let events = brokers.map(|brokers| tekup_events::EventsConfig {
                brokers,
                namespace,
                ..tekup_events::EventsConfig::default()
            });
            let limits = health::Limits {
                max_outbox_age_secs,
                max_lag,
            };
            let report = health::run(&admin_url, &addresses, events.as_ref(), &limits).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{:<7} {:<6} {:<16} {:>7} {:>8} {:>9} {:>6}  problems",
                    "service", "ready", "migration", "pending", "outbox", "oldest s", "lag"
                );
                for s in &report {
                    println!(
                        "{:<7} {:<6} {:<16} {:>7} {:>8} {:>9} {:>6}  {}",
                        s.service,
                        if s.ready { "yes" } else { "no" },
                        s.migration,
                        s.pending_migrations,
                        s.outbox_backlog,
                        s.outbox_oldest_secs
                            .map_or("-".to_owned(), |a| a.to_string()),
                        s.consumer_lag.values().sum::<i64>(),
                        if s.problems.is_empty() {
                            "-".to_owned()
                        } else {
                            s.problems.join("; ")
                        }
                    );
                }
            }
            if report.iter().any(|s| !s.problems.is_empty()) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::MigrateData {
            from,
            to,
            org,
            maps,
            batch,
            max_batches,
            wait_secs,
            json,
        } => {
            let mut schemas = std::collections::HashMap::new();
            for map in &maps {
                let (legacy, service) = map
                    .split_once('=')
                    .with_context(|| format!("--map {map}: expected legacy-schema=service"))?;
                let service: Service = service
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--map {map}: {e}"))?;
                schemas.insert(service.name().to_owned(), legacy.to_owned());
            }
            if !(1..=10_000).contains(&batch) {
                anyhow::bail!("--batch must be 1 to 10000");
            }
            let options = legacy::Options {
                org_id: org,
                batch,
                schemas,
                max_batches,
                wait: std::time::Duration::from_secs(wait_secs),
            };
            let (report, finished) = legacy::run(&from, &to, &options).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{:<16} {:<18} {:>8} {:>8} {:>8}  parity",
                    "legacy table", "platform table", "legacy", "imported", "rejected"
                );
                for p in &report {
                    println!(
                        "{:<16} {:<18} {:>8} {:>8} {:>8}  {}",
                        p.table,
                        p.target,
                        p.legacy_rows,
                        p.imported_rows,
                        p.rejected_rows,
                        if p.matches { "ok" } else { "MISMATCH" }
                    );
                }
                for p in report.iter().filter(|p| p.rejected_rows > 0) {
                    eprintln!(
                        "{}: {} row(s) rejected: {}",
                        p.table, p.rejected_rows, p.rejected_because
                    );
                }
            }
            if !finished {
                eprintln!("stopped after the batches asked for: run again to resume");
                std::process::exit(3);
            }
            if report.iter().any(|p| !p.matches) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Seed { target } => target.seed().await,
        Command::Reset {
            env,
            admin_url,
            target,
        } => {
            if env != "test" {
                anyhow::bail!("reset is for the test environment only (--env test), not {env:?}");
            }
            if !looks_like_test(&admin_url) {
                anyhow::bail!(
                    "refusing to reset: the database does not look like a test database \
                     (name it *test*, *dev* or *local*, or run it on this machine)"
                );
            }
            let mut conn =
                <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
                    &admin_url,
                )
                .await
                .context("connecting as the administrator")?;
            // Schema by schema, retried: running services hold locks that a drop may deadlock
            // with, and then one side is rolled back.
            for schema in Service::ALL
                .iter()
                .map(|s| s.schema())
                .chain(["tekup_import"])
            {
                let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                let mut attempt = 0;
                while let Err(err) =
                    diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, &sql).await
                {
                    attempt += 1;
                    if attempt >= 10 {
                        return Err(err).with_context(|| format!("dropping schema {schema}"));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                }
            }
            eprintln!("dropped the six schemas");
            tekup_db::provision::schemas(&admin_url)
                .await
                .context("creating the schemas")?;
            migrate(Vec::new(), false).await?;
            target.seed().await
        }
        Command::Verify { admin_url, json } => {
            let checks = verify::run(&admin_url).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&checks)?);
            } else {
                for c in &checks {
                    println!(
                        "{:<4}  {:<32}  {}",
                        if c.ok { "ok" } else { "FAIL" },
                        c.check,
                        c.detail
                    );
                }
            }
            let failed = checks.iter().filter(|c| !c.ok).count();
            if failed > 0 {
                eprintln!("{failed} check(s) failed");
                std::process::exit(1);
            }
            Ok(())
        }
        Command::ImportMail {
            renos_url,
            token,
            paths,
        } => {
            let totals = mail::import(&renos_url, &token, &paths).await?;
            eprintln!(
                "imported: {} received, {} ingested, {} already known, {} failed",
                totals.received, totals.ingested, totals.duplicates, totals.failed
            );
            if totals.failed > 0 {
                std::process::exit(2);
            }
            Ok(())
        }
    }
}

async fn provision(
    admin_url: &str,
    database: &str,
    password_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let passwords = Service::ALL
        .iter()
        .map(|service| Ok((*service, password(password_dir, *service)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    provision::roles(admin_url, &passwords)
        .await
        .context("creating the service roles")?;
    if provision::create_database(admin_url, database).await? {
        eprintln!("created database {database}");
    }
    let (base, _) = admin_url
        .rsplit_once('/')
        .context("the admin URL names no database")?;
    provision::schemas(&format!("{base}/{database}"))
        .await
        .context("creating the schemas")?;
    eprintln!(
        "provisioned {database}: schemas and roles for {}",
        Service::ALL.map(|s| s.name()).join(", ")
    );
    Ok(())
}

async fn migrate(services: Vec<Service>, dry_run: bool) -> anyhow::Result<()> {
    let services = if services.is_empty() {
        Service::ALL.to_vec()
    } else {
        services
    };
    for service in services {
        let variable = format!("TEKUP__{}__DATABASE__URL", service.name().to_uppercase());
        let url = std::env::var(&variable).with_context(|| format!("set {variable}"))?;
        let pending = tekup_db::migrate::pending(&url, service)
            .await
            .with_context(|| format!("reading {service}'s migrations"))?;
        let applied = tekup_db::migrate::applied(&url, service).await?;
        eprintln!(
            "{service}: {} applied (newest {}), {} pending",
            applied.len(),
            applied.last().map_or("none", String::as_str),
            pending.len()
        );
        if dry_run {
            for name in &pending {
                println!("-- {service}: {name}");
                println!(
                    "{}",
                    tekup_db::migrate::up_sql(service, name).unwrap_or("-- (no SQL found)")
                );
            }
            continue;
        }
        for name in &pending {
            eprintln!("{service}: applying {name}");
        }
        let done = tekup_db::migrate::run(&url, service)
            .await
            .with_context(|| format!("migrating {service}"))?;
        eprintln!("{service}: {} migration(s) applied", done.len());
    }
    Ok(())
}

fn password(dir: Option<&Path>, service: Service) -> anyhow::Result<String> {
    let variable = format!("TEKUP_{}_DB_PASSWORD", service.name().to_uppercase());
    if let Ok(password) = std::env::var(&variable) {
        return Ok(password);
    }
    let dir = dir
        .with_context(|| format!("no password for {service}: set {variable} or --password-dir"))?;
    let path = dir.join(service.name());
    if let Ok(existing) = fs::read_to_string(&path) {
        return Ok(existing.trim().to_owned());
    }
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let password = uuid::Uuid::new_v4().simple().to_string();
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(password.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::looks_like_test;

    #[test]
    fn only_test_looking_databases_may_be_reset() {
        assert!(looks_like_test("postgres://a:b@127.0.0.1:5432/tekup"));
        assert!(looks_like_test(
            "postgres://a:b@db.internal:5432/tekup_test"
        ));
        assert!(!looks_like_test("postgres://a:b@db.internal:5432/tekup"));
        assert!(!looks_like_test(
            "postgres://a:b@prod-db.internal/tekup_test"
        ));
        assert!(!looks_like_test("postgres://a:b@127.0.0.1/tekup_prod"));
    }
}

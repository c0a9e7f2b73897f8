//! Our HTTP path against the database's own ceiling, side by side in one run, on one isolated
//! platform (`make bench`): every service runs as its release binary (so its memory can be
//! read), crm holds 100 000 contacts over 4 organizations and 100 companies, and at one client
//! concurrency three request kinds are measured three ways:
//!
//! - **raw**: `pgbench -S` (select by primary key, prepared) on pgbench's own table — the
//!   machine's ceiling;
//! - **replay**: pgbench running exactly the statements crm issued for one such request
//!   (captured from PostgreSQL's `log_statement` as crm's role: tenant settings, the RLS-filtered
//!   queries, the outbox insert, commit), as crm's role, with the values as bind parameters
//!   as crm sends them (so PostgreSQL plans them as it plans crm's) and pipelined where crm
//!   pipelines; beside it, for comparison, the same with the values written in as literals;
//! - **http**: the request through crm (JWT verification, RLS transaction, diesel-async) with
//!   keep-alive connections, from a load generator in this binary.
//!
//! Request kinds: read one contact by id, list one page (50) of a company's contacts, create one
//! contact (row + outbox row in one transaction). Printed as a table and written to
//! `target/bench/api.json`, with each service's resident memory idle and crm's under load.
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde::Serialize;
use serde_json::json;
use tekup_bench::Latency;
use tekup_db::Service;
use tekup_testkit::identity::{Identity, OPERATOR};
use tekup_testkit::{TestApp, TestDb, service_env};

const ORGS: usize = 4;
const COMPANIES_PER_ORG: usize = 25;
const CONTACTS: usize = 100_000;
const CLIENTS: usize = 16;
const SECONDS: u64 = 10;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

/// A service running as its binary.
struct Running {
    service: Service,
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Resident memory, MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start(db: &TestDb, service: Service, extra: &[(&str, String)]) -> anyhow::Result<Running> {
    let bin = PathBuf::from(std::env::var("TEKUP_BENCH_BIN_DIR").context("TEKUP_BENCH_BIN_DIR")?)
        .join(service.name());
    let port = free_port()?;
    let prefix = format!("TEKUP__{}__", service.name().to_uppercase());
    let mut env = service_env(db, service);
    env.insert(format!("{prefix}HTTP__PORT"), port.to_string());
    env.insert(
        format!("{prefix}HTTP__WORKERS"),
        std::env::var("TEKUP_BENCH_WORKERS").unwrap_or_else(|_| "2".into()),
    );
    env.insert(format!("{prefix}DATABASE__POOL_SIZE"), CLIENTS.to_string());
    env.insert(format!("{prefix}TELEMETRY__LOG_FILTER"), "warn".into());
    // The event timings a deployment has, not the tests' quick ones: with the tests' 20 ms
    // fetch wait, the idle consumers' polling alone kept the broker at ~45% of a core.
    let deployed = tekup_events::EventsConfig::default();
    for (key, value) in [
        ("FETCH_WAIT_MAX_MS", deployed.fetch_wait_max_ms),
        ("RELAY_POLL_INTERVAL_MS", deployed.relay_poll_interval_ms),
    ] {
        env.insert(format!("{prefix}EVENTS__{key}"), value.to_string());
    }
    for (key, value) in extra {
        env.insert(format!("{prefix}{key}"), value.clone());
    }
    // The allocator as the image sets it (deploy/Dockerfile).
    env.insert("MALLOC_MMAP_THRESHOLD_".into(), "131072".into());
    let child = Command::new(&bin)
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let running = Running {
        service,
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if client
            .get(format!("{}/readyz", running.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(running);
        }
        if Instant::now() > deadline {
            bail!("{service} did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A valid CVR number (checksum) for company `i`.
fn cvr(i: usize) -> String {
    let weights = [2, 7, 6, 5, 4, 3, 2, 1];
    (10_000_000 + i * 97..)
        .map(|n| n.to_string())
        .find(|s| {
            s.bytes()
                .zip(weights)
                .map(|(b, w)| usize::from(b - b'0') * w)
                .sum::<usize>()
                % 11
                == 0
        })
        .unwrap_or_default()
}

/// The deterministic id of contact `n`, which SQL computes the same way
/// ([`CONTACT_ID_SQL`]), so pgbench and the load generator name the same records.
fn contact_id(n: usize) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n as u128)
}

/// `contact_id(:n * 100)` in SQL (contacts 0, 100, 200, ... are company 0's of org 0).
const CONTACT_ID_SQL: &str =
    "('00000000-0000-4000-8000-' || lpad(to_hex(:n * 100), 12, '0'))::uuid";

#[derive(Debug, Clone, Serialize)]
struct Figures {
    throughput_per_s: f64,
    latency: Latency,
    /// Where the CPU went, per request.
    cpu_us_per_request: CpuShare,
}

/// CPU microseconds per request: PostgreSQL (all its processes), the client (pgbench, or this
/// binary's load generator), and crm (HTTP runs only).
#[derive(Debug, Clone, Serialize)]
struct CpuShare {
    postgres: f64,
    client: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    crm: Option<f64>,
}

/// CPU time consumed so far (clock ticks of 10 ms, from /proc).
struct Cpu {
    postgres: u64,
    client: u64,
    crm: Option<u64>,
}

/// utime + stime (`own`), or the waited-for children's cutime + cstime, of process `pid`.
fn ticks_of(pid: &str, own: bool) -> u64 {
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the
    // 13th, cutime and cstime the 14th and 15th.
    let first = if own { 11 } else { 13 };
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1.to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(
                fields.get(first)?.parse::<u64>().ok()?
                    + fields.get(first + 1)?.parse::<u64>().ok()?,
            )
        })
        .unwrap_or(0)
}

fn ticks(pid: &str) -> u64 {
    ticks_of(pid, true)
}

fn postgres_ticks() -> u64 {
    command_ticks("postgres")
}

/// The ids of the processes named `command` (their `comm`).
fn processes_named(command: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.trim() == command)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The CPU ticks of every process named `command`, with their reaped children's: the
/// postmaster's include the backends of connections that ended (pgbench's, at its end).
fn command_ticks(command: &str) -> u64 {
    processes_named(command)
        .iter()
        .map(|pid| ticks(pid) + ticks_of(pid, false))
        .sum()
}

impl Cpu {
    /// During an HTTP run: this binary is the client.
    fn http(crm: &Running) -> Self {
        Self {
            postgres: postgres_ticks(),
            client: ticks("self"),
            crm: Some(ticks(&crm.child.id().to_string())),
        }
    }

    /// Around a pgbench run: pgbench, once waited for, is the client.
    fn pgbench() -> Self {
        Self {
            postgres: postgres_ticks(),
            client: ticks_of("self", false),
            crm: None,
        }
    }

    /// Per request since `before`, in microseconds (a tick is 10 ms).
    fn since(&self, before: &Self, requests: usize) -> CpuShare {
        let per = |now: u64, then: u64| {
            now.saturating_sub(then) as f64 * 10_000.0 / requests.max(1) as f64
        };
        CpuShare {
            postgres: per(self.postgres, before.postgres),
            client: per(self.client, before.client),
            crm: self.crm.zip(before.crm).map(|(now, then)| per(now, then)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Kind {
    kind: &'static str,
    /// crm's statements with their values as bind parameters, as crm sends them.
    replay: Figures,
    /// The same with the values written into the SQL: planned once per connection.
    replay_literal: Figures,
    /// The same with a Sync after every statement, as crm's driver sends them.
    replay_sync_each: Figures,
    http: Figures,
    http_over_replay: f64,
    http_over_raw: f64,
    /// The same through a crm with one HTTP worker.
    http_one_worker: Figures,
    one_worker_over_replay: f64,
}

/// A request kind's replay, both ways: (pgbench script, `-D` variable definitions).
#[derive(Debug, Serialize)]
struct Scripts {
    parameterized: (String, Vec<String>),
    literal: (String, Vec<String>),
    /// The parameterized replay with a Sync after every statement, as crm's driver sends.
    sync_each: (String, Vec<String>),
}

#[derive(Debug, Serialize)]
struct Record {
    clients: usize,
    seconds: u64,
    contacts: usize,
    raw: Figures,
    kinds: Vec<Kind>,
    read_at_half_peak: Figures,
    /// The read's replay paced at the same rate: the latency floor of its statements here.
    replay_at_half_peak: Figures,
    rss_idle_mib: HashMap<String, f64>,
    /// PostgreSQL's CPU with the services idle, µs per second.
    postgres_idle_us_per_s: f64,
    /// The broker's and the six services' CPU with the services idle, µs per second.
    broker_idle_us_per_s: f64,
    services_idle_us_per_s: f64,
    rss_crm_under_load_mib: f64,
    vault_model: ModelFigures,
    replay_scripts: HashMap<String, Scripts>,
    console_page: PageFigures,
}

async fn run() -> anyhow::Result<()> {
    let db = Arc::new(TestDb::new().await?);
    eprintln!("bench: database {}", db.name());
    let admin_url = db.admin_url()?;
    let pg_bin = PathBuf::from(std::env::var("TEKUP_TEST_PG_BIN").context("TEKUP_TEST_PG_BIN")?);

    // shared first: the others fetch its keys.
    let key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([42u8; 32])
    };
    let shared = start(
        &db,
        Service::Shared,
        &[
            ("APP__ADMIN_TOKEN", OPERATOR.to_owned()),
            ("APP__JWT__SIGNING_KEY", key),
        ],
    )
    .await?;
    let jwks = format!("{}/.well-known/jwks.json", shared.url);
    let identity = Identity {
        shared: TestApp::remote(&shared.url, Arc::clone(&db)),
    };
    let mut orgs = Vec::new();
    for i in 0..ORGS {
        orgs.push(identity.org(&format!("Bench {i} ApS")).await?);
    }
    let (admin_id, token) = identity.user(&orgs[0], "bench@bench.dk", "admin").await?;
    let org_a: uuid::Uuid = orgs[0].parse()?;

    // crm with statement logging for its role, to capture what one request issues.
    let crm_role = db
        .url(Service::Crm)
        .split("://")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .context("crm role")?
        .to_owned();
    let mut admin = AsyncPgConnection::establish(&admin_url).await?;
    admin
        .batch_execute(&format!(
            "ALTER ROLE \"{crm_role}\" SET log_statement = 'all'"
        ))
        .await?;
    let mut others = Vec::new();
    let mut crm = start(&db, Service::Crm, &[("AUTH__JWKS_URL", jwks.clone())]).await?;
    seed(&mut admin, &orgs).await?;
    eprintln!("bench: seeded {CONTACTS} contacts");

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let company = cvr(0);
    let read_path = |n: usize| {
        format!(
            "/v1/companies/{company}/contacts/{}",
            contact_id(n * ORGS * COMPANIES_PER_ORG)
        )
    };
    let list_path = format!("/v1/companies/{company}/contacts?limit=50");
    let create_path = format!("/v1/companies/{company}/contacts");
    let log = server_log(&mut admin).await?;
    let mut scripts = HashMap::new();
    for (kind, method, path) in [
        ("read", reqwest::Method::GET, read_path(7)),
        ("list", reqwest::Method::GET, list_path.clone()),
        ("create", reqwest::Method::POST, create_path.clone()),
    ] {
        let start_at = std::fs::metadata(&log)?.len();
        let mut request = http
            .request(method, format!("{}{path}", crm.url))
            .bearer_auth(&token);
        if kind == "create" {
            request = request.json(&json!({"first_name": "Bench", "last_name": "Kontakt"}));
        }
        let response = request.send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{kind}: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let statements = captured(&log, start_at, &org_a.to_string())?;
        let keep = [org_a.to_string(), admin_id.to_string()];
        scripts.insert(
            kind.to_owned(),
            Scripts {
                parameterized: replay_script(kind, &statements, &keep, true, false),
                literal: replay_script(kind, &statements, &keep, false, false),
                sync_each: replay_script(kind, &statements, &keep, true, true),
            },
        );
    }
    // Without statement logging for the measurement.
    admin
        .batch_execute(&format!("ALTER ROLE \"{crm_role}\" RESET log_statement"))
        .await?;
    drop(crm);
    crm = start(
        &db,
        Service::Crm,
        &[
            ("AUTH__JWKS_URL", jwks.clone()),
            ("APP__WEB__SHARED_URL", shared.url.clone()),
        ],
    )
    .await?;
    for service in [
        Service::Billy,
        Service::Renos,
        Service::Flow,
        Service::Vault,
    ] {
        let mut extra = vec![("AUTH__JWKS_URL", jwks.clone())];
        if service == Service::Vault {
            if let Ok(dir) = std::env::var("TEKUP_TEST_MODEL_DIR") {
                extra.push(("APP__EMBEDDER__MODEL_DIR", dir));
            }
            extra.push((
                "APP__EMBEDDER__UNLOAD_AFTER_IDLE_SECS",
                MODEL_IDLE.as_secs().to_string(),
            ));
        }
        others.push(start(&db, service, &extra).await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // What PostgreSQL, the broker and the services spend with no request at all: the
    // services' background work (relays, consumers, pollers). It shares the machine with every
    // run below, and is in every per-request share of PostgreSQL.
    let services_ticks = |running: &[&Running]| -> u64 {
        running
            .iter()
            .map(|r| ticks(&r.child.id().to_string()))
            .sum()
    };
    let all: Vec<&Running> = others.iter().chain([&shared, &crm]).collect();
    let idle_before = (
        postgres_ticks(),
        command_ticks("tansu"),
        services_ticks(&all),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let per_s = |ticks: u64| ticks as f64 * 10_000.0 / idle_before.3.elapsed().as_secs_f64();
    let postgres_idle_us_per_s = per_s(postgres_ticks().saturating_sub(idle_before.0));
    let broker_idle_us_per_s = per_s(command_ticks("tansu").saturating_sub(idle_before.1));
    let services_idle_us_per_s = per_s(services_ticks(&all).saturating_sub(idle_before.2));
    let mut rss_idle = HashMap::new();
    for running in &all {
        rss_idle.insert(running.service.name().to_owned(), running.rss_mib());
    }
    let vault = others
        .iter()
        .find(|r| r.service == Service::Vault)
        .context("vault")?;
    eprintln!("bench: vault's model loaded by a search, then let go");
    let vault_model = vault_model(&http, &vault.url, &token, || vault.rss_mib()).await?;

    // raw: pgbench -S on its own table in its own database.
    let raw_db = format!("{}_pgbench", db.name());
    admin
        .batch_execute(&format!("CREATE DATABASE \"{raw_db}\""))
        .await?;
    let raw_url = replace_db(&admin_url, &raw_db);
    pgbench(&pg_bin, &raw_url, &["-i", "-s", "10", "-q"])?;
    eprintln!("bench: raw");
    let raw = pgbench_run(&pg_bin, &raw_url, &["-S"], None)?;

    // The same crm with one HTTP worker, beside the one with the default: on a machine whose
    // two cores PostgreSQL and the load generator share, fewer threads can serve more.
    let crm_one = start(
        &db,
        Service::Crm,
        &[
            ("AUTH__JWKS_URL", jwks.clone()),
            ("APP__WEB__SHARED_URL", shared.url.clone()),
            ("HTTP__WORKERS", "1".to_owned()),
        ],
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let crm_url = db.url(Service::Crm);
    let mut kinds = Vec::new();
    let mut rss_load: f64 = 0.0;
    for kind in ["read", "list", "create"] {
        eprintln!("bench: {kind} replay");
        let replay = pgbench_replay(&pg_bin, &crm_url, &scripts[kind].parameterized, None)?;
        let replay_literal = pgbench_replay(&pg_bin, &crm_url, &scripts[kind].literal, None)?;
        let replay_sync_each = pgbench_replay(&pg_bin, &crm_url, &scripts[kind].sync_each, None)?;
        eprintln!("bench: {kind} http");
        let (figures, rss) = load(&crm, &token, kind, &company, None).await?;
        rss_load = rss_load.max(rss);
        eprintln!("bench: {kind} http, one worker");
        let (one_worker, _) = load(&crm_one, &token, kind, &company, None).await?;
        kinds.push(Kind {
            kind: match kind {
                "read" => "read by id",
                "list" => "list a page (50)",
                _ => "create",
            },
            http_over_replay: figures.throughput_per_s / replay.throughput_per_s,
            one_worker_over_replay: one_worker.throughput_per_s / replay.throughput_per_s,
            http_one_worker: one_worker,
            http_over_raw: figures.throughput_per_s / raw.throughput_per_s,
            replay,
            replay_literal,
            replay_sync_each,
            http: figures,
        });
    }
    let half = kinds[0].http.throughput_per_s / 2.0;
    eprintln!("bench: read at half the peak ({half:.0}/s)");
    let inside_before = read_durations(&http, &crm).await?;
    let (read_at_half_peak, _) = load(&crm, &token, "read", &company, Some(half)).await?;
    let inside = read_durations(&http, &crm).await?.since(&inside_before);
    eprintln!("bench: read replay at the same rate");
    let replay_at_half_peak = pgbench_replay(
        &pg_bin,
        &crm_url,
        &scripts["read"].parameterized,
        Some(half),
    )?;

    eprintln!("bench: the console's company page over {TIMELINE_ITEMS} timeline items");
    let console_page = console_page(&http, &crm, &mut admin, &orgs[0], &company).await?;

    print_table(
        &raw,
        &kinds,
        (&read_at_half_peak, &replay_at_half_peak),
        &rss_idle,
        rss_load,
    );
    println!(
        "  the same reads as crm timed them (request in, response out): p50 {}, p99 {}",
        inside.quantile(0.50),
        inside.quantile(0.99)
    );
    println!(
        "vault's model: RSS {:.1} MiB idle, {:.1} MiB after a semantic search, {:.1} MiB {} s \
         after it; the search that loaded it {:.0} ms, the next {:.0} ms",
        rss_idle.get("vault").copied().unwrap_or(f64::NAN),
        vault_model.rss_loaded_mib,
        vault_model.rss_let_go_mib,
        vault_model.waited_s,
        vault_model.loading_search_ms,
        vault_model.loaded_search_ms
    );
    println!(
        "with every service idle, CPU per second: PostgreSQL {:.1} ms, the broker {:.1} ms, \
         the six services {:.1} ms",
        postgres_idle_us_per_s / 1000.0,
        broker_idle_us_per_s / 1000.0,
        services_idle_us_per_s / 1000.0
    );
    println!(
        "\nconsole company page (first {} of {TIMELINE_ITEMS} timeline items, {} KiB of HTML), \
         {} requests one at a time: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        console_page.items_on_page,
        console_page.bytes / 1024,
        console_page.samples,
        console_page.p50_ms,
        console_page.p95_ms,
        console_page.max_ms
    );
    let path = tekup_bench::save(
        "api",
        &Record {
            clients: CLIENTS,
            seconds: SECONDS,
            contacts: CONTACTS,
            raw,
            kinds,
            read_at_half_peak,
            replay_at_half_peak,
            rss_idle_mib: rss_idle,
            postgres_idle_us_per_s,
            broker_idle_us_per_s,
            services_idle_us_per_s,
            rss_crm_under_load_mib: rss_load,
            vault_model,
            replay_scripts: scripts,
            console_page,
        },
    )?;
    println!("\nfigures: {}", path.display());
    Ok(())
}

/// How long vault's model stays loaded with nothing to embed, in the bench.
const MODEL_IDLE: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
struct ModelFigures {
    /// A semantic search that had to load the model first, and the one after it.
    loading_search_ms: f64,
    loaded_search_ms: f64,
    rss_loaded_mib: f64,
    /// vault's RSS `waited_s` after the last search: the model let go after [`MODEL_IDLE`].
    rss_let_go_mib: f64,
    waited_s: u64,
}

/// vault's memory and search time with its model loaded by a search, and after it lets go.
async fn vault_model(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    rss_mib: impl Fn() -> f64,
) -> anyhow::Result<ModelFigures> {
    let search = async |query: &str, mode: &str| -> anyhow::Result<f64> {
        let started = Instant::now();
        let response = http
            .post(format!("{url}/v1/search"))
            .timeout(Duration::from_secs(60))
            .bearer_auth(token)
            .json(&json!({"query": query, "mode": mode}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "vault search: {}",
            response.status()
        );
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    };
    // A search without the model first: the connection, the keys and the statements are ready
    // before the one that loads it is timed.
    search("vinduespudsning", "full_text").await?;
    let loading_search_ms = search("vinduespudsning hver anden uge", "semantic").await?;
    let loaded_search_ms = search("window cleaning every second week", "semantic").await?;
    let rss_loaded_mib = rss_mib();
    let wait = MODEL_IDLE * 2 + Duration::from_secs(1);
    tokio::time::sleep(wait).await;
    Ok(ModelFigures {
        loading_search_ms,
        loaded_search_ms,
        rss_loaded_mib,
        rss_let_go_mib: rss_mib(),
        waited_s: wait.as_secs(),
    })
}

fn replace_db(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => url.to_owned(),
    }
}

/// 100 companies over the organizations and 100 000 contacts, evenly; contact `n` belongs to
/// organization `n % 4`, company `(n / 4) % 25` of it, and has the id `contact_id(n)`.
/// Timeline items of the company whose console page is measured.
const TIMELINE_ITEMS: usize = 1_000;
const PAGE_SAMPLES: usize = 300;

#[derive(Debug, Serialize)]
struct PageFigures {
    samples: usize,
    items_on_page: usize,
    bytes: usize,
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

/// The console's company page of a company with [`TIMELINE_ITEMS`] activities: signs in through
/// the console's own form, then times the page one request at a time (on loopback, so the
/// figure is the server's time plus a negligible transfer).
async fn console_page(
    http: &reqwest::Client,
    crm: &Running,
    admin: &mut AsyncPgConnection,
    org: &str,
    company: &str,
) -> anyhow::Result<PageFigures> {
    admin
        .batch_execute(&format!(
            "INSERT INTO crm.activities (id, org_id, cvr, kind, subject, body, occurred_at) \
             SELECT gen_random_uuid(), '{org}', '{company}', \
               (ARRAY['call','meeting','note','email'])[n % 4 + 1], 'Aktivitet nr. ' || n, \
               'Referat af samtale nr. ' || n, now() - n * interval '1 hour' \
             FROM generate_series(1, {TIMELINE_ITEMS}) AS n; ANALYZE crm.activities"
        ))
        .await?;
    let signed_in = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("{}/app/login", crm.url))
        .form(&[
            ("email", "bench@bench.dk"),
            ("password", tekup_testkit::identity::PASSWORD),
        ])
        .send()
        .await?;
    let cookie = signed_in
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("the console's session cookie")?
        .to_owned();
    let url = format!("{}/app/companies/{company}", crm.url);
    let mut samples = Vec::with_capacity(PAGE_SAMPLES);
    let mut body = String::new();
    for i in 0..PAGE_SAMPLES + 20 {
        let started = Instant::now();
        let response = http
            .get(&url)
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        body = response.text().await?;
        // The first requests warm the pools and caches.
        if i >= 20 {
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let items_on_page = body.matches("<li id=\"item-").count();
    anyhow::ensure!(
        items_on_page == 50,
        "the first page shows {items_on_page} items"
    );
    samples.sort_by(f64::total_cmp);
    Ok(PageFigures {
        samples: samples.len(),
        items_on_page,
        bytes: body.len(),
        p50_ms: tekup_bench::percentile(&samples, 0.50),
        p95_ms: tekup_bench::percentile(&samples, 0.95),
        max_ms: samples.last().copied().unwrap_or_default(),
    })
}

async fn seed(admin: &mut AsyncPgConnection, orgs: &[String]) -> anyhow::Result<()> {
    let mut companies = String::from("INSERT INTO crm.companies (id, org_id, cvr, name) VALUES ");
    let mut first = true;
    for (o, org) in orgs.iter().enumerate() {
        for c in 0..COMPANIES_PER_ORG {
            if !first {
                companies.push(',');
            }
            first = false;
            companies.push_str(&format!(
                "(gen_random_uuid(), '{org}', '{}', 'Firma {o}-{c} ApS')",
                cvr(c)
            ));
        }
    }
    admin.batch_execute(&companies).await?;
    let org_array = orgs
        .iter()
        .map(|o| format!("'{o}'::uuid"))
        .collect::<Vec<_>>()
        .join(",");
    let cvr_array = (0..COMPANIES_PER_ORG)
        .map(|c| format!("'{}'", cvr(c)))
        .collect::<Vec<_>>()
        .join(",");
    // Ids computed the same way here (see `contact_id`).
    admin
        .batch_execute(&format!(
            "INSERT INTO crm.contacts (id, org_id, cvr, first_name, last_name, email, title) \
             SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, \
               (ARRAY[{org_array}])[n % 4 + 1], (ARRAY[{cvr_array}])[(n / 4) % 25 + 1], \
               'Kontakt', 'Nr ' || n, 'kontakt' || n || '@firma.dk', 'Indkøber' \
             FROM generate_series(0, {}) AS n",
            CONTACTS - 1
        ))
        .await?;
    admin
        .batch_execute("ANALYZE crm.contacts; ANALYZE crm.companies")
        .await?;
    Ok(())
}

/// The server's log file (pg_ctl's `-l`, in the data directory).
async fn server_log(admin: &mut AsyncPgConnection) -> anyhow::Result<PathBuf> {
    use diesel::QueryableByName;
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Dir {
        #[diesel(sql_type = diesel::sql_types::Text)]
        setting: String,
    }
    let dir: Dir =
        diesel::sql_query("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
            .get_result(admin)
            .await?;
    let path = Path::new(&dir.setting).join("server.log");
    anyhow::ensure!(path.exists(), "no server log at {}", path.display());
    Ok(path)
}

/// A statement as crm sent it: its SQL (with `$n` placeholders) and the values logged for them.
#[derive(Debug, Clone, Default)]
struct Captured {
    sql: String,
    params: Vec<(usize, String)>,
}

/// The statements of the request's transaction (the one whose tenant settings name `org`),
/// from the server log after `offset`.
fn captured(log: &Path, offset: u64, org: &str) -> anyhow::Result<Vec<Captured>> {
    let mut file = std::fs::File::open(log)?;
    file.seek(SeekFrom::Start(offset))?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .collect();
    // Statements by process id: `... [pid] LOG:  execute <name>: SQL` + `DETAIL:  Parameters:
    // ...`. A connection serves one request after another: the request is the unit from its
    // BEGIN to its COMMIT.
    let mut units: Vec<(String, Vec<Captured>)> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut last: Option<usize> = None;
    for line in &lines {
        let pid = line
            .split('[')
            .nth(1)
            .and_then(|r| r.split(']').next())
            .unwrap_or("")
            .to_owned();
        let sql = if let Some((_, sql)) = line.split_once("LOG:  statement: ") {
            Some(sql.to_owned())
        } else {
            line.split_once("LOG:  execute ")
                .map(|(_, rest)| rest.split_once(": ").map_or(rest, |(_, s)| s).to_owned())
        };
        if let Some(sql) = sql {
            let unit = match open.get(&pid) {
                Some(&u) if sql != "BEGIN" => u,
                _ => {
                    units.push((pid.clone(), Vec::new()));
                    open.insert(pid.clone(), units.len() - 1);
                    units.len() - 1
                }
            };
            units[unit].1.push(Captured {
                sql,
                params: Vec::new(),
            });
            last = Some(unit);
        } else if let Some((_, params)) = line
            .split_once("DETAIL:  Parameters: ")
            .or_else(|| line.split_once("DETAIL:  parameters: "))
            && let Some(statement) = last.and_then(|u| units[u].1.last_mut())
        {
            statement.params = parse_params(params);
        }
    }
    units
        .into_iter()
        .map(|(_, statements)| statements)
        .find(|statements| {
            statements.iter().any(|s| {
                s.sql.contains("set_config") && s.params.iter().any(|(_, v)| v.contains(org))
            })
        })
        .with_context(|| {
            format!(
                "the request's statements are not in the server log; it holds:\n{}",
                lines
                    .iter()
                    .take(40)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
}

/// `$1 = 'a', $2 = NULL` as (1, `'a'`), (2, `NULL`): each value as an SQL literal.
fn parse_params(params: &str) -> Vec<(usize, String)> {
    let mut values: Vec<(usize, String)> = Vec::new();
    let mut rest = params;
    while let Some(start) = rest.find('$') {
        rest = &rest[start + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse::<usize>() else {
            break;
        };
        rest = rest[digits.len()..].trim_start_matches(" = ");
        let value = if let Some(quoted) = rest.strip_prefix('\'') {
            let mut out = String::from("'");
            let mut chars = quoted.char_indices().peekable();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        out.push_str("''");
                        chars.next();
                        continue;
                    }
                    end = i + 1;
                    break;
                }
                out.push(c);
            }
            out.push('\'');
            rest = &quoted[end.min(quoted.len())..];
            out
        } else {
            let token: String = rest.chars().take_while(|c| *c != ',').collect();
            rest = &rest[token.len()..];
            token.trim().to_owned()
        };
        values.push((n, value));
    }
    values
}

/// `sql` with each `$n` replaced by `value(n, literal)`, highest number first (so $1 does not
/// eat $10).
fn substitute(
    sql: &str,
    params: &[(usize, String)],
    mut value: impl FnMut(&str) -> String,
) -> String {
    let mut sorted: Vec<&(usize, String)> = params.iter().collect();
    sorted.sort_by_key(|v| std::cmp::Reverse(v.0));
    let mut out = sql.to_owned();
    for (n, literal) in sorted {
        out = out.replace(&format!("${n}"), &value(literal));
    }
    out
}

/// A pgbench script of the captured statements, with pgbench's `-D` variable definitions. The
/// record read varies per transaction (the same ids as the HTTP side); the created rows get
/// fresh ids (every uuid v7 but the tenant's).
///
/// `parameterized`: every other value is sent as a bind parameter (`:v1` ..., pgbench's
/// prepared mode), as crm sends it, so PostgreSQL plans the statements as it does crm's;
/// otherwise the values are written into the SQL as literals.
fn replay_script(
    kind: &str,
    statements: &[Captured],
    keep: &[String],
    parameterized: bool,
    sync_each: bool,
) -> (String, Vec<String>) {
    let mut script = String::new();
    let mut defines = Vec::new();
    if kind == "read" {
        script.push_str(&format!(
            "\\set n random(0, {})\n",
            CONTACTS / (ORGS * COMPANIES_PER_ORG) - 1
        ));
    }
    let read_id = format!("'{}'", contact_id(7 * ORGS * COMPANIES_PER_ORG));
    // crm sends BEGIN, the tenant settings and the access check together (pipelined), and a
    // read (`read_in_company!`) sends its queries and COMMIT with them: so does the replay.
    // `sync_each`: with a Sync after every statement, as crm's driver sends them.
    let whole = matches!(kind, "read" | "list");
    let mut pipelined = false;
    for (i, statement) in statements.iter().enumerate() {
        let starts = |s: &Captured, with: &str| s.sql.starts_with(with);
        let opening =
            |s: &Captured| starts(s, "SELECT set_config(") || starts(s, "SELECT can_access(");
        if statement.sql == "BEGIN" && statements.get(i + 1).is_some_and(opening) {
            script.push_str("\\startpipeline\n");
            pipelined = true;
        }
        let sql = substitute(&statement.sql, &statement.params, |literal| {
            if kind == "read" && literal == read_id {
                // The id of contact n*100, computed as `contact_id` does, in SQL.
                CONTACT_ID_SQL.to_owned()
            } else if kind == "create" && is_new_row_id(literal, keep) {
                "gen_random_uuid()".to_owned()
            } else if parameterized && literal != "NULL" {
                let value = literal
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .map_or_else(|| literal.to_owned(), |v| v.replace("''", "'"));
                defines.push(format!("v{}={value}", defines.len() + 1));
                format!(":v{}", defines.len())
            } else {
                literal.to_owned()
            }
        });
        script.push_str(sql.trim());
        script.push_str(";\n");
        let last = if whole {
            statement.sql == "COMMIT"
        } else {
            opening(statement) && !statements.get(i + 1).is_some_and(opening)
        };
        if pipelined && last {
            script.push_str("\\endpipeline\n");
            pipelined = false;
        } else if pipelined && sync_each {
            // crm's driver (tokio-postgres) ends every statement with a Sync, and PostgreSQL
            // answers each Sync with a flush of its own; pgbench's pipeline sends one Sync for
            // all of them unless told otherwise.
            script.push_str("\\syncpipeline\n");
        }
    }
    (script, defines)
}

/// A quoted uuid v7 (a new row's id or an event's), but not the organization's or the user's.
fn is_new_row_id(literal: &str, keep: &[String]) -> bool {
    literal
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .is_some_and(|v| {
            uuid::Uuid::parse_str(v).is_ok_and(|u| u.get_version_num() == 7)
                && !keep.iter().any(|k| k == v)
        })
}

/// pgbench running a replay script with its variable definitions.
fn pgbench_replay(
    bin: &Path,
    url: &str,
    (script, defines): &(String, Vec<String>),
    rate: Option<f64>,
) -> anyhow::Result<Figures> {
    let rate = rate.map(|r| format!("{r:.0}"));
    let mut args: Vec<&str> = defines.iter().flat_map(|d| ["-D", d.as_str()]).collect();
    if let Some(rate) = &rate {
        args.extend(["-R", rate.as_str()]);
    }
    pgbench_run(bin, url, &args, Some(script))
}

fn pgbench(bin: &Path, url: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(bin.join("pgbench"))
        .args(args)
        .arg(url)
        .output()
        .context("running pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "pgbench {args:?}: {}\n{}",
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(text)
}

/// pgbench at the benchmark's concurrency for its duration, prepared statements, per-
/// transaction latencies logged; `script`: a custom script instead of `args`' built-in.
fn pgbench_run(
    bin: &Path,
    url: &str,
    args: &[&str],
    script: Option<&str>,
) -> anyhow::Result<Figures> {
    let dir = std::env::temp_dir().join(format!("pgbench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let prefix = dir.join("tx");
    let clients = CLIENTS.to_string();
    let seconds = SECONDS.to_string();
    let mut all: Vec<String> = vec![
        "-M".into(),
        "prepared".into(),
        "-c".into(),
        clients,
        "-j".into(),
        "2".into(),
        "-T".into(),
        seconds,
        "-n".into(),
        "--log".into(),
        format!("--log-prefix={}", prefix.display()),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    if let Some(script) = script {
        let path = dir.join("script.sql");
        std::fs::write(&path, script)?;
        all.push("-f".into());
        all.push(path.display().to_string());
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let before: HashSet<String> = processes_named("postgres").into_iter().collect();
    let cpu_before = Cpu::pgbench();
    let out = pgbench(bin, url, &refs)?;
    // pgbench's backends end after it does. One that ended but was not yet reaped by the
    // postmaster is in neither its own ticks nor the postmaster's: its whole run would be
    // missed (seen once as 1 µs of PostgreSQL per transaction). So every backend that came
    // with the run must be gone first.
    let settled = Instant::now() + Duration::from_secs(5);
    while processes_named("postgres")
        .iter()
        .any(|pid| !before.contains(pid))
        && Instant::now() < settled
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu_after = Cpu::pgbench();
    let tps = out
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .context("pgbench printed no tps")?;
    let failed = out
        .lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    anyhow::ensure!(failed == 0, "pgbench: {failed} failed transactions:\n{out}");
    let mut samples = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tx"))
        {
            for line in std::fs::read_to_string(&path)?.lines() {
                // client_id transaction_no time script_no time_epoch time_us [schedule_lag]:
                // paced (-R), `time` counts from the scheduled start; the lag is taken off,
                // as the HTTP load generator counts from the moment it sends.
                let fields: Vec<f64> = line
                    .split_whitespace()
                    .map(|v| v.parse::<f64>().unwrap_or(0.0))
                    .collect();
                if let Some(us) = fields.get(2) {
                    samples.push((us - fields.get(6).copied().unwrap_or(0.0)) / 1000.0);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Figures {
        throughput_per_s: tps,
        cpu_us_per_request: cpu_after.since(&cpu_before, samples.len()),
        latency: Latency::from_ms(samples),
    })
}

/// One keep-alive HTTP/1.1 connection, as lean on the client's side as pgbench is on its: the
/// request's bytes written as they are, the response read to its `Content-Length`. So the load
/// generator's own CPU, which shares the machine with crm and PostgreSQL, stays small.
struct Connection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends `request` and reads its response; returns the status.
    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(request).await?;
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end])?;
                let status = head
                    .get(9..12)
                    .and_then(|s| s.parse::<u16>().ok())
                    .context("no status line")?;
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .context("a response without Content-Length")?;
                let total = end + 4 + length;
                while self.buffer.len() < total {
                    anyhow::ensure!(
                        self.stream.read_buf(&mut self.buffer).await? > 0,
                        "the connection closed mid-response"
                    );
                }
                self.buffer.drain(..total);
                return Ok(status);
            }
            anyhow::ensure!(
                self.stream.read_buf(&mut self.buffer).await? > 0,
                "the connection closed"
            );
        }
    }
}

/// The request of `kind` number `i`, as bytes on the wire.
fn request(kind: &str, i: usize, company: &str, token: &str) -> Vec<u8> {
    let per_company = CONTACTS / (ORGS * COMPANIES_PER_ORG);
    let (method, path, body) = match kind {
        "read" => (
            "GET",
            format!(
                "/v1/companies/{company}/contacts/{}",
                contact_id((i % per_company) * ORGS * COMPANIES_PER_ORG)
            ),
            String::new(),
        ),
        "list" => (
            "GET",
            format!("/v1/companies/{company}/contacts?limit=50"),
            String::new(),
        ),
        _ => (
            "POST",
            format!("/v1/companies/{company}/contacts"),
            json!({"first_name": "Bench", "last_name": format!("Ny {i}")}).to_string(),
        ),
    };
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {token}\r\n");
    if !body.is_empty() {
        head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

/// Keep-alive load on crm for the benchmark's duration at its concurrency (or paced at `rate`
/// requests per second overall); returns the figures and crm's highest resident memory. The
/// clients run on one thread of their own, as pgbench's do on its `-j` threads.
async fn load(
    crm: &Running,
    token: &str,
    kind: &str,
    company: &str,
    rate: Option<f64>,
) -> anyhow::Result<(Figures, f64)> {
    let addr: std::net::SocketAddr = crm
        .url
        .trim_start_matches("http://")
        .parse()
        .context("crm's address")?;
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let (token, kind_owned, company) = (token.to_owned(), kind.to_owned(), company.to_owned());
    let clients = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async move {
                let pause = rate.map(|r| Duration::from_secs_f64(CLIENTS as f64 / r));
                let runs = (0..CLIENTS).map(|client| {
                    let (token, kind, company) = (&token, &kind_owned, &company);
                    async move {
                        let mut connection = Connection::open(addr).await?;
                        let mut samples = Vec::new();
                        let mut i = client;
                        // Paced clients start staggered, so that requests arrive evenly.
                        let mut next = Instant::now()
                            + pause.map_or(Duration::ZERO, |p| {
                                p.mul_f64(client as f64 / CLIENTS as f64)
                            });
                        while Instant::now() < deadline {
                            if let Some(pause) = pause {
                                tokio::time::sleep_until(next.into()).await;
                                next += pause;
                            }
                            let bytes = request(kind, i, company, token);
                            let t = Instant::now();
                            let status = connection.exchange(&bytes).await?;
                            anyhow::ensure!((200..300).contains(&status), "{kind}: HTTP {status}");
                            samples.push(t.elapsed().as_secs_f64() * 1000.0);
                            i += CLIENTS;
                        }
                        Ok::<_, anyhow::Error>(samples)
                    }
                });
                let all = futures_util::future::try_join_all(runs).await?;
                Ok::<_, anyhow::Error>(all.into_iter().flatten().collect::<Vec<f64>>())
            })
    });
    let cpu_before = Cpu::http(crm);
    let mut rss: f64 = 0.0;
    while Instant::now() < deadline {
        rss = rss.max(crm.rss_mib());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let samples = tokio::task::spawn_blocking(move || clients.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the load generator panicked"))??;
    let elapsed = started.elapsed();
    let cpu = Cpu::http(crm).since(&cpu_before, samples.len());
    Ok((
        Figures {
            throughput_per_s: tekup_bench::rate(samples.len(), elapsed),
            latency: Latency::from_ms(samples),
            cpu_us_per_request: cpu,
        },
        rss,
    ))
}

fn print_table(
    raw: &Figures,
    kinds: &[Kind],
    half: (&Figures, &Figures),
    rss_idle: &HashMap<String, f64>,
    rss_load: f64,
) {
    println!("\ncrm over {CONTACTS} contacts, {CLIENTS} clients, {SECONDS} s each\n");
    println!(
        "{:<18} {:>10} {:>9} {:>9}   {:>10} {:>9} {:>9}   {:>11} {:>9}",
        "request",
        "replay/s",
        "p50 ms",
        "p99 ms",
        "http/s",
        "p50 ms",
        "p99 ms",
        "http/replay",
        "http/raw"
    );
    for k in kinds {
        println!(
            "{:<18} {:>10.0} {:>9.2} {:>9.2}   {:>10.0} {:>9.2} {:>9.2}   {:>11.2} {:>9.3}",
            k.kind,
            k.replay.throughput_per_s,
            k.replay.latency.p50_ms,
            k.replay.latency.p99_ms,
            k.http.throughput_per_s,
            k.http.latency.p50_ms,
            k.http.latency.p99_ms,
            k.http_over_replay,
            k.http_over_raw,
        );
        let one = &k.http_one_worker;
        println!(
            "{:<18} {:>10} {:>9} {:>9}   {:>10.0} {:>9.2} {:>9.2}   {:>11.2}   (one HTTP worker)",
            "",
            "",
            "",
            "",
            one.throughput_per_s,
            one.latency.p50_ms,
            one.latency.p99_ms,
            k.one_worker_over_replay,
        );
    }
    println!(
        "\nCPU per request (µs): replay = PostgreSQL + pgbench; http = PostgreSQL + load generator + crm"
    );
    for k in kinds {
        let (replay, http) = (&k.replay.cpu_us_per_request, &k.http.cpu_us_per_request);
        let literal = &k.replay_literal;
        println!(
            "  {:<18} replay {:>5.0} + {:>4.0} = {:>5.0}   http {:>5.0} + {:>4.0} + {:>5.0} = {:>5.0}",
            k.kind,
            replay.postgres,
            replay.client,
            replay.postgres + replay.client,
            http.postgres,
            http.client,
            http.crm.unwrap_or_default(),
            http.postgres + http.client + http.crm.unwrap_or_default(),
        );
        let one = &k.http_one_worker.cpu_us_per_request;
        println!(
            "  {:<18} {:>31}   one worker {:>5.0} + {:>4.0} + {:>5.0} = {:>5.0}",
            "",
            "",
            one.postgres,
            one.client,
            one.crm.unwrap_or_default(),
            one.postgres + one.client + one.crm.unwrap_or_default(),
        );
        let sync_each = &k.replay_sync_each;
        println!(
            "  {:<18} replay with a Sync after every statement, as crm's driver: {:.0}/s, {:.0} + {:.0} µs",
            "",
            sync_each.throughput_per_s,
            sync_each.cpu_us_per_request.postgres,
            sync_each.cpu_us_per_request.client,
        );
        println!(
            "  {:<18} replay with the values as literals (planned once): {:.0}/s, {:.0} + {:.0} µs",
            "",
            literal.throughput_per_s,
            literal.cpu_us_per_request.postgres,
            literal.cpu_us_per_request.client,
        );
    }
    println!(
        "\nraw (pgbench -S): {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        raw.throughput_per_s, raw.latency.p50_ms, raw.latency.p99_ms
    );
    let (half, replay_half) = half;
    println!(
        "read by id at half the peak: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms \
         (its replay at that rate: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms)",
        half.throughput_per_s,
        half.latency.p50_ms,
        half.latency.p99_ms,
        replay_half.throughput_per_s,
        replay_half.latency.p50_ms,
        replay_half.latency.p99_ms
    );
    let mut idle: Vec<_> = rss_idle.iter().collect();
    idle.sort_by(|a, b| a.0.cmp(b.0));
    let idle: Vec<String> = idle.iter().map(|(s, m)| format!("{s} {m:.1}")).collect();
    println!("RSS idle (MiB): {}", idle.join(", "));
    println!("RSS of crm under load (MiB): {rss_load:.1}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_parameters_are_put_back_into_their_statement() {
        let params = parse_params("$1 = 'it''s', $2 = NULL, $3 = '7', $10 = 'ten'");
        assert_eq!(
            substitute("SELECT $1, $2, $10 WHERE x = $3", &params, str::to_owned),
            "SELECT 'it''s', NULL, 'ten' WHERE x = '7'"
        );
    }

    #[test]
    fn a_replay_sends_values_as_parameters_makes_new_row_ids_afresh_and_keeps_the_tenants() {
        let org = "01a20b2a-ee82-71b3-b387-96dd4245fc25".to_owned();
        let statement = Captured {
            sql: "INSERT INTO t VALUES ($1, $2, $3, $4)".into(),
            params: parse_params(&format!(
                "$1 = '01a20b2b-0000-7000-8000-000000000001', $2 = '{org}', $3 = 'it''s', $4 = NULL"
            )),
        };
        let keep = std::slice::from_ref(&org);
        let (script, defines) = replay_script(
            "create",
            std::slice::from_ref(&statement),
            keep,
            true,
            false,
        );
        assert_eq!(
            script,
            "INSERT INTO t VALUES (gen_random_uuid(), :v2, :v1, NULL);\n"
        );
        // Numbered as substituted: the highest placeholder first.
        assert_eq!(defines, ["v1=it's".to_owned(), format!("v2={org}")]);
        let (script, defines) = replay_script("create", &[statement], keep, false, false);
        assert_eq!(
            script,
            format!("INSERT INTO t VALUES (gen_random_uuid(), '{org}', 'it''s', NULL);\n")
        );
        assert!(defines.is_empty());
    }

    #[test]
    fn contact_ids_are_what_sql_computes() {
        assert_eq!(
            contact_id(700).to_string(),
            "00000000-0000-4000-8000-0000000002bc"
        );
        assert_eq!(cvr(0).len(), 8);
    }
}

/// crm's own `http_request_duration_seconds` histogram for reading one contact: cumulative
/// counts by upper bound (seconds).
#[derive(Debug, Default)]
struct Durations(Vec<(f64, f64)>);

async fn read_durations(http: &reqwest::Client, crm: &Running) -> anyhow::Result<Durations> {
    let text = http
        .get(format!("{}/metrics", crm.url))
        .send()
        .await?
        .text()
        .await?;
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| {
        l.starts_with("http_request_duration_seconds_bucket")
            && l.contains(r#"method="GET""#)
            && l.contains("/contacts/{id}")
    }) {
        let le = line
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(|v| {
                if v == "+Inf" {
                    f64::INFINITY
                } else {
                    v.parse().unwrap_or(f64::NAN)
                }
            });
        let count = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(le), Some(count)) = (le, count) {
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, c)) => *c += count,
                None => buckets.push((le, count)),
            }
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Durations(buckets))
}

impl Durations {
    fn since(&self, before: &Self) -> Self {
        Self(
            self.0
                .iter()
                .map(|(le, count)| {
                    let earlier = before.0.iter().find(|(b, _)| b == le).map_or(0.0, |b| b.1);
                    (*le, count - earlier)
                })
                .collect(),
        )
    }

    /// The bucket bound below which fraction `q` of the requests finished, as text.
    fn quantile(&self, q: f64) -> String {
        let total = self.0.last().map_or(0.0, |b| b.1);
        match self
            .0
            .iter()
            .find(|(_, count)| total > 0.0 && *count >= q * total)
        {
            Some((le, _)) if le.is_finite() => format!("≤ {:.1} ms", le * 1000.0),
            Some(_) => "over the last bucket".to_owned(),
            None => "no requests".to_owned(),
        }
    }
}

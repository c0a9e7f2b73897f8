//! Vector search at scale, side by side in one run: vault's HTTP `/v1/search` against the same
//! query in raw SQL, with recall@10 against exact search.
//!
//! `make bench-vault` (or `scripts/platform.sh bench-vault [VECTORS]`): one organization, N
//! chunks (default 100 000) of real-looking service-business text, embedded by the real local
//! model (cached under `target/bench/` for reruns), spread over 50 companies (2 % each).
//! Scenarios: a company filter through vault's default strategy (exact under the threshold),
//! the same filter forced through HNSW with iterative scans, and the whole organization.
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use diesel::QueryableByName;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::Serialize;
use serde_json::{Value, json};
use tekup_bench::percentile;
use tekup_embed::MiniLm;
use tekup_testkit::{TestApp, TestDb, spawn_app_on};
use uuid::Uuid;

const COMPANIES: usize = 50;
const QUERIES: usize = 200;
const K: usize = 10;
const OPERATOR: &str = "bench-operator";

fn main() -> anyhow::Result<()> {
    let vectors: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()
        .context("the argument is the number of vectors")?
        .unwrap_or(100_000);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(vectors))
}

/// Real-looking text of a Danish cleaning business's customers, in English (the local model's
/// language): requests, complaints, quotes, schedules and invoices with varied details.
fn text(i: usize, seed: u64) -> String {
    const SERVICES: &[&str] = &[
        "window cleaning",
        "office cleaning",
        "stairwell cleaning",
        "carpet shampooing",
        "move-out cleaning",
        "deep cleaning of the kitchen",
        "floor polishing",
        "cleaning after renovation",
        "weekly home cleaning",
        "graffiti removal",
        "gutter cleaning",
        "facade washing",
        "cleaning of the canteen",
        "toilet hygiene service",
        "waste room cleaning",
        "hospital-grade disinfection",
        "school classroom cleaning",
    ];
    const ACTS: &[&str] = &[
        "The customer asked for a quote on",
        "We confirmed the booking of",
        "A complaint came in about",
        "The invoice was sent for",
        "They want to cancel",
        "The property manager asked to reschedule",
        "The tenant praised",
        "We need two extra staff for",
        "Please send a price estimate for",
        "The contract renewal includes",
        "The chatbot lead asked about",
    ];
    const PLACES: &[&str] = &[
        "their office in Aarhus",
        "the warehouse in Vejle",
        "a villa in Hellerup",
        "the dental clinic in Odense",
        "the school in Aalborg",
        "a restaurant in Copenhagen",
        "the housing association in Randers",
        "a law firm in Kolding",
        "the gym in Horsens",
        "a shop on the high street",
        "the kindergarten in Silkeborg",
        "the hotel by the harbour",
    ];
    const WHEN: &[&str] = &[
        "every Monday morning",
        "twice a month",
        "before the summer holiday",
        "on Saturdays only",
        "after 6 pm when the staff have left",
        "next Thursday",
        "once a quarter",
        "as soon as possible",
        "during the Christmas week",
    ];
    const DETAILS: &[&str] = &[
        "The previous provider missed several visits.",
        "They are unhappy with streaks on the glass.",
        "Payment is due within 14 days.",
        "The price should include materials.",
        "Keys are collected at the reception.",
        "They have a dog, so use the back door.",
        "The area is about 450 square metres.",
        "Eco-labelled products are required.",
        "The budget is tight this year.",
        "They were very satisfied last time.",
        "Parking is difficult in the street.",
        "The alarm code changes every month.",
    ];
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
    let mut pick = |n: usize| {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 29;
        (x % n as u64) as usize
    };
    format!(
        "{} {} at {} {}. {} {} Reference {}-{}.",
        ACTS[pick(ACTS.len())],
        SERVICES[pick(SERVICES.len())],
        PLACES[pick(PLACES.len())],
        WHEN[pick(WHEN.len())],
        DETAILS[pick(DETAILS.len())],
        DETAILS[pick(DETAILS.len())],
        ["QT", "INV", "BK", "CX"][pick(4)],
        1000 + pick(9000),
    )
}

/// Embeds `n` texts on every core, cached in `target/bench/` (the model is deterministic).
fn embed_all(
    model: &Arc<MiniLm>,
    n: usize,
    seed: u64,
    name: &str,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../target/bench/{name}-{n}-{seed}.f32"));
    if let Ok(bytes) = std::fs::read(&cache)
        && bytes.len() == n * 384 * 4
    {
        println!(
            "  {name}: {n} embeddings from the cache ({})",
            cache.display()
        );
        return Ok(bytes
            .chunks_exact(384 * 4)
            .map(|v| {
                v.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            })
            .collect());
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut out = vec![Vec::new(); n];
    std::thread::scope(|scope| {
        for (t, part) in out.chunks_mut(n.div_ceil(threads)).enumerate() {
            let model = model.clone();
            let done = &done;
            let base = t * n.div_ceil(threads);
            scope.spawn(move || {
                for (j, slot) in part.iter_mut().enumerate() {
                    *slot = model.embed(&text(base + j, seed));
                    let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if d.is_multiple_of(10_000) {
                        println!(
                            "  {name}: {d}/{n} embedded ({:.0}/s)",
                            d as f64 / started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    println!(
        "  {name}: {n} embedded in {:.1} s ({:.0} texts/s on {threads} threads)",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(cache.parent().context("cache dir")?)?;
    let bytes: Vec<u8> = out.iter().flatten().flat_map(|f| f.to_le_bytes()).collect();
    std::fs::write(&cache, bytes)?;
    Ok(out)
}

fn literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", parts.join(","))
}

/// The `i`-th valid CVR number (mod-11 check digit) from 30 000 000 on.
fn cvr(i: usize) -> String {
    (30_000_000..)
        .map(|n: u32| n.to_string())
        .filter(|c| tekup_types::Cvr::parse(c).is_ok())
        .nth(i)
        .unwrap_or_default()
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    document_id: Uuid,
}

#[derive(Debug, Serialize)]
struct Figures {
    scenario: &'static str,
    /// How vault searched (its response's `strategy`).
    strategy: String,
    http_p50_ms: f64,
    http_p95_ms: f64,
    sql_p50_ms: f64,
    sql_p95_ms: f64,
    http_recall_at_10: f64,
    sql_recall_at_10: f64,
    exact_p50_ms: f64,
}

async fn run(vectors: usize) -> anyhow::Result<()> {
    let model_dir =
        std::env::var("TEKUP_TEST_MODEL_DIR").context("run through `make bench-vault`")?;
    let model =
        Arc::new(MiniLm::load(std::path::Path::new(&model_dir)).map_err(anyhow::Error::msg)?);
    println!(
        "vault search benchmark: {vectors} vectors (384 dims), {COMPANIES} companies, {QUERIES} queries, k = {K}"
    );
    let corpus = embed_all(&model, vectors, 1, "corpus")?;
    let queries = embed_all(&model, QUERIES, 7, "queries")?;

    let db = Arc::new(TestDb::new().await?);
    let seed = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let shared = spawn_app_on::<shared::Shared>(
        db.clone(),
        &[
            ("APP__ADMIN_TOKEN", OPERATOR),
            ("APP__JWT__SIGNING_KEY", &seed),
            ("EVENTS__BROKERS", ""),
        ],
    )
    .await?;
    let client = reqwest::Client::new();
    let org: Value = client
        .post(shared.at("/v1/organizations"))
        .bearer_auth(OPERATOR)
        .json(&json!({"name": "Bench ApS"}))
        .send()
        .await?
        .json()
        .await?;
    let org_id: Uuid = org["id"].as_str().context("org id")?.parse()?;
    client
        .post(shared.at(&format!("/v1/organizations/{org_id}/users")))
        .bearer_auth(OPERATOR)
        .json(
            &json!({"email": "admin@bench.dk", "password": "bench-password-1", "first_name": "B",
                      "last_name": "Ench", "role": "admin"}),
        )
        .send()
        .await?
        .error_for_status()?;
    let login: Value = client
        .post(shared.at("/v1/auth/login"))
        .json(&json!({"email": "admin@bench.dk", "password": "bench-password-1"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("token")?.to_owned();

    // Load the corpus as the administrator: documents, chunks, embeddings, then the index.
    let mut admin = AsyncPgConnection::establish(&db.admin_url()?).await?;
    admin
        .batch_execute(
            "INSERT INTO vault.embedding_spaces (model, dimensions) VALUES ('all-MiniLM-L6-v2', 384)",
        )
        .await?;
    let companies: Vec<String> = (0..COMPANIES).map(cvr).collect();
    let started = Instant::now();
    for (b, batch) in corpus.chunks(2_000).enumerate() {
        let base = b * 2_000;
        let ids: Vec<String> = (0..batch.len())
            .map(|_| Uuid::now_v7().to_string())
            .collect();
        let texts: Vec<String> = (0..batch.len()).map(|j| text(base + j, 1)).collect();
        let cvrs: Vec<String> = (0..batch.len())
            .map(|j| companies[(base + j) % COMPANIES].clone())
            .collect();
        let vecs: Vec<String> = batch.iter().map(|v| literal(v)).collect();
        let sql = format!(
            "WITH rows AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) \
               AS r(id, cvr, content, vec)), \
             d AS (INSERT INTO vault.documents (id, org_id, cvr, kind, source, repository, path, \
                   name, content_type, indexed_version, indexed_space, indexed_at) \
                   SELECT id, '{org_id}', cvr, 'document', 'bench', 'corpus', id::text, \
                   'doc ' || id, 'text/plain', 1, 1, now() FROM rows RETURNING id), \
             v AS (INSERT INTO vault.document_versions (document_id, version, org_id, cvr, \
                   raw_content, content_type, byte_size, sha256) \
                   SELECT id, 1, '{org_id}', cvr, content, 'text/plain', length(content), \
                   repeat('0', 64) FROM rows RETURNING 1), \
             c AS (INSERT INTO vault.chunks (id, document_id, org_id, cvr, kind, occurred_at, \
                   version, ordinal, content) SELECT id, id, '{org_id}', cvr, 'document', now(), \
                   1, 0, content FROM rows RETURNING 1) \
             INSERT INTO vault.embeddings (chunk_id, space_id, document_id, org_id, cvr, kind, \
               occurred_at, embedding) \
             SELECT id, 1, id, '{org_id}', cvr, 'document', now(), vec::vector FROM rows"
        );
        diesel::sql_query(sql)
            .bind::<Array<Text>, _>(&ids)
            .bind::<Array<Text>, _>(&cvrs)
            .bind::<Array<Text>, _>(&texts)
            .bind::<Array<Text>, _>(&vecs)
            .execute(&mut admin)
            .await?;
    }
    println!(
        "  loaded {vectors} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    admin
        .batch_execute(
            "SET maintenance_work_mem = '2GB'; SET max_parallel_maintenance_workers = 2; \
             CREATE INDEX embeddings_space_1_hnsw ON vault.embeddings \
             USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE space_id = 1; \
             ANALYZE vault.embeddings; ANALYZE vault.chunks; ANALYZE vault.documents",
        )
        .await?;
    println!(
        "  HNSW index (m=16, ef_construction=64) built in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let jwks = shared.at("/.well-known/jwks.json");
    let vault_default = spawn_app_on::<vault::Vault>(
        db.clone(),
        &[
            ("AUTH__JWKS_URL", &jwks),
            ("EVENTS__BROKERS", ""),
            ("APP__INDEXER__ENABLED", "false"),
        ],
    )
    .await?;
    let vault_index = spawn_app_on::<vault::Vault>(
        db.clone(),
        &[
            ("AUTH__JWKS_URL", &jwks),
            ("EVENTS__BROKERS", ""),
            ("APP__INDEXER__ENABLED", "false"),
            ("APP__SEARCH__EXACT_BELOW", "0"),
        ],
    )
    .await?;

    // A viewer who reaches the companies through grants (the projection vault keeps from
    // shared's events, written directly here: this run has no broker).
    let viewer: Value = client
        .post(shared.at(&format!("/v1/organizations/{org_id}/users")))
        .bearer_auth(OPERATOR)
        .json(
            &json!({"email": "viewer@bench.dk", "password": "bench-password-1", "first_name": "V",
                      "last_name": "Iewer", "role": "viewer"}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let viewer_id: Uuid = viewer["id"].as_str().context("viewer id")?.parse()?;
    let login: Value = client
        .post(shared.at("/v1/auth/login"))
        .json(&json!({"email": "viewer@bench.dk", "password": "bench-password-1"}))
        .send()
        .await?
        .json()
        .await?;
    let viewer_token = login["access_token"].as_str().context("token")?.to_owned();
    diesel::sql_query(
        "INSERT INTO vault.access_grants (org_id, user_id, cvr, level, updated_at) \
         SELECT $1, $2, cvr, 'read', now() FROM unnest($3::text[]) AS cvr",
    )
    .bind::<diesel::sql_types::Uuid, _>(org_id)
    .bind::<diesel::sql_types::Uuid, _>(viewer_id)
    .bind::<Array<Text>, _>(&companies)
    .execute(&mut admin)
    .await?;

    let mut figures = Vec::new();
    let scenarios: [(&'static str, &TestApp, &str, bool, bool); 5] = [
        (
            "company filter (2 %), admin",
            &vault_default,
            &token,
            true,
            false,
        ),
        (
            "company filter (2 %), admin, exact_below=0",
            &vault_index,
            &token,
            true,
            true,
        ),
        (
            "company filter (2 %), granted viewer",
            &vault_default,
            &viewer_token,
            true,
            false,
        ),
        (
            "whole organization (100 %), admin",
            &vault_default,
            &token,
            false,
            true,
        ),
        (
            "all 50 granted companies, viewer",
            &vault_default,
            &viewer_token,
            false,
            true,
        ),
    ];
    for (scenario, app, user, filtered, indexed) in scenarios {
        figures.push(
            scenario_run(
                scenario, app, &client, user, &mut admin, org_id, &queries, filtered, indexed,
            )
            .await?,
        );
    }
    println!();
    println!(
        "{:<44} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "scenario",
        "strategy",
        "http p50",
        "http p95",
        "sql p50",
        "sql p95",
        "http r@10",
        "sql r@10",
        "exact p50"
    );
    for f in &figures {
        println!(
            "{:<44} {:>8} {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>9.3} {:>8.3} {:>7.2}ms",
            f.scenario,
            f.strategy,
            f.http_p50_ms,
            f.http_p95_ms,
            f.sql_p50_ms,
            f.sql_p95_ms,
            f.http_recall_at_10,
            f.sql_recall_at_10,
            f.exact_p50_ms
        );
    }
    let path = tekup_bench::save("vault-search", &figures)?;
    println!("\nrecorded in {}", path.display());
    drop((vault_default, vault_index, shared));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn scenario_run(
    scenario: &'static str,
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    admin: &mut AsyncPgConnection,
    org_id: Uuid,
    queries: &[Vec<f32>],
    filtered: bool,
    indexed: bool,
) -> anyhow::Result<Figures> {
    let (mut http, mut sql, mut exact) = (Vec::new(), Vec::new(), Vec::new());
    let (mut http_recall, mut sql_recall) = (0.0, 0.0);
    let mut strategy = String::new();
    for (i, q) in queries.iter().enumerate() {
        let query_text = text(i, 7);
        let company = cvr(i % COMPANIES);
        let filter = if filtered {
            format!(" AND cvr = '{company}'")
        } else {
            String::new()
        };
        let vector = literal(q);
        // Exact: every row in scope compared (no index: the untyped column).
        let t = Instant::now();
        let truth: Vec<Id> = diesel::sql_query(format!(
            "SELECT document_id FROM vault.embeddings WHERE space_id = 1 AND org_id = '{org_id}'{filter} \
             ORDER BY embedding <=> '{vector}' LIMIT {K}"
        ))
        .load(admin)
        .await?;
        exact.push(t.elapsed().as_secs_f64() * 1e3);
        let truth: HashSet<Uuid> = truth.into_iter().map(|r| r.document_id).collect();
        // Raw SQL of the same plan vault uses.
        let raw = format!(
            "SELECT document_id FROM vault.embeddings WHERE space_id = 1 AND org_id = '{org_id}'{filter} \
             ORDER BY embedding <=> '{vector}' LIMIT {K}"
        );
        let t = Instant::now();
        let got: Vec<Id> = if indexed {
            admin
                .transaction::<_, diesel::result::Error, _>(async |conn| {
                    conn.batch_execute(
                        "SET LOCAL hnsw.ef_search = 100; SET LOCAL hnsw.iterative_scan = relaxed_order; \
                         SET LOCAL hnsw.max_scan_tuples = 20000",
                    )
                    .await?;
                    diesel::sql_query(format!(
                        "WITH hits AS MATERIALIZED (SELECT document_id, (embedding::vector(384)) <=> '{vector}'::vector(384) AS d \
                         FROM vault.embeddings WHERE space_id = 1 AND org_id = '{org_id}'{filter} \
                         ORDER BY (embedding::vector(384)) <=> '{vector}'::vector(384) LIMIT 60) \
                         SELECT document_id FROM hits ORDER BY d LIMIT {K}"
                    ))
                    .load(conn)
                    .await
                })
                .await?
        } else {
            diesel::sql_query(raw).load(admin).await?
        };
        sql.push(t.elapsed().as_secs_f64() * 1e3);
        sql_recall += recall(&truth, got.iter().map(|r| r.document_id));
        let mut body = json!({"query": query_text, "mode": "semantic", "limit": K});
        if filtered {
            body["cvrs"] = json!([company]);
        }
        // Warm the query cache: the model's time is not the database's (it is reported with
        // the embedding rate above).
        client
            .post(app.at("/v1/search"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let t = Instant::now();
        let found: Value = client
            .post(app.at("/v1/search"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        http.push(t.elapsed().as_secs_f64() * 1e3);
        strategy = found["strategy"].as_str().unwrap_or_default().to_owned();
        let ids = found["results"]
            .as_array()
            .context("results")?
            .iter()
            .filter_map(|r| r["document_id"].as_str()?.parse().ok());
        http_recall += recall(&truth, ids);
    }
    let p = |mut v: Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        percentile(&v, q)
    };
    let n = queries.len() as f64;
    let f = Figures {
        scenario,
        strategy,
        http_p50_ms: p(http.clone(), 0.5),
        http_p95_ms: p(http, 0.95),
        sql_p50_ms: p(sql.clone(), 0.5),
        sql_p95_ms: p(sql, 0.95),
        http_recall_at_10: http_recall / n,
        sql_recall_at_10: sql_recall / n,
        exact_p50_ms: p(exact, 0.5),
    };
    println!("  {scenario}: done");
    Ok(f)
}

fn recall(truth: &HashSet<Uuid>, got: impl Iterator<Item = Uuid>) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    got.take(K).filter(|id| truth.contains(id)).count() as f64 / truth.len() as f64
}

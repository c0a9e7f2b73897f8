//! `make bench-events`: the event backbone against the raw broker, side by side, in one run.
//!
//! - raw: an idempotent producer (the relay's own settings) and a consumer group, the same
//!   payload size as our envelopes; throughput of produce → consume, and latency at a fixed rate;
//! - ours: outbox rows → relay → broker → consumer (inbox row + handler write in one
//!   transaction, offset stored after); throughput draining a pre-filled outbox, and commit →
//!   applied latency at the same fixed rate.
//!
//! Settings: BENCH_EVENTS (default 10000), BENCH_RATE (events/s, default 200), BENCH_SECONDS
//! (default 10). Prints a table and writes target/bench/events.json.

#![allow(clippy::print_stdout)] // a benchmark's output is its report

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::BoxFuture;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use tekup_bench::{Latency, rate, save};
use tekup_db::{Pool, Service};
use tekup_events::consumer::{Consumer, HandleError, Handler};
use tekup_events::outbox::{self, Outgoing};
use tekup_events::relay::Relay;
use tekup_events::{Event, EventsConfig, Subscription, kafka};
use tekup_proto::Message;
use tekup_proto::crm::v1::CompanyRecorded;
use tekup_testkit::TestDb;
use tokio::sync::watch;

const SERVICE: Service = Service::Crm;
const TOPIC: &str = "bench.company";

fn setting(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("{name}={value} is not a whole number")),
        Err(_) => Ok(default),
    }
}

fn payload(aggregate: &str) -> CompanyRecorded {
    CompanyRecorded {
        company_id: aggregate.to_owned(),
        org_id: uuid::Uuid::now_v7().to_string(),
        cvr: "13585628".into(),
        name: "Rengøring Nord ApS".into(),
    }
}

/// Inserts one row per event: the same kind of work a projection does.
struct Applier;

impl Handler for Applier {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            diesel::sql_query("INSERT INTO bench_applied (event_id) VALUES ($1)")
                .bind::<diesel::sql_types::Uuid, _>(event.id)
                .execute(conn)
                .await?;
            Ok(())
        })
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn applied(pool: &Pool) -> anyhow::Result<i64> {
    let mut conn = pool.get().await?;
    let row: Count = diesel::sql_query("SELECT count(*) AS n FROM bench_applied")
        .get_result(&mut conn)
        .await?;
    Ok(row.n)
}

async fn wait_applied(pool: &Pool, target: i64, limit: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if applied(pool).await? >= target {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {target} events applied within {limit:?}",
                applied(pool).await?
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// When the outbox has nothing unpublished left.
async fn wait_relayed(pool: &Pool, limit: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        let mut conn = pool.get().await?;
        let row: Count =
            diesel::sql_query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
                .get_result(&mut conn)
                .await?;
        if row.n == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{} events still unpublished after {limit:?}", row.n);
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn commit_one(pool: &Pool, aggregate: &str) -> anyhow::Result<()> {
    let mut conn = pool.get().await?;
    let event = payload(aggregate);
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        outbox::publish(
            conn,
            Outgoing {
                topic: TOPIC,
                org_id: None,
                cvr: None,
                subject: aggregate,
                payload: &event,
            },
        )
        .await
    })
    .await?;
    Ok(())
}

#[derive(Serialize)]
struct Record {
    payload_bytes: usize,
    events: usize,
    rate_per_sec: u64,
    seconds: u64,
    partitions: i32,
    raw_throughput_per_sec: f64,
    ours_throughput_per_sec: f64,
    throughput_ratio: f64,
    /// Outbox → broker acknowledged, the relay alone (the consumer runs meanwhile).
    relay_throughput_per_sec: f64,
    raw_latency: Latency,
    ours_latency: Latency,
    p50_ratio: f64,
    p99_ratio: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = usize::try_from(setting("BENCH_EVENTS", 10_000)?)?;
    let per_second = setting("BENCH_RATE", 200)?;
    let seconds = setting("BENCH_SECONDS", 10)?;

    let db = TestDb::new().await?;
    let config = EventsConfig {
        partitions: 3,
        ..db.events()
    };
    if !config.enabled() {
        bail!("no broker: run through `make bench-events`");
    }
    let pool = db.pool(SERVICE)?;
    pool.get()
        .await?
        .batch_execute(
            "CREATE TABLE bench_applied (event_id uuid PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT clock_timestamp())",
        )
        .await?;
    let producer = kafka::producer(&config, "bench")?;
    let envelope_bytes = sample_envelope_size();
    eprintln!(
        "bench-events: {events} events, {per_second}/s for {seconds}s, envelope {envelope_bytes} B, {} partitions",
        config.partitions
    );

    eprintln!("raw broker: throughput");
    let raw_throughput = raw_throughput(&config, &producer, events, envelope_bytes).await?;
    eprintln!("raw broker: latency at {per_second}/s");
    let raw_latency = raw_latency(&config, &producer, per_second, seconds, envelope_bytes).await?;

    // Our path: consumer running and warmed up before anything is measured.
    let (stop, stopped) = watch::channel(false);
    let consumer = Consumer::new(
        SERVICE,
        Subscription {
            name: "bench".into(),
            topics: vec![TOPIC.into()],
            handler: Arc::new(Applier),
        },
        pool.clone(),
        producer.clone(),
        config.clone(),
    );
    let consuming = tokio::spawn(consumer.run(stopped.clone()));
    let relay = Relay::new(
        SERVICE,
        pool.clone(),
        db.url(SERVICE),
        producer.clone(),
        config.clone(),
    );
    commit_one(&pool, "warm-up").await?;
    while relay.publish_batch().await? > 0 {}
    wait_applied(&pool, 1, Duration::from_secs(60)).await?;

    eprintln!("ours: filling the outbox with {events} events");
    {
        let mut conn = pool.get().await?;
        for chunk in (0..events).collect::<Vec<_>>().chunks(500) {
            conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                for n in chunk {
                    let aggregate = format!("company-{}", n % 100);
                    outbox::publish(
                        conn,
                        Outgoing {
                            topic: TOPIC,
                            org_id: None,
                            cvr: None,
                            subject: &aggregate,
                            payload: &payload(&aggregate),
                        },
                    )
                    .await?;
                }
                Ok(())
            })
            .await?;
        }
    }
    eprintln!("ours: throughput (relay + consumer draining the outbox)");
    let started = Instant::now();
    let relaying = tokio::spawn(relay.run(stopped.clone()));
    let relayed = wait_relayed(&pool, Duration::from_secs(600)).await?;
    let target = i64::try_from(events)? + 1;
    let finished = wait_applied(&pool, target, Duration::from_secs(600)).await?;
    let ours_throughput = rate(events, finished - started);
    let relay_throughput = rate(events, relayed - started);

    eprintln!("ours: latency at {per_second}/s");
    let interval = Duration::from_secs_f64(1.0 / f64::from(u32::try_from(per_second)?));
    let mut ticker = tokio::time::interval(interval);
    let total = usize::try_from(per_second * seconds)?;
    for n in 0..total {
        ticker.tick().await;
        commit_one(&pool, &format!("latency-{}", n % 100)).await?;
    }
    wait_applied(
        &pool,
        target + i64::try_from(total)?,
        Duration::from_secs(120),
    )
    .await?;
    let ours_latency = Latency::from_ms(latencies(&pool).await?);

    stop.send(true)?;
    relaying.await?;
    consuming.await??;

    let record = Record {
        payload_bytes: envelope_bytes,
        events,
        rate_per_sec: per_second,
        seconds,
        partitions: config.partitions,
        raw_throughput_per_sec: raw_throughput,
        ours_throughput_per_sec: ours_throughput,
        throughput_ratio: ours_throughput / raw_throughput,
        relay_throughput_per_sec: relay_throughput,
        p50_ratio: ours_latency.p50_ms / raw_latency.p50_ms,
        p99_ratio: ours_latency.p99_ms / raw_latency.p99_ms,
        raw_latency,
        ours_latency,
    };
    print(&record);
    let path = save("events", &record)?;
    println!("\nwritten to {}", path.display());
    Ok(())
}

fn print(r: &Record) {
    println!();
    println!(
        "event backbone, {} B envelopes, {} partitions",
        r.payload_bytes, r.partitions
    );
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "", "raw broker", "ours", "ratio"
    );
    println!(
        "{:<44} {:>12.0} {:>12.0} {:>8.2}",
        format!("throughput, {} events (msg/s)", r.events),
        r.raw_throughput_per_sec,
        r.ours_throughput_per_sec,
        r.throughput_ratio
    );
    println!(
        "{:<44} {:>12} {:>12.0} {:>8.2}",
        "  of which relay: outbox -> broker acked",
        "",
        r.relay_throughput_per_sec,
        r.relay_throughput_per_sec / r.raw_throughput_per_sec
    );
    println!(
        "{:<44} {:>12.2} {:>12.2} {:>8.2}",
        format!(
            "latency p50 at {}/s for {} s (ms)",
            r.rate_per_sec, r.seconds
        ),
        r.raw_latency.p50_ms,
        r.ours_latency.p50_ms,
        r.p50_ratio
    );
    println!(
        "{:<44} {:>12.2} {:>12.2} {:>8.2}",
        "latency p99 (ms)", r.raw_latency.p99_ms, r.ours_latency.p99_ms, r.p99_ratio
    );
    println!(
        "{:<44} {:>12.2} {:>12.2}",
        "latency max (ms)", r.raw_latency.max_ms, r.ours_latency.max_ms
    );
}

fn sample_envelope_size() -> usize {
    let event = payload("company-0");
    tekup_proto::Envelope {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: "tekup.crm.v1.CompanyRecorded".into(),
        source: "crm".into(),
        org_id: uuid::Uuid::now_v7().to_string(),
        subject: "company-0".into(),
        occurred_at: Some(tekup_proto::prost_types::Timestamp::default()),
        traceparent: format!("00-{}-{}-01", "a".repeat(32), "b".repeat(16)),
        tracestate: String::new(),
        payload: event.encode_to_vec(),
        actor_id: uuid::Uuid::now_v7().to_string(),
        cvr: "13585628".into(),
    }
    .encode_to_vec()
    .len()
}

/// Commit → applied, from the database's own clock at both ends (outbox insert time, inbox
/// handler time), for the fixed-rate phase.
async fn latencies(pool: &Pool) -> anyhow::Result<Vec<f64>> {
    #[derive(QueryableByName)]
    struct Sample {
        #[diesel(sql_type = Double)]
        ms: f64,
    }
    let mut conn = pool.get().await?;
    let rows: Vec<Sample> = diesel::sql_query(
        "SELECT (extract(epoch FROM a.applied_at - o.created_at) * 1000)::float8 AS ms \
         FROM bench_applied a JOIN outbox o ON o.id = a.event_id WHERE o.aggregate_id LIKE $1",
    )
    .bind::<Text, _>("latency-%")
    .load(&mut conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.ms).collect())
}

fn raw_consumer(config: &EventsConfig, topic: &str) -> anyhow::Result<StreamConsumer> {
    let physical = config.physical(topic);
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", format!("{physical}.raw"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .set("session.timeout.ms", config.session_timeout_ms.to_string())
        .set(
            "heartbeat.interval.ms",
            (config.session_timeout_ms / 3).to_string(),
        )
        .set("fetch.wait.max.ms", config.fetch_wait_max_ms.to_string())
        .create()?;
    consumer.subscribe(&[physical.as_str()])?;
    Ok(consumer)
}

/// Produces a warm-up message until the consumer sees one, so group joining is not timed.
async fn warm_up(
    consumer: &StreamConsumer,
    producer: &FutureProducer,
    physical: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        producer
            .send(
                FutureRecord::to(physical).key("warm-up").payload("warm-up"),
                Duration::from_secs(5),
            )
            .await
            .map_err(|(err, _)| err)?;
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await {
            // Drain the other warm-up messages.
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(300), consumer.recv()).await
            {
            }
            return Ok(());
        }
    }
    bail!("the raw consumer never received a message")
}

async fn raw_throughput(
    config: &EventsConfig,
    producer: &FutureProducer,
    events: usize,
    size: usize,
) -> anyhow::Result<f64> {
    let topic = "bench.raw";
    kafka::ensure_topics(config, &[topic.to_owned()]).await?;
    let physical = config.physical(topic);
    let consumer = raw_consumer(config, topic)?;
    warm_up(&consumer, producer, &physical).await?;

    let counting = tokio::spawn(async move {
        let mut received = 0;
        while received < events {
            consumer.recv().await?;
            received += 1;
        }
        anyhow::Ok(Instant::now())
    });
    let body = vec![b'x'; size];
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(events);
    for n in 0..events {
        let key = format!("company-{}", n % 100);
        loop {
            match producer.send_result(FutureRecord::to(&physical).key(&key).payload(&body)) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((err, _)) => {
                    // Queue full: let some deliveries complete first.
                    if deliveries.is_empty() {
                        return Err(err.into());
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(err, _)| err)?;
    }
    let finished = tokio::time::timeout(Duration::from_secs(600), counting)
        .await
        .context("raw consumer did not receive every message")???;
    Ok(rate(events, finished - started))
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

async fn raw_latency(
    config: &EventsConfig,
    producer: &FutureProducer,
    per_second: u64,
    seconds: u64,
    size: usize,
) -> anyhow::Result<Latency> {
    let topic = "bench.raw.latency";
    kafka::ensure_topics(config, &[topic.to_owned()]).await?;
    let physical = config.physical(topic);
    let consumer = raw_consumer(config, topic)?;
    warm_up(&consumer, producer, &physical).await?;
    let total = usize::try_from(per_second * seconds)?;
    let receiving = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(total);
        while samples.len() < total {
            let message = consumer.recv().await?;
            let received = now_micros();
            let Some(payload) = message.payload() else {
                continue;
            };
            let Some(sent) = payload.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok()) else {
                continue;
            };
            let sent = u128::from_le_bytes(sent);
            #[allow(clippy::cast_precision_loss)]
            samples.push(received.saturating_sub(sent) as f64 / 1000.0);
        }
        anyhow::Ok(samples)
    });
    let interval = Duration::from_secs_f64(1.0 / f64::from(u32::try_from(per_second)?));
    let mut ticker = tokio::time::interval(interval);
    let mut body = vec![b'x'; size.max(16)];
    for n in 0..total {
        ticker.tick().await;
        body[..16].copy_from_slice(&now_micros().to_le_bytes());
        let key = format!("latency-{}", n % 100);
        producer
            .send(
                FutureRecord::to(&physical).key(&key).payload(&body),
                Duration::from_secs(5),
            )
            .await
            .map_err(|(err, _)| err)?;
    }
    let samples = tokio::time::timeout(Duration::from_secs(120), receiving)
        .await
        .context("raw latency consumer fell behind")???;
    Ok(Latency::from_ms(samples))
}

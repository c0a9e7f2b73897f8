//! The relay: moves committed outbox rows to Kafka.
//!
//! It claims unpublished rows with `FOR UPDATE SKIP LOCKED` (never `id > last_seen`, which
//! misses rows whose transactions commit out of order), publishes them with the idempotent
//! producer keyed by aggregate, waits for the broker's acknowledgements, and only then marks them
//! published in the same transaction that claimed them. A crash between publishing and marking
//! publishes those rows again: delivery is at least once, and consumers deduplicate by event id.
//!
//! One relay per service is active at a time: the one holding the service's advisory lock on
//! its listening connection. A second instance waits, and takes over when that connection dies.
//! So an aggregate's events reach Kafka in the order they were written.

use std::pin::pin;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tekup_db::{Pool, Service};
use tekup_proto::{Envelope, Message};
use tokio::sync::watch;
use uuid::Uuid;

use crate::EventsConfig;
use crate::envelope::headers;
use crate::schema::outbox;

/// A deliberate failure, for tests that prove what a crash at that point does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// Publish a batch and get the broker's acknowledgements, then fail before marking the
    /// rows published (the transaction rolls back), as a crash there would.
    AbortAfterPublish,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(String),
    #[error("injected fault: {0:?}")]
    Fault(Fault),
}

impl From<diesel::result::Error> for RelayError {
    fn from(err: diesel::result::Error) -> Self {
        RelayError::Database(err.to_string())
    }
}

impl From<tekup_db::DbError> for RelayError {
    fn from(err: tekup_db::DbError) -> Self {
        RelayError::Database(err.to_string())
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct Pending {
    id: Uuid,
    topic: String,
    event_type: String,
    aggregate_id: String,
    org_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    cvr: Option<String>,
    payload: Vec<u8>,
    traceparent: Option<String>,
    created_at: DateTime<Utc>,
}

impl Pending {
    fn envelope(&self, source: &str) -> Envelope {
        Envelope {
            id: self.id.to_string(),
            r#type: self.event_type.clone(),
            source: source.to_owned(),
            org_id: self.org_id.map(|o| o.to_string()).unwrap_or_default(),
            subject: self.aggregate_id.clone(),
            occurred_at: Some(tekup_proto::prost_types::Timestamp {
                seconds: self.created_at.timestamp(),
                nanos: i32::try_from(self.created_at.timestamp_subsec_nanos()).unwrap_or(0),
            }),
            traceparent: self.traceparent.clone().unwrap_or_default(),
            tracestate: String::new(),
            payload: self.payload.clone(),
            actor_id: self.actor_id.map(|a| a.to_string()).unwrap_or_default(),
            cvr: self.cvr.clone().unwrap_or_default(),
        }
    }
}

/// The outbox relay of one service.
pub struct Relay {
    service: Service,
    pool: Pool,
    database_url: String,
    producer: FutureProducer,
    config: EventsConfig,
    fault: Fault,
}

impl Relay {
    /// `database_url` is used for the relay's own listening connection (which also holds the
    /// leadership lock); the batches run on pooled connections.
    pub fn new(
        service: Service,
        pool: Pool,
        database_url: String,
        producer: FutureProducer,
        config: EventsConfig,
    ) -> Self {
        Self {
            service,
            pool,
            database_url,
            producer,
            config,
            fault: Fault::None,
        }
    }

    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    /// Relays until `shutdown` turns true. Database or broker failures are logged and retried
    /// with backoff; they never end the relay.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.lead(&mut shutdown).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, service = %self.service, "outbox relay interrupted; retrying");
                    metrics::counter!("outbox_relay_errors_total").increment(1);
                }
            }
            if sleep_or_shutdown(backoff, &mut shutdown).await {
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Becomes the leader, then publishes whenever a commit notifies (or the poll interval
    /// passes) until shutdown.
    async fn lead(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), RelayError> {
        let mut listener = tekup_db::pool::connect(&self.database_url, self.service, 0)
            .await
            .map_err(|err| RelayError::Database(err.to_string()))?;
        let poll = Duration::from_millis(self.config.relay_poll_interval_ms);
        while !try_lead(&mut listener, self.service).await? {
            if sleep_or_shutdown(poll, shutdown).await {
                return Ok(());
            }
        }
        tracing::info!(service = %self.service, "outbox relay is the leader");
        diesel::sql_query(format!("LISTEN {}_outbox", self.service.schema()))
            .execute(&mut listener)
            .await?;
        let mut notifications = pin!(listener.notifications_stream());
        let mut last_housekeeping = Instant::now() - Duration::from_secs(3600);
        loop {
            while self.publish_batch().await? >= self.batch_size() {}
            if last_housekeeping.elapsed() > Duration::from_secs(60) {
                self.housekeeping().await?;
                last_housekeeping = Instant::now();
            }
            tokio::select! {
                notification = notifications.next() => match notification {
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Err(err.into()),
                    None => return Err(RelayError::Database("listening connection closed".into())),
                },
                () = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    fn batch_size(&self) -> usize {
        usize::try_from(self.config.relay_batch_size).unwrap_or(1)
    }

    /// Claims up to one batch of unpublished rows, publishes them and marks those the broker
    /// acknowledged. Returns how many rows it claimed.
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut conn = self.pool.get().await.map_err(tekup_db::DbError::from)?;
        conn.transaction::<usize, RelayError, _>(async |conn| self.publish_in(conn).await)
            .await
    }

    async fn publish_in(&self, conn: &mut AsyncPgConnection) -> Result<usize, RelayError> {
        let rows: Vec<Pending> = outbox::table
            .filter(outbox::published_at.is_null())
            .order((outbox::created_at, outbox::id))
            .limit(self.config.relay_batch_size)
            .for_update()
            .skip_locked()
            .select(Pending::as_select())
            .load(conn)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }

        // Enqueue every record in order before awaiting any, so the batch is one pipeline.
        let source = self.service.name();
        let mut deliveries = Vec::with_capacity(rows.len());
        let mut failed: Vec<(Uuid, String)> = Vec::new();
        let topics: Vec<String> = rows
            .iter()
            .map(|r| self.config.physical(&r.topic))
            .collect();
        for (row, topic) in rows.iter().zip(&topics) {
            let payload = row.envelope(source).encode_to_vec();
            let record = FutureRecord::to(topic)
                .key(&row.aggregate_id)
                .payload(&payload)
                .headers(headers(
                    row.id,
                    &row.event_type,
                    source,
                    &row.aggregate_id,
                    row.created_at,
                    row.traceparent.as_deref(),
                ));
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push((row.id, row.topic.as_str(), delivery)),
                Err((err, _)) => {
                    // The local queue is full or the producer failed: the rest waits for the
                    // next batch, in order.
                    failed.push((row.id, err.to_string()));
                    break;
                }
            }
        }
        let mut published = Vec::with_capacity(deliveries.len());
        for (id, topic, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {
                    metrics::counter!("events_published_total", "topic" => topic.to_owned())
                        .increment(1);
                    published.push(id);
                }
                Ok(Err((err, _))) => failed.push((id, err.to_string())),
                Err(_) => failed.push((id, "producer dropped the delivery".to_owned())),
            }
        }

        if self.fault == Fault::AbortAfterPublish {
            return Err(RelayError::Fault(self.fault));
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&published)))
            .set(outbox::published_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
        for (id, error) in &failed {
            metrics::counter!("events_publish_failures_total").increment(1);
            tracing::warn!(event_id = %id, error, "event not published; will retry");
            diesel::update(outbox::table.find(id))
                .set((
                    outbox::attempts.eq(outbox::attempts + 1),
                    outbox::last_error.eq(error),
                ))
                .execute(conn)
                .await?;
        }
        Ok(rows.len())
    }

    /// Deletes published rows older than the retention, a bounded number at a time, so the
    /// table and its indexes stay small.
    async fn housekeeping(&self) -> Result<(), RelayError> {
        let mut conn = self.pool.get().await.map_err(tekup_db::DbError::from)?;
        let cutoff = Utc::now()
            - chrono::Duration::seconds(
                i64::try_from(self.config.outbox_retention_secs).unwrap_or(i64::MAX),
            );
        let deleted = diesel::sql_query(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
             WHERE published_at < $1 ORDER BY published_at LIMIT 10000)",
        )
        .bind::<Timestamptz, _>(cutoff)
        .execute(&mut conn)
        .await?;
        if deleted > 0 {
            tracing::debug!(deleted, "outbox housekeeping");
        }
        Ok(())
    }
}

/// Every second until shutdown, the age of the oldest unpublished event as
/// `outbox_lag_seconds{outbox=<service>}` (labelled, so services sharing a process, as in tests,
/// keep their own). A failed measurement leaves the last value and is tried again.
///
/// It runs on a clock of its own, from start-up: while the broker is away the relay cannot
/// create its topics, and a batch waits for its deliveries (up to `message_timeout_ms`) —
/// that is when the lag must be seen to grow. Every instance reports it (not only the relay's
/// leader): it is one fact about the schema, not to be summed across instances.
pub async fn report_lag(pool: Pool, service: Service, mut shutdown: watch::Receiver<bool>) {
    loop {
        match oldest_unpublished(&pool).await {
            Ok(oldest) => {
                let lag = oldest.map_or(0.0, |t| (Utc::now() - t).as_seconds_f64().max(0.0));
                metrics::gauge!("outbox_lag_seconds", "outbox" => service.name()).set(lag);
            }
            Err(err) => tracing::debug!(error = %err, "outbox lag not measured"),
        }
        if sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await {
            return;
        }
    }
}

async fn oldest_unpublished(pool: &Pool) -> Result<Option<DateTime<Utc>>, RelayError> {
    let mut conn = pool.get().await.map_err(tekup_db::DbError::from)?;
    Ok(outbox::table
        .filter(outbox::published_at.is_null())
        .select(diesel::dsl::min(outbox::created_at))
        .first(&mut conn)
        .await?)
}

#[derive(QueryableByName)]
struct Leader {
    #[diesel(sql_type = Nullable<Bool>)]
    leader: Option<bool>,
}

async fn try_lead(conn: &mut AsyncPgConnection, service: Service) -> Result<bool, RelayError> {
    let row: Leader = diesel::sql_query("SELECT pg_try_advisory_lock(hashtext($1)) AS leader")
        .bind::<Text, _>(format!("tekup.relay.{}", service.schema()))
        .get_result(conn)
        .await?;
    Ok(row.leader.unwrap_or(false))
}

/// Sleeps, unless shutdown comes first; true when it did.
pub(crate) async fn sleep_or_shutdown(
    duration: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

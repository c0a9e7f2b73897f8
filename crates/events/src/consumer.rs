//! Consuming events: each applied exactly once, in partition order, never blocking a partition.
//!
//! For every message, in one transaction: insert the event id into the inbox (a conflict means
//! it was applied before: skip) and run the handler. Only after that transaction commits is the
//! message's offset stored for the next commit, so a crash re-delivers at most what was in
//! flight, and the inbox turns those re-deliveries into no-ops.
//!
//! A handler error is retried with exponential backoff; after `max_attempts` the message goes to
//! the dead-letter topic `<service>.dlq` with the error and its origin in headers, and the
//! partition moves on. An unreachable database is not the message's fault: that is waited out,
//! never dead-lettered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use rdkafka::Message as _;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tekup_db::{Pool, Service};
use tekup_proto::{Envelope, Message};
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::envelope::{join_trace, trace_id};
use crate::relay::sleep_or_shutdown;
use crate::schema::inbox;
use crate::{Event, EventsConfig, kafka};

/// Applies events. Runs inside the transaction that also records the event in the inbox: write
/// through `conn` only, so the effects and the inbox row commit or roll back together.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>>;
}

/// Why a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth retrying (a conflict, a timeout, a dependency briefly away).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (a payload that does not decode, a violated invariant): straight
    /// to the dead-letter topic.
    #[error("{0}")]
    Permanent(String),
}

impl HandleError {
    pub fn transient(err: impl std::fmt::Display) -> Self {
        Self::Transient(err.to_string())
    }

    pub fn permanent(err: impl std::fmt::Display) -> Self {
        Self::Permanent(err.to_string())
    }

    /// A payload's id field as a UUID; a malformed one is permanent, naming the field.
    pub fn uuid(field: &str, value: &str) -> Result<Uuid, Self> {
        Uuid::parse_str(value).map_err(|err| Self::permanent(format!("{field} {value:?}: {err}")))
    }

    /// A payload's RFC 3339 time field; a malformed one is permanent, naming the field.
    pub fn time(field: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>, Self> {
        chrono::DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|err| Self::permanent(format!("{field} {value:?}: {err}")))
    }
}

impl From<diesel::result::Error> for HandleError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Transient(err.to_string())
    }
}

/// A handler subscribed to topics under a consumer name (its consumer group is
/// `<service>.<name>`, its inbox rows are keyed by that name).
#[derive(Clone)]
pub struct Subscription {
    pub name: String,
    pub topics: Vec<String>,
    pub handler: Arc<dyn Handler>,
}

/// A deliberate failure, for tests that prove what a crash at that point does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// After this many events were applied (their transactions committed), stop at once
    /// without storing the last one's offset, as a crash there would.
    StopAfterApplied(usize),
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    DeadLettered,
}

#[derive(Debug)]
enum Failure {
    /// The database cannot be reached: wait, never dead-letter.
    Unavailable(String),
    Handler(HandleError),
}

impl From<diesel::result::Error> for Failure {
    fn from(err: diesel::result::Error) -> Self {
        Failure::Handler(err.into())
    }
}

impl From<HandleError> for Failure {
    fn from(err: HandleError) -> Self {
        Failure::Handler(err)
    }
}

/// What one run of a consumer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub applied: usize,
    pub duplicates: usize,
    pub dead_lettered: usize,
}

/// One running consumer.
pub struct Consumer {
    service: Service,
    subscription: Subscription,
    pool: Pool,
    producer: FutureProducer,
    config: EventsConfig,
    fault: Fault,
}

impl Consumer {
    /// `producer` sends dead letters.
    pub fn new(
        service: Service,
        subscription: Subscription,
        pool: Pool,
        producer: FutureProducer,
        config: EventsConfig,
    ) -> Self {
        Self {
            service,
            subscription,
            pool,
            producer,
            config,
            fault: Fault::None,
        }
    }

    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    fn group_id(&self) -> String {
        self.config.physical(&format!(
            "{}.{}",
            self.service.name(),
            self.subscription.name
        ))
    }

    /// Consumes until `shutdown` turns true, then commits the stored offsets.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<Stats> {
        let dead_letters = kafka::dead_letter_topic(self.service.name());
        let mut topics = self.subscription.topics.clone();
        topics.push(dead_letters.clone());
        kafka::ensure_topics(&self.config, &topics).await?;

        let session = self.config.session_timeout_ms;
        let consumer: StreamConsumer = kafka::base(&self.config, &self.group_id())
            .set("group.id", self.group_id())
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "500")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", session.to_string())
            .set("heartbeat.interval.ms", (session / 3).max(100).to_string())
            .set(
                "max.poll.interval.ms",
                self.config.max_poll_interval_ms.max(session).to_string(),
            )
            .set("enable.partition.eof", "false")
            .set(
                "fetch.wait.max.ms",
                self.config.fetch_wait_max_ms.to_string(),
            )
            .create()?;
        let physical: Vec<String> = self
            .subscription
            .topics
            .iter()
            .map(|t| self.config.physical(t))
            .collect();
        let subscribed: Vec<&str> = physical.iter().map(String::as_str).collect();
        consumer.subscribe(&subscribed)?;
        tracing::info!(group = self.group_id(), topics = ?subscribed, "consumer started");

        let consumer = Closing(Some(Arc::new(consumer)));
        let mut stats = Stats::default();
        let mut last_lag = Instant::now();
        loop {
            let message = tokio::select! {
                message = consumer.recv() => message,
                _ = shutdown.changed() => break,
            };
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    tracing::warn!(error = %err, "consumer error");
                    if sleep_or_shutdown(Duration::from_millis(500), &mut shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            let Some(outcome) = self.process(&message, &dead_letters, &mut shutdown).await else {
                break; // shutdown while waiting: the offset stays unstored, the message comes back
            };
            match outcome {
                Outcome::Applied => stats.applied += 1,
                Outcome::Duplicate => stats.duplicates += 1,
                Outcome::DeadLettered => stats.dead_lettered += 1,
            }
            if self.fault == Fault::StopAfterApplied(stats.applied) {
                tracing::warn!("injected fault: stopping before storing the offset");
                return Ok(stats);
            }
            consumer.store_offset_from_message(&message)?;
            if last_lag.elapsed() > Duration::from_secs(5) {
                record_lag(Arc::clone(consumer.arc()), self.group_id());
                last_lag = Instant::now();
            }
        }
        if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %err, "final offset commit");
        }
        Ok(stats)
    }

    /// Applies one message, retrying as needed; `None` when shutdown interrupted the waiting.
    async fn process(
        &self,
        message: &BorrowedMessage<'_>,
        dead_letters: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Outcome> {
        let event = match decode(message, &self.config) {
            Ok(event) => event,
            Err(err) => {
                return self
                    .dead_letter(message, dead_letters, &err, 0, shutdown)
                    .await;
            }
        };
        let span = tracing::info_span!(
            "event.consume",
            otel.kind = "consumer",
            event.id = %event.id,
            event.r#type = event.event_type(),
            consumer = self.group_id(),
            messaging.destination = event.topic,
        );
        if !event.envelope.traceparent.is_empty() {
            join_trace(&span, &event.envelope.traceparent);
        }
        let trace = trace_id(&span);
        let group = self.group_id();
        let mut attempt = 0u32;
        let mut waiting = Duration::from_millis(self.config.retry_backoff_ms);
        loop {
            attempt += 1;
            let result = self
                .apply(&event, trace.as_deref())
                .instrument(span.clone())
                .await;
            match result {
                Ok(outcome) => {
                    let label = if outcome == Outcome::Applied {
                        "applied"
                    } else {
                        "duplicate"
                    };
                    metrics::counter!("events_processed_total", "consumer" => group.clone(), "outcome" => label)
                        .increment(1);
                    return Some(outcome);
                }
                Err(Failure::Unavailable(cause)) => {
                    span.in_scope(|| {
                        tracing::warn!(error = cause, "database unavailable; waiting")
                    });
                    attempt -= 1;
                }
                Err(Failure::Handler(HandleError::Permanent(cause))) => {
                    return self
                        .dead_letter(message, dead_letters, &cause, attempt, shutdown)
                        .await;
                }
                Err(Failure::Handler(HandleError::Transient(cause))) => {
                    if attempt >= self.config.max_attempts {
                        return self
                            .dead_letter(message, dead_letters, &cause, attempt, shutdown)
                            .await;
                    }
                    metrics::counter!("events_retried_total", "consumer" => group.clone())
                        .increment(1);
                    span.in_scope(|| {
                        tracing::warn!(error = cause, attempt, "handler failed; retrying")
                    });
                }
            }
            if sleep_or_shutdown(waiting, shutdown).await {
                return None;
            }
            waiting = (waiting * 2).min(Duration::from_secs(5));
        }
    }

    async fn apply(&self, event: &Event, trace: Option<&str>) -> Result<Outcome, Failure> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| Failure::Unavailable(err.to_string()))?;
        let consumer = self.subscription.name.as_str();
        let handler = Arc::clone(&self.subscription.handler);
        conn.transaction::<Outcome, Failure, _>(async |conn| {
            // Consumers are the service's own work: Row Level Security lets them through.
            tekup_db::tenancy::enter(conn, &tekup_db::tenancy::Context::System).await?;
            let inserted = diesel::insert_into(inbox::table)
                .values((
                    inbox::event_id.eq(event.id),
                    inbox::consumer.eq(consumer),
                    inbox::topic.eq(&event.topic),
                    inbox::event_type.eq(event.event_type()),
                    inbox::trace_id.eq(trace),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if inserted == 0 {
                return Ok(Outcome::Duplicate);
            }
            handler.handle(conn, event).await?;
            Ok(Outcome::Applied)
        })
        .await
    }

    /// Sends the message, untouched, to the dead-letter topic with why and whence in headers.
    /// Retries until the broker has it: a dead letter is never lost.
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        topic: &str,
        error: &str,
        attempts: u32,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Outcome> {
        tracing::error!(
            error,
            attempts,
            origin = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            "event dead-lettered"
        );
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let attempts = attempts.to_string();
        let group = self.group_id();
        loop {
            let mut headers = message.headers().map(|h| h.detach()).unwrap_or_default();
            for (key, value) in [
                ("dlq_error", error),
                ("dlq_consumer", group.as_str()),
                ("dlq_origin_topic", message.topic()),
                ("dlq_origin_partition", partition.as_str()),
                ("dlq_origin_offset", offset.as_str()),
                ("dlq_attempts", attempts.as_str()),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let physical = self.config.physical(topic);
            let mut record = FutureRecord::to(&physical)
                .payload(message.payload().unwrap_or_default())
                .headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            match self
                .producer
                .send(record, Timeout::After(Duration::from_secs(10)))
                .await
            {
                Ok(_) => {
                    metrics::counter!("events_dead_lettered_total", "consumer" => group.clone())
                        .increment(1);
                    return Some(Outcome::DeadLettered);
                }
                Err((err, _)) => {
                    tracing::warn!(error = %err, "dead letter not accepted; retrying");
                    if sleep_or_shutdown(Duration::from_secs(1), shutdown).await {
                        return None;
                    }
                }
            }
        }
    }
}

fn decode(message: &BorrowedMessage<'_>, config: &EventsConfig) -> Result<Event, String> {
    let payload = message.payload().ok_or("message without payload")?;
    let envelope =
        Envelope::decode(payload).map_err(|err| format!("not an event envelope: {err}"))?;
    let id = Uuid::parse_str(&envelope.id)
        .map_err(|err| format!("event id {:?}: {err}", envelope.id))?;
    Ok(Event {
        id,
        envelope,
        topic: config.logical(message.topic()).to_owned(),
        partition: message.partition(),
        offset: message.offset(),
    })
}

/// Owns the consumer while it runs. Closing a consumer can block: librdkafka's close serves the
/// group's pending rebalance, and a consumer dropped in the middle of one was seen waiting
/// forever. So it is closed on a thread of its own, and neither a graceful stop nor a runtime
/// shutting down (a test's end) hangs on it; the process exits regardless of that thread.
struct Closing(Option<Arc<StreamConsumer>>);

impl Closing {
    fn arc(&self) -> &Arc<StreamConsumer> {
        // Only `drop` takes it out.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("the consumer is gone only after drop"))
    }
}

impl std::ops::Deref for Closing {
    type Target = StreamConsumer;

    fn deref(&self) -> &StreamConsumer {
        self.arc()
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            close_elsewhere(consumer);
        }
    }
}

/// Lets go of a reference to the consumer; should it be the last, the consumer is closed on a
/// thread of its own (see [`Closing`]). Whoever else holds a reference — a lag sweep on the
/// blocking pool, which the runtime waits for at shutdown — must let go through this too.
fn close_elsewhere(consumer: Arc<StreamConsumer>) {
    let closing = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || drop(consumer));
    if let Err(err) = closing {
        tracing::warn!(error = %err, "cannot close the consumer on its own thread");
    }
}

/// Exposes `consumer_lag` (messages behind the high watermark) per assigned partition.
///
/// The sweep has two seconds in all and ends at the first partition the broker does not
/// answer for: a consumer of every topic holds a hundred partitions, and a blocking task that
/// waited on each of them in turn while the broker is away would hold up a graceful stop for
/// minutes (the runtime waits for its blocking tasks).
fn record_lag(consumer: Arc<StreamConsumer>, group: String) {
    tokio::task::spawn_blocking(move || {
        sweep_lag(&consumer, &group);
        // The consumer may have stopped meanwhile, leaving this the last reference.
        if let Some(last) = Arc::into_inner(consumer) {
            close_elsewhere(Arc::new(last));
        }
    });
}

fn sweep_lag(consumer: &StreamConsumer, group: &str) {
    let Ok(assignment) = consumer.assignment() else {
        return;
    };
    let Ok(positions) = consumer.position() else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    for element in assignment.elements() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let Ok((_, high)) = consumer.fetch_watermarks(
            element.topic(),
            element.partition(),
            left.min(Duration::from_millis(500)),
        ) else {
            return;
        };
        let position = positions
            .find_partition(element.topic(), element.partition())
            .and_then(|p| p.offset().to_raw())
            .filter(|o| *o >= 0)
            .unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        let lag = (high - position).max(0) as f64;
        metrics::gauge!(
            "consumer_lag",
            "consumer" => group.to_owned(),
            "topic" => element.topic().to_owned(),
            "partition" => element.partition().to_string()
        )
        .set(lag);
    }
}

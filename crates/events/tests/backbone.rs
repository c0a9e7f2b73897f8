//! The event backbone against the real broker and PostgreSQL: nothing lost, nothing applied
//! twice, order kept per aggregate, poison messages dead-lettered.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::BoxFuture;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tekup_db::{Pool, Service};
use tekup_events::consumer::{Consumer, Fault as ConsumerFault, HandleError, Handler, Stats};
use tekup_events::envelope::header_value;
use tekup_events::outbox::{self, Outgoing};
use tekup_events::relay::{Fault as RelayFault, Relay, RelayError};
use tekup_events::{Event, EventsConfig, Subscription, kafka};
use tekup_proto::crm::v1::CompanyRecorded;
use tekup_testkit::{TestDb, wait_until};
use tokio::sync::watch;

const SERVICE: Service = Service::Crm;
const TOPIC: &str = "test.company";
const POISON: &str = "poison";

/// A test bed: a database, the crm role's pool, event settings of its own namespace.
struct Bed {
    db: TestDb,
    pool: Pool,
    config: EventsConfig,
    producer: FutureProducer,
}

impl Bed {
    async fn new(partitions: i32) -> Self {
        let db = TestDb::new().await.unwrap();
        let pool = db.pool(SERVICE).unwrap();
        let config = EventsConfig {
            partitions,
            max_attempts: 3,
            ..db.events()
        };
        assert!(config.enabled(), "make test starts a broker");
        kafka::ensure_topics(&config, &[TOPIC.to_owned()])
            .await
            .unwrap();
        let producer = kafka::producer(&config, "test").unwrap();
        let mut conn = pool.get().await.unwrap();
        conn.batch_execute(
            "CREATE TABLE applied (n bigserial PRIMARY KEY, event_id uuid NOT NULL, \
             aggregate text NOT NULL, seq text NOT NULL)",
        )
        .await
        .unwrap();
        Self {
            db,
            pool,
            config,
            producer,
        }
    }

    fn relay(&self) -> Relay {
        Relay::new(
            SERVICE,
            self.pool.clone(),
            self.db.url(SERVICE),
            self.producer.clone(),
            self.config.clone(),
        )
    }

    fn consumer(&self, handler: Arc<Recorder>) -> Consumer {
        Consumer::new(
            SERVICE,
            Subscription {
                name: "recorder".into(),
                topics: vec![TOPIC.into()],
                handler,
            },
            self.pool.clone(),
            self.producer.clone(),
            self.config.clone(),
        )
    }

    /// Commits one event per `seq`, each in its own transaction.
    async fn commit(&self, aggregate: &str, seqs: impl IntoIterator<Item = String>) {
        let mut conn = self.pool.get().await.unwrap();
        for seq in seqs {
            conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                publish(conn, aggregate, &seq).await
            })
            .await
            .unwrap();
        }
    }

    /// Relays until the outbox has nothing left to claim.
    async fn relay_all(&self) {
        let relay = self.relay();
        while relay.publish_batch().await.unwrap() > 0 {}
    }

    async fn applied(&self) -> Vec<Applied> {
        let mut conn = self.pool.get().await.unwrap();
        diesel::sql_query(
            "SELECT event_id::text AS event_id, aggregate, seq FROM applied ORDER BY n",
        )
        .load(&mut conn)
        .await
        .unwrap()
    }

    async fn count(&self, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.pool.get().await.unwrap();
        let row: Count = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
        row.n
    }

    /// Every message on a topic (by its logical name), read from the beginning.
    fn read_topic(&self, topic: &str, expect: usize) -> Vec<rdkafka::message::OwnedMessage> {
        let physical = self.config.physical(topic);
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.config.brokers)
            .set("group.id", format!("{physical}.reader"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        for partition in 0..self.config.partitions {
            assignment
                .add_partition_offset(&physical, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut messages = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut quiet_since = std::time::Instant::now();
        while std::time::Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    messages.push(message.detach());
                    quiet_since = std::time::Instant::now();
                }
                Some(Err(err)) => panic!("reading {topic}: {err}"),
                None if messages.len() >= expect
                    && quiet_since.elapsed() > Duration::from_millis(700) =>
                {
                    break;
                }
                None => {}
            }
        }
        messages
    }
}

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
struct Applied {
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = Text)]
    aggregate: String,
    #[diesel(sql_type = Text)]
    seq: String,
}

async fn publish(
    conn: &mut AsyncPgConnection,
    aggregate: &str,
    seq: &str,
) -> Result<uuid::Uuid, diesel::result::Error> {
    outbox::publish(
        conn,
        Outgoing {
            topic: TOPIC,
            org_id: None,
            cvr: None,
            subject: aggregate,
            payload: &CompanyRecorded {
                company_id: aggregate.to_owned(),
                name: seq.to_owned(),
                ..Default::default()
            },
        },
    )
    .await
}

/// Records every event it applies; fails every attempt at a `poison` event.
#[derive(Default)]
struct Recorder {
    poison_attempts: AtomicUsize,
}

impl Handler for Recorder {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let company = event
                .payload::<CompanyRecorded>()
                .ok_or_else(|| HandleError::permanent("unexpected event type"))?
                .map_err(HandleError::permanent)?;
            if company.name == POISON {
                AtomicUsize::fetch_add(&self.poison_attempts, 1, Ordering::SeqCst);
                return Err(HandleError::transient("this event always fails"));
            }
            diesel::sql_query("INSERT INTO applied (event_id, aggregate, seq) VALUES ($1, $2, $3)")
                .bind::<diesel::sql_types::Uuid, _>(event.id)
                .bind::<Text, _>(&company.company_id)
                .bind::<Text, _>(&company.name)
                .execute(conn)
                .await?;
            Ok(())
        })
    }
}

/// Runs `consumer` until `done` holds for the bed, then stops it and returns its stats.
async fn consume_until<F, Fut>(bed: &Bed, consumer: Consumer, what: &str, done: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(consumer.run(stopped));
    wait_until(what, Duration::from_secs(30), done).await;
    let _ = bed;
    stop.send(true).unwrap();
    running.await.unwrap().unwrap()
}

fn seqs(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

#[tokio::test]
async fn a_rolled_back_transaction_never_reaches_the_topic() {
    let bed = Bed::new(1).await;
    let mut conn = bed.pool.get().await.unwrap();
    let rolled_back = conn
        .transaction::<(), diesel::result::Error, _>(async |conn| {
            publish(conn, "acme", "rolled-back").await?;
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(rolled_back.is_err());
    bed.commit("acme", ["committed".to_owned()]).await;
    bed.relay_all().await;

    let messages = bed.read_topic(TOPIC, 1);
    assert_eq!(messages.len(), 1);
    let envelope: tekup_proto::Envelope =
        tekup_proto::Message::decode(messages[0].payload().unwrap()).unwrap();
    let company: CompanyRecorded =
        tekup_proto::Message::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(company.name, "committed");
    assert_eq!(bed.count("SELECT count(*) AS n FROM outbox").await, 1);
}

#[tokio::test]
async fn published_events_carry_cloudevents_headers_and_are_keyed_by_aggregate() {
    let bed = Bed::new(1).await;
    bed.commit("acme", ["1".to_owned()]).await;
    bed.relay_all().await;
    let messages = bed.read_topic(TOPIC, 1);
    let message = &messages[0];
    let headers = message.headers().unwrap();
    assert_eq!(header_value(headers, "ce_specversion"), Some("1.0"));
    assert_eq!(
        header_value(headers, "ce_type"),
        Some("tekup.crm.v1.CompanyRecorded")
    );
    assert_eq!(header_value(headers, "ce_source"), Some("/tekup/crm"));
    assert_eq!(header_value(headers, "ce_subject"), Some("acme"));
    assert_eq!(
        header_value(headers, "content-type"),
        Some("application/protobuf")
    );
    let id = header_value(headers, "ce_id").unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert!(header_value(headers, "ce_time").unwrap().ends_with('Z'));
    assert_eq!(message.key(), Some(b"acme".as_slice()));
}

#[tokio::test]
async fn a_relay_crash_between_publishing_and_marking_loses_nothing_and_applies_nothing_twice() {
    let bed = Bed::new(1).await;
    bed.commit("acme", seqs(1..=20)).await;

    let crashing = bed.relay().with_fault(RelayFault::AbortAfterPublish);
    assert!(matches!(
        crashing.publish_batch().await,
        Err(RelayError::Fault(RelayFault::AbortAfterPublish))
    ));
    assert_eq!(
        bed.count("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
            .await,
        20,
        "the crashed batch stays unpublished"
    );
    bed.relay_all().await; // the restarted relay publishes the batch again
    bed.commit("acme", ["marker".to_owned()]).await;
    bed.relay_all().await;
    assert_eq!(
        bed.read_topic(TOPIC, 41).len(),
        41,
        "20 twice, and the marker"
    );

    let recorder = Arc::new(Recorder::default());
    let stats = consume_until(&bed, bed.consumer(recorder), "the marker", async || {
        bed.applied().await.iter().any(|a| a.seq == "marker")
    })
    .await;
    let applied = bed.applied().await;
    let seqs: Vec<_> = applied.iter().map(|a| a.seq.as_str()).collect();
    let mut expected: Vec<String> = (1..=20).map(|n| n.to_string()).collect();
    expected.push("marker".into());
    assert_eq!(seqs, expected, "each applied once, in order");
    assert_eq!(stats.duplicates, 20);
}

#[tokio::test]
async fn a_consumer_crash_after_committing_redelivers_and_the_duplicate_is_skipped() {
    let bed = Bed::new(1).await;
    bed.commit("acme", seqs(1..=10)).await;
    bed.relay_all().await;

    let recorder = Arc::new(Recorder::default());
    let (_stop, stopped) = watch::channel(false);
    let first = bed
        .consumer(Arc::clone(&recorder))
        .with_fault(ConsumerFault::StopAfterApplied(5))
        .run(stopped)
        .await
        .unwrap();
    assert_eq!(first.applied, 5);
    assert_eq!(bed.applied().await.len(), 5);

    let second = consume_until(&bed, bed.consumer(recorder), "all ten", async || {
        bed.applied().await.len() >= 10
    })
    .await;
    assert!(second.duplicates >= 1, "the fifth came back: {second:?}");
    let applied = bed.applied().await;
    let seqs: Vec<_> = applied.iter().map(|a| a.seq.clone()).collect();
    assert_eq!(seqs, self::seqs(1..=10));
    assert_eq!(
        bed.count("SELECT count(*) AS n FROM inbox WHERE consumer = 'recorder'")
            .await,
        10
    );
}

#[tokio::test]
async fn a_poison_message_is_retried_then_dead_lettered_and_its_partition_moves_on() {
    let bed = Bed::new(1).await;
    bed.commit("acme", ["1".to_owned(), POISON.to_owned(), "3".to_owned()])
        .await;
    bed.relay_all().await;

    let recorder = Arc::new(Recorder::default());
    let stats = consume_until(
        &bed,
        bed.consumer(Arc::clone(&recorder)),
        "the event after the poison",
        async || bed.applied().await.iter().any(|a| a.seq == "3"),
    )
    .await;
    assert_eq!(stats.dead_lettered, 1);
    assert_eq!(
        AtomicUsize::load(&recorder.poison_attempts, Ordering::SeqCst),
        3
    );
    let seqs: Vec<_> = bed.applied().await.into_iter().map(|a| a.seq).collect();
    assert_eq!(seqs, ["1", "3"]);

    let dead = bed.read_topic(&kafka::dead_letter_topic(SERVICE.name()), 1);
    assert_eq!(dead.len(), 1);
    let headers = dead[0].headers().unwrap();
    assert_eq!(
        header_value(headers, "dlq_error"),
        Some("this event always fails")
    );
    assert_eq!(header_value(headers, "dlq_attempts"), Some("3"));
    assert_eq!(
        header_value(headers, "dlq_origin_topic"),
        Some(bed.config.physical(TOPIC).as_str())
    );
    assert_eq!(
        header_value(headers, "ce_type"),
        Some("tekup.crm.v1.CompanyRecorded")
    );
    assert_eq!(dead[0].key(), Some(b"acme".as_slice()));
}

#[tokio::test]
async fn events_of_one_aggregate_arrive_in_commit_order() {
    let bed = Arc::new(Bed::new(3).await);
    const AGGREGATES: [&str; 5] = ["a", "b", "c", "d", "e"];
    let aggregates = AGGREGATES;
    let writers: Vec<_> = AGGREGATES
        .into_iter()
        .map(|aggregate| {
            let bed = Arc::clone(&bed);
            tokio::spawn(async move { bed.commit(aggregate, seqs(1..=30)).await })
        })
        .collect();
    // Relay while the writers commit, so batches interleave with commits.
    let relaying = {
        let bed = Arc::clone(&bed);
        tokio::spawn(async move {
            for _ in 0..50 {
                bed.relay_all().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    relaying.await.unwrap();
    bed.relay_all().await;

    let recorder = Arc::new(Recorder::default());
    consume_until(&bed, bed.consumer(recorder), "150 events", async || {
        bed.applied().await.len() >= 150
    })
    .await;
    let mut per_aggregate: HashMap<String, Vec<u32>> = HashMap::new();
    for applied in bed.applied().await {
        per_aggregate
            .entry(applied.aggregate)
            .or_default()
            .push(applied.seq.parse().unwrap());
    }
    for aggregate in aggregates {
        assert_eq!(
            per_aggregate[aggregate],
            (1..=30).collect::<Vec<_>>(),
            "{aggregate}"
        );
    }
}

#[tokio::test]
async fn a_row_committed_after_a_later_row_was_relayed_is_still_published() {
    let bed = Arc::new(Bed::new(1).await);
    let (inserted_tx, inserted_rx) = tokio::sync::oneshot::channel();
    let (commit_tx, commit_rx) = tokio::sync::oneshot::channel::<()>();
    let early = {
        let bed = Arc::clone(&bed);
        tokio::spawn(async move {
            let mut conn = bed.pool.get().await.unwrap();
            conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                publish(conn, "early", "written-first").await?;
                inserted_tx.send(()).unwrap();
                commit_rx.await.unwrap();
                Ok(())
            })
            .await
            .unwrap();
        })
    };
    inserted_rx.await.unwrap();
    bed.commit("late", ["written-second".to_owned()]).await;
    bed.relay_all().await; // publishes the later row; the earlier one is not committed yet
    commit_tx.send(()).unwrap();
    early.await.unwrap();
    bed.relay_all().await;

    let names: Vec<String> = bed
        .read_topic(TOPIC, 2)
        .iter()
        .map(|m| {
            let envelope: tekup_proto::Envelope =
                tekup_proto::Message::decode(m.payload().unwrap()).unwrap();
            let company: CompanyRecorded =
                tekup_proto::Message::decode(envelope.payload.as_slice()).unwrap();
            company.name
        })
        .collect();
    assert_eq!(names, ["written-second", "written-first"]);
}

#[tokio::test]
async fn one_relay_leads_and_another_takes_over_when_it_stops() {
    let bed = Bed::new(1).await;
    #[derive(QueryableByName)]
    struct Holder {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    let holders = async || -> Vec<i32> {
        let mut conn = bed.pool.get().await.unwrap();
        diesel::sql_query(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND objid::int = hashtext('tekup.relay.crm')",
        )
        .load::<Holder>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.pid)
        .collect()
    };
    let (stop_first, stopped_first) = watch::channel(false);
    let first = tokio::spawn(bed.relay().run(stopped_first));
    wait_until("a leader", Duration::from_secs(10), async || {
        holders().await.len() == 1
    })
    .await;
    let leader = holders().await;
    let (stop_second, stopped_second) = watch::channel(false);
    let second = tokio::spawn(bed.relay().run(stopped_second));

    bed.commit("acme", seqs(1..=3)).await;
    wait_until("three published", Duration::from_secs(10), async || {
        bed.count("SELECT count(*) AS n FROM outbox WHERE published_at IS NOT NULL")
            .await
            == 3
    })
    .await;
    assert_eq!(holders().await, leader, "still one leader");

    stop_first.send(true).unwrap();
    first.await.unwrap();
    wait_until("a new leader", Duration::from_secs(10), async || {
        let now = holders().await;
        now.len() == 1 && now != leader
    })
    .await;
    bed.commit("acme", seqs(4..=5)).await;
    wait_until("five published", Duration::from_secs(10), async || {
        bed.count("SELECT count(*) AS n FROM outbox WHERE published_at IS NOT NULL")
            .await
            == 5
    })
    .await;
    stop_second.send(true).unwrap();
    second.await.unwrap();
    assert_eq!(
        bed.read_topic(TOPIC, 5).len(),
        5,
        "each event published once"
    );
}

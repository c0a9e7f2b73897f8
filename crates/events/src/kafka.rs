//! Broker clients: the idempotent producer, topic administration and a reachability check.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;

use crate::EventsConfig;

/// The topic an aggregate's events travel on: `tekup.<service>.<aggregate>`.
pub fn topic(service: &str, aggregate: &str) -> String {
    format!("tekup.{service}.{aggregate}")
}

/// The dead-letter topic of a consuming service.
pub fn dead_letter_topic(service: &str) -> String {
    format!("{service}.dlq")
}

pub(crate) fn base(config: &EventsConfig, client_id: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", client_id)
        .set("socket.timeout.ms", "10000")
        .set("log_level", "4");
    if let Ok(debug) = std::env::var("TEKUP_KAFKA_DEBUG") {
        client.set("debug", debug).set("log_level", "7");
    }
    client
}

/// An idempotent producer: retries never duplicate or reorder messages within a partition.
pub fn producer(config: &EventsConfig, client_id: &str) -> Result<FutureProducer, KafkaError> {
    base(config, client_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set(
            "batch.num.messages",
            config.batch_max_messages.max(1).to_string(),
        )
        .set("message.timeout.ms", config.message_timeout_ms.to_string())
        .create()
}

/// Creates the topics that do not exist yet (the local broker does not auto-create them).
/// `topics` are logical names; the namespace is applied here.
pub async fn ensure_topics(config: &EventsConfig, topics: &[String]) -> Result<(), KafkaError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = base(config, "tekup-admin").create()?;
    let names: Vec<String> = topics.iter().map(|t| config.physical(t)).collect();
    let new: Vec<_> = names
        .iter()
        .map(|name| NewTopic::new(name, config.partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(topic = name, %code, "cannot create topic");
                });
            }
        }
    }
    Ok(())
}

/// Whether the broker answers a metadata request within `timeout`.
pub async fn ping(producer: &FutureProducer, timeout: Duration) -> Result<(), String> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || {
        use rdkafka::producer::Producer;
        producer
            .client()
            .fetch_metadata(None, timeout)
            .map(|_| ())
            .map_err(|err| err.to_string())
    })
    .await
    .map_err(|err| err.to_string())?
}

/// How far a consumer group is behind on one partition.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset; `None` when it committed none yet.
    pub committed: Option<i64>,
    pub high_watermark: i64,
    /// Messages not yet consumed: the high watermark minus the committed offset (or minus the
    /// low watermark when nothing was committed).
    pub lag: i64,
}

/// The lag of consumer group `group` (physical name) on `topics` (physical names), read from
/// the broker without joining the group.
pub fn group_lag(
    config: &EventsConfig,
    group: &str,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<PartitionLag>, KafkaError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = base(config, "tekup-health")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut list = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                list.add_partition(t.name(), p.id());
            }
        }
    }
    let committed = consumer.committed_offsets(list, timeout)?;
    let mut out = Vec::new();
    for element in committed.elements() {
        let (low, high) =
            consumer.fetch_watermarks(element.topic(), element.partition(), timeout)?;
        let offset = match element.offset() {
            Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        };
        out.push(PartitionLag {
            topic: element.topic().to_owned(),
            partition: element.partition(),
            committed: offset,
            high_watermark: high,
            lag: (high - offset.unwrap_or(low)).max(0),
        });
    }
    Ok(out)
}

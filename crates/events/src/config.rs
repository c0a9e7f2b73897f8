use serde::{Deserialize, Serialize};

/// How a service reaches the broker and moves its events.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Bootstrap servers (`host:port,...`); empty turns events off for this instance.
    pub brokers: String,
    /// Prepended to every topic and consumer group name on the broker, so several
    /// environments (or test runs) can share one cluster without seeing each other's events.
    pub namespace: String,
    /// Run the outbox relay in this instance (one of the instances becomes the leader).
    pub relay_enabled: bool,
    /// Run this service's event consumers in this instance.
    pub consumers_enabled: bool,
    /// Partitions of topics this service creates.
    pub partitions: i32,
    /// Outbox rows claimed per relay transaction.
    pub relay_batch_size: i64,
    /// The relay is woken by NOTIFY on commit; this is the fallback poll.
    pub relay_poll_interval_ms: u64,
    /// Published outbox rows are kept this long (for inspection), then deleted.
    pub outbox_retention_secs: u64,
    /// Consumer group session timeout; short, so a restarted consumer rejoins quickly.
    pub session_timeout_ms: u64,
    /// Longest a consumer may spend on one message before the group presumes it dead and
    /// rebalances; also bounds how long a rebalance waits for a member that vanished.
    pub max_poll_interval_ms: u64,
    /// Longest the broker may hold a consumer's fetch open when there is nothing new. Kafka
    /// answers as soon as data arrives; the local broker waits this long, so it bounds latency.
    pub fetch_wait_max_ms: u64,
    /// Attempts of a failing handler before its message goes to the dead-letter topic.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub retry_backoff_ms: u64,
    /// How long the producer tries to deliver one message before reporting failure.
    pub message_timeout_ms: u64,
    /// Most messages the producer packs into one record batch (librdkafka
    /// `batch.num.messages`). The local broker (tansu 0.6 on memory storage) cannot serve a
    /// fetch that starts inside a batch, so a consumer resuming mid-batch would stall there:
    /// the local platform and the tests set 1. Real Kafka has no such limit.
    pub batch_max_messages: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            namespace: String::new(),
            relay_enabled: true,
            consumers_enabled: true,
            partitions: 3,
            relay_batch_size: 500,
            relay_poll_interval_ms: 1_000,
            outbox_retention_secs: 3_600,
            session_timeout_ms: 6_000,
            max_poll_interval_ms: 300_000,
            fetch_wait_max_ms: 100,
            max_attempts: 5,
            retry_backoff_ms: 100,
            message_timeout_ms: 30_000,
            batch_max_messages: 10_000,
        }
    }
}

impl EventsConfig {
    pub fn enabled(&self) -> bool {
        !self.brokers.trim().is_empty()
    }

    /// The broker-side name of a topic.
    pub fn physical(&self, topic: &str) -> String {
        format!("{}{topic}", self.namespace)
    }

    /// The topic's own name, from its broker-side name.
    pub fn logical<'a>(&self, physical: &'a str) -> &'a str {
        physical.strip_prefix(&self.namespace).unwrap_or(physical)
    }
}

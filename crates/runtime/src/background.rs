//! The work a service does besides answering requests: relaying its outbox and consuming the
//! events it subscribes to. Started with the server, stopped after it.

use std::time::Duration;

use rdkafka::producer::FutureProducer;
use secrecy::ExposeSecret;
use tekup_db::Pool;
use tekup_events::consumer::Consumer;
use tekup_events::relay::Relay;
use tekup_events::{EventsConfig, kafka};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{ServiceApp, Settings};

pub(crate) struct Background {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pub producer: Option<FutureProducer>,
}

impl Background {
    pub fn start<S: ServiceApp>(
        settings: &Settings<S::Config>,
        pool: &Pool,
    ) -> anyhow::Result<Self> {
        let (shutdown, stopped) = watch::channel(false);
        let mut background = Self {
            shutdown,
            tasks: Vec::new(),
            producer: None,
        };
        let events = &settings.events;
        if !events.enabled() {
            tracing::info!("events.brokers is empty: no relay, no consumers");
            return Ok(background);
        }
        let service = S::SERVICE;
        let producer = kafka::producer(events, &format!("tekup-{service}"))?;
        if events.relay_enabled {
            let relay = Relay::new(
                service,
                pool.clone(),
                settings.database.url.expose_secret().to_owned(),
                producer.clone(),
                events.clone(),
            );
            background
                .tasks
                .push(tokio::spawn(tekup_events::relay::report_lag(
                    pool.clone(),
                    service,
                    stopped.clone(),
                )));
            let topics = S::topics();
            let config = events.clone();
            let mut stopped = stopped.clone();
            background.tasks.push(tokio::spawn(async move {
                if create_topics(&config, &topics, &mut stopped).await {
                    relay.run(stopped).await;
                }
            }));
        }
        if events.consumers_enabled {
            for subscription in S::subscriptions() {
                let consumer = (subscription, pool.clone(), producer.clone(), events.clone());
                let mut stopped = stopped.clone();
                background.tasks.push(tokio::spawn(async move {
                    let (subscription, pool, producer, config) = consumer;
                    // A topic subscribed to before it exists would be noticed only at the next
                    // metadata refresh (minutes): create it, as its publisher would.
                    if !create_topics(&config, &subscription.topics, &mut stopped).await {
                        return;
                    }
                    loop {
                        let name = subscription.name.clone();
                        let consumer = Consumer::new(
                            service,
                            subscription.clone(),
                            pool.clone(),
                            producer.clone(),
                            config.clone(),
                        );
                        match consumer.run(stopped.clone()).await {
                            Ok(_) => return,
                            Err(err) => {
                                tracing::warn!(consumer = name, error = %err, "consumer failed; restarting");
                            }
                        }
                        if wait(Duration::from_secs(1), &mut stopped).await {
                            return;
                        }
                    }
                }));
            }
        }
        background.producer = Some(producer);
        Ok(background)
    }

    /// Signals every task to stop and waits for them, at most `timeout`.
    pub async fn stop(self, timeout: Duration) {
        let _ = self.shutdown.send(true);
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!("background tasks did not stop in time");
        }
    }
}

/// Creates the service's topics, retrying while the broker is away; false on shutdown.
async fn create_topics(
    config: &EventsConfig,
    topics: &[String],
    stopped: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        match kafka::ensure_topics(config, topics).await {
            Ok(()) => return true,
            Err(err) => tracing::warn!(error = %err, "cannot create topics yet; retrying"),
        }
        if wait(Duration::from_secs(1), stopped).await {
            return false;
        }
    }
}

async fn wait(duration: Duration, stopped: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *stopped.borrow(),
        _ = stopped.changed() => true,
    }
}

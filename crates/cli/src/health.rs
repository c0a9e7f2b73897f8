//! `tekup health`: is every service ready, every schema migrated, every outbox drained and
//! every consumer group caught up? A table (or JSON), and exit 1 when anything is unhealthy.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use tekup_db::Service;
use tekup_events::EventsConfig;
use tekup_events::kafka::{PartitionLag, group_lag};

/// Where a service listens when nothing else is said (`make run`'s ports).
pub fn default_url(service: Service) -> String {
    let port = match service {
        Service::Vault => 8081,
        Service::Billy => 8082,
        Service::Renos => 8083,
        Service::Crm => 8084,
        Service::Flow => 8085,
        Service::Shared => 8086,
    };
    format!("http://127.0.0.1:{port}")
}

pub struct Limits {
    /// The oldest unpublished outbox row may be this old.
    pub max_outbox_age_secs: i64,
    /// A consumer group may be this many messages behind.
    pub max_lag: i64,
}

#[derive(Debug, Serialize)]
pub struct ServiceHealth {
    pub service: &'static str,
    pub url: String,
    /// `/readyz` answered 2xx.
    pub ready: bool,
    pub readiness: String,
    /// The newest migration applied, and how many of the binary's are not.
    pub migration: String,
    pub pending_migrations: usize,
    /// Unpublished outbox rows, and the age of the oldest.
    pub outbox_backlog: i64,
    pub outbox_oldest_secs: Option<i64>,
    /// Messages behind, per consumer group.
    pub consumer_lag: BTreeMap<String, i64>,
    pub partitions: Vec<PartitionLag>,
    pub problems: Vec<String>,
}

#[derive(QueryableByName)]
struct Backlog {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    oldest: Option<i64>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

pub async fn run(
    admin_url: &str,
    urls: &HashMap<Service, String>,
    events: Option<&EventsConfig>,
    limits: &Limits,
) -> anyhow::Result<Vec<ServiceHealth>> {
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .context("connecting as the administrator")?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut report = Vec::new();
    for service in Service::ALL {
        let schema = service.schema();
        let url = urls
            .get(&service)
            .cloned()
            .unwrap_or_else(|| default_url(service));
        let mut problems = Vec::new();
        let (ready, readiness) = match http.get(format!("{url}/readyz")).send().await {
            Ok(r) if r.status().is_success() => (true, r.status().to_string()),
            Ok(r) => {
                let status = r.status().to_string();
                let detail = r.text().await.unwrap_or_default();
                (
                    false,
                    format!("{status} {}", detail.chars().take(200).collect::<String>()),
                )
            }
            Err(e) => (false, format!("unreachable: {}", e.without_url())),
        };
        if !ready {
            problems.push(format!("not ready ({readiness})"));
        }
        let applied: Vec<Name> = diesel::sql_query(format!(
            "SELECT version AS name FROM {schema}.__diesel_schema_migrations ORDER BY version"
        ))
        .load(&mut conn)
        .await
        .unwrap_or_default();
        let applied: Vec<String> = applied.into_iter().map(|n| n.name).collect();
        let known = tekup_db::migrate::names(service);
        let pending = known
            .iter()
            .filter(|name| {
                let version = name.split('_').next().unwrap_or_default().replace('-', "");
                !applied.contains(&version)
            })
            .count();
        if pending > 0 {
            problems.push(format!("{pending} migration(s) pending"));
        }
        let backlog: Backlog = diesel::sql_query(format!(
            "SELECT count(*) AS n, \
                    extract(epoch FROM now() - min(created_at))::bigint AS oldest \
             FROM {schema}.outbox WHERE published_at IS NULL"
        ))
        .get_result(&mut conn)
        .await?;
        if backlog
            .oldest
            .is_some_and(|age| age > limits.max_outbox_age_secs)
        {
            problems.push(format!(
                "{} unpublished event(s), the oldest {} s old",
                backlog.n,
                backlog.oldest.unwrap_or(0)
            ));
        }
        let mut consumer_lag = BTreeMap::new();
        let mut partitions = Vec::new();
        if let Some(events) = events {
            let groups: Vec<Name> = diesel::sql_query(format!(
                "SELECT DISTINCT consumer AS name FROM {schema}.inbox ORDER BY 1"
            ))
            .load(&mut conn)
            .await?;
            for group in groups {
                let topics: Vec<Name> = diesel::sql_query(format!(
                    "SELECT DISTINCT topic AS name FROM {schema}.inbox WHERE consumer = $1"
                ))
                .bind::<Text, _>(&group.name)
                .load(&mut conn)
                .await?;
                let topics: Vec<String> = topics
                    .iter()
                    .map(|t| events.physical(events.logical(&t.name)))
                    .collect();
                let id = events.physical(&format!("{}.{}", service.name(), group.name));
                let config = events.clone();
                let lag = tokio::task::spawn_blocking(move || {
                    group_lag(&config, &id, &topics, Duration::from_secs(5))
                })
                .await?;
                match lag {
                    Ok(lag) => {
                        let total: i64 = lag.iter().map(|p| p.lag).sum();
                        if total > limits.max_lag {
                            problems.push(format!("consumer {} is {total} behind", group.name));
                        }
                        consumer_lag.insert(group.name.clone(), total);
                        partitions.extend(lag);
                    }
                    Err(e) => problems.push(format!("consumer {}: the broker: {e}", group.name)),
                }
            }
        }
        report.push(ServiceHealth {
            service: service.name(),
            url,
            ready,
            readiness,
            migration: applied.last().cloned().unwrap_or_default(),
            pending_migrations: pending,
            outbox_backlog: backlog.n,
            outbox_oldest_secs: backlog.oldest,
            consumer_lag,
            partitions,
            problems,
        });
    }
    Ok(report)
}

//! The database going away under load and coming back: crm reaches PostgreSQL through a gate
//! that, for five seconds, cuts every connection and refuses new ones (what a stopped server
//! does to its clients), while a steady stream of reads and writes runs. Every request ends
//! within a bounded time — 503 problem+json while the database is away, `/readyz` not ready —
//! and afterwards crm answers again without a restart. Every write acknowledged with 2xx is in
//! the database once, and its event reaches vault's index exactly once.

#![allow(clippy::unwrap_used)]

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tekup_db::Service;
use tekup_testkit::gate::Gate;
use tekup_testkit::identity::{Identity, call, expect};
use tekup_testkit::{TestDb, spawn_app_on, wait_until};

const CVR: &str = "13585628";

struct Outcome {
    write: bool,
    status: u16,
    problem: bool,
    took: Duration,
    at: Duration,
    id: Option<String>,
}

#[tokio::test]
async fn requests_fail_fast_while_the_database_is_away_and_acknowledged_writes_survive() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 69, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let url = db.url(Service::Crm);
    let (head, tail) = url.rsplit_once('@').unwrap();
    let (address, database) = tail.split_once('/').unwrap();
    let gate = Gate::start(address.to_socket_addrs().unwrap().next().unwrap())
        .await
        .unwrap();
    let through = format!("{head}@127.0.0.1:{}/{database}", gate.port);
    let crm = spawn_app_on::<crm::Crm>(
        Arc::clone(&db),
        &[("AUTH__JWKS_URL", &jwks), ("DATABASE__URL", &through)],
    )
    .await
    .unwrap();
    let _vault = spawn_app_on::<vault::Vault>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    let org = identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    expect(
        &identity.shared,
        Method::POST,
        "/v1/companies",
        &admin,
        Some(json!({"cvr": CVR, "name": "Kunde ApS"})),
        201,
    )
    .await;
    let activities = format!("/v1/companies/{CVR}/activities");
    wait_until("the company in crm", Duration::from_secs(30), async || {
        call(&crm, Method::GET, &activities, &admin, None)
            .await
            .is_ok_and(|(s, _)| s.is_success())
    })
    .await;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let started = Instant::now();
    let (close_at, open_at, end_at) = (
        Duration::from_secs(3),
        Duration::from_secs(8),
        Duration::from_secs(13),
    );
    let mut outcomes = Vec::new();
    let mut ready_during_outage = Vec::new();
    let mut n = 0;
    let mut closed = false;
    let mut reopened = false;
    while started.elapsed() < end_at {
        if !closed && started.elapsed() >= close_at {
            gate.close();
            closed = true;
        }
        if closed && !reopened && started.elapsed() >= open_at {
            gate.open();
            reopened = true;
        }
        if closed && !reopened {
            let ready = client.get(crm.at("/readyz")).send().await.unwrap();
            ready_during_outage.push(ready.status().as_u16());
        }
        n += 1;
        let write = n % 2 == 0;
        let at = started.elapsed();
        let request = if write {
            client
                .post(crm.at(&activities))
                .json(&json!({"kind": "note", "subject": format!("Note {n}"),
                               "body": format!("Opkald nummer {n} om vinduespudsning")}))
        } else {
            client.get(crm.at(&activities))
        };
        let t = Instant::now();
        let response = request.bearer_auth(&admin).send().await.unwrap();
        let took = t.elapsed();
        let status = response.status().as_u16();
        let problem = response.headers().get("content-type").is_some_and(|c| {
            c.to_str()
                .unwrap_or_default()
                .starts_with("application/problem+json")
        });
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        outcomes.push(Outcome {
            write,
            status,
            problem,
            took,
            at,
            id: body["id"].as_str().map(str::to_owned),
        });
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    // Bounded: the pool's checkout (2 s) and connect (3 s) timeouts, never a hang.
    let slowest = outcomes.iter().map(|o| o.took).max().unwrap();
    assert!(
        slowest < Duration::from_secs(6),
        "a request took {slowest:?}"
    );
    let during: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.at > close_at + Duration::from_millis(200) && o.at < open_at)
        .collect();
    assert!(!during.is_empty());
    for o in &during {
        assert_eq!(o.status, 503, "a request during the outage");
        assert!(o.problem, "503 is problem+json");
    }
    assert!(
        ready_during_outage.contains(&503),
        "{ready_during_outage:?}"
    );
    // Back without a restart: the last seconds answer normally.
    let after: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.at > open_at + Duration::from_secs(2))
        .collect();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|o| o.status == 200 || o.status == 201),
        "after the outage"
    );
    assert_eq!(
        client.get(crm.at("/readyz")).send().await.unwrap().status(),
        200
    );

    // Every acknowledged write is in the database once, announced once, indexed once.
    let acknowledged: Vec<&String> = outcomes
        .iter()
        .filter(|o| o.write && o.status == 201)
        .filter_map(|o| o.id.as_ref())
        .collect();
    assert!(
        acknowledged.len() > 20,
        "{} writes acknowledged",
        acknowledged.len()
    );
    let list = acknowledged
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let count = |sql: String| {
        let db = Arc::clone(&db);
        async move { db.admin_count(&sql).await.unwrap() }
    };
    let n = i64::try_from(acknowledged.len()).unwrap();
    assert_eq!(
        count(format!(
            "SELECT count(*) AS n FROM crm.activities WHERE id IN ({list})"
        ))
        .await,
        n
    );
    assert_eq!(
        count(format!(
            "SELECT count(*) AS n FROM crm.outbox WHERE topic = 'tekup.crm.activity' AND aggregate_id IN ({list})"
        ))
        .await,
        n,
        "one event per write"
    );
    wait_until("every acknowledged write indexed", Duration::from_secs(90), async || {
        count(format!(
            "SELECT count(*) AS n FROM vault.documents WHERE source = 'crm' AND repository = 'activity' AND path IN ({list})"
        ))
        .await
            == n
    })
    .await;
    let indexed_twice = count(format!(
        "SELECT count(*) AS n FROM (SELECT path FROM vault.documents WHERE source = 'crm' AND path IN ({list}) \
         GROUP BY path HAVING count(*) > 1) d"
    ))
    .await;
    assert_eq!(indexed_twice, 0);
    eprintln!(
        "outage: {} requests, {} during the outage (all 503), slowest {slowest:?}, {} writes acknowledged",
        outcomes.len(),
        during.len(),
        acknowledged.len()
    );
}

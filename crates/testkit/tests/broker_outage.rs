//! The broker going away under write load and coming back: crm and shared talk to a broker of
//! this test's own through a gate that, for six seconds, cuts every connection and refuses new
//! ones (what a stopped broker does to its clients). Writes to crm keep succeeding — the outbox
//! absorbs their events — while the outbox lag grows; once the broker is back the lag drains to
//! zero without a restart, and shared's audit trail (a consumer of every topic) has applied
//! every event exactly once, a deal's changes in the order they were made.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tekup_testkit::broker::Broker;
use tekup_testkit::identity::{Identity, call, expect};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};

const CVR: &str = "13585628";

/// crm's `outbox_lag_seconds`: the age of its oldest unpublished event.
async fn outbox_lag(client: &reqwest::Client, crm: &TestApp) -> f64 {
    lag_reported(client, crm)
        .await
        .unwrap_or_else(|| panic!("crm's /metrics has no outbox_lag_seconds{{outbox=\"crm\"}}"))
}

async fn lag_reported(client: &reqwest::Client, crm: &TestApp) -> Option<f64> {
    let text = client
        .get(crm.at("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("outbox_lag_seconds{outbox=\"crm\"} "))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn writes_go_on_while_the_broker_is_away_and_every_event_arrives_once_in_order() {
    let broker = Broker::start().await.unwrap();
    let db = Arc::new(TestDb::new().await.unwrap());
    let via = ("EVENTS__BROKERS", broker.address.as_str());
    let identity = Identity::start(Arc::clone(&db), 71, &[via]).await.unwrap();
    let jwks = identity.jwks_url();
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks), via])
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
    wait_until(
        "the company in crm, through the broker",
        Duration::from_secs(30),
        async || {
            call(&crm, Method::GET, &activities, &admin, None)
                .await
                .is_ok_and(|(s, _)| s.is_success())
        },
    )
    .await;
    let deal = expect(
        &crm,
        Method::POST,
        &format!("/v1/companies/{CVR}/deals"),
        &admin,
        Some(json!({"title": "Kontorrengøring", "value_ore": 0})),
        201,
    )
    .await;
    let deal_id = deal["id"].as_str().unwrap().to_owned();
    let deal_path = format!("/v1/companies/{CVR}/deals/{deal_id}");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let (close_at, open_at, end_at) = (
        Duration::from_secs(3),
        Duration::from_secs(9),
        Duration::from_secs(13),
    );
    let (mut closed, mut reopened) = (false, false);
    let mut notes = Vec::new();
    let mut values = Vec::new();
    let mut refused = Vec::new();
    let mut lag_during = 0.0_f64;
    let mut slowest = Duration::ZERO;
    let mut n = 0_i64;
    while started.elapsed() < end_at {
        if !closed && started.elapsed() >= close_at {
            broker.gate.close();
            closed = true;
        }
        if closed && !reopened && started.elapsed() >= open_at {
            lag_during = outbox_lag(&client, &crm).await;
            broker.gate.open();
            reopened = true;
        }
        n += 1;
        let (request, is_note) = if n % 2 == 0 {
            let body = json!({"kind": "note", "subject": format!("Note {n}"),
                              "body": format!("Opkald nummer {n}")});
            (client.post(crm.at(&activities)).json(&body), true)
        } else {
            (
                client
                    .patch(crm.at(&deal_path))
                    .json(&json!({"value_ore": n})),
                false,
            )
        };
        let t = Instant::now();
        let response = request.bearer_auth(&admin).send().await.unwrap();
        slowest = slowest.max(t.elapsed());
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        match (status, is_note) {
            (201, true) => notes.push(body["id"].as_str().unwrap().to_owned()),
            (200, false) => values.push(n),
            _ => refused.push((started.elapsed(), status, body)),
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    // The outbox absorbed the outage: no write failed or waited on the broker, and the lag
    // grew while it lasted.
    assert!(refused.is_empty(), "writes refused: {refused:?}");
    assert!(
        slowest < Duration::from_secs(5),
        "the slowest write took {slowest:?}"
    );
    assert!(
        lag_during >= 3.0,
        "outbox_lag_seconds at the end of the outage: {lag_during}"
    );
    let unpublished = || {
        let db = Arc::clone(&db);
        async move {
            db.admin_count("SELECT count(*) AS n FROM crm.outbox WHERE published_at IS NULL")
                .await
                .unwrap()
        }
    };
    wait_until("the outbox drained", Duration::from_secs(60), async || {
        unpublished().await == 0
    })
    .await;
    wait_until(
        "the lag back to zero",
        Duration::from_secs(10),
        async || outbox_lag(&client, &crm).await == 0.0,
    )
    .await;

    // Every acknowledged write's event applied once by shared's audit trail...
    let list = notes
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let count = |sql: String| {
        let db = Arc::clone(&db);
        async move { db.admin_count(&sql).await.unwrap() }
    };
    let expected = i64::try_from(notes.len()).unwrap();
    wait_until(
        "every note's event in the audit trail",
        Duration::from_secs(60),
        async || {
            count(format!(
                "SELECT count(*) AS n FROM shared.audit_logs \
                 WHERE event_type = 'tekup.crm.v1.ActivityRecorded' AND subject IN ({list})"
            ))
            .await
                == expected
        },
    )
    .await;
    // ...and the deal's changes in the order they were made: the ids (UUIDv7, written in
    // commit order by one writer) in the order the consumer applied them.
    let changes = i64::try_from(values.len()).unwrap() + 1;
    wait_until(
        "every change of the deal in the audit trail",
        Duration::from_secs(60),
        async || {
            count(format!(
                "SELECT count(*) AS n FROM shared.audit_logs \
                 WHERE event_type = 'tekup.crm.v1.DealChanged' AND subject = '{deal_id}'"
            ))
            .await
                == changes
        },
    )
    .await;
    let out_of_order = count(format!(
        "SELECT count(*) AS n FROM ( \
           SELECT a.id, lag(a.id) OVER (ORDER BY i.processed_at, (a.details ->> 'offset')::bigint) AS before \
             FROM shared.audit_logs a JOIN shared.inbox i ON i.event_id = a.id \
            WHERE a.event_type = 'tekup.crm.v1.DealChanged' AND a.subject = '{deal_id}') d \
         WHERE d.before > d.id"
    ))
    .await;
    assert_eq!(out_of_order, 0, "the deal's changes applied in order");
    let outage = open_at - close_at;
    eprintln!(
        "broker away {outage:?}: {} notes and {} deal changes acknowledged, none refused, \
         slowest {slowest:?}; outbox lag {lag_during:.1} s at the end of the outage, drained after",
        notes.len(),
        values.len()
    );
}

//! `tekup health` against running services, the database and the broker: ready services with
//! drained outboxes and caught-up consumers are healthy; a service that does not answer, or an
//! event stuck in an outbox, makes the run exit 1 naming it.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tekup_testkit::identity::{Identity, call, expect};
use tekup_testkit::{TestDb, spawn_app_on, wait_until};

/// Runs `tekup health` off the test's runtime: the in-process services answer on it.
async fn health(db: &TestDb, urls: &[String]) -> (Option<i32>, Value) {
    let events = db.events();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tekup"));
    command
        .arg("health")
        .arg("--json")
        .env("TEKUP_ADMIN_URL", db.admin_url().unwrap())
        .env("TEKUP_BROKERS", &events.brokers)
        .env("TEKUP_EVENTS_NAMESPACE", &events.namespace);
    for url in urls {
        command.arg("--url").arg(url);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), report)
}

fn of<'a>(report: &'a Value, service: &str) -> &'a Value {
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == service)
        .unwrap()
}

#[tokio::test]
async fn health_reports_readiness_migrations_outboxes_and_consumer_lag() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 63, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
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
        Some(json!({"cvr": "13585628", "name": "Kunde ApS"})),
        201,
    )
    .await;
    wait_until("the company in crm", Duration::from_secs(30), async || {
        call(&crm, Method::GET, "/v1/companies/13585628", &admin, None)
            .await
            .is_ok_and(|(s, _)| s.is_success())
    })
    .await;

    // Four services are not running here: they answer nowhere.
    let mut urls = vec![
        format!("shared={}", identity.shared.url),
        format!("crm={}", crm.url),
    ];
    for service in ["vault", "billy", "renos", "flow"] {
        urls.push(format!("{service}=http://127.0.0.1:9"));
    }
    wait_until("crm caught up", Duration::from_secs(30), async || {
        let (_, report) = health(&db, &urls).await;
        let crm = of(&report, "crm");
        crm["problems"] == json!([]) && crm["consumer_lag"]["companies"] == 0
    })
    .await;
    let (code, report) = health(&db, &urls).await;
    assert_eq!(code, Some(1), "four services are down");
    for service in ["shared", "crm"] {
        let s = of(&report, service);
        assert_eq!(s["ready"], true, "{s}");
        assert_eq!(s["pending_migrations"], 0, "{s}");
        assert_eq!(s["outbox_backlog"], 0, "{s}");
        assert_eq!(s["problems"], json!([]), "{s}");
        assert!(!s["migration"].as_str().unwrap().is_empty());
    }
    let crm_lag = &of(&report, "crm")["partitions"];
    assert!(
        crm_lag
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["committed"].as_i64().is_some()),
        "crm's groups have committed offsets: {crm_lag}"
    );
    let vault = of(&report, "vault");
    assert_eq!(vault["ready"], false);
    assert!(
        vault["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("not ready"),
        "{vault}"
    );

    // An event stuck in vault's outbox for two minutes (no relay runs it).
    db.admin_count(
        "WITH stuck AS (INSERT INTO vault.outbox (id, topic, event_type, aggregate_id, payload, created_at) \
         VALUES (gen_random_uuid(), 'tekup.vault.document', 'x', 'a', '\\x00', now() - interval '2 minutes') \
         RETURNING 1) SELECT count(*) AS n FROM stuck",
    )
    .await
    .unwrap();
    let (_, report) = health(&db, &urls).await;
    let vault = of(&report, "vault");
    assert_eq!(vault["outbox_backlog"], 1);
    assert!(
        vault["problems"]
            .to_string()
            .contains("1 unpublished event(s), the oldest 12"),
        "{vault}"
    );
    drop(crm);
}

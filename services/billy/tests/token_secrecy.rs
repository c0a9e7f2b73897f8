//! The Billy.dk token is unreadable in the database without the key and never written
//! anywhere else: the billy binary runs with debug logs while the token is checked, stored,
//! used for a sync and for putting an issued invoice into (a fake) Billy.dk; then its logs,
//! its schema's tables, its events and its API answers are searched for the token.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tekup_testkit::fake_billy::{FakeBilly, TOKEN};
use tekup_testkit::identity::{Identity, call};
use tekup_testkit::{TestApp, TestDb, service_env, spawn_app_on, wait_until};

const KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const CVR: &str = "13585628";

struct Billy(Child);

impl Drop for Billy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_token_is_sealed_in_the_database_and_absent_from_logs_events_and_answers() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 19, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let fake = FakeBilly::start().await.unwrap();
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();

    let port = free_port();
    let log = std::env::temp_dir().join(format!("billy-{}.log", uuid::Uuid::new_v4()));
    let mut env = service_env(&db, tekup_db::Service::Billy);
    for (key, value) in [
        ("HTTP__PORT", port.to_string()),
        ("AUTH__JWKS_URL", jwks.clone()),
        ("APP__TOKEN_KEY", KEY.to_owned()),
        ("APP__API__BASE_URL", fake.base_url.clone()),
        ("APP__PUSH__POLL_INTERVAL_MS", "50".to_owned()),
        ("APP__SYNC__INTERVAL_MS", "200".to_owned()),
        ("TELEMETRY__LOG_FILTER", "debug".to_owned()),
        ("TELEMETRY__LOG_FORMAT", "json".to_owned()),
    ] {
        env.insert(format!("TEKUP__BILLY__{key}"), value);
    }
    let file = std::fs::File::create(&log).unwrap();
    let _billy = Billy(
        Command::new(env!("CARGO_BIN_EXE_billy"))
            .envs(env)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap(),
    );
    let billy = TestApp::remote(&format!("http://127.0.0.1:{port}"), Arc::clone(&db));
    wait_until("billy ready", Duration::from_secs(60), async || {
        // Not listening yet is not ready yet.
        billy
            .client
            .get(billy.at("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;

    let org = identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    let (status, connection) = call(
        &billy,
        Method::PUT,
        "/v1/billy/connection",
        &admin,
        Some(json!({"access_token": TOKEN})),
    )
    .await
    .unwrap();
    assert!(status.is_success(), "{connection}");

    // An issued invoice travels renos → billy → Billy.dk, with the token on every call.
    let post = async |path: &str, body: serde_json::Value| {
        let (status, value) = call(&renos, Method::POST, path, &admin, Some(body))
            .await
            .unwrap();
        assert!(status.is_success(), "{path}: {value}");
        value
    };
    post(
        "/v1/services",
        json!({"code": "office", "name": "Kontor", "pricing": "fixed", "unit_price_ore": 100000}),
    )
    .await;
    let customer = post("/v1/customers", json!({"cvr": CVR, "name": "Fjordbyg ApS"})).await;
    let cleaner = uuid::Uuid::now_v7();
    let booking = post(
        "/v1/bookings",
        json!({"customer_id": customer["id"], "service": "office",
        "starts_at": "2026-11-16T08:00:00Z", "duration_minutes": 60, "cleaner_id": cleaner, "price_ore": 100000}),
    )
    .await;
    post(&format!("/v1/bookings/{}/executions", booking["id"].as_str().unwrap()),
        json!({"cleaner_id": cleaner, "started_at": "2026-11-16T08:00:00Z", "finished_at": "2026-11-16T09:00:00Z"})).await;
    let draft = post("/v1/invoices", json!({"customer_id": customer["id"]})).await;
    let (status, _) = call(
        &renos,
        Method::POST,
        &format!("/v1/invoices/{}/issue", draft["id"].as_str().unwrap()),
        &admin,
        None,
    )
    .await
    .unwrap();
    assert!(status.is_success());
    wait_until(
        "the invoice in Billy.dk",
        Duration::from_secs(30),
        async || fake.invoices().len() == 1,
    )
    .await;
    wait_until("a background sync", Duration::from_secs(30), async || {
        db.admin_count("SELECT count(*) AS n FROM billy.cached_invoices")
            .await
            .unwrap()
            == 1
    })
    .await;

    // Sealed in the database: neither the token nor any part of it is stored in the clear.
    let token_hex: String = TOKEN.bytes().map(|b| format!("{b:02x}")).collect();
    for sql in [
        format!(
            "SELECT count(*) AS n FROM billy.organizations WHERE position('\\x{token_hex}'::bytea IN token_ciphertext) > 0"
        ),
        format!(
            "SELECT count(*) AS n FROM billy.organizations WHERE row_to_json(organizations)::text LIKE '%{TOKEN}%'"
        ),
        format!(
            "SELECT count(*) AS n FROM billy.audit_logs WHERE row_to_json(audit_logs)::text LIKE '%{TOKEN}%'"
        ),
        format!(
            "SELECT count(*) AS n FROM billy.invoice_pushes WHERE row_to_json(invoice_pushes)::text LIKE '%{TOKEN}%'"
        ),
        format!(
            "SELECT count(*) AS n FROM billy.outbox WHERE position('\\x{token_hex}'::bytea IN payload) > 0"
        ),
    ] {
        assert_eq!(db.admin_count(&sql).await.unwrap(), 0, "{sql}");
    }
    assert_eq!(
        db.admin_count(
            "SELECT count(*) AS n FROM billy.organizations WHERE token_ciphertext IS NOT NULL \
                        AND token_key_id = '1' AND length(token_nonce) = 12"
        )
        .await
        .unwrap(),
        1
    );
    // Nor in answers.
    for path in [
        "/v1/billy/connection",
        "/v1/billy/audit-logs",
        "/v1/billy/pushes",
        "/v1/billy/invoices",
    ] {
        let (_, body) = call(&billy, Method::GET, path, &admin, None).await.unwrap();
        assert!(!body.to_string().contains(TOKEN), "{path}: {body}");
    }

    // Nor in the logs, which did record the work.
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("Billy.dk connected"),
        "the logs are the service's: {logs}"
    );
    assert!(logs.contains("invoice in Billy.dk"));
    assert!(!logs.contains(TOKEN), "the token is in the logs");
    assert!(
        !logs.contains(&TOKEN[..12]),
        "part of the token is in the logs"
    );
    std::fs::remove_file(&log).unwrap();
}

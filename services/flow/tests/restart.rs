//! The `flow` binary killed (SIGKILL) in the middle of an execution and started again: the
//! execution completes, a completed step's outgoing webhook is not sent again, and the step
//! that was under way is sent again with the same `webhook-id`, so its receiver can tell.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tekup_runtime::Service;
use tekup_testkit::identity::{Identity, expect};
use tekup_testkit::receiver::{Receiver, Reply};
use tekup_testkit::{TestApp, TestDb, service_env, wait_until};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Kills the child if the test fails before it did, so no service outlives its test.
struct Reaper(Child);

impl Drop for Reaper {
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

/// Starts the flow binary on `db`; returns it and its address once it is ready.
async fn start(db: &Arc<TestDb>, jwks: &str) -> (Reaper, TestApp) {
    let port = free_port();
    let mut env = service_env(db, Service::Flow);
    for (key, value) in [
        ("HTTP__PORT", port.to_string()),
        ("AUTH__JWKS_URL", jwks.to_owned()),
        ("APP__SECRET_KEY", KEY.to_owned()),
        ("APP__ENGINE__POLL_INTERVAL_MS", "50".to_owned()),
        // A dead instance's execution is taken over two seconds after its last renewal.
        ("APP__ENGINE__LEASE_MS", "2000".to_owned()),
        ("APP__ENGINE__HTTP_TIMEOUT_MS", "1500".to_owned()),
        // The receiver listens on this host's loopback.
        (
            "APP__ENGINE__ALLOWED_PRIVATE_RANGES",
            "127.0.0.0/8".to_owned(),
        ),
    ] {
        env.insert(format!("TEKUP__FLOW__{key}"), value);
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_flow"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TEKUP") {
            command.env_remove(key);
        }
    }
    let child = Reaper(
        command
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let app = TestApp::remote(&format!("http://127.0.0.1:{port}"), Arc::clone(db));
    wait_until("flow ready", Duration::from_secs(60), async || {
        app.client
            .get(app.at("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    (child, app)
}

#[tokio::test]
async fn a_killed_instance_s_execution_completes_without_repeating_a_completed_step() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 59, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let org = identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    let receiver = Receiver::start().await.unwrap();
    // The first delivery is answered; the second is held until after the kill.
    receiver.script([Reply::Status(200), Reply::Stall(Duration::from_secs(20))]);

    let (mut first, flow) = start(&db, &jwks).await;
    expect(
        &flow,
        Method::PUT,
        "/v1/integrations/sink",
        &admin,
        Some(json!({"kind": "webhook", "url": format!("{}/sink", receiver.url)})),
        200,
    )
    .await;
    expect(
        &flow,
        Method::POST,
        "/v1/workflows",
        &admin,
        Some(json!({
        "name": "relay", "definition": {"trigger": {"type": "manual"}, "steps": [
            {"id": "first", "type": "webhook", "integration": "sink", "event_type": "relay.first",
             "payload": {"n": "{{ input.n }}"}},
            {"id": "pause", "type": "delay", "seconds": 1},
            {"id": "second", "type": "webhook", "integration": "sink", "event_type": "relay.second",
             "payload": {"n": "{{ input.n }}"}},
            {"id": "done", "type": "transform", "set": {"finished": true}}
        ]}})),
        201,
    )
    .await;
    let started = expect(
        &flow,
        Method::POST,
        "/v1/workflows/relay/executions",
        &admin,
        Some(json!({"input": {"n": 7}})),
        202,
    )
    .await;
    let id = started["id"].as_str().unwrap().to_owned();

    wait_until(
        "the second delivery under way",
        Duration::from_secs(60),
        async || receiver.received().len() >= 2,
    )
    .await;
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let status = db
        .admin_count(&format!(
            "SELECT count(*) AS n FROM flow.executions WHERE id = '{id}' AND status IN ('pending', 'running')"
        ))
        .await
        .unwrap();
    assert_eq!(status, 1, "the execution was under way when flow died");

    let (_second, flow) = start(&db, &jwks).await;
    wait_until(
        "the execution completes",
        Duration::from_secs(60),
        async || {
            expect(
                &flow,
                Method::GET,
                &format!("/v1/executions/{id}"),
                &admin,
                None,
                200,
            )
            .await["status"]
                == "succeeded"
        },
    )
    .await;
    let detail = expect(
        &flow,
        Method::GET,
        &format!("/v1/executions/{id}"),
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(detail["outputs"]["done"]["finished"], true);

    let received = receiver.received();
    let of = |event: &str| -> Vec<String> {
        received
            .iter()
            .filter(|r| r.json()["type"] == event)
            .map(|r| r.header("webhook-id").unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        of("relay.first").len(),
        1,
        "the completed step was not sent again: {received:?}"
    );
    let second = of("relay.second");
    assert_eq!(
        second.len(),
        2,
        "the interrupted step was sent again: {received:?}"
    );
    assert_eq!(second[0], second[1], "with the same webhook-id");
    assert_eq!(second[0], format!("msg_{id}:second"));

    // Each step succeeded once, in order; the interrupted attempt was resumed, not doubled.
    let steps: Vec<(String, i64, String)> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s: &Value| {
            (
                s["step_id"].as_str().unwrap().to_owned(),
                s["attempt"].as_i64().unwrap(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("first", 1, "succeeded"),
        ("pause", 1, "succeeded"),
        ("second", 1, "succeeded"),
        ("done", 1, "succeeded"),
    ];
    assert_eq!(
        steps,
        expected.map(|(a, b, c)| (a.to_owned(), b, c.to_owned()))
    );
    let started_twice = detail["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["step_id"] == "second" && l["message"] == "webhook step started")
        .count();
    assert_eq!(started_twice, 2, "the log shows the resumption");
}

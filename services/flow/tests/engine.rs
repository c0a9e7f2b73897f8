//! The workflow engine on a real database and broker: steps in order with conditions,
//! transforms, a sub-workflow, a wait for an event and a delay; an outgoing webhook signed per
//! Standard Webhooks and retried with the same message id; secrets kept out of what is stored;
//! cancel and re-run; schedules and their missed-runs policies; definitions checked.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tekup_testkit::identity::{Identity, expect};
use tekup_testkit::receiver::{Receiver, Reply};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const API_TOKEN: &str = "tok-6f1c9a-very-secret";

struct World {
    db: Arc<TestDb>,
    identity: Identity,
    flow: TestApp,
    admin: String,
    org: String,
}

impl World {
    /// Receivers listen on this host's loopback, which steps may reach here.
    async fn new(seed: u8) -> Self {
        Self::reaching(seed, "127.0.0.0/8").await
    }

    /// With `allowed` as the private ranges steps may reach.
    async fn reaching(seed: u8, allowed: &str) -> Self {
        let db = Arc::new(TestDb::new().await.unwrap());
        let identity = Identity::start(Arc::clone(&db), seed, &[]).await.unwrap();
        let jwks = identity.jwks_url();
        let flow = spawn_app_on::<flow::Flow>(
            Arc::clone(&db),
            &[
                ("AUTH__JWKS_URL", jwks.as_str()),
                ("APP__SECRET_KEY", KEY),
                ("APP__ENGINE__POLL_INTERVAL_MS", "50"),
                ("APP__ENGINE__ALLOWED_PRIVATE_RANGES", allowed),
            ],
        )
        .await
        .unwrap();
        let org = identity.org("Rendetalje ApS").await.unwrap();
        let (_, admin) = identity
            .user(&org, "admin@rendetalje.dk", "admin")
            .await
            .unwrap();
        Self {
            db,
            identity,
            flow,
            admin,
            org,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>, status: u16) -> Value {
        expect(&self.flow, method, path, &self.admin, body, status).await
    }

    async fn workflow(&self, name: &str, definition: Value) {
        self.send(
            Method::POST,
            "/v1/workflows",
            Some(json!({"name": name, "definition": definition})),
            201,
        )
        .await;
    }

    async fn run(&self, name: &str, input: Value) -> String {
        let started = self
            .send(
                Method::POST,
                &format!("/v1/workflows/{name}/executions"),
                Some(json!({"input": input})),
                202,
            )
            .await;
        started["id"].as_str().unwrap().to_owned()
    }

    async fn execution(&self, id: &str) -> Value {
        self.send(Method::GET, &format!("/v1/executions/{id}"), None, 200)
            .await
    }

    async fn ended(&self, id: &str) -> Value {
        wait_until("the execution ends", Duration::from_secs(60), async || {
            let status = self.execution(id).await["status"].clone();
            status == "succeeded" || status == "failed" || status == "cancelled"
        })
        .await;
        self.execution(id).await
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db.admin_count(sql).await.unwrap()
    }
}

#[tokio::test]
async fn steps_run_in_order_through_retries_a_sub_workflow_a_wait_and_a_delay() {
    let world = World::new(51).await;
    let receiver = Receiver::start().await.unwrap();
    // The receiver fails the first delivery; the retry succeeds, and its answer echoes the
    // secret it was sent.
    receiver.script([
        Reply::Status(503),
        Reply::Json(json!({"received": format!("Bearer {API_TOKEN}")})),
    ]);
    let integration = world
        .send(
            Method::PUT,
            "/v1/integrations/orders",
            Some(json!({"kind": "webhook", "url": format!("{}/hooks/orders", receiver.url)})),
            200,
        )
        .await;
    let secret = integration["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    world
        .send(
            Method::PUT,
            "/v1/variables/api_token",
            Some(json!({"value": API_TOKEN, "secret": true})),
            204,
        )
        .await;
    world
        .send(
            Method::PUT,
            "/v1/variables/threshold",
            Some(json!({"value": 100})),
            204,
        )
        .await;
    let vars = world.send(Method::GET, "/v1/variables", None, 200).await;
    assert_eq!(
        vars,
        json!([
            {"name": "api_token", "secret": true, "value": null, "updated_at": vars[0]["updated_at"]},
            {"name": "threshold", "secret": false, "value": 100, "updated_at": vars[1]["updated_at"]},
        ])
    );

    world
        .workflow(
            "double",
            json!({"trigger": {"type": "manual"}, "steps": [
                {"id": "calc", "type": "transform", "set": {"doubled": "{{ input.n * 2 }}"}}
            ]}),
        )
        .await;
    world
        .workflow(
            "signal",
            json!({"trigger": {"type": "manual"}, "steps": [
                {"id": "go", "type": "emit", "event": "tekup.flow.v1.SignalEmitted",
                 "payload": {"name": "go", "payload_json": "{{ string(input.n) }}"}}
            ]}),
        )
        .await;
    world.workflow("order", json!({"trigger": {"type": "manual"}, "steps": [
        {"id": "calc", "type": "transform", "set": {"n": "{{ input.n + 1 }}"}},
        {"id": "gate", "type": "condition", "if": "steps.calc.n > vars.threshold", "then": "end"},
        {"id": "notify", "type": "webhook", "integration": "orders", "event_type": "order.created",
         "payload": {"n": "{{ steps.calc.n }}", "auth": "Bearer {{ vars.api_token }}"},
         "retry": {"max_attempts": 3, "initial_interval_ms": 200}},
        {"id": "tell", "type": "emit", "event": "tekup.flow.v1.SignalEmitted",
         "payload": {"name": "audit", "payload_json": "Bearer {{ vars.api_token }}"}},
        {"id": "sub", "type": "workflow", "workflow": "double",
         "input": {"n": "{{ steps.calc.n }}", "key": "{{ vars.api_token }}"}},
        {"id": "wait", "type": "wait_for_event", "event": "tekup.flow.v1.SignalEmitted",
         "match": "event.name == 'go' && event.payload_json == string(steps.calc.n)",
         "timeout_seconds": 60},
        {"id": "pause", "type": "delay", "seconds": 1},
        {"id": "done", "type": "transform", "set": {"result": "{{ steps.sub.calc.doubled }}"}}
    ]})).await;

    // Above the threshold: the condition ends the run at once.
    let high = world.run("order", json!({"n": 500})).await;
    let high = world.ended(&high).await;
    assert_eq!(high["status"], "succeeded");
    assert_eq!(high["outputs"]["gate"]["result"], true);
    assert!(high["outputs"].get("notify").is_none(), "{high}");

    let id = world.run("order", json!({"n": 20})).await;
    wait_until(
        "waiting for the signal",
        Duration::from_secs(60),
        async || {
            world.execution(&id).await["status"] == "waiting"
                && world.execution(&id).await["outputs"].get("sub").is_some()
        },
    )
    .await;
    // A signal that does not match leaves it waiting; the matching one resumes it.
    world.run("signal", json!({"n": 99})).await;
    world.run("signal", json!({"n": 21})).await;
    let done = world.ended(&id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"]["done"]["result"], 42);
    assert_eq!(done["outputs"]["wait"]["name"], "go");
    assert_eq!(done["outputs"]["wait"]["payload_json"], "21");

    // The webhook: two attempts of one message, signed, the second accepted.
    let received = receiver.received();
    assert_eq!(received.len(), 2, "{received:?}");
    let message_id = received[0].header("webhook-id").unwrap().to_owned();
    assert_eq!(received[1].header("webhook-id"), Some(message_id.as_str()));
    for delivery in &received {
        let signed = flow::signature::Signed {
            id: delivery.header("webhook-id"),
            timestamp: delivery.header("webhook-timestamp"),
            signatures: delivery.header("webhook-signature"),
        };
        let now = chrono::Utc::now().timestamp();
        assert!(flow::signature::verify(&secret, &signed, &delivery.body, now).is_ok());
        assert_eq!(delivery.json()["type"], "order.created");
        assert_eq!(delivery.json()["data"]["n"], 21);
        assert_eq!(
            delivery.json()["data"]["auth"],
            format!("Bearer {API_TOKEN}")
        );
    }
    let log = world
        .send(Method::GET, "/v1/integrations/orders/deliveries", None, 200)
        .await;
    let log: Vec<(i64, i64)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["attempt"].as_i64().unwrap(),
                d["status_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(log, [(2, 200), (1, 503)], "newest first");

    // Every attempt of every step, in order; the sub-workflow is a child execution.
    let steps: Vec<(String, i64, String)> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step_id"].as_str().unwrap().to_owned(),
                s["attempt"].as_i64().unwrap(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("calc", 1, "succeeded"),
        ("gate", 1, "succeeded"),
        ("notify", 1, "retrying"),
        ("notify", 2, "succeeded"),
        ("tell", 1, "succeeded"),
        ("sub", 1, "succeeded"),
        ("wait", 1, "succeeded"),
        ("pause", 1, "succeeded"),
        ("done", 1, "succeeded"),
    ];
    assert_eq!(
        steps,
        expected.map(|(a, b, c)| (a.to_owned(), b, c.to_owned())),
        "{done}"
    );
    let children = world
        .send(Method::GET, "/v1/executions?workflow=double", None, 200)
        .await;
    assert_eq!(children["items"][0]["parent_id"], id.as_str());

    // The secret never reached the database in clear.
    let mut stored = 0;
    for (table, column) in [
        (
            "flow.execution_steps",
            "input::text || coalesce(output::text, '') || coalesce(error, '')",
        ),
        ("flow.execution_logs", "message || data::text"),
        (
            "flow.executions",
            "input::text || outputs::text || coalesce(error, '')",
        ),
        (
            "flow.variables",
            "coalesce(value::text, '') || encode(coalesce(ciphertext, ''), 'escape')",
        ),
        ("flow.outgoing_deliveries", "coalesce(error, '')"),
        // The emitted event too: its consumers would store it.
        ("flow.outbox", "encode(payload, 'escape')"),
    ] {
        stored += world
            .count(&format!(
                "SELECT count(*) AS n FROM {table} WHERE strpos({column}, '{API_TOKEN}') > 0"
            ))
            .await;
    }
    assert_eq!(stored, 0, "the secret is stored in clear somewhere");
    assert_eq!(
        done["outputs"]["tell"]["payload_json"], "Bearer [secret]",
        "{done}"
    );
    assert_eq!(
        done["outputs"]["notify"]["body"]["received"],
        "Bearer [secret]"
    );
    drop(world.identity);
}

#[tokio::test]
async fn a_failing_step_fails_the_execution_and_runs_can_be_cancelled_and_rerun() {
    let world = World::new(53).await;
    let receiver = Receiver::start().await.unwrap();
    receiver.script([Reply::Status(422)]);
    world
        .send(
            Method::PUT,
            "/v1/integrations/crm-sync",
            Some(json!({"kind": "http", "url": receiver.url, "headers": {"x-api-key": "k-1"}})),
            200,
        )
        .await;
    world
        .workflow(
            "push",
            json!({"trigger": {"type": "manual"}, "steps": [
                {"id": "call", "type": "http", "method": "POST", "integration": "crm-sync",
                 "url": "/v1/things/{{ input.id }}", "body": {"id": "{{ input.id }}"}}
            ]}),
        )
        .await;
    // 422 is not worth retrying: one attempt, the execution fails naming why.
    let failed = world.run("push", json!({"id": "a-1"})).await;
    let failed = world.ended(&failed).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().starts_with("http_4xx"),
        "{failed}"
    );
    assert_eq!(failed["steps"].as_array().unwrap().len(), 1);
    let request = &receiver.received()[0];
    assert_eq!(request.path, "/v1/things/a-1");
    assert_eq!(request.header("x-api-key"), Some("k-1"));
    assert_eq!(
        request.header("idempotency-key"),
        Some(format!("{}:call", failed["id"].as_str().unwrap()).as_str())
    );
    // Re-run: a new execution with the same input, which now succeeds.
    let rerun = world
        .send(
            Method::POST,
            &format!("/v1/executions/{}/rerun", failed["id"].as_str().unwrap()),
            None,
            202,
        )
        .await;
    assert_eq!(rerun["rerun_of"], failed["id"]);
    let rerun = world.ended(rerun["id"].as_str().unwrap()).await;
    assert_eq!(rerun["status"], "succeeded");
    assert_eq!(rerun["outputs"]["call"]["status"], 200);

    // A long delay, cancelled; cancelling again is a conflict.
    world
        .workflow(
            "slow",
            json!({"trigger": {"type": "manual"}, "steps": [
                {"id": "pause", "type": "delay", "seconds": 3600},
                {"id": "after", "type": "transform", "set": {"ran": true}}
            ]}),
        )
        .await;
    let slow = world.run("slow", json!({})).await;
    wait_until("the delay begins", Duration::from_secs(30), async || {
        world.execution(&slow).await["outputs"]
            .get("pause")
            .is_some()
    })
    .await;
    let cancelled = world
        .send(
            Method::POST,
            &format!("/v1/executions/{slow}/cancel"),
            None,
            200,
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    world
        .send(
            Method::POST,
            &format!("/v1/executions/{slow}/cancel"),
            None,
            409,
        )
        .await;
    // An idempotent start: the same key, one execution.
    let body = json!({"input": {}, "idempotency_key": "k-42"});
    let a = world
        .send(
            Method::POST,
            "/v1/workflows/slow/executions",
            Some(body.clone()),
            202,
        )
        .await;
    let b = world
        .send(
            Method::POST,
            "/v1/workflows/slow/executions",
            Some(body),
            202,
        )
        .await;
    assert_eq!(a["id"], b["id"]);
    let metrics = world
        .send(Method::GET, "/v1/workflows/push", None, 200)
        .await["metrics"][0]
        .clone();
    assert_eq!(
        (metrics["runs"].as_i64(), metrics["failed"].as_i64()),
        (Some(2), Some(1)),
        "{metrics}"
    );
}

#[tokio::test]
async fn steps_reach_no_internal_address_unless_its_range_is_allowed() {
    // Nothing allowed: the receiver on this host's loopback stands for flow's own pod, the
    // services beside it and the cloud's metadata service.
    let world = World::reaching(57, "").await;
    let receiver = Receiver::start().await.unwrap();
    let port = receiver.url.rsplit(':').next().unwrap().to_owned();
    let urls = [
        ("address", receiver.url.clone()),
        ("name", format!("http://localhost:{port}/")),
        ("mapped", format!("http://[::ffff:127.0.0.1]:{port}/")),
        ("decimal", format!("http://2130706433:{port}/")),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ),
    ];
    for (name, url) in &urls {
        world
            .workflow(
                name,
                json!({"trigger": {"type": "manual"}, "steps": [
                    {"id": "call", "type": "http", "method": "GET", "url": url}
                ]}),
            )
            .await;
    }
    // An outgoing webhook, to an integration that names the same receiver.
    world
        .send(
            Method::PUT,
            "/v1/integrations/inside",
            Some(json!({"kind": "webhook", "url": receiver.url})),
            200,
        )
        .await;
    world
        .workflow(
            "webhook",
            json!({"trigger": {"type": "manual"}, "steps": [
                {"id": "call", "type": "webhook", "integration": "inside",
                 "event_type": "probe", "payload": {}}
            ]}),
        )
        .await;
    let names = urls.iter().map(|(name, _)| *name).chain(["webhook"]);
    for name in names {
        let id = world.run(name, json!({})).await;
        let ended = world.ended(&id).await;
        assert_eq!(ended["status"], "failed", "{name}: {ended}");
        let error = ended["error"].as_str().unwrap();
        assert!(
            error.starts_with("address") && error.contains("not a public address"),
            "{name}: {ended}"
        );
        // Refused for good: one attempt, no retries.
        assert_eq!(
            ended["steps"].as_array().unwrap().len(),
            1,
            "{name}: {ended}"
        );
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
    // The refused delivery is in the integration's log like any failed one.
    let log = world
        .send(Method::GET, "/v1/integrations/inside/deliveries", None, 200)
        .await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{log}");
    assert!(
        items[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a public address")),
        "{log}"
    );
}

#[tokio::test]
async fn workflows_that_trigger_each_other_in_a_circle_stop_at_the_chain_limit() {
    let world = World::new(58).await;
    let ping = json!({"id": "ping", "type": "emit", "event": "tekup.flow.v1.SignalEmitted",
                      "payload": {"name": "ping", "payload_json": "{}"}});
    // "echo" answers every ping with a ping: without a limit it would run for ever.
    world
        .workflow(
            "echo",
            json!({"trigger": {"type": "event", "event": "tekup.flow.v1.SignalEmitted",
                               "filter": "input.name == 'ping'"},
                   "steps": [ping]}),
        )
        .await;
    world
        .workflow(
            "start",
            json!({"trigger": {"type": "manual"}, "steps": [ping]}),
        )
        .await;
    world.run("start", json!({})).await;
    // The start and eight echoes; the ninth is not started, and the eighth echo's log says why.
    wait_until(
        "the circle is stopped",
        Duration::from_secs(90),
        async || {
            world
                .count(
                    "SELECT count(*) AS n FROM flow.execution_logs \
                 WHERE level = 'warn' AND message LIKE '\"echo\" was not started: 8 executions%'",
                )
                .await
                == 1
        },
    )
    .await;
    let echoes = "FROM flow.executions e JOIN flow.workflows w ON w.id = e.workflow_id \
                  WHERE w.name = 'echo'";
    assert_eq!(
        world.count(&format!("SELECT count(*) AS n {echoes}")).await,
        8
    );
    assert_eq!(
        world
            .count(&format!(
                "SELECT count(DISTINCT e.chain) AS n {echoes} AND e.chain BETWEEN 1 AND 8"
            ))
            .await,
        8,
        "one echo at each step of the chain"
    );
    let last = world
        .count(&format!(
            "SELECT count(*) AS n {echoes} AND e.chain = 8 AND EXISTS \
             (SELECT 1 FROM flow.execution_logs l WHERE l.execution_id = e.id AND l.level = 'warn')"
        ))
        .await;
    assert_eq!(
        last, 1,
        "the refusal is logged on the execution that emitted"
    );
}

#[tokio::test]
async fn definitions_are_checked_and_only_administrators_change_them() {
    let world = World::new(55).await;
    let (_, viewer) = world
        .identity
        .user(&world.org, "viewer@rendetalje.dk", "viewer")
        .await
        .unwrap();
    let bad = world
        .send(
            Method::POST,
            "/v1/workflows",
            Some(json!({"name": "Bad Name", "definition": {
            "trigger": {"type": "event", "event": "LeadCreated"},
            "steps": [
                {"id": "a", "type": "condition", "if": "input.x ==", "then": "nowhere"},
                {"id": "b", "type": "delay", "seconds": 0},
            ]}})),
            422,
        )
        .await;
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "name",
        "definition.trigger.event",
        "definition.steps[0].if",
        "definition.steps[0].then",
        "definition.steps[1].seconds",
    ] {
        assert!(fields.contains(&field), "{field}: {bad}");
    }
    let typo = world
        .send(
            Method::POST,
            "/v1/workflows",
            Some(json!({"name": "typo", "definition": {
            "trigger": {"type": "manual"},
            "steps": [{"id": "b", "type": "delay", "seconds": 1, "sconds": 2}]}})),
            422,
        )
        .await;
    assert!(typo.to_string().contains("sconds"), "{typo}");
    // A workflow cannot start itself; two that start each other stop at the nesting limit.
    let itself = world
        .send(
            Method::POST,
            "/v1/workflows",
            Some(
                json!({"name": "ouroboros", "definition": {"trigger": {"type": "manual"},
                "steps": [{"id": "again", "type": "workflow", "workflow": "ouroboros"}]}}),
            ),
            422,
        )
        .await;
    assert_eq!(
        itself["errors"][0]["field"], "definition.steps[0].workflow",
        "{itself}"
    );
    for (name, other) in [("ping", "pong"), ("pong", "ping")] {
        world
            .workflow(
                name,
                json!({"trigger": {"type": "manual"},
                    "steps": [{"id": "call", "type": "workflow", "workflow": other}]}),
            )
            .await;
    }
    let top = world.run("ping", json!({})).await;
    assert_eq!(world.ended(&top).await["status"], "failed");
    let started = world
        .send(Method::GET, "/v1/executions?limit=50", None, 200)
        .await;
    let circle: Vec<&Value> = started["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| ["ping", "pong"].contains(&e["workflow"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        circle.len(),
        9,
        "the top and eight levels below it: {started}"
    );
    assert!(
        circle.iter().any(|e| e["error"]
            .as_str()
            .is_some_and(|m| m.contains("nest deeper"))),
        "{started}"
    );
    let ok = json!({"name": "hello", "definition": {"trigger": {"type": "manual"},
        "steps": [{"id": "say", "type": "transform", "set": {"greeting": "Hej {{ input.name }}"}}]}});
    expect(
        &world.flow,
        Method::POST,
        "/v1/workflows",
        &viewer,
        Some(ok.clone()),
        403,
    )
    .await;
    world
        .send(Method::POST, "/v1/workflows", Some(ok.clone()), 201)
        .await;
    let v2 = world
        .send(Method::POST, "/v1/workflows", Some(ok), 201)
        .await;
    assert_eq!(v2["version"], 2);
    let shown = expect(
        &world.flow,
        Method::GET,
        "/v1/workflows/hello",
        &viewer,
        None,
        200,
    )
    .await;
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
    expect(
        &world.flow,
        Method::POST,
        "/v1/workflows/hello/executions",
        &viewer,
        Some(json!({})),
        403,
    )
    .await;
    let id = world.run("hello", json!({"name": "Mette"})).await;
    assert_eq!(
        world.ended(&id).await["outputs"]["say"]["greeting"],
        "Hej Mette"
    );
    world
        .send(Method::DELETE, "/v1/workflows/hello", None, 204)
        .await;
    world
        .send(
            Method::POST,
            "/v1/workflows/hello/executions",
            Some(json!({})),
            404,
        )
        .await;
    // An integration cannot be saved with a malformed URL; a schedule needs a valid cron.
    world
        .send(
            Method::PUT,
            "/v1/integrations/x",
            Some(json!({"kind": "webhook", "url": "ftp://x"})),
            422,
        )
        .await;
    world
        .send(
            Method::POST,
            "/v1/schedules",
            Some(json!({"workflow": "hello", "cron": "61 * * * *"})),
            422,
        )
        .await;
}

#[tokio::test]
async fn schedules_follow_their_missed_runs_policy_after_downtime() {
    let world = World::new(57).await;
    world.workflow("tick", json!({"trigger": {"type": "schedule"}, "steps": [
        {"id": "t", "type": "transform", "set": {"at": "{{ execution.trigger.occurrence }}"}}
    ]})).await;
    let mut ids = Vec::new();
    for missed in ["skip", "run_once", "run_all"] {
        let schedule = world
            .send(
                Method::POST,
                "/v1/schedules",
                Some(
                    json!({"workflow": "tick", "cron": "* * * * *", "missed": missed,
                            "skip_holidays": true, "input": {"policy": missed}}),
                ),
                201,
            )
            .await;
        assert_eq!(schedule["upcoming"].as_array().unwrap().len(), 5);
        ids.push((missed, schedule["id"].as_str().unwrap().to_owned()));
    }
    // flow was "down" for ten minutes: the schedules' next run lies in the past.
    world
        .count("WITH moved AS (UPDATE flow.schedules SET next_run_at = date_trunc('minute', now()) - interval '10 minutes' RETURNING 1) SELECT count(*) AS n FROM moved")
        .await;
    let runs = |policy: &'static str| {
        let db = Arc::clone(&world.db);
        async move {
            db.admin_count(&format!(
                "SELECT count(*) AS n FROM flow.executions WHERE input->>'policy' = '{policy}'"
            ))
            .await
            .unwrap()
        }
    };
    wait_until(
        "the missed runs are caught up",
        Duration::from_secs(30),
        async || runs("run_all").await >= 10,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (skip, once, all) = (
        runs("skip").await,
        runs("run_once").await,
        runs("run_all").await,
    );
    // On time: the one minute within the last 60 s (two when now is on the minute).
    assert!(skip <= 2, "skip ran the missed runs: {skip}");
    assert!(
        (1..=3).contains(&once) && once == skip + 1,
        "run_once: {once}, skip: {skip}"
    );
    assert!((10..=12).contains(&all), "run_all: {all}");
    // Each occurrence ran once: the dedupe key holds across polls.
    let distinct = world
        .count("SELECT count(DISTINCT dedupe_key) AS n FROM flow.executions WHERE input->>'policy' = 'run_all'")
        .await;
    assert_eq!(distinct, all);
    let schedules = world.send(Method::GET, "/v1/schedules", None, 200).await;
    for schedule in schedules["items"].as_array().unwrap() {
        let next = schedule["next_run_at"].as_str().unwrap();
        assert!(
            next > chrono::Utc::now().to_rfc3339().as_str(),
            "{schedule}"
        );
    }
    assert_eq!(ids.len(), 3);
}

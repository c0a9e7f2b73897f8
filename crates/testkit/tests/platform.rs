//! Every service starts with the same code as its `main`, migrates its schema and serves the
//! operational endpoints.

#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::Value;
use tekup_runtime::ServiceApp;
use tekup_testkit::{TestDb, spawn_app, spawn_app_on};

async fn serves_the_operational_endpoints<S: ServiceApp>() {
    let app = spawn_app::<S>(&[]).await.unwrap();
    let name = S::SERVICE.name();

    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], name);

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"][0]["name"], "database");
    assert_eq!(ready["checks"][0]["ok"], true);

    let doc = app.get("/openapi.json").await;
    assert_eq!(doc.status(), StatusCode::OK);
    let doc: Value = doc.json().await.unwrap();
    assert_eq!(doc["info"]["title"], format!("tekup {name}"));
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert!(doc["paths"][path].is_object(), "{name} documents {path}");
    }

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("http_requests_total") && metrics.contains("route=\"/readyz\""),
        "{metrics}"
    );

    let missing = app.get("/no/such/thing").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = missing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let problem: Value = missing.json().await.unwrap();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["request_id"], request_id.as_str());
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("/no/such/thing")
    );
}

#[tokio::test]
async fn vault_serves_health_readiness_metrics_and_openapi() {
    serves_the_operational_endpoints::<vault::Vault>().await;
}

#[tokio::test]
async fn billy_serves_health_readiness_metrics_and_openapi() {
    serves_the_operational_endpoints::<billy::Billy>().await;
}

#[tokio::test]
async fn renos_serves_health_readiness_metrics_and_openapi() {
    serves_the_operational_endpoints::<renos::Renos>().await;
}

#[tokio::test]
async fn crm_serves_health_readiness_metrics_and_openapi() {
    serves_the_operational_endpoints::<crm::Crm>().await;
}

#[tokio::test]
async fn flow_serves_health_readiness_metrics_and_openapi() {
    serves_the_operational_endpoints::<flow::Flow>().await;
}

#[tokio::test]
async fn shared_serves_health_readiness_metrics_and_openapi() {
    serves_the_operational_endpoints::<shared::Shared>().await;
}

#[tokio::test]
async fn a_caller_request_id_is_echoed_and_an_absent_one_is_made() {
    let app = spawn_app::<crm::Crm>(&[]).await.unwrap();
    let echoed = app
        .client
        .get(app.at("/healthz"))
        .header("x-request-id", "caller-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "caller-42");
    let made = app.get("/healthz").await;
    let id = made.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
}

#[tokio::test]
async fn readiness_answers_503_problem_while_the_database_is_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://tekup_crm:x@127.0.0.1:{port}/tekup");
    let db = std::sync::Arc::new(TestDb::new().await.unwrap());
    let app = spawn_app_on::<crm::Crm>(
        db,
        &[
            ("DATABASE__URL", &url),
            ("DATABASE__MIGRATE_ON_START", "false"),
            ("DATABASE__CONNECT_TIMEOUT_MS", "500"),
            ("DATABASE__CHECKOUT_TIMEOUT_MS", "500"),
        ],
    )
    .await
    .unwrap();

    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.headers()["content-type"], "application/problem+json");
    let problem: Value = ready.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("Not ready: database"),
        "{problem}"
    );
    assert!(app.is_running());
}

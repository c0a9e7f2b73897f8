//! OWASP API Security Top 10 (2023) checks against shared and crm together (and flow for its
//! inbound webhooks): object-level and property-level authorization, resource consumption,
//! function-level authorization.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tekup_testkit::{TestApp, TestDb, spawn_app_on};

const OPERATOR: &str = "operator-secret";
const PASSWORD: &str = "rengøring-er-en-kunst";
const CVR: &str = "13585628";

struct Apps {
    shared: TestApp,
    crm: TestApp,
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.at(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    if !status.is_success() {
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn user(apps: &Apps, org: &str, email: &str, role: &str) -> (String, String) {
    let (status, created) = send(
        &apps.shared,
        Method::POST,
        &format!("/v1/organizations/{org}/users"),
        OPERATOR,
        Some(json!({"email": email, "password": PASSWORD, "first_name": "A", "last_name": "B", "role": role})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let response = apps
        .shared
        .client
        .post(apps.shared.at("/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (created["id"].as_str().unwrap().to_owned(), token)
}

async fn setup() -> (Apps, String, String) {
    let db = Arc::new(TestDb::new().await.unwrap());
    let key = STANDARD.encode([8u8; 32]);
    let shared = spawn_app_on::<shared::Shared>(
        Arc::clone(&db),
        &[
            ("APP__ADMIN_TOKEN", OPERATOR),
            ("APP__JWT__SIGNING_KEY", &key),
        ],
    )
    .await
    .unwrap();
    let jwks = shared.at("/.well-known/jwks.json");
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    let apps = Apps { shared, crm };
    let mut orgs = Vec::new();
    for name in ["Org A ApS", "Org B ApS"] {
        let (_, org) = send(
            &apps.shared,
            Method::POST,
            "/v1/organizations",
            OPERATOR,
            Some(json!({"name": name})),
        )
        .await;
        orgs.push(org["id"].as_str().unwrap().to_owned());
    }
    let b = orgs.pop().unwrap();
    let a = orgs.pop().unwrap();
    (apps, a, b)
}

#[tokio::test]
async fn api1_another_organizations_objects_are_404_never_403() {
    let (apps, a, b) = setup().await;
    let (_, admin_a) = user(&apps, &a, "admin@a.dk", "admin").await;
    let (b_user, admin_b) = user(&apps, &b, "admin@b.dk", "admin").await;
    send(
        &apps.crm,
        Method::PUT,
        &format!("/v1/companies/{CVR}"),
        &admin_b,
        Some(json!({"name": "B's kunde"})),
    )
    .await;
    let (_, contact) = send(
        &apps.crm,
        Method::POST,
        &format!("/v1/companies/{CVR}/contacts"),
        &admin_b,
        Some(json!({"first_name": "Lars", "last_name": "B"})),
    )
    .await;
    let contact = contact["id"].as_str().unwrap();
    for (app, method, path) in [
        (&apps.shared, Method::GET, format!("/v1/users/{b_user}")),
        (
            &apps.crm,
            Method::GET,
            format!("/v1/companies/{CVR}/contacts"),
        ),
        (
            &apps.crm,
            Method::DELETE,
            format!("/v1/companies/{CVR}/contacts/{contact}"),
        ),
    ] {
        let (status, problem) = send(app, method.clone(), &path, &admin_a, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
    }
}

#[tokio::test]
async fn api3_a_body_cannot_set_org_role_or_author() {
    let (apps, a, b) = setup().await;
    let (_, admin_a) = user(&apps, &a, "admin@a.dk", "admin").await;
    let (_, viewer) = user(&apps, &a, "viewer@a.dk", "viewer").await;
    for (app, method, path, body) in [
        (
            &apps.crm,
            Method::PUT,
            format!("/v1/companies/{CVR}"),
            json!({"name": "X", "org_id": b}),
        ),
        (
            &apps.crm,
            Method::PUT,
            format!("/v1/companies/{CVR}"),
            json!({"name": "X", "created_by": b}),
        ),
        (
            &apps.shared,
            Method::POST,
            "/v1/companies".to_owned(),
            json!({"cvr": CVR, "name": "X", "org_id": b}),
        ),
    ] {
        let (status, problem) = send(app, method.clone(), &path, &admin_a, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {problem}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("unknown field"),
            "{problem}"
        );
    }
    // A user cannot promote themselves: role changes are for administrators only.
    let (_, me) = send(&apps.shared, Method::GET, "/v1/me", &viewer, None).await;
    let id = me["user"]["id"].as_str().unwrap();
    let (status, _) = send(
        &apps.shared,
        Method::PATCH,
        &format!("/v1/users/{id}"),
        &viewer,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, me) = send(&apps.shared, Method::GET, "/v1/me", &viewer, None).await;
    assert_eq!(me["user"]["role"], "viewer");
}

#[tokio::test]
async fn api4_pages_are_capped_and_oversized_bodies_refused() {
    let (apps, a, _) = setup().await;
    let (_, admin) = user(&apps, &a, "admin@a.dk", "admin").await;
    let (status, problem) = send(
        &apps.crm,
        Method::GET,
        "/v1/companies?limit=10000",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "limit");
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, _) = send(
        &apps.crm,
        Method::PUT,
        &format!("/v1/companies/{CVR}"),
        &admin,
        Some(json!({"name": huge})),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// Logins and inbound webhooks are rate limited: past the allowance, 429 with Retry-After, as
/// problem+json, before a password is checked or a body read.
#[tokio::test]
async fn api4_logins_and_webhook_deliveries_are_rate_limited() {
    let (apps, a, _) = setup().await;
    let (_, admin) = user(&apps, &a, "admin@a.dk", "admin").await;
    let flow = spawn_app_on::<flow::Flow>(
        Arc::clone(&apps.shared.db),
        &[
            ("AUTH__JWKS_URL", &apps.shared.at("/.well-known/jwks.json")),
            ("APP__WEBHOOKS__MAX_PER_MINUTE", "3"),
            ("APP__ENGINE__ENABLED", "false"),
        ],
    )
    .await
    .unwrap();
    let (status, created) = send(
        &flow,
        Method::POST,
        "/v1/webhooks",
        &admin,
        Some(json!({"name": "Formular", "format": "standard"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hook = flow.at(created["path"].as_str().unwrap());
    let mut answers = Vec::new();
    for _ in 0..5 {
        // Unsigned: each is refused, and each counts.
        let response = flow.client.post(&hook).body("{}").send().await.unwrap();
        answers.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
        }
    }
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );

    let mut last = StatusCode::OK;
    for _ in 0..10 {
        last = apps
            .shared
            .client
            .post(apps.shared.at("/v1/auth/login"))
            .json(&json!({"email": "admin@a.dk", "password": "not-the-password"}))
            .send()
            .await
            .unwrap()
            .status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn api5_viewers_and_analysts_cannot_call_administrator_functions() {
    let (apps, a, _) = setup().await;
    let (_, viewer) = user(&apps, &a, "viewer@a.dk", "viewer").await;
    let (analyst_id, analyst) = user(&apps, &a, "analyst@a.dk", "analyst").await;
    for token in [&viewer, &analyst] {
        for (app, method, path, body) in [
            (
                &apps.shared,
                Method::POST,
                "/v1/users".to_owned(),
                Some(
                    json!({"email": "x@a.dk", "password": PASSWORD, "first_name": "X", "last_name": "Y", "role": "admin"}),
                ),
            ),
            (
                &apps.shared,
                Method::POST,
                "/v1/companies".to_owned(),
                Some(json!({"cvr": CVR, "name": "X"})),
            ),
            (
                &apps.shared,
                Method::PUT,
                format!("/v1/companies/{CVR}/grants/{analyst_id}"),
                Some(json!({"access_level": "admin"})),
            ),
            (&apps.shared, Method::GET, "/v1/audit".to_owned(), None),
            (
                &apps.crm,
                Method::PUT,
                "/v1/pipeline".to_owned(),
                Some(json!({"stages": []})),
            ),
        ] {
            let (status, problem) = send(app, method.clone(), &path, token, body).await;
            assert!(
                status == StatusCode::FORBIDDEN
                    || (status == StatusCode::UNPROCESSABLE_ENTITY && path == "/v1/pipeline"),
                "{method} {path}: {status} {problem}"
            );
        }
    }
}

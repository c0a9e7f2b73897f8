//! Identity and tenancy through shared's HTTP API, against real PostgreSQL and the broker.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use diesel::sql_types::BigInt;
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tekup_auth::{Claims, SigningKey};
use tekup_db::Service;
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};
use uuid::Uuid;

const OPERATOR: &str = "operator-secret";
const SEED: [u8; 32] = [7; 32];
const PASSWORD: &str = "rengøring-er-en-kunst";

struct Shared {
    app: TestApp,
}

fn seed() -> String {
    STANDARD.encode(SEED)
}

async fn shared_on(db: &Arc<TestDb>, extra: &[(&str, &str)]) -> Shared {
    let seed = seed();
    let mut overrides = vec![
        ("APP__ADMIN_TOKEN", OPERATOR),
        ("APP__JWT__SIGNING_KEY", seed.as_str()),
    ];
    overrides.extend_from_slice(extra);
    let app = spawn_app_on::<shared::Shared>(Arc::clone(db), &overrides)
        .await
        .unwrap();
    Shared { app }
}

async fn shared(extra: &[(&str, &str)]) -> (Arc<TestDb>, Shared) {
    let db = Arc::new(TestDb::new().await.unwrap());
    let shared = shared_on(&db, extra).await;
    (db, shared)
}

impl Shared {
    fn url(&self, path: &str) -> String {
        self.app.at(path)
    }

    async fn operator_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(self.url(path))
            .bearer_auth(OPERATOR)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn org(&self, name: &str) -> Uuid {
        let response = self
            .operator_post("/v1/organizations", json!({"name": name}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
    }

    /// A user made by the operator; returns (id, access token).
    async fn user(&self, org: Uuid, email: &str, role: &str) -> (Uuid, String) {
        let response = self
            .operator_post(
                &format!("/v1/organizations/{org}/users"),
                json!({"email": email, "password": PASSWORD, "first_name": "Mette",
                       "last_name": "Hansen", "role": role}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
        let body: Value = response.json().await.unwrap();
        let id = body["id"].as_str().unwrap().parse().unwrap();
        let tokens = self.login(email, PASSWORD).await;
        assert_eq!(tokens.0, StatusCode::OK, "{}", tokens.1);
        (id, tokens.1["access_token"].as_str().unwrap().to_owned())
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post_json(
            "/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    async fn post_json(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = self.app.client.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .app
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn put_json(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send_json(reqwest::Method::PUT, path, token, body)
            .await
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .app
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, path: &str, token: &str) -> StatusCode {
        self.app
            .client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(user: Uuid, org: Uuid, exp: i64) -> Claims {
    Claims {
        sub: user,
        org,
        role: tekup_types::Role::Admin,
        iss: "tekup".into(),
        aud: "tekup".into(),
        iat: now(),
        exp,
        jti: Uuid::now_v7(),
    }
}

#[tokio::test]
async fn a_user_logs_in_and_sees_themselves_their_org_and_grants() {
    let (_db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    let (id, token) = shared.user(org, "Mette@Rendetalje.dk", "admin").await;
    let (status, me) = shared.get("/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["id"], id.to_string());
    assert_eq!(me["user"]["email"], "mette@rendetalje.dk");
    assert_eq!(me["organization"]["name"], "Rendetalje ApS");
    assert_eq!(me["grants"], json!([]));
    let (status, jwks) = shared.get("/.well-known/jwks.json", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let (_db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    shared.user(org, "mette@rendetalje.dk", "viewer").await;
    let wrong = shared
        .login("mette@rendetalje.dk", "not-the-password")
        .await;
    let unknown = shared.login("nobody@rendetalje.dk", PASSWORD).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.1["detail"], unknown.1["detail"]);
}

#[tokio::test]
async fn repeated_failed_logins_are_refused_with_429() {
    let (_db, shared) = shared(&[("APP__LOGIN__MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    let org = shared.org("Rendetalje ApS").await;
    shared.user(org, "mette@rendetalje.dk", "viewer").await;
    for _ in 0..3 {
        assert_eq!(
            shared
                .login("mette@rendetalje.dk", "guess-guess-guess")
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    let response = shared
        .app
        .client
        .post(shared.url("/v1/auth/login"))
        .json(&json!({"email": "mette@rendetalje.dk", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

/// Guesses sent all at once are counted as they arrive: no more than the limit get an answer
/// about the password, the rest are refused with 429. An absurd e-mail is refused as input.
#[tokio::test]
async fn parallel_guesses_get_no_more_tries_than_the_limit() {
    let (_db, shared) = shared(&[("APP__LOGIN__MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    let org = shared.org("Rendetalje ApS").await;
    shared.user(org, "mette@rendetalje.dk", "viewer").await;
    let guesses = (0..12).map(|i| {
        let shared = &shared;
        async move {
            shared
                .login("mette@rendetalje.dk", &format!("guess-{i}-guess"))
                .await
                .0
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let tried = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((tried, refused), (3, 9), "{answers:?}");

    let (status, problem) = shared.login(&"x".repeat(10_000), PASSWORD).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "email");
}

/// Behind a trusted proxy (here on loopback: the console, an ingress) failed logins are
/// counted per client address it forwards: one client's failures do not lock out the next.
#[tokio::test]
async fn behind_a_proxy_failures_are_counted_per_client() {
    let (_db, shared) = shared(&[("APP__LOGIN__MAX_FAILURES_PER_SOURCE", "2")]).await;
    let login = async |client: &str, email: &str| {
        shared
            .app
            .client
            .post(shared.url("/v1/auth/login"))
            .header("x-forwarded-for", client)
            .json(&json!({"email": email, "password": "guess-guess-guess"}))
            .send()
            .await
            .unwrap()
            .status()
    };
    for email in ["a@x.dk", "b@x.dk"] {
        assert_eq!(login("203.0.113.7", email).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login("203.0.113.7", "c@x.dk").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login("198.51.100.9", "c@x.dk").await,
        StatusCode::UNAUTHORIZED,
        "another client is not held back"
    );
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_ends_the_whole_login() {
    let (_db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    shared.user(org, "mette@rendetalje.dk", "viewer").await;
    let (_, first) = shared.login("mette@rendetalje.dk", PASSWORD).await;
    let old = first["refresh_token"].as_str().unwrap().to_owned();

    let (status, second) = shared
        .post_json("/v1/auth/refresh", None, json!({"refresh_token": old}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let newer = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(newer, old);
    let (status, _) = shared
        .get("/v1/me", second["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);

    // The old token again: a thief or a replay. The whole family ends.
    let (status, problem) = shared
        .post_json("/v1/auth/refresh", None, json!({"refresh_token": old}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"].as_str().unwrap().contains("already used"),
        "{problem}"
    );
    let (status, _) = shared
        .post_json("/v1/auth/refresh", None, json!({"refresh_token": newer}))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the newer token of the family is revoked too"
    );
}

#[tokio::test]
async fn logout_ends_the_refresh_token() {
    let (_db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    shared.user(org, "mette@rendetalje.dk", "viewer").await;
    let (_, tokens) = shared.login("mette@rendetalje.dk", PASSWORD).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let response = shared
        .app
        .client
        .post(shared.url("/v1/auth/logout"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = shared
        .post_json("/v1/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tampered_unsigned_expired_and_foreign_tokens_are_refused() {
    let (_db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    let (user, token) = shared.user(org, "mette@rendetalje.dk", "viewer").await;
    let key = SigningKey::from_seed(&SEED).unwrap();

    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["role"] = "admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#,
            key.kid()
        )),
        parts[1]
    );
    let expired = key.sign(&claims(user, org, now() - 600)).unwrap();
    let foreign = SigningKey::from_seed(&[9; 32])
        .unwrap()
        .sign(&claims(user, org, now() + 600))
        .unwrap();
    let mut wrong_audience = claims(user, org, now() + 600);
    wrong_audience.aud = "someone-else".into();
    let wrong_audience = key.sign(&wrong_audience).unwrap();

    for (what, bad) in [
        ("tampered", tampered.as_str()),
        ("alg none", unsigned.as_str()),
        ("expired", expired.as_str()),
        ("foreign key", foreign.as_str()),
        ("wrong audience", wrong_audience.as_str()),
        ("garbage", "not-a-token"),
    ] {
        let response = shared
            .app
            .client
            .get(shared.url("/v1/me"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
    }
    let anonymous = shared
        .app
        .client
        .get(shared.url("/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn invalid_cvrs_are_refused_and_real_ones_accepted() {
    let (_db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    let (_, admin) = shared.user(org, "admin@rendetalje.dk", "admin").await;
    for (cvr, why) in [
        ("1358562", "8 digits"),
        ("135856288", "8 digits"),
        ("1358562A", "only digits"),
        ("03585628", "start with 0"),
        ("13585629", "modulus-11"),
    ] {
        let (status, problem) = shared
            .post_json(
                "/v1/companies",
                Some(&admin),
                json!({"cvr": cvr, "name": "X ApS"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{cvr}");
        assert_eq!(problem["errors"][0]["field"], "cvr", "{cvr}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{cvr}: {problem}"
        );
    }
    for cvr in ["13585628", "DK 24 25 67 90", "61126228"] {
        let (status, company) = shared
            .post_json(
                "/v1/companies",
                Some(&admin),
                json!({"cvr": cvr, "name": "Rengøring Nord ApS"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{cvr}: {company}");
    }
    let (status, _) = shared
        .post_json(
            "/v1/companies",
            Some(&admin),
            json!({"cvr": "13585628", "name": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, page) = shared.get("/v1/companies", &admin).await;
    let cvrs: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cvr"].as_str().unwrap())
        .collect();
    assert_eq!(cvrs, ["13585628", "24256790", "61126228"]);
}

#[tokio::test]
async fn an_administrator_keeps_a_company_s_registry_facts_and_each_change_is_announced() {
    let (db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    let (_, admin) = shared.user(org, "admin@rendetalje.dk", "admin").await;
    let (_, analyst) = shared.user(org, "mette@rendetalje.dk", "analyst").await;
    let (status, company) = shared
        .post_json(
            "/v1/companies",
            Some(&admin),
            json!({"cvr": "13585628", "name": "Fjordbyg ApS", "advertising_protected": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    assert_eq!(company["advertising_protected"], true);
    assert_eq!(company["status"], "active");
    let patch = |token: String, body: Value| {
        let shared = &shared;
        async move {
            shared
                .send_json(
                    reqwest::Method::PATCH,
                    "/v1/companies/13585628",
                    &token,
                    body,
                )
                .await
        }
    };
    let refused = [
        (json!({"status": "closed"}), "status"),
        (json!({}), "body"),
        (json!({"name": " "}), "name"),
    ];
    for (body, field) in refused {
        let (status, problem) = patch(admin.clone(), body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    for body in [json!({"status": "inactive"}), json!({"status": "closed"})] {
        let (status, _) = patch(analyst.clone(), body.clone()).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "only administrators, whatever the body: {body}"
        );
    }
    let (status, _) = shared
        .send_json(
            reqwest::Method::PATCH,
            "/v1/companies/24256790",
            &admin,
            json!({"status": "inactive"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, unchanged) = shared.get("/v1/companies/13585628", &admin).await;
    assert_eq!(unchanged["status"], "active", "refusals change nothing");

    let (status, changed) = patch(
        admin.clone(),
        json!({"status": "inactive", "advertising_protected": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["status"], "inactive");
    assert_eq!(changed["advertising_protected"], false);
    assert_eq!(changed["name"], "Fjordbyg ApS", "what is not named stays");
    // Registered, then changed once: two announcements, the last with every fact.
    assert_eq!(
        db.admin_count(
            "SELECT count(*) AS n FROM shared.outbox WHERE topic = 'tekup.shared.company'"
        )
        .await
        .unwrap(),
        2
    );
    assert_eq!(
        db.admin_count(
            "SELECT count(*) AS n FROM shared.outbox WHERE event_type = 'tekup.shared.v1.CompanyChanged'"
        )
        .await
        .unwrap(),
        1
    );
}

#[tokio::test]
async fn tenants_see_only_their_own_and_users_only_what_they_are_granted() {
    let (_db, shared) = shared(&[]).await;
    let org_a = shared.org("Rendetalje ApS").await;
    let org_b = shared.org("Konkurrent A/S").await;
    let (_, admin_a) = shared.user(org_a, "admin@rendetalje.dk", "admin").await;
    let (analyst_id, analyst_a) = shared.user(org_a, "analyst@rendetalje.dk", "analyst").await;
    let (b_user_id, admin_b) = shared.user(org_b, "admin@konkurrent.dk", "admin").await;
    for cvr in ["13585628", "24256790"] {
        let (status, _) = shared
            .post_json(
                "/v1/companies",
                Some(&admin_a),
                json!({"cvr": cvr, "name": "Kunde ApS"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }

    // Org B sees nothing of org A, through any endpoint.
    let (_, page) = shared.get("/v1/companies", &admin_b).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(
        shared.get("/v1/companies/13585628", &admin_b).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = shared
        .put_json(
            &format!("/v1/companies/13585628/grants/{b_user_id}"),
            &admin_b,
            json!({"access_level": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        shared
            .get(&format!("/v1/users/{analyst_id}"), &admin_b)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, users_b) = shared.get("/v1/users", &admin_b).await;
    assert_eq!(users_b["items"].as_array().unwrap().len(), 1);
    // Nor can org A's admin grant org B's user anything.
    let (status, _) = shared
        .put_json(
            &format!("/v1/companies/13585628/grants/{b_user_id}"),
            &admin_a,
            json!({"access_level": "read"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The analyst sees nothing until granted, then exactly the granted company.
    let (_, page) = shared.get("/v1/companies", &analyst_a).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(
        shared.get("/v1/companies/13585628", &analyst_a).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, grant) = shared
        .put_json(
            &format!("/v1/companies/13585628/grants/{analyst_id}"),
            &admin_a,
            json!({"access_level": "read"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    let (_, page) = shared.get("/v1/companies", &analyst_a).await;
    let cvrs: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cvr"].as_str().unwrap())
        .collect();
    assert_eq!(cvrs, ["13585628"]);
    assert_eq!(
        shared.get("/v1/companies/13585628", &analyst_a).await.0,
        StatusCode::OK
    );
    assert_eq!(
        shared.get("/v1/companies/24256790", &analyst_a).await.0,
        StatusCode::NOT_FOUND
    );

    // Read access does not make the analyst an administrator of anything.
    let (status, _) = shared
        .put_json(
            &format!("/v1/companies/13585628/grants/{analyst_id}"),
            &analyst_a,
            json!({"access_level": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = shared
        .post_json(
            "/v1/companies",
            Some(&analyst_a),
            json!({"cvr": "61126228", "name": "Ny ApS"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Revoked: gone again.
    assert_eq!(
        shared
            .delete(
                &format!("/v1/companies/13585628/grants/{analyst_id}"),
                &admin_a
            )
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        shared.get("/v1/companies/13585628", &analyst_a).await.0,
        StatusCode::NOT_FOUND
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test]
async fn without_tenant_settings_the_database_shows_no_tenant_rows() {
    let (db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    let (_, admin) = shared.user(org, "admin@rendetalje.dk", "admin").await;
    shared
        .post_json(
            "/v1/companies",
            Some(&admin),
            json!({"cvr": "13585628", "name": "Kunde ApS"}),
        )
        .await;

    let pool = db.pool(Service::Shared).unwrap();
    let mut conn = pool.get().await.unwrap();
    for table in [
        "organizations",
        "users",
        "companies",
        "user_companies",
        "refresh_tokens",
        "audit_logs",
        "system_logs",
    ] {
        let row: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(row.n, 0, "{table} is visible without a tenant context");
    }
    // And nothing can be written there either.
    let err = diesel::sql_query(format!(
        "INSERT INTO companies (id, org_id, cvr, name) VALUES (gen_random_uuid(), '{org}', '61126228', 'Snyd ApS')"
    ))
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
}

#[tokio::test]
async fn one_pooled_connection_serving_two_tenants_in_turn_never_mixes_them() {
    let (_db, shared) = shared(&[("DATABASE__POOL_SIZE", "1"), ("HTTP__WORKERS", "1")]).await;
    let org_a = shared.org("Rendetalje ApS").await;
    let org_b = shared.org("Konkurrent A/S").await;
    let (_, admin_a) = shared.user(org_a, "admin@rendetalje.dk", "admin").await;
    let (_, admin_b) = shared.user(org_b, "admin@konkurrent.dk", "admin").await;
    shared
        .post_json(
            "/v1/companies",
            Some(&admin_a),
            json!({"cvr": "13585628", "name": "A's kunde"}),
        )
        .await;
    shared
        .post_json(
            "/v1/companies",
            Some(&admin_b),
            json!({"cvr": "24256790", "name": "B's kunde"}),
        )
        .await;
    for _ in 0..10 {
        for (token, cvr) in [(&admin_a, "13585628"), (&admin_b, "24256790")] {
            let (_, page) = shared.get("/v1/companies", token).await;
            let cvrs: Vec<&str> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["cvr"].as_str().unwrap())
                .collect();
            assert_eq!(cvrs, [cvr]);
        }
    }
}

/// The tenant settings are transaction-local: once the transaction ends, the connection (which
/// the pool hands to the next request) holds none of them. Any one of them set for the session
/// fails this, even where every later transaction would set it again.
#[tokio::test]
async fn tenant_settings_end_with_their_transaction() {
    use diesel::sql_types::{Nullable, Text};
    use tekup_db::tenancy::{Context, enter};
    #[derive(QueryableByName, Debug)]
    struct Settings {
        #[diesel(sql_type = Nullable<Text>)]
        org_id: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        user_id: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        role: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        system: Option<String>,
    }
    let db = TestDb::new().await.unwrap();
    let pool = db.pool(Service::Shared).unwrap();
    let mut conn = pool.get().await.unwrap();
    for context in [
        Context::Tenant {
            org_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role: tekup_types::Role::Admin,
        },
        Context::System,
    ] {
        tekup_db::tenancy::transaction::<_, _, diesel::result::Error, _, _>(
            &mut conn,
            async |conn| enter(&mut { conn }, &context).await,
            async |_, ()| Ok(()),
        )
        .await
        .unwrap();
        let after: Settings = diesel::sql_query(
            "SELECT current_setting('app.org_id', true) AS org_id, \
                    current_setting('app.user_id', true) AS user_id, \
                    current_setting('app.role', true) AS role, \
                    current_setting('app.system', true) AS system",
        )
        .get_result(&mut *conn)
        .await
        .unwrap();
        let left: Vec<String> = [after.org_id, after.user_id, after.role, after.system]
            .into_iter()
            .flatten()
            .filter(|v| !v.is_empty())
            .collect();
        assert!(
            left.is_empty(),
            "{context:?} left {left:?} on the connection"
        );
    }
}

/// The access check goes to PostgreSQL together with the `BEGIN` and the tenant settings it
/// reads (`enter_with_access` opening a `transaction`, pipelined). It must run after them, and
/// inside the transaction, or the transaction-local settings are gone before it runs: on a
/// fresh connection, where the statements are prepared first, as on one that has them
/// prepared. crm's `can_access`: an
/// administrator reaches every company of their organization, anyone else only granted ones.
#[tokio::test]
async fn the_access_check_sent_with_the_tenant_settings_sees_them() {
    use tekup_db::tenancy::{Context, enter_with_access, transaction};
    use tekup_types::{AccessLevel, Role};
    let db = TestDb::new().await.unwrap();
    let pool = db.pool(Service::Crm).unwrap();
    let mut conn = pool.get().await.unwrap();
    let (org, other) = (Uuid::now_v7(), Uuid::now_v7());
    for (role, asked, expected) in [
        (Role::Admin, org, Some(AccessLevel::Admin)),
        (Role::Admin, other, None),
        (Role::Viewer, org, None),
        (Role::Admin, org, Some(AccessLevel::Admin)),
    ] {
        let context = Context::Tenant {
            org_id: org,
            user_id: Uuid::now_v7(),
            role,
        };
        let level = transaction::<_, _, diesel::result::Error, _, _>(
            &mut conn,
            async |conn| enter_with_access(conn, &context, asked, "13585628").await,
            async |_, level| Ok(level),
        )
        .await
        .unwrap();
        assert_eq!(level, expected, "{role:?} of {org} asking about {asked}");
    }
}

/// A transaction opened together with its first statements ends as a whole: an error in the
/// opening or in the body rolls back what ran before it (here a session setting, which
/// PostgreSQL reverts with the transaction), and the connection serves the next transaction.
/// A request dropped while its opening is under way leaves no half-open transaction behind:
/// the pool replaces that connection.
#[tokio::test]
async fn a_transaction_opened_with_its_first_statements_ends_whole() {
    use diesel::sql_types::Text;
    use tekup_db::tenancy::transaction;
    #[derive(QueryableByName)]
    struct Probe {
        #[diesel(sql_type = Text)]
        probe: String,
    }
    async fn probe(conn: &mut diesel_async::AsyncPgConnection) -> String {
        diesel::sql_query("SELECT current_setting('app.probe', true) AS probe")
            .get_result::<Probe>(conn)
            .await
            .map(|p| p.probe)
            .unwrap_or_default()
    }
    async fn set_probe<C>(conn: &mut C, value: &str) -> diesel::QueryResult<()>
    where
        C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg>,
    {
        diesel::sql_query("SELECT set_config('app.probe', $1, false)")
            .bind::<Text, _>(value)
            .execute(conn)
            .await
            .map(drop)
    }
    let db = TestDb::new().await.unwrap();
    let pool = db.pool(Service::Shared).unwrap();
    let mut conn = pool.get().await.unwrap();

    // An opening that fails after its first statement: the setting is rolled back.
    let failed = transaction::<_, _, diesel::result::Error, _, _>(
        &mut conn,
        async |conn| {
            set_probe(&mut { conn }, "opening").await?;
            diesel::sql_query("SELECT 1 / 0")
                .execute(&mut { conn })
                .await
        },
        async |_, _| Ok(()),
    )
    .await;
    assert!(failed.is_err());
    assert_eq!(probe(&mut conn).await, "");

    // A body that fails after a change: rolled back too.
    let failed = transaction::<_, (), diesel::result::Error, _, _>(
        &mut conn,
        async |conn| set_probe(&mut { conn }, "opening").await,
        async |conn, ()| {
            set_probe(conn, "body").await?;
            Err(diesel::result::Error::RollbackTransaction)
        },
    )
    .await;
    assert!(failed.is_err());
    assert_eq!(probe(&mut conn).await, "");

    // The same connection commits the next one.
    transaction::<_, _, diesel::result::Error, _, _>(
        &mut conn,
        async |conn| set_probe(&mut { conn }, "opening").await,
        async |conn, ()| set_probe(conn, "committed").await,
    )
    .await
    .unwrap();
    assert_eq!(probe(&mut conn).await, "committed");

    // Dropped while the opening waits on the database: the pool does not reuse the connection.
    let backend = async |conn: &mut diesel_async::AsyncPgConnection| -> i32 {
        #[derive(QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(conn)
            .await
            .unwrap()
            .pid
    };
    let dropped = backend(&mut conn).await;
    let opening = transaction::<_, _, diesel::result::Error, _, _>(
        &mut conn,
        async |conn| {
            diesel::sql_query("SELECT pg_sleep(5)")
                .execute(&mut { conn })
                .await
        },
        async |_, _| Ok(()),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), opening)
            .await
            .is_err()
    );
    drop(conn);
    let mut next = pool.get().await.unwrap();
    assert_ne!(backend(&mut next).await, dropped);
    assert_eq!(probe(&mut next).await, "");
}

/// A read sent in one round trip with its `BEGIN`, settings and `COMMIT` runs inside the
/// transaction and sees the settings, on a fresh connection (statements prepared first) as on
/// a warm one. A statement sent only after another's answer runs after the `COMMIT`, without
/// the settings, and so fails closed: Row Level Security would show it nothing. After an error
/// the connection is out of the transaction and serves the next one.
#[tokio::test]
async fn a_read_sent_with_its_transaction_sees_the_settings_and_nothing_after_it() {
    use diesel::sql_types::Text;
    use diesel_async::AsyncPgConnection;
    use tekup_db::tenancy::{Context, enter, read};
    #[derive(QueryableByName)]
    struct Org {
        #[diesel(sql_type = Text)]
        org: String,
    }
    async fn org(conn: &AsyncPgConnection) -> diesel::QueryResult<String> {
        diesel::sql_query("SELECT current_setting('app.org_id', true) AS org")
            .get_result::<Org>(&mut { conn })
            .await
            .map(|o| o.org)
    }
    let db = TestDb::new().await.unwrap();
    let pool = db.pool(Service::Shared).unwrap();
    let mut conn = pool.get().await.unwrap();
    for _ in 0..2 {
        let org_id = Uuid::now_v7();
        let context = Context::Tenant {
            org_id,
            user_id: Uuid::now_v7(),
            role: tekup_types::Role::Admin,
        };
        let ((), seen) = read::<_, _, diesel::result::Error, _, _>(
            &mut conn,
            async |conn| enter(&mut { conn }, &context).await,
            async |conn| {
                let (first, second) = futures_util::future::join(org(conn), org(conn)).await;
                Ok((first?, second?))
            },
        )
        .await
        .unwrap();
        let org_id = org_id.to_string();
        assert_eq!(seen.unwrap(), (org_id.clone(), org_id));

        let ((), late) = read::<_, _, diesel::result::Error, _, _>(
            &mut conn,
            async |conn| enter(&mut { conn }, &context).await,
            async |conn| {
                org(conn).await?;
                org(conn).await
            },
        )
        .await
        .unwrap();
        assert_eq!(late.unwrap(), "", "a statement sent after the COMMIT");
    }

    let (opened, failed) = read::<_, (), diesel::result::Error, _, _>(
        &mut conn,
        async |conn| org(conn).await,
        async |conn| {
            diesel::sql_query("SELECT 1 / 0")
                .execute(&mut { conn })
                .await
                .map(drop)
        },
    )
    .await
    .unwrap();
    assert_eq!(opened, "");
    assert!(failed.is_err());
    let (_, after) = read::<_, _, diesel::result::Error, _, _>(
        &mut conn,
        async |conn| enter(&mut { conn }, &Context::System).await,
        async |conn| org(conn).await,
    )
    .await
    .unwrap();
    assert_eq!(after.unwrap(), "");
}

#[tokio::test]
async fn a_grant_reaches_another_services_projection_and_a_revoke_removes_it() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let shared = shared_on(&db, &[]).await;
    // What crm runs to keep its projection: the same consumer, on crm's schema and role.
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let events = db.events();
    let consumer = tekup_events::consumer::Consumer::new(
        Service::Crm,
        tekup_events::projection::access_grants(),
        db.pool(Service::Crm).unwrap(),
        tekup_events::kafka::producer(&events, "test").unwrap(),
        events,
    );
    tokio::spawn(consumer.run(stopped));
    let org = shared.org("Rendetalje ApS").await;
    let (_, admin) = shared.user(org, "admin@rendetalje.dk", "admin").await;
    let (analyst, _) = shared.user(org, "analyst@rendetalje.dk", "analyst").await;
    shared
        .post_json(
            "/v1/companies",
            Some(&admin),
            json!({"cvr": "13585628", "name": "Kunde ApS"}),
        )
        .await;

    let crm_pool = db.pool(Service::Crm).unwrap();
    let projected = async || -> Option<String> {
        #[derive(QueryableByName)]
        struct Level {
            #[diesel(sql_type = diesel::sql_types::Text)]
            level: String,
        }
        let mut conn = crm_pool.get().await.unwrap();
        diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(
            &mut *conn,
            async |conn| {
                tekup_db::tenancy::enter(conn, &tekup_db::tenancy::Context::System).await?;
                diesel::sql_query(
                    "SELECT level FROM access_grants WHERE user_id = $1 AND cvr = '13585628'",
                )
                .bind::<diesel::sql_types::Uuid, _>(analyst)
                .get_result::<Level>(conn)
                .await
                .optional()
            },
        )
        .await
        .unwrap()
        .map(|l| l.level)
    };

    let started = Instant::now();
    let (status, _) = shared
        .put_json(
            &format!("/v1/companies/13585628/grants/{analyst}"),
            &admin,
            json!({"access_level": "write"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    wait_until("the grant in crm", Duration::from_secs(30), async || {
        projected().await.as_deref() == Some("write")
    })
    .await;
    let granted_after = started.elapsed();

    let started = Instant::now();
    assert_eq!(
        shared
            .delete(&format!("/v1/companies/13585628/grants/{analyst}"), &admin)
            .await,
        StatusCode::NO_CONTENT
    );
    wait_until("the revoke in crm", Duration::from_secs(30), async || {
        projected().await.is_none()
    })
    .await;
    let revoked_after = started.elapsed();
    eprintln!(
        "grant propagation shared -> crm projection: granted {granted_after:?}, revoked {revoked_after:?}"
    );
}

#[tokio::test]
async fn org_admins_read_their_audit_trail_with_filters() {
    let (_db, shared) = shared(&[]).await;
    let org_a = shared.org("Rendetalje ApS").await;
    let org_b = shared.org("Konkurrent A/S").await;
    let (admin_id, admin) = shared.user(org_a, "admin@rendetalje.dk", "admin").await;
    let (analyst, analyst_token) = shared.user(org_a, "analyst@rendetalje.dk", "analyst").await;
    let (_, admin_b) = shared.user(org_b, "admin@konkurrent.dk", "admin").await;
    shared
        .post_json(
            "/v1/companies",
            Some(&admin),
            json!({"cvr": "13585628", "name": "Kunde ApS"}),
        )
        .await;
    shared
        .put_json(
            &format!("/v1/companies/13585628/grants/{analyst}"),
            &admin,
            json!({"access_level": "read"}),
        )
        .await;

    let url = "/v1/audit?cvr=13585628&type=tekup.shared.v1.AccessGranted";
    wait_until(
        "the grant in the audit trail",
        Duration::from_secs(30),
        async || {
            shared.get(url, &admin).await.1["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        },
    )
    .await;
    let (_, page) = shared.get(url, &admin).await;
    let entry = &page["items"][0];
    assert_eq!(entry["actor_id"], admin_id.to_string(), "{entry}");
    assert_eq!(entry["source"], "shared");
    assert_eq!(entry["org_id"], org_a.to_string());

    let (_, everything) = shared.get("/v1/audit", &admin).await;
    let types: Vec<&str> = everything["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"tekup.shared.v1.CompanyRegistered"),
        "{types:?}"
    );

    let (_, other) = shared.get("/v1/audit", &admin_b).await;
    assert!(
        other["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["org_id"] == org_b.to_string()),
        "{other}"
    );
    assert_eq!(
        shared.get("/v1/audit", &analyst_token).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        shared.get("/v1/audit?cvr=123", &admin).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in_or_refresh() {
    let (_db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    let (_, admin) = shared.user(org, "admin@rendetalje.dk", "admin").await;
    let (user, _) = shared.user(org, "gone@rendetalje.dk", "viewer").await;
    let (_, tokens) = shared.login("gone@rendetalje.dk", PASSWORD).await;
    let response = shared
        .app
        .client
        .patch(shared.url(&format!("/v1/users/{user}")))
        .bearer_auth(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, problem) = shared.login("gone@rendetalje.dk", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(problem["detail"].as_str().unwrap().contains("deactivated"));
    let (status, _) = shared
        .post_json(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_access_helper_answers_404_403_or_the_level_as_rls_sees_it() {
    let (db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    let (admin_id, admin) = shared.user(org, "admin@rendetalje.dk", "admin").await;
    let (analyst, _) = shared.user(org, "analyst@rendetalje.dk", "analyst").await;
    for cvr in ["13585628", "24256790"] {
        shared
            .post_json(
                "/v1/companies",
                Some(&admin),
                json!({"cvr": cvr, "name": "Kunde ApS"}),
            )
            .await;
    }
    shared
        .put_json(
            &format!("/v1/companies/13585628/grants/{analyst}"),
            &admin,
            json!({"access_level": "read"}),
        )
        .await;

    let pool = db.pool(Service::Shared).unwrap();
    let check =
        async |user: Uuid, role: tekup_types::Role, cvr: &str, needed: tekup_types::AccessLevel| {
            let principal = tekup_auth::Principal {
                user_id: user,
                org_id: org,
                role,
            };
            let cvr: tekup_types::Cvr = cvr.parse().unwrap();
            let mut conn = pool.get().await.unwrap();
            diesel_async::AsyncConnection::transaction::<_, tekup_runtime::Problem, _>(
                &mut *conn,
                async |conn| {
                    tekup_db::tenancy::enter(conn, &principal.context()).await?;
                    Ok(tekup_auth::require_access(conn, &principal, &cvr, needed).await)
                },
            )
            .await
            .unwrap()
            .map_err(|problem| problem.status)
        };
    use tekup_types::AccessLevel::{Admin, Read, Write};
    use tekup_types::Role;
    assert_eq!(
        check(analyst, Role::Analyst, "13585628", Read).await,
        Ok(Read)
    );
    assert_eq!(
        check(analyst, Role::Analyst, "13585628", Write).await,
        Err(403)
    );
    assert_eq!(
        check(analyst, Role::Analyst, "24256790", Read).await,
        Err(404)
    );
    assert_eq!(
        check(admin_id, Role::Admin, "24256790", Admin).await,
        Ok(Admin)
    );
}

#[tokio::test]
async fn the_audit_trail_records_the_events_of_other_services() {
    let (db, shared) = shared(&[]).await;
    let org = shared.org("Rendetalje ApS").await;
    let (_, admin) = shared.user(org, "admin@rendetalje.dk", "admin").await;

    // crm publishes on a topic of its own (from the catalog).
    let events = db.events();
    let topic = tekup_events::kafka::topic("crm", "company");
    tekup_events::kafka::ensure_topics(&events, std::slice::from_ref(&topic))
        .await
        .unwrap();
    let crm_pool = db.pool(Service::Crm).unwrap();
    let mut conn = crm_pool.get().await.unwrap();
    diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(
        &mut *conn,
        async |conn| {
            tekup_events::outbox::publish(
                conn,
                tekup_events::outbox::Outgoing {
                    topic: &topic,
                    org_id: Some(org),
                    cvr: Some("13585628"),
                    subject: "company-1",
                    payload: &tekup_proto::crm::v1::CompanyRecorded {
                        company_id: "company-1".into(),
                        org_id: org.to_string(),
                        cvr: "13585628".into(),
                        name: "Kunde ApS".into(),
                    },
                },
            )
            .await
        },
    )
    .await
    .unwrap();
    drop(conn);
    let relay = tekup_events::relay::Relay::new(
        Service::Crm,
        crm_pool.clone(),
        db.url(Service::Crm),
        tekup_events::kafka::producer(&events, "test").unwrap(),
        events.clone(),
    );
    assert_eq!(relay.publish_batch().await.unwrap(), 1);

    wait_until(
        "crm's event in the audit trail",
        Duration::from_secs(40),
        async || {
            let (_, page) = shared
                .get("/v1/audit?type=tekup.crm.v1.CompanyRecorded", &admin)
                .await;
            page["items"]
                .as_array()
                .is_some_and(|items| items.len() == 1)
        },
    )
    .await;
    let (_, page) = shared.get("/v1/audit?cvr=13585628", &admin).await;
    assert_eq!(page["items"][0]["source"], "crm");
    assert_eq!(page["items"][0]["topic"], "tekup.crm.company");
}

//! shared running for a test, and the calls every cross-service test makes of it: an
//! organization from the operator, a user with a token, any JSON call.

use std::sync::Arc;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, TestDb, spawn_app_on};

/// The operator token the test shared accepts.
pub const OPERATOR: &str = "operator-secret";
/// Every test user's password.
pub const PASSWORD: &str = "rengøring-er-en-kunst";

/// A JSON call with a bearer token (none when empty); the status and the body (`null` when not JSON).
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut request = app.client.request(method, app.at(path));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// [`call`] that must answer `status`; returns the body (panics naming the request otherwise).
pub async fn expect(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (got, value) = match call(app, method.clone(), path, token, body).await {
        Ok(answer) => answer,
        Err(err) => panic!("{method} {path}: {err}"),
    };
    assert_eq!(got.as_u16(), status, "{method} {path}: {value}");
    value
}

/// shared on a test database, signing with a fixed key, with [`OPERATOR`] as operator.
pub struct Identity {
    pub shared: TestApp,
}

impl Identity {
    /// Starts shared on `db`; `key_seed` fills the Ed25519 seed, so each test's tokens differ.
    pub async fn start(
        db: Arc<TestDb>,
        key_seed: u8,
        overrides: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        use base64::Engine;
        let seed = base64::engine::general_purpose::STANDARD.encode([key_seed; 32]);
        let mut settings = vec![
            ("APP__ADMIN_TOKEN", OPERATOR),
            ("APP__JWT__SIGNING_KEY", seed.as_str()),
        ];
        settings.extend_from_slice(overrides);
        Ok(Self {
            shared: spawn_app_on::<shared::Shared>(db, &settings).await?,
        })
    }

    /// Where the other services fetch shared's keys (`AUTH__JWKS_URL`).
    pub fn jwks_url(&self) -> String {
        self.shared.at("/.well-known/jwks.json")
    }

    /// A new organization's id.
    pub async fn org(&self, name: &str) -> anyhow::Result<String> {
        let (status, org) = call(
            &self.shared,
            Method::POST,
            "/v1/organizations",
            OPERATOR,
            Some(json!({ "name": name })),
        )
        .await?;
        anyhow::ensure!(status.is_success(), "creating {name}: {status} {org}");
        Ok(org["id"].as_str().context("organization id")?.to_owned())
    }

    /// A user of `org` with `role`, logged in: (id, access token).
    pub async fn user(&self, org: &str, email: &str, role: &str) -> anyhow::Result<(Uuid, String)> {
        let (status, user) = call(
            &self.shared,
            Method::POST,
            &format!("/v1/organizations/{org}/users"),
            OPERATOR,
            Some(
                json!({"email": email, "password": PASSWORD, "first_name": "Test",
                        "last_name": "Bruger", "role": role}),
            ),
        )
        .await?;
        anyhow::ensure!(status.is_success(), "creating {email}: {status} {user}");
        let (status, tokens) = call(
            &self.shared,
            Method::POST,
            "/v1/auth/login",
            "",
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await?;
        anyhow::ensure!(status.is_success(), "logging in {email}: {status} {tokens}");
        Ok((
            user["id"].as_str().context("user id")?.parse()?,
            tokens["access_token"]
                .as_str()
                .context("access token")?
                .to_owned(),
        ))
    }
}

impl TestDb {
    /// `SELECT count(*) AS n ...` as the administrator, outside Row Level Security.
    pub async fn admin_count(&self, sql: &str) -> anyhow::Result<i64> {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = diesel_async::AsyncPgConnection::establish(&self.admin_url()?).await?;
        let row: Count = diesel::sql_query(sql).get_result(&mut conn).await?;
        Ok(row.n)
    }
}

//! Every service fuzzed from its own OpenAPI document by schemathesis, as administrators of two
//! organizations: no operation may answer with a server error, whatever it is sent.
//!
//! `make test` runs a bounded pass (`TEKUP_FUZZ_EXAMPLES`, 5 by default); `make fuzz` a
//! thorough one (50). The fuzzer is installed by `scripts/platform.sh` into the cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tekup_testkit::identity::{Identity, call};
use tekup_testkit::{TestDb, spawn_app_on, wait_until};

const CVR: &str = "13585628";

/// An organization with an administrator and a company; the admin's token.
async fn seed(identity: &Identity, name: &str, email: &str) -> String {
    let org = identity.org(name).await.unwrap();
    let (_, token) = identity.user(&org, email, "admin").await.unwrap();
    let (status, body) = call(
        &identity.shared,
        Method::POST,
        "/v1/companies",
        &token,
        Some(json!({"cvr": CVR, "name": "Kunde ApS"})),
    )
    .await
    .unwrap();
    assert!(status.is_success(), "{body}");
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_operation_of_any_service_answers_a_server_error() {
    let fuzzer = std::env::var("TEKUP_TEST_SCHEMATHESIS")
        .expect("TEKUP_TEST_SCHEMATHESIS is not set: run the tests with `make test`");
    let examples = std::env::var("TEKUP_FUZZ_EXAMPLES").unwrap_or_else(|_| "5".into());
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(
        Arc::clone(&db),
        11,
        // The fuzzer logs in many times; the limits are tested elsewhere.
        &[("APP__LOGIN__MAX_FAILURES_PER_SOURCE", "1000000")],
    )
    .await
    .unwrap();
    let shared = &identity.shared;
    let jwks = identity.jwks_url();
    let auth = [("AUTH__JWKS_URL", jwks.as_str())];
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let vault = spawn_app_on::<vault::Vault>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    // billy as deployed: a token key, and Billy.dk (its local fake) to talk to.
    let fake_billy = tekup_testkit::fake_billy::FakeBilly::start().await.unwrap();
    let mut billy_settings = auth.to_vec();
    billy_settings.push((
        "APP__TOKEN_KEY",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    ));
    billy_settings.push(("APP__API__BASE_URL", &fake_billy.base_url));
    billy_settings.push(("APP__SYNC__ENABLED", "false"));
    let billy = spawn_app_on::<billy::Billy>(Arc::clone(&db), &billy_settings)
        .await
        .unwrap();
    let flow = spawn_app_on::<flow::Flow>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let a = seed(&identity, "Org A ApS", "a@a.dk").await;
    let b = seed(&identity, "Org B ApS", "b@b.dk").await;
    wait_until(
        "the company's CRM record",
        Duration::from_secs(30),
        async || {
            crm.client
                .get(crm.at(&format!("/v1/companies/{CVR}")))
                .bearer_auth(&a)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;

    let mut failures = Vec::new();
    for (name, app) in [
        ("shared", shared),
        ("crm", &crm),
        ("vault", &vault),
        ("renos", &renos),
        ("billy", &billy),
        ("flow", &flow),
    ] {
        for (who, token) in [("org A", &a), ("org B", &b)] {
            let args = vec![
                "run".to_owned(),
                app.at("/openapi.json"),
                "--header".to_owned(),
                format!("Authorization: Bearer {token}"),
                "--checks".to_owned(),
                "not_a_server_error".to_owned(),
                "--max-examples".to_owned(),
                examples.clone(),
                "--phases".to_owned(),
                "coverage,fuzzing".to_owned(),
                "--workers".to_owned(),
                "1".to_owned(),
                "--seed".to_owned(),
                "20261123".to_owned(),
            ];
            let program = fuzzer.clone();
            let output = tokio::task::spawn_blocking(move || {
                std::process::Command::new(program)
                    .args(args)
                    .env("NO_COLOR", "1")
                    .output()
            })
            .await
            .unwrap()
            .expect("schemathesis runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let summary: Vec<&str> = stdout
                .lines()
                .filter(|l| l.contains("generated") || l.contains("Server error"))
                .collect();
            eprintln!("{name} as {who}: {}", summary.join(" | "));
            // Only server errors count. schemathesis' own occasional internal errors ("Runtime
            // Error") are shown above but not ours; a run that generated nothing is a failure.
            if stdout.contains("Server error") || !stdout.contains("generated") {
                failures.push(format!("{name} as {who}:\n{stdout}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "server errors:\n{}",
        failures.join("\n")
    );
}

//! `tekup seed` through the real services: the counts asked for arrive, with their events
//! (crm's timeline gets the chatbot conversations and e-mail threads), the same scale seeds the
//! same data, and `tekup reset` refuses anything that is not a test database, then rebuilds and
//! seeds one.

#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tekup_db::Service;
use tekup_testkit::identity::{Identity, OPERATOR};
use tekup_testkit::{TestApp, TestDb, service_env, spawn_app_on, wait_until};

struct World {
    db: Arc<TestDb>,
    identity: Identity,
    apps: Vec<TestApp>,
}

impl World {
    fn urls(&self) -> Vec<String> {
        let mut urls = vec![format!("--url=shared={}", self.identity.shared.url)];
        for (name, app) in ["crm", "renos", "flow"].iter().zip(&self.apps) {
            urls.push(format!("--url={name}={}", app.url));
        }
        urls
    }

    async fn tekup(&self, args: &[&str], env: Vec<(String, String)>) -> Output {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tekup"));
        command
            .args(args)
            .args(self.urls())
            .env("TEKUP_OPERATOR_TOKEN", OPERATOR)
            .envs(env);
        // Off the test's runtime: the services must keep serving meanwhile.
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db.admin_count(sql).await.unwrap()
    }
}

async fn world() -> World {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 67, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let auth = [("AUTH__JWKS_URL", jwks.as_str())];
    let apps = vec![
        spawn_app_on::<crm::Crm>(Arc::clone(&db), &auth)
            .await
            .unwrap(),
        spawn_app_on::<renos::Renos>(Arc::clone(&db), &auth)
            .await
            .unwrap(),
        spawn_app_on::<flow::Flow>(Arc::clone(&db), &auth)
            .await
            .unwrap(),
    ];
    World { db, identity, apps }
}

fn seeded(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn seed_fills_every_service_the_same_way_for_the_same_scale() {
    let world = world().await;
    let first = seeded(
        &world
            .tekup(&["seed", "--org-name", "Rendetalje ApS"], vec![])
            .await,
    );
    assert_eq!(first["companies"], 10);
    assert_eq!(first["contacts"], 30);
    assert_eq!(first["admin_email"], "admin@rendetalje.dk");
    let org = first["org_id"].as_str().unwrap().to_owned();
    let of = |table: &str| format!("SELECT count(*) AS n FROM {table} WHERE org_id = '{org}'");
    for (table, expected) in [
        ("shared.companies", 10),
        ("crm.contacts", 30),
        ("crm.deals", 10),
        ("crm.activities", 20),
        ("renos.customers", 10),
        ("renos.leads", 20),
        ("renos.email_threads", 5),
    ] {
        assert_eq!(world.count(&of(table)).await, expected, "{table}");
    }
    // The chatbot conversations travel flow → renos → crm by event.
    wait_until(
        "conversations and threads in crm",
        Duration::from_secs(60),
        async || world.count(&of("crm.communications")).await == 10,
    )
    .await;
    let danish = world
        .count(&format!(
            "{} AND (first_name ~ '[æøåÆØÅ]' OR last_name ~ '[æøåÆØÅ]')",
            of("crm.contacts")
        ))
        .await;
    assert!(danish > 0, "Danish names");

    // The same scale for another organization: the same data.
    let second = seeded(
        &world
            .tekup(&["seed", "--org-name", "Testfirma ApS"], vec![])
            .await,
    );
    let other = second["org_id"].as_str().unwrap();
    let differing = world
        .count(&format!(
            "SELECT count(*) AS n FROM ((SELECT first_name, last_name, email FROM crm.contacts WHERE org_id = '{org}' \
             EXCEPT SELECT first_name, last_name, email FROM crm.contacts WHERE org_id = '{other}') UNION ALL \
             (SELECT first_name, last_name, email FROM crm.contacts WHERE org_id = '{other}' \
             EXCEPT SELECT first_name, last_name, email FROM crm.contacts WHERE org_id = '{org}')) d"
        ))
        .await;
    assert_eq!(differing, 0, "the same scale seeds the same contacts");
}

#[tokio::test]
async fn reset_refuses_what_is_not_a_test_database_and_rebuilds_one() {
    let world = world().await;
    let admin = world.db.admin_url().unwrap();
    let refused = world
        .tekup(
            &["reset", "--env", "production", "--admin-url", &admin],
            vec![],
        )
        .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("test environment only"));
    let remote = "postgres://admin:secret@db.example.net:5432/tekup";
    let refused = world
        .tekup(&["reset", "--env", "test", "--admin-url", remote], vec![])
        .await;
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not look like a test database")
    );

    seeded(
        &world
            .tekup(&["seed", "--org-name", "Gammel ApS"], vec![])
            .await,
    );
    let mut env = Vec::new();
    for service in Service::ALL {
        env.extend(service_env(&world.db, service));
    }
    let reset = seeded(
        &world
            .tekup(&["reset", "--env", "test", "--admin-url", &admin], env)
            .await,
    );
    assert_eq!(reset["companies"], 10);
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM shared.organizations")
            .await,
        1,
        "only the fresh seed"
    );
    assert_eq!(
        world.count("SELECT count(*) AS n FROM crm.contacts").await,
        30
    );
    let verify = world
        .tekup(&["verify", "--admin-url", &admin], vec![])
        .await;
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        report
            .lines()
            .filter(|l| l.contains("row level security"))
            .all(|l| l.starts_with("ok")),
        "{report}"
    );
}

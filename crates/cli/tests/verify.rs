//! `tekup verify` on a real database: a freshly migrated platform passes; a tenant table whose
//! Row Level Security is no longer forced, a service role granted another service's schema, and
//! a row of an organization nobody knows each fail the run, named.

#![allow(clippy::unwrap_used)]

use std::process::Output;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use tekup_db::Service;
use tekup_testkit::TestDb;

fn verify(db: &TestDb) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tekup"))
        .arg("verify")
        .env("TEKUP_ADMIN_URL", db.admin_url().unwrap())
        .output()
        .unwrap()
}

async fn admin(db: &TestDb, sql: &str) {
    let mut conn = AsyncPgConnection::establish(&db.admin_url().unwrap())
        .await
        .unwrap();
    conn.batch_execute(sql).await.unwrap();
}

fn report(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn verify_passes_on_a_sound_platform_and_fails_naming_each_fault() {
    let db = TestDb::new().await.unwrap();
    let sound = verify(&db);
    assert!(
        sound.status.success(),
        "{}\n{}",
        report(&sound),
        String::from_utf8_lossy(&sound.stderr)
    );
    let text = report(&sound);
    assert_eq!(text.lines().count(), 18, "three checks per service: {text}");
    assert!(text.lines().all(|l| l.starts_with("ok")), "{text}");

    // A tenant table whose Row Level Security is not forced: its owner would see every row.
    admin(&db, "ALTER TABLE crm.contacts NO FORCE ROW LEVEL SECURITY").await;
    let broken = verify(&db);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        report(&broken).contains("crm.contacts: Row Level Security is not forced"),
        "{}",
        report(&broken)
    );
    admin(&db, "ALTER TABLE crm.contacts FORCE ROW LEVEL SECURITY").await;
    assert!(verify(&db).status.success());

    // An over-privileged role: crm's role may read renos's leads.
    let crm = Service::Crm.role();
    admin(
        &db,
        &format!("GRANT USAGE ON SCHEMA renos TO {crm}; GRANT SELECT ON renos.leads TO {crm}"),
    )
    .await;
    let broken = verify(&db);
    assert_eq!(broken.status.code(), Some(1));
    let text = report(&broken);
    assert!(
        text.contains(&format!("{crm} may use schema renos")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{crm} holds privileges on renos.leads")),
        "{text}"
    );
    admin(
        &db,
        &format!(
            "REVOKE SELECT ON renos.leads FROM {crm}; REVOKE USAGE ON SCHEMA renos FROM {crm}"
        ),
    )
    .await;
    assert!(verify(&db).status.success());

    // A row of an organization flow never heard of, in JSON.
    admin(
        &db,
        "INSERT INTO flow.variables (org_id, name, secret, value) \
         VALUES ('00000000-0000-7000-8000-000000000001', 'x', false, '1')",
    )
    .await;
    let json = std::process::Command::new(env!("CARGO_BIN_EXE_tekup"))
        .args(["verify", "--json"])
        .env("TEKUP_ADMIN_URL", db.admin_url().unwrap())
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let checks: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let failed: Vec<&serde_json::Value> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{checks}");
    assert_eq!(failed[0]["check"], "flow: projections");
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("1 row(s) of flow.variables belong to no organization flow knows"),
        "{checks}"
    );
}

#[tokio::test]
async fn migrate_dry_run_prints_the_pending_sql_and_applies_nothing() {
    let db = TestDb::new().await.unwrap();
    let newest = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/crm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .max()
        .unwrap();
    let version: String = newest.split('_').next().unwrap().replace('-', "");
    // As if the newest crm migration had not run yet.
    admin(
        &db,
        &format!("DELETE FROM crm.__diesel_schema_migrations WHERE version = '{version}'"),
    )
    .await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tekup"))
        .args(["migrate", "--service", "crm", "--dry-run"])
        .env("TEKUP__CRM__DATABASE__URL", db.url(Service::Crm))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sql = report(&output);
    let expected = std::fs::read_to_string(format!(
        "{}/../../migrations/crm/{newest}/up.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(sql.starts_with(&format!("-- crm: {newest}\n")), "{sql}");
    assert!(sql.contains(expected.trim()), "{sql}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 pending"));
    let still = db
        .admin_count(&format!(
            "SELECT count(*) AS n FROM crm.__diesel_schema_migrations WHERE version = '{version}'"
        ))
        .await
        .unwrap();
    assert_eq!(still, 0, "a dry run applies nothing");
}

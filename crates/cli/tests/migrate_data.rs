//! `tekup migrate-data` from a legacy-shaped database (the original's Prisma-era crm and renos
//! tables, built here): an interrupted run resumed later reaches parity without duplicates,
//! rejected rows are reported with why, imported rows are announced (crm's projection of the
//! imported companies comes from shared's events), and a legacy row changed afterwards is a
//! mismatch.

#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::sync::Arc;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::Value;
use tekup_testkit::identity::Identity;
use tekup_testkit::{TestDb, spawn_app_on};

/// A valid CVR number from seven digits (the check digit makes the weighted sum divisible by
/// 11), or `None` when no digit does.
fn cvr(base: u32) -> Option<String> {
    let digits: Vec<u32> = format!("{base:07}")
        .chars()
        .map(|c| c.to_digit(10).unwrap())
        .collect();
    let weights = [2, 7, 6, 5, 4, 3, 2];
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    let check = (11 - sum % 11) % 11;
    (check < 10 && digits[0] != 0).then(|| format!("{base:07}{check}"))
}

/// Runs the import on a blocking thread: the services of this test (shared's relay, crm's
/// consumer) must keep running on the test's runtime while it waits for their projections.
async fn migrate(legacy: &str, db: &TestDb, org: &str, extra: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tekup"));
    command
        .args([
            "migrate-data",
            "--org",
            org,
            "--json",
            "--batch",
            "7",
            "--wait-secs",
            "60",
        ])
        .args(extra)
        .env("TEKUP_LEGACY_URL", legacy)
        .env("TEKUP_ADMIN_URL", db.admin_url().unwrap());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn parity(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)))
}

#[tokio::test]
async fn an_interrupted_import_resumes_to_parity_without_duplicates() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 65, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let _crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    let org = identity.org("Rendetalje ApS").await.unwrap();

    // The legacy database, beside the platform's.
    let admin_url = db.admin_url().unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let name = format!("legacy_{}", uuid::Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&admin_url).await.unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let legacy_url = format!("{base}/{name}");
    let mut legacy = AsyncPgConnection::establish(&legacy_url).await.unwrap();
    legacy
        .batch_execute(
            r#"CREATE SCHEMA crm;
               CREATE TABLE crm."CrmCompany" (id text PRIMARY KEY, name text NOT NULL, cvr text,
                   industry text, "createdAt" timestamp(3) NOT NULL DEFAULT now());
               CREATE TABLE crm."CrmContact" (id text PRIMARY KEY,
                   "companyId" text REFERENCES crm."CrmCompany"(id), "firstName" text,
                   "lastName" text, email text, phone text,
                   "createdAt" timestamp(3) NOT NULL DEFAULT now());
               CREATE SCHEMA renos;
               CREATE TABLE renos.leads (id text PRIMARY KEY, name text, email text, phone text,
                   source text, message text, cvr text, created_at timestamptz NOT NULL DEFAULT now());"#,
        )
        .await
        .unwrap();
    let mut sql = String::new();
    let mut valid = Vec::new();
    let mut base = 2_000_000;
    while valid.len() < 30 {
        base += 1;
        if let Some(c) = cvr(base) {
            valid.push(c);
        }
    }
    for (i, number) in valid.iter().enumerate() {
        // Two companies with a CVR that fails the checksum are rejected.
        let number = if i < 2 {
            format!("{}9", &number[..7])
        } else {
            number.clone()
        };
        sql.push_str(&format!(
            "INSERT INTO crm.\"CrmCompany\" VALUES ('cmp{i:03}', 'Firma {i} ApS', '{number}', 'Rengøring', \
             '2024-01-{:02} 10:00:00.123');\n",
            i % 28 + 1
        ));
        for j in 0..3 {
            let first = if j == 2 && i % 10 == 0 { "" } else { "Mette" };
            sql.push_str(&format!(
                "INSERT INTO crm.\"CrmContact\" VALUES ('ct{i:03}{j}', 'cmp{i:03}', '{first}', 'Hansen {j}', \
                 ' Mette{i}.{j}@Firma.DK ', '+45 12 34 56 {i:02}', '2024-02-01 09:00:00');\n"
            ));
        }
    }
    for i in 0..50 {
        let name = if i == 49 {
            "NULL".to_owned()
        } else {
            format!("'Kunde {i}'")
        };
        let source = ["web", "chatbot", "fax", "email"][i % 4];
        sql.push_str(&format!(
            "INSERT INTO renos.leads VALUES ('ld{i:03}', {name}, 'kunde{i}@example.dk', NULL, '{source}', \
             'Rengøring af {i} m2', '{}', '2024-03-01 08:00:00+01');\n",
            valid[i % 30]
        ));
    }
    legacy.batch_execute(&sql).await.unwrap();

    // Interrupted after three batches: exit 3, part of the data in.
    let first = migrate(&legacy_url, &db, &org, &["--max-batches", "3"]).await;
    assert_eq!(
        first.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let partial = db
        .admin_count("SELECT count(*) AS n FROM shared.companies")
        .await
        .unwrap();
    assert_eq!(partial, 21, "three batches of seven");
    // Resumed: parity for every table.
    let second = migrate(&legacy_url, &db, &org, &[]).await;
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let report = parity(&second);
    let tables: Vec<(&str, i64, i64, i64, bool)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["table"].as_str().unwrap(),
                p["legacy_rows"].as_i64().unwrap(),
                p["imported_rows"].as_i64().unwrap(),
                p["rejected_rows"].as_i64().unwrap(),
                p["matches"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tables,
        [
            ("crm.CrmCompany", 28, 28, 2, true),
            // The six contacts of the two rejected companies, and two more without a first name.
            ("crm.CrmContact", 82, 82, 8, true),
            ("renos.leads", 49, 49, 1, true),
        ]
    );
    let counts = [
        ("shared.companies", 28),
        ("crm.contacts", 82),
        ("renos.leads", 49),
        (
            "shared.outbox WHERE event_type = 'tekup.shared.v1.CompanyRegistered'",
            28,
        ),
        (
            "crm.outbox WHERE event_type = 'tekup.crm.v1.ContactChanged'",
            82,
        ),
        (
            "renos.outbox WHERE event_type = 'tekup.renos.v1.LeadCreated'",
            49,
        ),
    ];
    for (table, expected) in counts {
        let n = db
            .admin_count(&format!("SELECT count(*) AS n FROM {table}"))
            .await
            .unwrap();
        assert_eq!(n, expected, "{table}");
    }
    let cleaned = db
        .admin_count(
            "SELECT count(*) AS n FROM crm.contacts WHERE email = 'mette5.0@firma.dk' \
             AND phone = '+45 12 34 56 05' AND created_at = '2024-02-01 09:00:00+00'",
        )
        .await
        .unwrap();
    assert_eq!(cleaned, 1, "addresses trimmed and lower-cased");
    let sources = db
        .admin_count("SELECT count(*) AS n FROM renos.leads WHERE source = 'other'")
        .await
        .unwrap();
    assert_eq!(sources, 12, "an unknown source (fax) becomes other");

    // Run again: nothing new, no event twice.
    let third = migrate(&legacy_url, &db, &org, &[]).await;
    assert!(third.status.success());
    let events = db
        .admin_count("SELECT count(*) AS n FROM renos.outbox")
        .await
        .unwrap();
    assert_eq!(events, 49);

    // A legacy row changed after the import: the checksum tells.
    legacy
        .batch_execute("UPDATE renos.leads SET name = 'Kunde 7 (ændret)' WHERE id = 'ld007'")
        .await
        .unwrap();
    let changed = migrate(&legacy_url, &db, &org, &[]).await;
    assert_eq!(changed.status.code(), Some(1));
    let report = parity(&changed);
    assert_eq!(report[2]["matches"], false);
    assert_eq!(report[2]["legacy_rows"], report[2]["imported_rows"]);
    drop(legacy);
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

//! `tekup import-mail` against a real renos: a Maildir-style directory, a stray file that is no
//! e-mail and an mbox with a message seen before become one ingest run; running it again
//! changes nothing.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use tekup_testkit::identity::Identity;
use tekup_testkit::{TestApp, TestDb, spawn_app_on};

const FIRST: &str = "From: =?utf-8?q?S=C3=B8ren?= <soren@fjordbyg.dk>\nTo: kontakt@rendetalje.dk\n\
Subject: =?iso-8859-1?Q?Reng=F8ring_af_trappen?=\nMessage-ID: <trappe-1@fjordbyg.dk>\n\
Date: Mon, 2 Nov 2026 10:00:00 +0100\nContent-Type: text/plain; charset=iso-8859-1\n\
Content-Transfer-Encoding: quoted-printable\n\nKan I ogs=E5 g=F8re trappen ren?\nFrom now on weekly.\n";

const REPLY: &str = "From: kontakt@rendetalje.dk\nTo: soren@fjordbyg.dk\n\
Subject: SV: Rengøring af trappen\nMessage-ID: <trappe-2@rendetalje.dk>\n\
In-Reply-To: <trappe-1@fjordbyg.dk>\nDate: Mon, 2 Nov 2026 12:00:00 +0100\n\n\
Ja, det kan vi godt.\n";

const OTHER: &str = "From: mette@nordlys-cafe.dk\nTo: kontakt@rendetalje.dk\n\
Subject: Vinduer\nMessage-ID: <vinduer-1@nordlys-cafe.dk>\nDate: Tue, 3 Nov 2026 09:00:00 +0100\n\n\
Hvornår kan I pudse vinduer?\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

async fn import(renos: &TestApp, token: &str, paths: &[&Path]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tekup"));
    command
        .arg("import-mail")
        .arg("--renos-url")
        .arg(renos.at(""))
        .env("TEKUP_TOKEN", token)
        .args(paths);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_mailbox_back_fill_is_one_run_and_safe_to_repeat() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 13, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    let org = identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();

    let root = std::env::temp_dir().join(format!("tekup-import-{}", uuid::Uuid::new_v4()));
    let maildir = root.join("Maildir");
    write(&maildir.join("cur/1700000000.1.host:2,S"), FIRST);
    write(&maildir.join("new/1700000001.2.host"), REPLY);
    write(&maildir.join("cur/notes.txt"), "Husk at ringe til Søren.\n");
    write(&maildir.join("tmp/partial"), "From: half");
    let mbox = root.join("old.mbox");
    write(
        &mbox,
        // As mbox writers do, the body's "From " line is quoted.
        &format!(
            "From a@b Mon Nov  2 10:00:00 2026\n{}\nFrom c@d Tue Nov  3 09:00:00 2026\n{OTHER}\n",
            FIRST.replace("\nFrom now", "\n>From now")
        ),
    );

    let first = import(&renos, &admin, &[&maildir, &mbox]).await;
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("5 received, 3 ingested, 1 already known, 1 failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("message 2 of the batch: not an RFC 5322 message"),
        "the stray note is named with its reason: {stderr}"
    );
    let count = |sql: &'static str| {
        let db = Arc::clone(&db);
        async move { db.admin_count(sql).await.unwrap() }
    };
    assert_eq!(
        count("SELECT count(*) AS n FROM renos.email_messages").await,
        3
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM renos.email_threads").await,
        2
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM renos.email_ingest_runs").await,
        1
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM renos.email_messages \
             WHERE body_text LIKE '%også gøre trappen ren?%From now on weekly.%'"
        )
        .await,
        1,
        "the body, quoted-printable decoded and its From line intact"
    );

    let again = import(&renos, &admin, &[&maildir, &mbox]).await;
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("5 received, 0 ingested, 4 already known, 1 failed"),
        "{stderr}"
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM renos.email_messages").await,
        3
    );
    std::fs::remove_dir_all(&root).unwrap();
}

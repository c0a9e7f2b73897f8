//! The `crm` binary as an operator runs it: configuration errors stop it with a clear message,
//! and SIGTERM stops it cleanly.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tekup_testkit::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_crm");

fn clean_command() -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("TEKUP") {
            command.env_remove(key);
        }
    }
    command
}

#[test]
fn a_malformed_config_value_stops_start_up_naming_the_key() {
    let output = clean_command()
        .env("TEKUP__CRM__HTTP__PORT", "eighty")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    assert!(stderr.contains("`http.port`"), "{stderr}");
    assert!(stderr.contains("TEKUP__CRM__HTTP__PORT"), "{stderr}");
}

#[test]
fn an_unknown_config_key_stops_start_up() {
    let output = clean_command()
        .env("TEKUP__CRM__DATABASE__POOL_SIEZ", "4")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pool_siez"), "{stderr}");
}

/// Kills the child if the test fails before it stopped, so no service outlives its test.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn sigterm_stops_the_service_cleanly() {
    let db = TestDb::new().await.unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let child = clean_command()
        .env("TEKUP__CRM__HTTP__PORT", port.to_string())
        .env(
            "TEKUP__CRM__DATABASE__URL",
            db.url(tekup_runtime::Service::Crm),
        )
        .env("TEKUP__CRM__HTTP__SHUTDOWN_TIMEOUT_SECS", "5")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);

    let client = reqwest::Client::new();
    let ready_url = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(&ready_url).send().await
            && response.status().is_success()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "crm did not become ready"
        );
        assert!(child.0.try_wait().unwrap().is_none(), "crm exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = Instant::now();
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "crm did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "crm exited with {exit}");
    assert!(
        client.get(&ready_url).send().await.is_err(),
        "port still open"
    );
}

//! A broker of one test's own: the tansu that `make test` installed, started on free ports
//! behind a [`Gate`] that it advertises as its address, so every client connection — the first
//! and every reconnection — passes the gate. Closing the gate is the broker going away for its
//! clients (connections cut, new ones refused) without losing what it holds.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::gate::Gate;

pub struct Broker {
    /// `host:port` for the services' `EVENTS__BROKERS`.
    pub address: String,
    pub gate: Gate,
    process: Child,
}

impl Broker {
    /// Starts a broker (memory storage) with its gate open; `TEKUP_TEST_TANSU` names the binary.
    pub async fn start() -> anyhow::Result<Self> {
        let tansu = std::env::var("TEKUP_TEST_TANSU")
            .context("TEKUP_TEST_TANSU: run the tests with `make test`")?;
        // A free port can be taken between finding it and tansu binding it: try another.
        let mut last = None;
        for _ in 0..3 {
            match Self::start_on_a_free_port(&tansu).await {
                Ok(broker) => return Ok(broker),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the test's broker did not start")))
    }

    async fn start_on_a_free_port(tansu: &str) -> anyhow::Result<Self> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let listener = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let gate = Gate::start(listener).await?;
        let mut process = Command::new(tansu)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{}", gate.port),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tansu")?;
        let started = Instant::now();
        while tokio::net::TcpStream::connect(listener).await.is_err() {
            let exited = process.try_wait()?.is_some();
            if exited || started.elapsed() > Duration::from_secs(10) {
                let _ = process.kill();
                let _ = process.wait();
                anyhow::bail!("the test's broker did not listen on {listener}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            address: format!("127.0.0.1:{}", gate.port),
            gate,
            process,
        })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

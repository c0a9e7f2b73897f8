//! A headless Chromium driven through WebDriver (W3C), for tests of the web console: Debian's
//! `chromium` and `chromium-driver`, installed by `make test`. The few commands the tests use,
//! spoken directly over HTTP to a chromedriver of the test's own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the driver process ends when this is dropped.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of 1280×900.
    pub async fn start() -> anyhow::Result<Self> {
        let driver_bin = std::env::var("TEKUP_TEST_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium =
            std::env::var("TEKUP_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        if !Path::new(&driver_bin).exists() {
            bail!("{driver_bin} is missing: `make test` installs chromium and chromium-driver");
        }
        let port = free_port()?;
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {driver_bin}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not become ready on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut args = vec![
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--lang=da-DK",
        ];
        // Chromium refuses to run as root without it (test machines often run as root).
        if running_as_root() {
            args.push("--no-sandbox");
        }
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args}
            }}}))
            .send()
            .await?
            .json()
            .await?;
        let session = answer["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no session: {answer}"))?
            .to_owned();
        Ok(Self {
            http,
            session: format!("{base}/session/{session}"),
            driver,
        })
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await?.json().await?;
        if let Some(error) = answer["value"]["error"].as_str() {
            bail!("{path}: {error}: {}", answer["value"]["message"]);
        }
        Ok(answer["value"].clone())
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.command(reqwest::Method::GET, path, None).await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.post("/url", json!({ "url": url })).await.map(|_| ())
    }

    /// The address of the current page.
    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .get("/url")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The browser's back button.
    pub async fn back(&self) -> anyhow::Result<()> {
        self.post("/back", json!({})).await.map(|_| ())
    }

    /// The current page's HTML as the browser holds it.
    pub async fn source(&self) -> anyhow::Result<String> {
        Ok(self
            .get("/source")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The visible text of the whole page.
    pub async fn text(&self) -> anyhow::Result<String> {
        let body = self.find("body").await?;
        self.text_of(&body).await
    }

    /// The first element matching CSS `selector`.
    pub async fn find(&self, selector: &str) -> anyhow::Result<Element> {
        let found = self
            .post(
                "/element",
                json!({"using": "css selector", "value": selector}),
            )
            .await
            .with_context(|| format!("finding {selector}"))?;
        Ok(Element(
            found[ELEMENT]
                .as_str()
                .with_context(|| format!("element id in {found}"))?
                .to_owned(),
        ))
    }

    /// Every element matching CSS `selector`.
    pub async fn find_all(&self, selector: &str) -> anyhow::Result<Vec<Element>> {
        let found = self
            .post(
                "/elements",
                json!({"using": "css selector", "value": selector}),
            )
            .await?;
        Ok(found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned())))
            .collect())
    }

    /// Waits up to `timeout` for an element matching `selector`.
    pub async fn wait_for(&self, selector: &str, timeout: Duration) -> anyhow::Result<Element> {
        let started = Instant::now();
        loop {
            let error = match self.find(selector).await {
                Ok(element) => return Ok(element),
                Err(error) => error,
            };
            if started.elapsed() > timeout {
                let url = self.url().await.unwrap_or_default();
                let source = self.source().await.unwrap_or_default();
                let excerpt: String = source.chars().take(1500).collect();
                bail!("no {selector} after {timeout:?} ({error:#}) on {url}: {excerpt}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await
            .map(|_| ())
    }

    /// Types `text` into an input (for a file input: the file's absolute path).
    pub async fn type_into(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await
        .map(|_| ())
    }

    /// Fills the field matching `selector` with `text` (after clearing it).
    pub async fn fill(&self, selector: &str, text: &str) -> anyhow::Result<()> {
        let element = self.find(selector).await?;
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await?;
        self.type_into(&element, text).await
    }

    pub async fn text_of(&self, element: &Element) -> anyhow::Result<String> {
        Ok(self
            .get(&format!("/element/{}/text", element.0))
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Runs `script` in the page (its `return` value comes back as JSON).
    pub async fn execute(&self, script: &str) -> anyhow::Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// Presses Tab on whatever has the keyboard focus, as a user at the keyboard does.
    pub async fn tab(&self) -> anyhow::Result<()> {
        const TAB: &str = "\u{E004}";
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": TAB}, {"type": "keyUp", "value": TAB}]}]}),
        )
        .await?;
        Ok(())
    }

    /// Saves a PNG of the viewport as `target/screenshots/<name>.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.get("/screenshot").await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().context("screenshot data")?)?;
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// Ends the browser session (the driver stops on drop).
    pub async fn close(self) -> anyhow::Result<()> {
        self.command(reqwest::Method::DELETE, "", None).await?;
        Ok(())
    }
}

fn running_as_root() -> bool {
    // The effective user of this process, without libc: /proc tells.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// `target/screenshots` of the workspace.
pub fn screenshots_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("screenshots")
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

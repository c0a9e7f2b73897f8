//! A client of the Billy.dk API v2: `X-Access-Token` per organization, every page of a list
//! (`page`/`pageSize` until `meta.paging.pageCount`), Billy's error format
//! (`{meta:{statusCode, success:false}, errorMessage, errorCode}`) mapped to [`BillyError`],
//! and retries with backoff on 5xx, 429 (honouring `Retry-After`) and unanswered requests —
//! the latter only where repeating is harmless (reads); a create that got no answer is left to
//! the caller, which looks before it creates again. Every call goes through the organization's
//! token bucket and is audited ([`crate::governance`]).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tekup_db::Pool;
use uuid::Uuid;

use crate::governance::{self, Call};
use crate::{ApiConfig, RateConfig};

#[derive(Debug, thiserror::Error)]
pub enum BillyError {
    /// Billy.dk refused the request (4xx other than 429): retrying will not help.
    #[error("Billy.dk answered {status}: {message}")]
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// No usable answer after every attempt (timeouts, 5xx, 429).
    #[error("Billy.dk did not answer usefully: {0}")]
    Unavailable(String),
    /// The request may or may not have been carried out (a create without an answer).
    #[error("Billy.dk gave no answer to {0}; it may have been carried out")]
    Unknown(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<tekup_runtime::Problem> for BillyError {
    fn from(p: tekup_runtime::Problem) -> Self {
        Self::Internal(crate::database(p))
    }
}

impl BillyError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Refused { .. })
    }
}

/// The client, shared by every organization.
#[derive(Clone)]
pub struct Billy {
    http: reqwest::Client,
    config: ApiConfig,
    rate: RateConfig,
    pool: Pool,
}

/// The client acting for one organization with its token.
pub struct Session<'a> {
    billy: &'a Billy,
    org_id: Uuid,
    token: SecretString,
}

/// Whether an unanswered request may be sent again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Safe,
    /// A create: without an answer, the caller must look before trying again.
    Unsafe,
}

impl Billy {
    pub fn new(config: ApiConfig, rate: RateConfig, pool: Pool) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(5_000)))
            .build()?;
        Ok(Self {
            http,
            config,
            rate,
            pool,
        })
    }

    pub fn session(&self, org_id: Uuid, token: SecretString) -> Session<'_> {
        Session {
            billy: self,
            org_id,
            token,
        }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 300.0)))
}

/// Billy's error body: `{meta:{statusCode, success:false}, errorMessage, errorCode}`.
fn refusal(status: u16, body: &str) -> BillyError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let message = parsed
        .get("errorMessage")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {status}"));
    BillyError::Refused {
        status,
        code: parsed
            .get("errorCode")
            .and_then(Value::as_str)
            .map(str::to_owned),
        message,
    }
}

impl Session<'_> {
    /// One request with its retries; returns the JSON body.
    pub async fn call(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Value, BillyError> {
        let config = &self.billy.config;
        let url = format!("{}{path}", config.base_url.trim_end_matches('/'));
        let mut last = String::new();
        for attempt in 1..=config.max_attempts.max(1) {
            governance::acquire(&self.billy.pool, self.org_id, &self.billy.rate).await?;
            let started = Instant::now();
            let mut request = self
                .billy
                .http
                .request(method.clone(), &url)
                .header("X-Access-Token", self.token.expose_secret())
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            let sent = request.send().await;
            let (status, outcome) = match sent {
                Err(err) => {
                    // Never the URL with its query, nor the headers: only what went wrong.
                    let what = if err.is_timeout() {
                        "timed out"
                    } else if err.is_connect() {
                        "could not connect"
                    } else {
                        "failed"
                    };
                    (0u16, Err(format!("{operation}: the request {what}")))
                }
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(&response);
                    let text = response.text().await.unwrap_or_default();
                    (status.as_u16(), Ok((status, wait, text)))
                }
            };
            let error_code = match &outcome {
                Ok((s, _, text)) if !s.is_success() => match refusal(s.as_u16(), text) {
                    BillyError::Refused { code, .. } => code,
                    _ => None,
                },
                _ => None,
            };
            governance::record(
                &self.billy.pool,
                Call {
                    org_id: self.org_id,
                    operation,
                    method: method.as_str(),
                    path,
                    status,
                    duration: started.elapsed(),
                    attempt,
                    error_code: error_code.as_deref(),
                },
            )
            .await?;
            match outcome {
                Ok((s, _, text)) if s.is_success() => {
                    return serde_json::from_str(&text).map_err(|err| {
                        BillyError::Unavailable(format!("{operation}: not JSON: {err}"))
                    });
                }
                Ok((StatusCode::TOO_MANY_REQUESTS, wait, _)) => {
                    let wait = wait.unwrap_or(Duration::from_millis(config.retry_backoff_ms));
                    tracing::warn!(operation, attempt, ?wait, "Billy.dk rate limit (429)");
                    governance::block(&self.billy.pool, self.org_id, wait).await?;
                    last = format!("{operation}: rate limited (429)");
                    continue;
                }
                Ok((s, _, text)) if s.is_server_error() => {
                    last = format!("{operation}: HTTP {}", s.as_u16());
                    tracing::warn!(operation, attempt, status = s.as_u16(), "Billy.dk failed");
                    // A create that failed with 5xx was not carried out by Billy.dk as far as its
                    // answer goes; still, look first (Unsafe) rather than assume.
                    if repeat == Repeat::Unsafe {
                        return Err(BillyError::Unknown(last));
                    }
                    let _ = text;
                }
                Ok((s, _, text)) => return Err(refusal(s.as_u16(), &text)),
                Err(reason) => {
                    tracing::warn!(operation, attempt, reason, "Billy.dk did not answer");
                    if repeat == Repeat::Unsafe {
                        return Err(BillyError::Unknown(reason));
                    }
                    last = reason;
                }
            }
            let backoff = config
                .retry_backoff_ms
                .saturating_mul(1 << (attempt - 1).min(6));
            tokio::time::sleep(Duration::from_millis(backoff)).await;
        }
        Err(BillyError::Unavailable(last))
    }

    pub async fn get(&self, operation: &str, path: &str) -> Result<Value, BillyError> {
        self.call(operation, Method::GET, path, &[], None, Repeat::Safe)
            .await
    }

    /// Every record of a list: `key` is the resource's plural name (`invoices`), `filters` the
    /// query beyond paging. Pages are fetched until `meta.paging.pageCount`.
    pub async fn list(
        &self,
        resource: &str,
        filters: &[(&str, String)],
    ) -> Result<Vec<Value>, BillyError> {
        let mut all = Vec::new();
        let mut page = 1u64;
        loop {
            let mut query: Vec<(&str, String)> = filters.to_vec();
            query.push(("page", page.to_string()));
            query.push(("pageSize", self.billy.config.page_size.to_string()));
            let body = self
                .call(
                    &format!("list {resource}"),
                    Method::GET,
                    &format!("/{resource}"),
                    &query,
                    None,
                    Repeat::Safe,
                )
                .await?;
            let records = body
                .get(resource)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            all.extend(records);
            let pages = body
                .pointer("/meta/paging/pageCount")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            if page >= pages {
                return Ok(all);
            }
            page += 1;
        }
    }

    /// Creates a record (`POST /<resource>` with `{<singular>: record}`); returns Billy's record.
    pub async fn create(
        &self,
        resource: &str,
        singular: &str,
        record: Value,
    ) -> Result<Value, BillyError> {
        let body = serde_json::json!({ singular: record });
        let answer = self
            .call(
                &format!("create {singular}"),
                Method::POST,
                &format!("/{resource}"),
                &[],
                Some(&body),
                Repeat::Unsafe,
            )
            .await?;
        // Billy answers with the created record sideloaded under the plural name.
        answer
            .get(resource)
            .and_then(Value::as_array)
            .and_then(|records| records.first())
            .or_else(|| answer.get(singular))
            .cloned()
            .ok_or_else(|| {
                BillyError::Unavailable(format!("create {singular}: no record in the answer"))
            })
    }
}

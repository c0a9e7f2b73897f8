//! The workflow engine: runs executions step by step, durably.
//!
//! Every instance polls for due executions and claims them with `FOR UPDATE SKIP LOCKED` and a
//! lease it renews at each step. A step is recorded as started (with its idempotency key,
//! `<execution>:<step>`) before its side effect, and its result, the execution's progress, the
//! events it emits and its logs commit in one transaction after. So an instance that dies
//! mid-run leaves an execution another instance resumes once the lease ran out: completed
//! steps are never run again, and the one step that was under way is retried with the same
//! idempotency key (`Idempotency-Key`, `webhook-id`), which lets its receiver drop the repeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use diesel_async::AsyncPgConnection;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tekup_auth::sealing::TokenCipher;
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_proto::flow::v1::ExecutionFinished;
use tekup_runtime::{Problem, in_context};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::cron::{self, Cron};
use crate::domain::definition::{self, Action, Definition, OnTimeout, Step};
use crate::domain::expr::{self, ExprError};
use crate::reach::Reach;
use crate::signature;
use crate::store::executions::{self, Execution, NewExecution, Progress};
use crate::store::integrations::{self, NewDelivery};
use crate::store::{schedules, workflows};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Run executions and schedules in this instance.
    pub enabled: bool,
    /// How often to look for due executions and schedules when idle.
    pub poll_interval_ms: u64,
    /// How long a claimed execution stays this instance's without a renewal; after it, another
    /// instance takes it over (its instance is presumed dead).
    pub lease_ms: i64,
    /// Executions claimed (and run concurrently) at a time.
    pub batch: i64,
    /// Per HTTP request or webhook delivery of a step.
    pub http_timeout_ms: u64,
    /// Address ranges that HTTP and webhook steps may reach although they are not public
    /// (loopback, private, link-local...), e.g. `10.20.0.0/16` for a receiver inside the
    /// cluster. Empty: public addresses only.
    pub allowed_private_ranges: String,
    /// A schedule's run later than this is "missed" (flow was down) and follows the schedule's
    /// missed-runs policy.
    pub missed_after_ms: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 250,
            lease_ms: 30_000,
            batch: 8,
            http_timeout_ms: 10_000,
            allowed_private_ranges: String::new(),
            missed_after_ms: 60_000,
        }
    }
}

/// Why a step failed.
#[derive(Debug, Clone)]
pub struct StepError {
    /// `http_4xx`, `http_5xx`, `http_429`, `timeout`, `connect`, `address`, `expression`,
    /// `integration`, `event`, `workflow`, `timeout_waiting`: what `retry.non_retryable` lists.
    pub kind: &'static str,
    pub message: String,
    /// Whether another attempt could succeed.
    pub retryable: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
}

impl StepError {
    fn permanent(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retryable: false,
            status: None,
        }
    }
}

impl From<ExprError> for StepError {
    fn from(e: ExprError) -> Self {
        Self::permanent("expression", e.0)
    }
}

/// What a step leads to.
enum Outcome {
    /// Go on at step `goto` (`None`: finish) with the step's output.
    Next { output: Value, goto: Option<usize> },
    /// Publish an event with the step's completion, then go on.
    Emit {
        output: Value,
        event_type: String,
        payload: Vec<u8>,
        cvr: Option<String>,
    },
    /// Resume at the next step at `until`.
    Delay { until: DateTime<Utc> },
    /// Wait for an event until `deadline`.
    Wait {
        waiting: Value,
        deadline: DateTime<Utc>,
    },
    /// Start a sub-workflow and wait for it.
    Child { workflow: String, input: Value },
}

pub struct Engine {
    pool: Pool,
    owner: Uuid,
    http: reqwest::Client,
    reach: Reach,
    cipher: Option<Arc<TokenCipher>>,
    config: EngineConfig,
    pub wake: Arc<Notify>,
}

fn database(p: Problem) -> anyhow::Error {
    anyhow::anyhow!("database: {p}")
}

impl Engine {
    pub fn new(
        pool: Pool,
        cipher: Option<Arc<TokenCipher>>,
        config: EngineConfig,
    ) -> anyhow::Result<Self> {
        // A request still under way when the lease runs out would be sent twice (by this
        // instance and by the one that takes the execution over).
        let timeout = i64::try_from(config.http_timeout_ms).unwrap_or(i64::MAX);
        if timeout >= config.lease_ms {
            anyhow::bail!(
                "app.engine.http_timeout_ms ({timeout}) must be shorter than app.engine.lease_ms ({})",
                config.lease_ms
            );
        }
        let reach = Reach::new(
            tekup_runtime::net::parse_ranges(&config.allowed_private_ranges)
                .map_err(|e| anyhow::anyhow!("app.engine.allowed_private_ranges: {e}"))?,
        );
        Ok(Self {
            pool,
            owner: Uuid::new_v4(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(config.http_timeout_ms))
                .redirect(reqwest::redirect::Policy::none())
                // A proxy would resolve the step's host itself, out of the resolver's sight.
                .no_proxy()
                .dns_resolver(Arc::new(reach.clone()))
                .build()?,
            reach,
            cipher,
            config,
            wake: Arc::new(Notify::new()),
        })
    }

    pub fn spawn(self: Arc<Self>) {
        tokio::spawn(async move { self.run().await });
    }

    async fn run(self: Arc<Self>) {
        tracing::info!(owner = %self.owner, "workflow engine started");
        loop {
            let mut busy = false;
            match self.schedules().await {
                Ok(started) => busy |= started > 0,
                Err(err) => tracing::warn!(error = %err, "schedules"),
            }
            match self.claim().await {
                Ok(claimed) => {
                    busy |= !claimed.is_empty();
                    let runs = claimed.into_iter().map(|e| self.drive(e));
                    futures_util::future::join_all(runs).await;
                }
                Err(err) => tracing::warn!(error = %err, "claiming executions"),
            }
            if !busy {
                let idle = Duration::from_millis(self.config.poll_interval_ms);
                let _ = tokio::time::timeout(idle, self.wake.notified()).await;
            }
        }
    }

    async fn claim(&self) -> anyhow::Result<Vec<Execution>> {
        in_context!(&self.pool, Context::System, |conn| {
            Ok::<_, Problem>(
                executions::claim(conn, self.owner, self.config.lease_ms, self.config.batch)
                    .await?,
            )
        })
        .map_err(database)
    }

    /// Runs a claimed execution until it ends, waits, or is no longer this instance's.
    async fn drive(&self, mut execution: Execution) {
        let id = execution.id;
        let span = tracing::info_span!("execution", execution_id = %id, workflow = %execution.workflow_name);
        let _entered = span.enter();
        let loaded = self.load(&execution).await;
        let (definition, vars) = match loaded {
            Ok(loaded) => loaded,
            Err(err) => {
                tracing::warn!(error = %err, "cannot load the workflow");
                return;
            }
        };
        let definition = match definition {
            Ok(d) => d,
            Err(message) => {
                let error = StepError::permanent("workflow", message);
                if let Err(err) = self
                    .end_alone(&execution, "failed", Some(&error), None)
                    .await
                {
                    tracing::warn!(error = %err, "cannot fail the execution");
                }
                return;
            }
        };
        loop {
            match self.step(&mut execution, &definition, &vars).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) => {
                    // The lease runs out and the execution is taken up again.
                    tracing::warn!(error = %err, "execution interrupted");
                    break;
                }
            }
        }
    }

    /// The execution's definition and the organization's variables (secrets opened).
    async fn load(
        &self,
        execution: &Execution,
    ) -> anyhow::Result<(Result<Definition, String>, Secrets)> {
        let (workflow, variables) = in_context!(&self.pool, Context::System, |conn| {
            let workflow = workflows::find(conn, execution.workflow_id).await?;
            let variables = integrations::variables(conn, execution.org_id).await?;
            Ok::<_, Problem>((workflow, variables))
        })
        .map_err(database)?;
        let definition = definition::parse(&workflow.definition).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        });
        let mut secrets = Secrets::default();
        for variable in variables {
            let value = match (variable.secret, variable.sealed(), &self.cipher) {
                (false, _, _) => variable.value.unwrap_or(Value::Null),
                (true, Some(sealed), Some(cipher)) => {
                    match cipher.open(execution.org_id, &sealed) {
                        Ok(secret) => {
                            let plain = secret.expose_secret().to_owned();
                            secrets.hidden.push(plain.clone());
                            Value::String(plain)
                        }
                        Err(err) => {
                            tracing::warn!(variable = variable.name, error = %err, "secret variable cannot be opened");
                            Value::Null
                        }
                    }
                }
                (true, _, _) => Value::Null,
            };
            secrets.vars.insert(variable.name, value);
        }
        Ok((definition, secrets))
    }

    /// Runs the execution's current step; `true` to go on with the next.
    async fn step(
        &self,
        execution: &mut Execution,
        definition: &Definition,
        secrets: &Secrets,
    ) -> anyhow::Result<bool> {
        if execution.status == "waiting" {
            return self.waited(execution).await;
        }
        let index = usize::try_from(execution.step_index).unwrap_or(usize::MAX);
        let Some(step) = definition.steps.get(index) else {
            self.end_alone(execution, "succeeded", None, None).await?;
            return Ok(false);
        };
        let attempt = execution.attempt + 1;
        let key = format!("{}:{}", execution.id, step.id);
        let input = serde_json::to_value(step)?;
        let ours = in_context!(&self.pool, Context::System, |conn| {
            if !executions::renew(conn, execution.id, self.owner, self.config.lease_ms).await? {
                return Ok(false);
            }
            executions::begin_step(
                conn,
                execution.org_id,
                execution.id,
                &step.id,
                step.action.kind(),
                attempt,
                &key,
                &input,
            )
            .await?;
            executions::log(
                conn,
                execution.org_id,
                execution.id,
                Some(&step.id),
                "info",
                &format!("{} step started", step.action.kind()),
                &json!({"attempt": attempt}),
            )
            .await?;
            Ok::<_, Problem>(true)
        })
        .map_err(database)?;
        if !ours {
            return Ok(false);
        }
        let started = Instant::now();
        let scope = scope(execution, &secrets.vars);
        let mut deliveries = Vec::new();
        let result = self
            .act(
                execution,
                step,
                index,
                definition,
                &key,
                attempt,
                &scope,
                secrets,
                &mut deliveries,
            )
            .await;
        // What a step made is stored (and a child's input becomes its execution's): a secret in
        // it, rendered from the variables or echoed back by a receiver, is not. A child reads
        // the variables itself. (An emit step's payload is redacted before it is encoded.)
        let result = result
            .map(|outcome| match outcome {
                Outcome::Next { output, goto } => Outcome::Next {
                    output: secrets.redact_value(output),
                    goto,
                },
                Outcome::Child { workflow, input } => Outcome::Child {
                    workflow,
                    input: secrets.redact_value(input),
                },
                other => other,
            })
            .map_err(|mut e| {
                e.message = secrets.redact(&e.message);
                e
            });
        metrics::counter!("flow_step_attempts_total", "kind" => step.action.kind(),
            "outcome" => if result.is_ok() { "ok" } else { "error" })
        .increment(1);
        metrics::histogram!("flow_step_duration_seconds", "kind" => step.action.kind())
            .record(started.elapsed().as_secs_f64());
        self.settle(
            execution, step, index, definition, &key, attempt, result, deliveries,
        )
        .await
    }

    /// Does what a step does, outside the database (HTTP) or as a description of what to
    /// write (the rest).
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        execution: &Execution,
        step: &Step,
        index: usize,
        definition: &Definition,
        key: &str,
        attempt: i32,
        scope: &Map<String, Value>,
        secrets: &Secrets,
        deliveries: &mut Vec<DeliveryAttempt>,
    ) -> Result<Outcome, StepError> {
        let next = Some(index + 1);
        match &step.action {
            Action::Transform { set } => Ok(Outcome::Next {
                output: expr::render(&Value::Object(set.clone()), scope)?,
                goto: next,
            }),
            Action::Condition {
                condition,
                then,
                otherwise,
            } => {
                let holds = expr::truthy(&expr::eval(&expr::parse(condition)?, scope)?);
                let target = if holds { then } else { otherwise };
                let goto = match target.as_deref() {
                    None => next,
                    Some("end") => None,
                    Some(id) => definition.steps.iter().position(|s| s.id == id),
                };
                Ok(Outcome::Next {
                    output: json!({"result": holds}),
                    goto,
                })
            }
            Action::Delay { seconds } => Ok(Outcome::Delay {
                until: Utc::now() + TimeDelta::seconds(i64::try_from(*seconds).unwrap_or(0)),
            }),
            Action::WaitForEvent {
                event,
                matches,
                timeout_seconds,
                on_timeout,
            } => Ok(Outcome::Wait {
                waiting: json!({"event": event, "match": matches, "step": step.id,
                                "on_timeout": on_timeout}),
                deadline: Utc::now()
                    + TimeDelta::seconds(i64::try_from(*timeout_seconds).unwrap_or(0)),
            }),
            Action::Workflow { workflow, input } => Ok(Outcome::Child {
                workflow: workflow.clone(),
                input: match input {
                    Some(t) => expr::render(t, scope)?,
                    None => execution.input.clone(),
                },
            }),
            Action::Emit { event, payload } => {
                // Redacted before it is encoded: the event travels to every consumer, which
                // may store it, and the payload is also the step's stored output.
                let mut payload = secrets.redact_value(expr::render(payload, scope)?);
                let object = payload.as_object_mut().ok_or_else(|| {
                    StepError::permanent("event", "an emit step's payload must be an object")
                })?;
                // What identifies the event is the engine's to fill in, not the author's.
                object.insert("org_id".into(), Value::String(execution.org_id.to_string()));
                match event.as_str() {
                    "tekup.flow.v1.DealRequested" => {
                        object.insert("request_id".into(), Value::String(key.to_owned()));
                    }
                    _ => {
                        object.insert(
                            "execution_id".into(),
                            Value::String(execution.id.to_string()),
                        );
                        if let Some(inner) = object.get("payload_json").filter(|v| !v.is_string()) {
                            let text = inner.to_string();
                            object.insert("payload_json".into(), Value::String(text));
                        }
                    }
                }
                let cvr = object
                    .get("cvr")
                    .and_then(Value::as_str)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned);
                let encoded = tekup_proto::from_json(event, &payload)
                    .map_err(|e| StepError::permanent("event", e))?;
                Ok(Outcome::Emit {
                    output: payload,
                    event_type: event.clone(),
                    payload: encoded,
                    cvr,
                })
            }
            Action::Http {
                method,
                url,
                integration,
                headers,
                body,
            } => {
                let mut url = expr::text(&expr::render(&Value::String(url.clone()), scope)?);
                let mut all_headers = Map::new();
                if let Some(name) = integration {
                    let integration = self.integration(execution.org_id, name).await?;
                    url = on_integration(&integration.url, &url)?;
                    if let Some(h) = integration.headers.as_object() {
                        all_headers.extend(h.clone());
                    }
                }
                let own = expr::render(&Value::Object(headers.clone()), scope)?
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                // The integration's credentials go to its host: a step does not name another.
                if integration.is_some() && own.keys().any(|h| h.eq_ignore_ascii_case("host")) {
                    return Err(StepError::permanent(
                        "integration",
                        "a step with an integration may not set the Host header",
                    ));
                }
                all_headers.extend(own);
                let body = body.as_ref().map(|b| expr::render(b, scope)).transpose()?;
                let method = reqwest::Method::from_bytes(method.as_bytes())
                    .map_err(|e| StepError::permanent("http_4xx", e.to_string()))?;
                let url = self.target(&url)?;
                let mut request = self
                    .http
                    .request(method, url)
                    .header("idempotency-key", key);
                for (name, value) in &all_headers {
                    request = request.header(name.as_str(), expr::text(value));
                }
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let (status, body) = send(request).await?;
                Ok(Outcome::Next {
                    output: json!({"status": status, "body": body}),
                    goto: next,
                })
            }
            Action::Webhook {
                integration,
                event_type,
                payload,
            } => {
                let integration = self.integration(execution.org_id, integration).await?;
                let cipher = self.cipher.as_ref().ok_or_else(|| {
                    StepError::permanent("integration", "app.secret_key is not set")
                })?;
                let secret = cipher
                    .open(execution.org_id, &integration.sealed())
                    .map_err(|e| StepError::permanent("integration", e.to_string()))?;
                let data = expr::render(payload, scope)?;
                let now = Utc::now();
                let body = serde_json::to_vec(&json!({
                    "type": event_type,
                    "timestamp": now.to_rfc3339(),
                    "data": data,
                }))
                .map_err(|e| StepError::permanent("event", e.to_string()))?;
                let message_id = format!("msg_{key}");
                let started = Instant::now();
                // A refused address is recorded as an attempt, like a receiver that is down.
                let sent = match self.target(&integration.url) {
                    Ok(url) => {
                        let mut request = self
                            .http
                            .post(url)
                            .header("content-type", "application/json")
                            .header("webhook-id", &message_id)
                            .header("webhook-timestamp", now.timestamp().to_string())
                            .header(
                                "webhook-signature",
                                signature::sign(
                                    secret.expose_secret(),
                                    &message_id,
                                    now.timestamp(),
                                    &body,
                                ),
                            );
                        if let Some(h) = integration.headers.as_object() {
                            for (name, value) in h {
                                request = request.header(name.as_str(), expr::text(value));
                            }
                        }
                        send(request.body(body)).await
                    }
                    Err(refused) => Err(refused),
                };
                deliveries.push(DeliveryAttempt {
                    integration_id: integration.id,
                    message_id,
                    event_type: event_type.clone(),
                    attempt,
                    status_code: match &sent {
                        Ok((status, _)) => Some(i32::from(*status)),
                        Err(e) => e.status.map(i32::from),
                    },
                    error: sent.as_ref().err().map(|e| e.message.clone()),
                    duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
                });
                let (status, response) = sent?;
                Ok(Outcome::Next {
                    output: json!({"status": status, "body": response}),
                    goto: next,
                })
            }
        }
    }

    async fn integration(
        &self,
        org_id: Uuid,
        name: &str,
    ) -> Result<integrations::Integration, StepError> {
        in_context!(&self.pool, Context::System, |conn| {
            Ok::<_, Problem>(integrations::by_name(conn, org_id, name).await?)
        })
        .map_err(|p| {
            if p.status == 404 {
                StepError::permanent("integration", format!("no integration {name:?}"))
            } else {
                StepError {
                    kind: "integration",
                    message: p.to_string(),
                    retryable: true,
                    status: None,
                }
            }
        })
    }

    /// Writes a step's result and the execution's progress in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        execution: &mut Execution,
        step: &Step,
        index: usize,
        definition: &Definition,
        key: &str,
        attempt: i32,
        result: Result<Outcome, StepError>,
        deliveries: Vec<DeliveryAttempt>,
    ) -> anyhow::Result<bool> {
        let mut outputs = execution.outputs.clone();
        let id = execution.id;
        let org_id = execution.org_id;
        let retry = step.retry.clone().unwrap_or_default();
        let go_on = in_context!(&self.pool, Context::System, |conn| {
            for d in &deliveries {
                integrations::record_delivery(
                    conn,
                    NewDelivery {
                        org_id,
                        integration_id: d.integration_id,
                        execution_id: id,
                        step_id: &step.id,
                        message_id: &d.message_id,
                        event_type: &d.event_type,
                        attempt: d.attempt,
                        status_code: d.status_code,
                        error: d.error.as_deref(),
                        duration_ms: d.duration_ms,
                    },
                )
                .await?;
            }
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(error) => {
                    let retryable = error.retryable
                        && !retry.non_retryable.iter().any(|k| k == error.kind)
                        && u32::try_from(attempt).unwrap_or(u32::MAX) < retry.max_attempts;
                    executions::end_step(
                        conn,
                        id,
                        &step.id,
                        attempt,
                        if retryable { "retrying" } else { "failed" },
                        None,
                        Some(&error.message),
                    )
                    .await?;
                    if retryable {
                        let next = u32::try_from(attempt + 1).unwrap_or(u32::MAX);
                        let wait = retry.delay_ms(next, rand::random::<f64>());
                        let wake_at = Utc::now()
                            + TimeDelta::milliseconds(i64::try_from(wait).unwrap_or(i64::MAX));
                        executions::log(
                            conn,
                            org_id,
                            id,
                            Some(&step.id),
                            "warn",
                            &format!("attempt {attempt} failed ({}), retrying", error.kind),
                            &json!({"error": error.message, "retry_at": wake_at}),
                        )
                        .await?;
                        let ours = executions::advance(
                            conn,
                            id,
                            self.owner,
                            Progress {
                                status: "pending",
                                outputs: &outputs,
                                step_index: execution.step_index,
                                attempt,
                                wake_at: Some(wake_at),
                                waiting: None,
                                error: Some(&error.message),
                            },
                        )
                        .await?;
                        return ours_or_rollback(ours).map(|_| false);
                    }
                    self.end(conn, execution, "failed", Some(&error), Some(&step.id))
                        .await?;
                    return Ok(false);
                }
            };
            let output = match &outcome {
                Outcome::Next { output, .. } | Outcome::Emit { output, .. } => output.clone(),
                Outcome::Delay { until } => json!({"until": until}),
                Outcome::Wait { deadline, .. } => json!({"waiting_until": deadline}),
                Outcome::Child { workflow, .. } => json!({"workflow": workflow}),
            };
            let status = if matches!(outcome, Outcome::Wait { .. } | Outcome::Child { .. }) {
                "running"
            } else {
                "succeeded"
            };
            executions::end_step(conn, id, &step.id, attempt, status, Some(&output), None).await?;
            if let Some(map) = outputs.as_object_mut()
                && !matches!(outcome, Outcome::Wait { .. } | Outcome::Child { .. })
            {
                map.insert(step.id.clone(), output.clone());
            }
            let next_index = i32::try_from(index + 1).unwrap_or(i32::MAX);
            let (progress_status, step_index, wake_at, waiting) = match outcome {
                Outcome::Next { goto, .. } => match goto {
                    Some(goto) if goto < definition.steps.len() => (
                        "running",
                        i32::try_from(goto).unwrap_or(i32::MAX),
                        None,
                        None,
                    ),
                    _ => {
                        execution.outputs = outputs;
                        self.end(conn, execution, "succeeded", None, None).await?;
                        return Ok(false);
                    }
                },
                Outcome::Emit {
                    event_type,
                    payload,
                    cvr,
                    ..
                } => {
                    outbox::publish_encoded(
                        conn,
                        Outgoing {
                            topic: &topic("flow", "workflow"),
                            org_id: Some(org_id),
                            cvr: cvr.as_deref(),
                            subject: &id.to_string(),
                            payload: &payload,
                        },
                        &event_type,
                    )
                    .await?;
                    ("running", next_index, None, None)
                }
                Outcome::Delay { until } => ("pending", next_index, Some(until), None),
                Outcome::Wait { waiting, deadline } => (
                    "waiting",
                    execution.step_index,
                    Some(deadline),
                    Some(waiting),
                ),
                Outcome::Child { workflow, input } => {
                    // Workflows that start each other in a circle stop here.
                    if executions::nesting(conn, id, MAX_NESTING).await? >= MAX_NESTING {
                        let error = StepError::permanent(
                            "workflow",
                            format!(
                                "sub-workflows nest deeper than {MAX_NESTING}: do workflows \
                                 start each other in a circle?"
                            ),
                        );
                        self.end(conn, execution, "failed", Some(&error), Some(&step.id))
                            .await?;
                        return Ok(false);
                    }
                    let child = workflows::active(conn, org_id, &workflow).await;
                    let child = match child {
                        Ok(child) => child,
                        Err(diesel::result::Error::NotFound) => {
                            let error = StepError::permanent(
                                "workflow",
                                format!("no active workflow {workflow:?}"),
                            );
                            self.end(conn, execution, "failed", Some(&error), Some(&step.id))
                                .await?;
                            return Ok(false);
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let started = executions::start(
                        conn,
                        NewExecution {
                            org_id,
                            workflow_id: child.id,
                            trigger: &json!({"kind": "workflow", "parent_id": id, "step": step.id}),
                            dedupe_key: Some(key),
                            input: &input,
                            created_by: None,
                            parent_id: Some(id),
                            rerun_of: None,
                            chain: execution.chain,
                        },
                    )
                    .await?;
                    let deadline = Utc::now()
                        + TimeDelta::seconds(
                            i64::try_from(definition::MAX_WAIT_SECONDS).unwrap_or(0),
                        );
                    (
                        "waiting",
                        execution.step_index,
                        Some(deadline),
                        Some(json!({"child": started, "step": step.id})),
                    )
                }
            };
            executions::log(
                conn,
                org_id,
                id,
                Some(&step.id),
                "info",
                &format!(
                    "{} step {}",
                    step.action.kind(),
                    if progress_status == "waiting" {
                        "waiting"
                    } else {
                        "done"
                    }
                ),
                &json!({"attempt": attempt}),
            )
            .await?;
            // A run of steps that need no waiting keeps the lease; others release it.
            let keep = progress_status == "running";
            let ours = executions::advance(
                conn,
                id,
                self.owner,
                Progress {
                    status: progress_status,
                    outputs: &outputs,
                    step_index,
                    attempt: 0,
                    wake_at,
                    waiting: waiting.as_ref(),
                    error: None,
                },
            )
            .await?;
            ours_or_rollback(ours)?;
            execution.outputs = outputs;
            execution.step_index = step_index;
            execution.attempt = 0;
            execution.status = progress_status.to_owned();
            Ok::<_, Problem>(keep)
        });
        match go_on {
            Ok(go_on) => Ok(go_on),
            Err(p) if p.code == LEASE_LOST => Ok(false),
            Err(p) => Err(database(p)),
        }
    }

    /// A waiting execution whose deadline passed: a sub-workflow may have ended, or a wait for
    /// an event timed out.
    async fn waited(&self, execution: &mut Execution) -> anyhow::Result<bool> {
        let waiting = execution.waiting.clone().unwrap_or(Value::Null);
        let step_id = waiting["step"].as_str().unwrap_or_default().to_owned();
        let next_index = execution.step_index + 1;
        let id = execution.id;
        let owner = self.owner;
        let result = in_context!(&self.pool, Context::System, |conn| {
            let mut outputs = execution.outputs.clone();
            if let Some(child) = waiting["child"]
                .as_str()
                .and_then(|c| c.parse::<Uuid>().ok())
            {
                let child = executions::find(conn, child).await?;
                match child.status.as_str() {
                    "succeeded" => {
                        executions::end_step(
                            conn,
                            id,
                            &step_id,
                            execution.attempt + 1,
                            "succeeded",
                            Some(&child.outputs),
                            None,
                        )
                        .await?;
                        if let Some(map) = outputs.as_object_mut() {
                            map.insert(step_id.clone(), child.outputs.clone());
                        }
                    }
                    "failed" | "cancelled" => {
                        let error = StepError::permanent(
                            "workflow",
                            format!(
                                "sub-workflow {} {}: {}",
                                child.workflow_name,
                                child.status,
                                child.error.clone().unwrap_or_default()
                            ),
                        );
                        executions::end_step(
                            conn,
                            id,
                            &step_id,
                            execution.attempt + 1,
                            "failed",
                            None,
                            Some(&error.message),
                        )
                        .await?;
                        self.end(conn, execution, "failed", Some(&error), Some(&step_id))
                            .await?;
                        return Ok(false);
                    }
                    _ => {
                        // Still running: wait on (it nudges its parent when it ends).
                        let deadline = Utc::now() + TimeDelta::hours(1);
                        let ours = executions::advance(
                            conn,
                            id,
                            owner,
                            Progress {
                                status: "waiting",
                                outputs: &outputs,
                                step_index: execution.step_index,
                                attempt: execution.attempt,
                                wake_at: Some(deadline),
                                waiting: Some(&waiting),
                                error: None,
                            },
                        )
                        .await?;
                        ours_or_rollback(ours)?;
                        return Ok(false);
                    }
                }
            } else {
                let on_timeout: OnTimeout =
                    serde_json::from_value(waiting["on_timeout"].clone()).unwrap_or_default();
                executions::log(
                    conn,
                    execution.org_id,
                    id,
                    Some(&step_id),
                    "warn",
                    "no matching event before the timeout",
                    &json!({"event": waiting["event"]}),
                )
                .await?;
                if on_timeout == OnTimeout::Fail {
                    let error = StepError::permanent(
                        "timeout_waiting",
                        "no matching event before the timeout",
                    );
                    executions::end_step(
                        conn,
                        id,
                        &step_id,
                        execution.attempt + 1,
                        "failed",
                        None,
                        Some(&error.message),
                    )
                    .await?;
                    self.end(conn, execution, "failed", Some(&error), Some(&step_id))
                        .await?;
                    return Ok(false);
                }
                executions::end_step(
                    conn,
                    id,
                    &step_id,
                    execution.attempt + 1,
                    "succeeded",
                    Some(&Value::Null),
                    None,
                )
                .await?;
                if let Some(map) = outputs.as_object_mut() {
                    map.insert(step_id.clone(), Value::Null);
                }
            }
            let ours = executions::advance(
                conn,
                id,
                owner,
                Progress {
                    status: "running",
                    outputs: &outputs,
                    step_index: next_index,
                    attempt: 0,
                    wake_at: None,
                    waiting: None,
                    error: None,
                },
            )
            .await?;
            ours_or_rollback(ours)?;
            execution.outputs = outputs;
            execution.step_index = next_index;
            execution.attempt = 0;
            execution.status = "running".into();
            execution.waiting = None;
            Ok::<_, Problem>(true)
        });
        match result {
            Ok(go_on) => Ok(go_on),
            Err(p) if p.code == LEASE_LOST => Ok(false),
            Err(p) => Err(database(p)),
        }
    }

    /// Ends an execution in a transaction of its own (see [`Self::end`]); a lost lease means
    /// another instance owns it now, and nothing is done.
    async fn end_alone(
        &self,
        execution: &Execution,
        status: &str,
        error: Option<&StepError>,
        step: Option<&str>,
    ) -> anyhow::Result<()> {
        in_context!(&self.pool, Context::System, |conn| {
            self.end(conn, execution, status, error, step).await
        })
        .or_else(|p| {
            if p.code == LEASE_LOST {
                Ok(())
            } else {
                Err(database(p))
            }
        })
    }

    /// Ends an execution: its status, metrics, the `ExecutionFinished` event, and a nudge to
    /// the parent waiting for it. In the caller's transaction.
    async fn end(
        &self,
        conn: &mut AsyncPgConnection,
        execution: &Execution,
        status: &str,
        error: Option<&StepError>,
        step: Option<&str>,
    ) -> Result<(), Problem> {
        let message = error.map(|e| format!("{}: {}", e.kind, e.message));
        let ours = executions::advance(
            conn,
            execution.id,
            self.owner,
            Progress {
                status,
                outputs: &execution.outputs,
                step_index: execution.step_index,
                attempt: execution.attempt,
                wake_at: None,
                waiting: None,
                error: message.as_deref(),
            },
        )
        .await?;
        ours_or_rollback(ours)?;
        finished(conn, execution, status, message.as_deref(), step).await
    }

    /// Starts the runs of due schedules; returns how many started.
    async fn schedules(&self) -> anyhow::Result<usize> {
        let missed_after = TimeDelta::milliseconds(self.config.missed_after_ms);
        let started = in_context!(&self.pool, Context::System, |conn| {
            let mut started = 0;
            for schedule in schedules::due(conn, 16).await? {
                let now = Utc::now();
                let Ok(cron) = Cron::parse(&schedule.cron) else {
                    schedules::moved_on(conn, schedule.id, None, None).await?;
                    continue;
                };
                // Every occurrence from next_run_at up to now.
                let mut due = vec![schedule.next_run_at];
                due.extend(cron.between(schedule.next_run_at, now, 1000));
                let (on_time, missed): (Vec<_>, Vec<_>) =
                    due.into_iter().partition(|at| now - *at <= missed_after);
                let mut runs: Vec<(DateTime<Utc>, &str)> = match schedule.missed.as_str() {
                    "run_all" => missed.iter().take(100).map(|at| (*at, "missed")).collect(),
                    "run_once" => missed.last().map(|at| (*at, "missed")).into_iter().collect(),
                    _ => Vec::new(),
                };
                runs.extend(on_time.iter().map(|at| (*at, "on time")));
                let workflow = workflows::active(conn, schedule.org_id, &schedule.workflow_name).await;
                let mut ran = None;
                match workflow {
                    Ok(workflow) => {
                        for (at, why) in runs {
                            if schedule.skip_holidays && cron::on_holiday(at) {
                                tracing::info!(schedule = %schedule.id, %at, "a holiday: run skipped");
                                continue;
                            }
                            let occurrence = cron::minute(at).to_rfc3339();
                            let id = executions::start(
                                conn,
                                NewExecution {
                                    org_id: schedule.org_id,
                                    workflow_id: workflow.id,
                                    trigger: &json!({"kind": "schedule", "schedule_id": schedule.id,
                                                     "occurrence": occurrence, "run": why}),
                                    dedupe_key: Some(&format!("schedule:{}:{occurrence}", schedule.id)),
                                    input: &schedule.input,
                                    created_by: None,
                                    parent_id: None,
                                    rerun_of: None,
                                    chain: 0,
                                },
                            )
                            .await?;
                            if id.is_some() {
                                started += 1;
                                ran = Some(at);
                            }
                        }
                        if !missed.is_empty() {
                            tracing::info!(schedule = %schedule.id, missed = missed.len(),
                                policy = schedule.missed, "runs missed while flow was down");
                        }
                    }
                    Err(diesel::result::Error::NotFound) => {
                        tracing::warn!(schedule = %schedule.id, workflow = schedule.workflow_name,
                            "the scheduled workflow is not active: run skipped");
                    }
                    Err(e) => return Err(e.into()),
                }
                let next = cron.next_after(now);
                schedules::moved_on(conn, schedule.id, next, ran).await?;
            }
            Ok::<_, Problem>(started)
        })
        .map_err(database)?;
        Ok(started)
    }
}

/// Announces an ended execution and nudges its parent. In the caller's transaction.
pub async fn finished(
    conn: &mut AsyncPgConnection,
    execution: &Execution,
    status: &str,
    error: Option<&str>,
    step: Option<&str>,
) -> Result<(), Problem> {
    let duration_ms = execution
        .started_at
        .map_or(0, |s| (Utc::now() - s).num_milliseconds().max(0));
    executions::count_run(
        conn,
        execution.org_id,
        &execution.workflow_name,
        status,
        duration_ms,
    )
    .await?;
    executions::log(
        conn,
        execution.org_id,
        execution.id,
        step,
        if status == "succeeded" {
            "info"
        } else {
            "error"
        },
        &format!("execution {status}"),
        &json!({"error": error, "duration_ms": duration_ms}),
    )
    .await?;
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic("flow", "workflow"),
            org_id: Some(execution.org_id),
            cvr: None,
            subject: &execution.id.to_string(),
            payload: &ExecutionFinished {
                execution_id: execution.id.to_string(),
                org_id: execution.org_id.to_string(),
                workflow_id: execution.workflow_id.to_string(),
                workflow_name: execution.workflow_name.clone(),
                status: status.to_owned(),
                error: error.unwrap_or_default().to_owned(),
                output_json: execution.outputs.to_string(),
                finished_at: Utc::now().to_rfc3339(),
            },
        },
    )
    .await?;
    if let Some(parent) = execution.parent_id {
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE flow.executions SET wake_at = now() WHERE id = $1 AND status = 'waiting'",
            )
            .bind::<crate::store::SqlUuid, _>(parent),
            conn,
        )
        .await?;
    }
    metrics::counter!("flow_executions_finished_total", "status" => status.to_owned()).increment(1);
    #[allow(clippy::cast_precision_loss)]
    metrics::histogram!("flow_execution_duration_seconds").record(duration_ms as f64 / 1000.0);
    Ok(())
}

/// The problem code that rolls back the work of an instance that lost its lease.
const LEASE_LOST: &str = "lease-lost";

fn ours_or_rollback(ours: bool) -> Result<(), Problem> {
    if ours {
        Ok(())
    } else {
        // Cancelled, or taken over after this instance's lease ran out: change nothing.
        Err(Problem::new(
            actix_web::http::StatusCode::CONFLICT,
            LEASE_LOST,
            "the execution is no longer this instance's".to_owned(),
        ))
    }
}

/// One attempt to deliver an outgoing webhook, for the delivery log.
struct DeliveryAttempt {
    integration_id: Uuid,
    message_id: String,
    event_type: String,
    attempt: i32,
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i32,
}

/// The organization's variables, and the secret values among them, which are kept out of
/// every stored error and log.
#[derive(Default)]
pub struct Secrets {
    pub vars: Map<String, Value>,
    hidden: Vec<String>,
}

impl Secrets {
    fn redact_value(&self, value: Value) -> Value {
        if self.hidden.iter().all(String::is_empty) {
            return value;
        }
        let text = value.to_string();
        let redacted = self.redact(&text);
        if redacted == text {
            value
        } else {
            serde_json::from_str(&redacted).unwrap_or(Value::String(redacted))
        }
    }

    fn redact(&self, text: &str) -> String {
        self.hidden
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[secret]"))
    }
}

/// What expressions of a step see.
fn scope(execution: &Execution, vars: &Map<String, Value>) -> Map<String, Value> {
    let mut scope = Map::new();
    scope.insert("input".into(), execution.input.clone());
    scope.insert("steps".into(), execution.outputs.clone());
    scope.insert("vars".into(), Value::Object(vars.clone()));
    scope.insert(
        "execution".into(),
        json!({"id": execution.id, "workflow": execution.workflow_name,
               "version": execution.workflow_version, "trigger": execution.trigger}),
    );
    scope
}

impl Engine {
    /// The url a step sends to, if it may: an address host is judged here, a name when it is
    /// resolved ([`Reach`]).
    fn target(&self, url: &str) -> Result<reqwest::Url, StepError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            StepError::permanent("http_4xx", format!("the step's url is not valid: {e}"))
        })?;
        self.reach
            .check(&parsed)
            .map_err(|e| StepError::permanent("address", e.to_string()))?;
        Ok(parsed)
    }
}

/// Sends a request; the status and body (JSON when it parses, else text, at most 64 KiB).
/// `path` (rendered) on the integration at `base`: the integration's headers, its credentials,
/// go to its own scheme, host and port only, whatever the step's inputs made of the path.
fn on_integration(base: &str, path: &str) -> Result<String, StepError> {
    let refused = |why: &str| StepError::permanent("integration", why.to_owned());
    if !path.is_empty() && !path.starts_with('/') {
        return Err(refused(
            "the url of a step with an integration must be a path starting with /",
        ));
    }
    let joined = format!("{}{path}", base.trim_end_matches('/'));
    let (Ok(base_url), Ok(to)) = (reqwest::Url::parse(base), reqwest::Url::parse(&joined)) else {
        return Err(refused(
            "the integration's url and the step's path make no url",
        ));
    };
    // Below the integration's own path too: `..` (however spelled) does not climb out of it.
    let under = base_url.path().trim_end_matches('/');
    let path_ok = to.path() == under || to.path().starts_with(&format!("{under}/"));
    if base_url.origin() == to.origin() && (under.is_empty() || path_ok) {
        Ok(joined)
    } else {
        Err(refused(
            "the step's url leaves the integration's host or path: refused",
        ))
    }
}

/// How deep sub-workflows may nest: a top-level execution and this many levels below it.
const MAX_NESTING: i32 = 8;

/// How many executions may follow one another through flow's own events (one emits a signal,
/// the signal starts the next): a start and this many after it.
pub const MAX_CHAIN: i32 = 8;

/// The largest part of an answer that is read (and kept as the step's output).
const ANSWER_LIMIT: usize = 64 * 1024;

async fn send(request: reqwest::RequestBuilder) -> Result<(u16, Value), StepError> {
    let mut response = request.send().await.map_err(|e| {
        if let Some(refused) = Reach::refused(&e) {
            return StepError::permanent("address", refused.to_string());
        }
        StepError {
            kind: if e.is_timeout() { "timeout" } else { "connect" },
            message: e.without_url().to_string(),
            retryable: true,
            status: None,
        }
    })?;
    let status = response.status().as_u16();
    // Read up to the limit and no further: a huge answer never sits in memory whole.
    let mut bytes = Vec::new();
    while bytes.len() < ANSWER_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let limited = &bytes[..bytes.len().min(ANSWER_LIMIT)];
    let body = serde_json::from_slice(limited)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(limited).into_owned()));
    let (kind, retryable) = match status {
        200..=299 => return Ok((status, body)),
        408 | 429 => ("http_429", true),
        400..=499 => ("http_4xx", false),
        _ => ("http_5xx", true),
    };
    Err(StepError {
        kind,
        message: format!("{status} from the receiver"),
        retryable,
        status: Some(status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_on_an_integration_stays_on_its_host() {
        let base = "https://api.crm.example/v2/";
        assert_eq!(
            on_integration(base, "/things/7?x=1").ok().as_deref(),
            Some("https://api.crm.example/v2/things/7?x=1")
        );
        // What inputs could make of a path: none leaves the host.
        for path in [
            "@evil.example/steal",
            ".evil.example/steal",
            "evil",
            ":8443/elsewhere",
            "/../admin",
            "/%2e%2e/admin",
        ] {
            assert!(on_integration(base, path).is_err(), "{path:?}");
        }
        assert_eq!(
            on_integration(base, "").ok().as_deref(),
            Some("https://api.crm.example/v2"),
            "no path: the integration's own url"
        );
        assert!(
            on_integration("https://api.crm.example", "//evil.example/x")
                .is_ok_and(|url| reqwest::Url::parse(&url)
                    .is_ok_and(|u| u.host_str() == Some("api.crm.example")))
        );
    }
}

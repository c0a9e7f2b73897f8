//! Workflow definitions: what starts a workflow and the steps it takes, validated before a
//! definition is stored so that a running execution never meets a malformed step.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tekup_runtime::problem::FieldError;
use utoipa::ToSchema;

use super::expr;

/// The most steps a workflow may have.
pub const MAX_STEPS: usize = 50;
/// The longest a delay or a wait may last.
pub const MAX_WAIT_SECONDS: u64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub trigger: Trigger,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Step>,
}

/// What starts an execution.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// An event of this type (full protobuf name, e.g. `tekup.renos.v1.LeadCreated`) in the
    /// organization; `filter` (an expression over `input`, the event's payload) narrows it.
    Event {
        event: String,
        #[serde(default)]
        filter: Option<String>,
    },
    /// A delivery to one of flow's inbound webhooks; `input` is the delivery.
    Webhook { webhook_id: uuid::Uuid },
    /// Runs from schedules.
    Schedule,
    /// Runs when a user starts it.
    Manual,
}

impl Trigger {
    /// (`trigger_kind`, `trigger_key`) as stored.
    pub fn key(&self) -> (&'static str, Option<String>) {
        match self {
            Trigger::Event { event, .. } => ("event", Some(event.clone())),
            Trigger::Webhook { webhook_id } => ("webhook", Some(webhook_id.to_string())),
            Trigger::Schedule => ("schedule", None),
            Trigger::Manual => ("manual", None),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// Unique within the workflow; later steps read its output as `steps.<id>`.
    pub id: String,
    #[serde(flatten)]
    pub action: Action,
    #[serde(default)]
    pub retry: Option<Retry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// An HTTP request; `integration` names a configured endpoint whose URL prefixes `url`
    /// and whose headers are added. The step's idempotency key goes as `Idempotency-Key`.
    Http {
        #[serde(default = "post")]
        method: String,
        url: String,
        #[serde(default)]
        integration: Option<String>,
        #[serde(default)]
        headers: serde_json::Map<String, Value>,
        #[serde(default)]
        body: Option<Value>,
    },
    /// An outgoing webhook to an integration, signed per Standard Webhooks; `webhook-id` is the
    /// step's idempotency key, the same on every retry.
    Webhook {
        integration: String,
        event_type: String,
        payload: Value,
    },
    /// An event of flow's contracts (`tekup.flow.v1.DealRequested`, `...SignalEmitted`), built
    /// from `payload`; published with the step's completion, exactly once.
    Emit { event: String, payload: Value },
    /// Go on at `then` (default: the next step) when `if` holds, else at `else` (default: the
    /// next step); `end` finishes the execution.
    Condition {
        #[serde(rename = "if")]
        condition: String,
        #[serde(default)]
        then: Option<String>,
        #[serde(default, rename = "else")]
        otherwise: Option<String>,
    },
    /// Computes values: the step's output is `set` rendered.
    Transform { set: serde_json::Map<String, Value> },
    /// Waits, durably.
    Delay { seconds: u64 },
    /// Waits for an event of this type in the organization for which `match` holds (over
    /// `event` and the execution's data); its payload becomes the step's output. On timeout:
    /// fail, or continue with a null output.
    WaitForEvent {
        event: String,
        #[serde(default, rename = "match")]
        matches: Option<String>,
        timeout_seconds: u64,
        #[serde(default)]
        on_timeout: OnTimeout,
    },
    /// Runs another workflow (its active version) with `input`, and waits for it; its outputs
    /// become the step's output.
    Workflow {
        workflow: String,
        #[serde(default)]
        input: Option<Value>,
    },
}

fn post() -> String {
    "POST".into()
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    #[default]
    Fail,
    Continue,
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Http { .. } => "http",
            Action::Webhook { .. } => "webhook",
            Action::Emit { .. } => "emit",
            Action::Condition { .. } => "condition",
            Action::Transform { .. } => "transform",
            Action::Delay { .. } => "delay",
            Action::WaitForEvent { .. } => "wait_for_event",
            Action::Workflow { .. } => "workflow",
        }
    }
}

/// How a failing step is retried: attempts `initial_interval_ms × backoff^(n-1)`, capped at
/// `max_interval_ms`, with ±20 % jitter, up to `max_attempts`; errors whose kind is listed in
/// `non_retryable` (or that can never succeed: 4xx but 408/429, a bad expression) fail at once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    #[serde(default = "Retry::default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "Retry::default_initial")]
    pub initial_interval_ms: u64,
    #[serde(default = "Retry::default_backoff")]
    pub backoff: f64,
    #[serde(default = "Retry::default_max")]
    pub max_interval_ms: u64,
    #[serde(default)]
    pub non_retryable: Vec<String>,
}

impl Retry {
    fn default_attempts() -> u32 {
        5
    }
    fn default_initial() -> u64 {
        1000
    }
    fn default_backoff() -> f64 {
        2.0
    }
    fn default_max() -> u64 {
        60_000
    }

    /// The delay before attempt `next` (2, 3, ...) with jitter `unit` in [0, 1).
    pub fn delay_ms(&self, next: u32, unit: f64) -> u64 {
        let exponent = i32::try_from(next.saturating_sub(2)).unwrap_or(i32::MAX);
        #[allow(clippy::cast_precision_loss)]
        let base = (self.initial_interval_ms as f64 * self.backoff.powi(exponent))
            .min(self.max_interval_ms as f64);
        let jittered = base * (0.8 + 0.4 * unit);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = jittered.max(0.0) as u64;
        ms
    }
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_attempts: Self::default_attempts(),
            initial_interval_ms: Self::default_initial(),
            backoff: Self::default_backoff(),
            max_interval_ms: Self::default_max(),
            non_retryable: Vec::new(),
        }
    }
}

/// The event types an emit step may build: flow's own contracts (a service publishes only
/// its own events).
pub const EMITTABLE: [&str; 2] = ["tekup.flow.v1.DealRequested", "tekup.flow.v1.SignalEmitted"];

fn expression(source: &str, at: &str, errors: &mut Vec<FieldError>) {
    if let Err(e) = expr::parse(source) {
        errors.push(FieldError::new(at, format!("invalid expression: {e}")));
    }
}

fn template(value: &Value, at: &str, errors: &mut Vec<FieldError>) {
    if let Err((place, e)) = expr::check_template(value, at) {
        errors.push(FieldError::new(place, format!("invalid template: {e}")));
    }
}

/// Reads and checks a definition; every problem found is named with its place.
pub fn parse(value: &Value) -> Result<Definition, Vec<FieldError>> {
    let definition: Definition = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        vec![FieldError::new(
            format!("definition.{}", e.path()),
            e.inner().to_string(),
        )]
    })?;
    let mut errors = Vec::new();
    match &definition.trigger {
        Trigger::Event { event, filter } => {
            if !event.starts_with("tekup.") || event.split('.').count() != 4 {
                errors.push(FieldError::new(
                    "definition.trigger.event",
                    "must be an event type's full name, e.g. tekup.renos.v1.LeadCreated",
                ));
            }
            if let Some(filter) = filter {
                expression(filter, "definition.trigger.filter", &mut errors);
            }
        }
        Trigger::Webhook { .. } | Trigger::Schedule | Trigger::Manual => {}
    }
    if definition.steps.is_empty() || definition.steps.len() > MAX_STEPS {
        errors.push(FieldError::new(
            "definition.steps",
            format!("must hold 1 to {MAX_STEPS} steps"),
        ));
    }
    let ids: Vec<&str> = definition.steps.iter().map(|s| s.id.as_str()).collect();
    let mut seen = HashSet::new();
    for (i, step) in definition.steps.iter().enumerate() {
        let at = format!("definition.steps[{i}]");
        let id_ok = !step.id.is_empty()
            && step.id.len() <= 64
            && step
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && step.id != "end";
        if !id_ok {
            errors.push(FieldError::new(
                format!("{at}.id"),
                "must be 1-64 letters, digits, _ or - (and not \"end\")",
            ));
        }
        if !seen.insert(step.id.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.id"),
                format!("{:?} is used twice", step.id),
            ));
        }
        if let Some(retry) = &step.retry
            && (retry.max_attempts == 0
                || retry.max_attempts > 20
                || !(1.0..=10.0).contains(&retry.backoff)
                || retry.initial_interval_ms > 3_600_000
                || retry.max_interval_ms > 24 * 3_600_000)
        {
            errors.push(FieldError::new(
                format!("{at}.retry"),
                "max_attempts 1-20, backoff 1-10, intervals at most an hour (initial) and a day (max)",
            ));
        }
        match &step.action {
            Action::Http {
                method,
                url,
                integration,
                headers,
                body,
            } => {
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                    errors.push(FieldError::new(
                        format!("{at}.method"),
                        "must be GET, POST, PUT, PATCH or DELETE",
                    ));
                }
                template(
                    &Value::String(url.clone()),
                    &format!("{at}.url"),
                    &mut errors,
                );
                match integration {
                    None if !url.starts_with("http://") && !url.starts_with("https://") => {
                        errors.push(FieldError::new(
                            format!("{at}.url"),
                            "must be absolute (http:// or https://) unless an integration is named",
                        ));
                    }
                    // The integration's headers (its credentials) go to its own host only.
                    Some(_) if !url.is_empty() && !url.starts_with('/') => errors.push(FieldError::new(
                        format!("{at}.url"),
                        "must be a path on the integration (starting with /) when an integration \
                         is named",
                    )),
                    _ => {}
                }
                template(
                    &Value::Object(headers.clone()),
                    &format!("{at}.headers"),
                    &mut errors,
                );
                if let Some(body) = body {
                    template(body, &format!("{at}.body"), &mut errors);
                }
            }
            Action::Webhook {
                integration,
                event_type,
                payload,
            } => {
                if integration.trim().is_empty() {
                    errors.push(FieldError::new(format!("{at}.integration"), "is required"));
                }
                if event_type.trim().is_empty() || event_type.len() > 100 {
                    errors.push(FieldError::new(
                        format!("{at}.event_type"),
                        "must be 1-100 characters",
                    ));
                }
                template(payload, &format!("{at}.payload"), &mut errors);
            }
            Action::Emit { event, payload } => {
                if !EMITTABLE.contains(&event.as_str()) {
                    errors.push(FieldError::new(
                        format!("{at}.event"),
                        format!("must be one of {}", EMITTABLE.join(", ")),
                    ));
                }
                template(payload, &format!("{at}.payload"), &mut errors);
            }
            Action::Condition {
                condition,
                then,
                otherwise,
            } => {
                expression(condition, &format!("{at}.if"), &mut errors);
                for (name, target) in [("then", then), ("else", otherwise)] {
                    if let Some(target) = target {
                        // Only forward: an execution always ends.
                        let forward = ids
                            .iter()
                            .position(|id| id == target)
                            .is_some_and(|j| j > i);
                        if target != "end" && !forward {
                            errors.push(FieldError::new(
                                format!("{at}.{name}"),
                                format!("{target:?} is not a later step's id (or \"end\")"),
                            ));
                        }
                    }
                }
            }
            Action::Transform { set } => {
                template(
                    &Value::Object(set.clone()),
                    &format!("{at}.set"),
                    &mut errors,
                );
            }
            Action::Delay { seconds } => {
                if *seconds == 0 || *seconds > MAX_WAIT_SECONDS {
                    errors.push(FieldError::new(
                        format!("{at}.seconds"),
                        format!("must be 1 to {MAX_WAIT_SECONDS}"),
                    ));
                }
            }
            Action::WaitForEvent {
                event,
                matches,
                timeout_seconds,
                ..
            } => {
                if !event.starts_with("tekup.") || event.split('.').count() != 4 {
                    errors.push(FieldError::new(
                        format!("{at}.event"),
                        "must be an event type's full name",
                    ));
                }
                if let Some(m) = matches {
                    expression(m, &format!("{at}.match"), &mut errors);
                }
                if *timeout_seconds == 0 || *timeout_seconds > MAX_WAIT_SECONDS {
                    errors.push(FieldError::new(
                        format!("{at}.timeout_seconds"),
                        format!("must be 1 to {MAX_WAIT_SECONDS}"),
                    ));
                }
            }
            Action::Workflow { workflow, input } => {
                if workflow.trim().is_empty() {
                    errors.push(FieldError::new(format!("{at}.workflow"), "is required"));
                }
                if let Some(input) = input {
                    template(input, &format!("{at}.input"), &mut errors);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(definition)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_lead_workflow_parses() {
        let d = parse(&json!({
            "trigger": {"type": "event", "event": "tekup.renos.v1.LeadCreated", "filter": "input.cvr != ''"},
            "steps": [
                {"id": "validate", "type": "transform", "set": {"valid": "{{ cvr_valid(input.cvr) }}"}},
                {"id": "check", "type": "condition", "if": "steps.validate.valid", "else": "end"},
                {"id": "deal", "type": "emit", "event": "tekup.flow.v1.DealRequested",
                 "payload": {"cvr": "{{ input.cvr }}", "title": "Lead {{ input.source }}"},
                 "retry": {"max_attempts": 3}},
            ]
        }))
        .unwrap();
        assert_eq!(d.steps.len(), 3);
        assert_eq!(
            d.trigger.key(),
            ("event", Some("tekup.renos.v1.LeadCreated".into()))
        );
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let errors = parse(&json!({
            "trigger": {"type": "event", "event": "LeadCreated"},
            "steps": [
                {"id": "a", "type": "condition", "if": "input.x ==", "then": "a"},
                {"id": "a", "type": "delay", "seconds": 0},
                {"id": "c", "type": "emit", "event": "tekup.crm.v1.DealChanged", "payload": {"x": "{{ nope }}"}},
                {"id": "d", "type": "http", "method": "TRACE", "url": "/relative"},
                {"id": "e", "type": "http", "method": "GET", "integration": "crm",
                 "url": "@evil.example/steal"},
            ]
        }))
        .unwrap_err();
        let fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
        for expected in [
            "definition.trigger.event",
            "definition.steps[0].if",
            "definition.steps[0].then",
            "definition.steps[1].id",
            "definition.steps[1].seconds",
            "definition.steps[2].event",
            "definition.steps[2].payload.x",
            "definition.steps[3].method",
            "definition.steps[3].url",
            "definition.steps[4].url",
        ] {
            assert!(
                fields.iter().any(|f| f == expected),
                "{expected} in {fields:?}"
            );
        }
        let unknown = parse(
            &json!({"trigger": {"type": "manual"}, "steps": [{"id": "x", "type": "teleport"}]}),
        )
        .unwrap_err();
        assert!(
            unknown[0].field.starts_with("definition.steps"),
            "{unknown:?}"
        );
    }

    #[test]
    fn retries_back_off_with_bounded_jitter() {
        let r = Retry {
            max_attempts: 5,
            initial_interval_ms: 1000,
            backoff: 2.0,
            max_interval_ms: 5000,
            non_retryable: vec![],
        };
        assert_eq!(r.delay_ms(2, 0.5), 1000);
        assert_eq!(r.delay_ms(3, 0.5), 2000);
        assert_eq!(r.delay_ms(5, 0.5), 5000);
        assert_eq!(r.delay_ms(2, 0.0), 800);
        assert!(r.delay_ms(2, 0.999) < 1200);
    }
}

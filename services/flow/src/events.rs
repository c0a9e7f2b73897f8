//! What flow consumes: any event a workflow may be triggered by or wait for, and the services'
//! answers to data-subject requests.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use tekup_events::consumer::{HandleError, Handler, Subscription};
use tekup_events::{Event, catalog, kafka};
use tekup_proto::flow::v1::{GdprAnswered, WebhookReceived};
use uuid::Uuid;

use crate::domain::definition::{Definition, Trigger};
use crate::domain::expr;
use crate::engine::MAX_CHAIN;
use crate::store::executions::{self, NewExecution};
use crate::store::{gdpr, workflows};

/// Every topic but the data-subject ones: workflows start on, and wait for, any event.
pub fn triggers() -> Subscription {
    Subscription {
        name: "triggers".into(),
        topics: catalog::all()
            .into_iter()
            .filter(|t| !t.ends_with(".gdpr"))
            .collect(),
        handler: Arc::new(Triggers),
    }
}

/// The services' answers to data-subject requests.
pub fn gdpr_answers() -> Subscription {
    Subscription {
        name: "gdpr-answers".into(),
        topics: gdpr::SERVICES
            .iter()
            .map(|s| kafka::topic(s, "gdpr"))
            .collect(),
        handler: Arc::new(Answers),
    }
}

/// An event's payload as a workflow's input: the payload's fields, and for an inbound webhook's
/// delivery its body as text (or base64 when it is not UTF-8) and, when JSON, parsed.
fn input(event: &Event) -> Result<Option<Value>, HandleError> {
    if let Some(delivery) = event.decoded::<WebhookReceived>()? {
        let mut input = json!({
            "delivery_id": delivery.delivery_id,
            "webhook_id": delivery.webhook_id,
            "format": delivery.format,
            "content_type": delivery.content_type,
            "received_at": delivery.received_at,
        });
        match String::from_utf8(delivery.body) {
            Ok(text) => {
                if let Ok(json) = serde_json::from_str::<Value>(&text) {
                    input["json"] = json;
                }
                input["body"] = Value::String(text);
            }
            Err(raw) => input["body_base64"] = Value::String(STANDARD.encode(raw.into_bytes())),
        }
        return Ok(Some(input));
    }
    match tekup_proto::to_json(event.event_type(), &event.envelope.payload) {
        None => Ok(None),
        Some(Ok(json)) => Ok(Some(json)),
        Some(Err(e)) => Err(HandleError::permanent(e)),
    }
}

struct Triggers;

impl Handler for Triggers {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let Some(org_id) = event.org_id() else {
                return Ok(());
            };
            let Some(input) = input(event)? else {
                return Ok(());
            };
            let about = json!({"id": event.id, "type": event.event_type(), "cvr": event.cvr(),
                               "occurred_at": event.occurred_at()});
            let (kind, key) = if event.is::<WebhookReceived>() {
                (
                    "webhook",
                    input["webhook_id"].as_str().unwrap_or_default().to_owned(),
                )
            } else {
                ("event", event.event_type().to_owned())
            };
            // flow's own events (a signal, a deal request, an execution's end) have the
            // execution that caused them as their subject: what they start is one further
            // along its chain, and past the limit nothing starts.
            let emitter = (event.envelope.source == "flow")
                .then(|| Uuid::parse_str(&event.envelope.subject).ok())
                .flatten();
            // Looked up only when the event starts something.
            let triggered = workflows::triggered_by(conn, org_id, kind, &key).await?;
            let chain = match emitter {
                Some(id) if !triggered.is_empty() => executions::chain_of(conn, org_id, id)
                    .await?
                    .map_or(0, |c| c + 1),
                _ => 0,
            };
            for workflow in triggered {
                let Ok(definition) =
                    serde_json::from_value::<Definition>(workflow.definition.clone())
                else {
                    continue;
                };
                if let Trigger::Event {
                    filter: Some(filter),
                    ..
                } = &definition.trigger
                {
                    let mut scope = Map::new();
                    scope.insert("input".into(), input.clone());
                    scope.insert("event".into(), about.clone());
                    let passes = expr::parse(filter)
                        .and_then(|e| expr::eval(&e, &scope))
                        .map(|v| expr::truthy(&v));
                    match passes {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            tracing::warn!(workflow = workflow.name, error = %e, "trigger filter fails");
                            continue;
                        }
                    }
                }
                if chain > MAX_CHAIN
                    && let Some(emitter) = emitter
                {
                    let message = format!(
                        "{:?} was not started: {MAX_CHAIN} executions already followed each \
                         other through flow's events (do workflows trigger each other in a circle?)",
                        workflow.name
                    );
                    tracing::warn!(execution_id = %emitter, "{message}");
                    executions::log(conn, org_id, emitter, None, "warn", &message, &about).await?;
                    continue;
                }
                let started = executions::start(
                    conn,
                    NewExecution {
                        org_id,
                        workflow_id: workflow.id,
                        trigger: &json!({"kind": kind, "event": about}),
                        dedupe_key: Some(&format!("event:{}", event.id)),
                        input: &input,
                        created_by: event.actor_id(),
                        parent_id: None,
                        rerun_of: None,
                        chain,
                    },
                )
                .await?;
                if let Some(id) = started {
                    tracing::info!(workflow = workflow.name, execution_id = %id, "execution triggered");
                }
            }
            // Executions waiting for this event.
            for waiting in executions::waiting_for(conn, org_id, event.event_type()).await? {
                let spec = waiting.waiting.clone().unwrap_or(Value::Null);
                let mut scope = Map::new();
                scope.insert("input".into(), waiting.input.clone());
                scope.insert("steps".into(), waiting.outputs.clone());
                scope.insert("event".into(), input.clone());
                let matches = match spec["match"].as_str() {
                    None => Ok(true),
                    Some(m) => expr::parse(m)
                        .and_then(|e| expr::eval(&e, &scope))
                        .map(|v| expr::truthy(&v)),
                };
                if !matches!(matches, Ok(true)) {
                    continue;
                }
                let step = spec["step"].as_str().unwrap_or_default();
                let mut outputs = waiting.outputs.clone();
                if let Some(map) = outputs.as_object_mut() {
                    map.insert(step.to_owned(), input.clone());
                }
                if executions::resume(conn, waiting.id, &outputs, waiting.step_index + 1).await? {
                    executions::end_step(
                        conn,
                        waiting.id,
                        step,
                        waiting.attempt + 1,
                        "succeeded",
                        Some(&input),
                        None,
                    )
                    .await?;
                    executions::log(
                        conn,
                        org_id,
                        waiting.id,
                        Some(step),
                        "info",
                        "the awaited event arrived",
                        &about,
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }
}

struct Answers;

impl Handler for Answers {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let Some(answer) = event.decoded::<GdprAnswered>()? else {
                return Ok(());
            };
            let request_id = HandleError::uuid("request_id", &answer.request_id)?;
            let org_id = HandleError::uuid("org_id", &answer.org_id)?;
            let answered_at = HandleError::time("answered_at", &answer.answered_at)?;
            if !gdpr::SERVICES.contains(&answer.service.as_str()) {
                return Err(HandleError::permanent(format!(
                    "an answer from an unknown service {:?}",
                    answer.service
                )));
            }
            let counts = Value::Object(
                answer
                    .counts
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(*v)))
                    .collect(),
            );
            let bundle = (!answer.bundle_json.is_empty())
                .then(|| serde_json::from_str::<Value>(&answer.bundle_json))
                .transpose()
                .map_err(HandleError::permanent)?;
            gdpr::answer(
                conn,
                request_id,
                org_id,
                &answer.service,
                &counts,
                bundle.as_ref(),
                answered_at,
            )
            .await?;
            Ok(())
        })
    }
}

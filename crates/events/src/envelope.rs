//! Events as consumers see them, the CloudEvents Kafka headers, and W3C trace context.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use tekup_proto::{Envelope, Message, Name};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

/// The content type of every payload we publish.
pub const CONTENT_TYPE: &str = "application/protobuf";

/// One event received from Kafka.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub envelope: Envelope,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl Event {
    /// The event's type: the full protobuf name of its payload.
    pub fn event_type(&self) -> &str {
        &self.envelope.r#type
    }

    /// Whether the payload is an `M`.
    pub fn is<M: Name>(&self) -> bool {
        self.envelope.r#type == M::full_name()
    }

    /// The payload as `M` for a handler: `None` when the event is of another type, a permanent
    /// error when it does not decode.
    pub fn decoded<M: Message + Name + Default>(
        &self,
    ) -> Result<Option<M>, crate::consumer::HandleError> {
        self.payload::<M>()
            .transpose()
            .map_err(crate::consumer::HandleError::permanent)
    }

    /// Decodes the payload as `M`; `None` when the event is of another type.
    pub fn payload<M: Message + Name + Default>(&self) -> Option<Result<M, prost_error::Decode>> {
        self.is::<M>()
            .then(|| M::decode(self.envelope.payload.as_slice()))
    }

    pub fn org_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.envelope.org_id).ok()
    }

    /// The company the event concerns, if one.
    pub fn cvr(&self) -> Option<&str> {
        Some(self.envelope.cvr.as_str()).filter(|c| !c.is_empty())
    }

    /// The user whose request caused the event, if a user did.
    pub fn actor_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.envelope.actor_id).ok()
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        let ts = self.envelope.occurred_at.as_ref()?;
        DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
    }
}

/// Re-exported so handlers can name the decode error.
pub mod prost_error {
    pub type Decode = tekup_proto::prost::DecodeError;
}

/// The CloudEvents Kafka binding headers (binary mode) plus W3C trace context.
pub fn headers(
    id: Uuid,
    event_type: &str,
    source: &str,
    subject: &str,
    time: DateTime<Utc>,
    traceparent: Option<&str>,
) -> OwnedHeaders {
    let time = time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let id = id.to_string();
    let source = format!("/tekup/{source}");
    let mut headers = OwnedHeaders::new_with_capacity(8)
        .insert(header("ce_specversion", "1.0"))
        .insert(header("ce_id", &id))
        .insert(header("ce_type", event_type))
        .insert(header("ce_source", &source))
        .insert(header("ce_subject", subject))
        .insert(header("ce_time", &time))
        .insert(header("content-type", CONTENT_TYPE));
    if let Some(traceparent) = traceparent {
        headers = headers.insert(header("traceparent", traceparent));
    }
    headers
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// A header's value as text.
pub fn header_value<'a, H: Headers>(headers: &'a H, key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// The W3C `traceparent` of the current span, if it belongs to a trace.
pub fn current_traceparent() -> Option<String> {
    struct Carrier(HashMap<String, String>);
    impl Injector for Carrier {
        fn set(&mut self, key: &str, value: String) {
            self.0.insert(key.to_owned(), value);
        }
    }
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = Carrier(HashMap::new());
    opentelemetry_sdk_propagator().inject_context(&context, &mut carrier);
    carrier.0.remove("traceparent")
}

/// Makes `span` a child of the trace named by `traceparent`.
pub fn join_trace(span: &tracing::Span, traceparent: &str) {
    struct Carrier<'a>(&'a str);
    impl Extractor for Carrier<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            (key == "traceparent").then_some(self.0)
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent"]
        }
    }
    let parent = opentelemetry_sdk_propagator().extract(&Carrier(traceparent));
    let _ = span.set_parent(parent);
}

/// The trace id of `span`, when it has one.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// W3C trace context, independent of which global propagator the process installed.
fn opentelemetry_sdk_propagator() -> impl TextMapPropagator {
    opentelemetry_sdk::propagation::TraceContextPropagator::new()
}

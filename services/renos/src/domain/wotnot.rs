//! WotNot's chatbot events: batched `{"events":[{"event":{"type", "payload"}}]}`. Every
//! payload names its conversation by `external_key`; conversation_create carries the title,
//! bot, channel and `variables[{name, value}]` (contact_id, visitor_name, conversation_url, an
//! e-mail or CVR the bot collected). Messages, notes, labels, status and assignee changes are
//! read tolerantly: WotNot documents their payloads by example only, so the text, sender and
//! time are looked for under the names its examples use.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// One chatbot event, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatEvent {
    pub kind: Kind,
    pub external_key: String,
    pub at: DateTime<Utc>,
    /// WotNot's own id of the message or event, when it has one.
    pub id: Option<String>,
    pub title: Option<String>,
    pub bot_id: Option<String>,
    pub channel_name: Option<String>,
    pub channel_provider: Option<String>,
    pub variables: serde_json::Map<String, Value>,
    pub assignee: Option<String>,
    pub closed: Option<bool>,
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Created,
    Message {
        author: &'static str,
        text: String,
    },
    Note(String),
    Label(String),
    Status,
    Assignee,
    Variable,
    /// A type this platform does not act on (kept in the raw conversation).
    Other(String),
}

impl ChatEvent {
    /// The key that recognises this event when it is delivered again: WotNot's
    /// (external_key, type, created_at), and its message id when there is one.
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.type_name(),
            self.at.timestamp_micros(),
            self.id.as_deref().unwrap_or("")
        )
    }

    pub fn type_name(&self) -> String {
        match &self.kind {
            Kind::Created => "conversation_create".into(),
            Kind::Message { .. } => "message".into(),
            Kind::Note(_) => "note".into(),
            Kind::Label(_) => "label".into(),
            Kind::Status => "status_change".into(),
            Kind::Assignee => "assignee_change".into(),
            Kind::Variable => "variable".into(),
            Kind::Other(name) => name.clone(),
        }
    }

    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// Reads a batch; each event that cannot be read is reported with its position and reason,
/// and the others are kept.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Result<ChatEvent, String>>, String> {
    let batch: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let events = batch
        .get("events")
        .and_then(Value::as_array)
        .ok_or("no events array")?;
    Ok(events.iter().map(parse_event).collect())
}

fn parse_event(wrapper: &Value) -> Result<ChatEvent, String> {
    let event = wrapper.get("event").unwrap_or(wrapper);
    let type_name = event
        .get("type")
        .and_then(Value::as_str)
        .ok_or("the event has no type")?;
    let payload = event.get("payload").ok_or("the event has no payload")?;
    let external_key = string(payload.get("external_key"))
        .or_else(|| string(path(payload, &["conversation", "external_key"])))
        .ok_or("the event names no conversation (external_key)")?;
    let at = time(payload.get("created_at"))
        .or_else(|| time(path(payload, &["message", "created_at"])))
        .ok_or("the event has no readable created_at")?;
    let message = payload.get("message");
    let kind = match type_name {
        "conversation_create" => Kind::Created,
        t if t.starts_with("message") && t != "message_status" => {
            let text = message
                .and_then(|m| string(m.get("text")).or_else(|| string(Some(m))))
                .or_else(|| string(payload.get("text")))
                .ok_or("the message has no text")?;
            Kind::Message {
                author: author(payload),
                text,
            }
        }
        "note" | "note_add" | "note_added" => Kind::Note(
            string(path(payload, &["note", "text"]))
                .or_else(|| string(payload.get("note")))
                .or_else(|| string(payload.get("text")))
                .ok_or("the note has no text")?,
        ),
        "label" | "label_add" | "label_added" => Kind::Label(
            string(path(payload, &["label", "name"]))
                .or_else(|| string(payload.get("label")))
                .ok_or("the label has no name")?,
        ),
        "status_change" | "conversation_status" => Kind::Status,
        "assignee_change" | "conversation_assign" => Kind::Assignee,
        "variable" | "variable_update" => Kind::Variable,
        other => Kind::Other(other.to_owned()),
    };
    let variables = payload
        .get("variables")
        .and_then(Value::as_array)
        .map(|vars| {
            vars.iter()
                .filter_map(|v| Some((string(v.get("name"))?, v.get("value")?.clone())))
                .collect()
        })
        .unwrap_or_default();
    let closed = payload
        .get("is_closed")
        .and_then(|v| v.as_bool().or_else(|| v.as_i64().map(|n| n != 0)))
        .or_else(|| {
            string(payload.get("status")).map(|s| matches!(s.as_str(), "closed" | "resolved"))
        });
    Ok(ChatEvent {
        kind,
        external_key,
        at,
        id: string(message.and_then(|m| m.get("id"))).or_else(|| string(payload.get("id"))),
        title: string(payload.get("title")),
        bot_id: string(payload.get("bot_id")),
        channel_name: string(path(payload, &["channel", "name"])),
        channel_provider: string(path(payload, &["channel", "provider"])),
        variables,
        assignee: string(path(payload, &["assigned_to_user", "email"]))
            .or_else(|| string(path(payload, &["assignee", "email"]))),
        closed,
        raw: wrapper.clone(),
    })
}

fn author(payload: &Value) -> &'static str {
    let sender = string(path(payload, &["message", "sender", "type"]))
        .or_else(|| string(path(payload, &["sender", "type"])))
        .or_else(|| string(payload.get("sender_type")))
        .or_else(|| string(path(payload, &["message", "sender_type"])))
        .unwrap_or_default()
        .to_lowercase();
    match sender.as_str() {
        "bot" => "bot",
        "agent" | "user" | "human" => "agent",
        _ => "visitor",
    }
}

fn path<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(value, |v, key| v.get(key))
}

/// Strings and numbers (WotNot sends ids as either) as trimmed text; empty is none.
fn string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// WotNot writes `2023-08-29 04:27:48.236411` (UTC) and RFC 3339 elsewhere.
fn time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let text = string(value)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = r#"{"events": [{"event": {"type": "conversation_create", "payload": {"assigned_to_user": {"email": "seq_user@wotnot-seq.com", "id": "8181", "type": "bot"}, "created_at": "2023-08-29 04:27:48.236411", "title": "Visitor - A27187", "bot_id": 8861, "channel": {"name": 1, "provider": 0}, "is_new_visitor": false, "is_closed": 0, "external_key": "7f984da9a15b4bceb512ecad8ca461051693283267", "variables": [{"type": "text", "name": "contact_id", "value": "a569015fa03d41a283ed4c66c4601966"}, {"type": "text", "name": "visitor_name", "value": "nik"}]}}}]}"#;

    #[test]
    fn reads_wotnots_documented_conversation_create() {
        let events = parse_batch(CREATE.as_bytes()).unwrap();
        let event = events[0].as_ref().unwrap();
        assert_eq!(event.kind, Kind::Created);
        assert_eq!(
            event.external_key,
            "7f984da9a15b4bceb512ecad8ca461051693283267"
        );
        assert_eq!(event.at.to_rfc3339(), "2023-08-29T04:27:48.236411+00:00");
        assert_eq!(event.bot_id.as_deref(), Some("8861"));
        assert_eq!(event.channel_name.as_deref(), Some("1"));
        assert_eq!(event.variable("visitor_name"), Some("nik"));
        assert_eq!(event.assignee.as_deref(), Some("seq_user@wotnot-seq.com"));
        assert_eq!(event.closed, Some(false));
    }

    #[test]
    fn one_unreadable_event_leaves_the_others() {
        let batch = r#"{"events":[
            {"event":{"type":"message","payload":{"external_key":"k","created_at":"2026-11-16 10:00:00","message":{"text":"Hej","sender":{"type":"visitor"}}}}},
            {"event":{"type":"message","payload":{"created_at":"2026-11-16 10:00:01"}}},
            {"event":{"type":"message","payload":{"external_key":"k","created_at":"2026-11-16T10:00:02Z","message":{"text":"Goddag","sender":{"type":"bot"}}}}}
        ]}"#;
        let events = parse_batch(batch.as_bytes()).unwrap();
        assert_eq!(
            events[0].as_ref().unwrap().kind,
            Kind::Message {
                author: "visitor",
                text: "Hej".into()
            }
        );
        assert!(events[1].as_ref().unwrap_err().contains("external_key"));
        assert_eq!(
            events[2].as_ref().unwrap().kind,
            Kind::Message {
                author: "bot",
                text: "Goddag".into()
            }
        );
        assert_ne!(
            events[0].as_ref().unwrap().dedupe_key(),
            events[2].as_ref().unwrap().dedupe_key()
        );
    }

    #[test]
    fn a_batch_without_events_is_refused() {
        assert!(parse_batch(b"{}").is_err());
        assert!(parse_batch(b"not json").is_err());
    }
}

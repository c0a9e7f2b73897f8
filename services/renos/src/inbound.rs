//! Communications arriving from outside: WotNot chatbot batches and e-mails (one forwarded
//! message, or a mailbox import) become conversations and threads, tied to a customer and CVR,
//! with their escalations and suggested responses, each announced with its whole text.
//!
//! Everything is idempotent: a redelivered batch or a re-imported e-mail is recognised (chat
//! events by WotNot's key, e-mails by Message-ID) and changes nothing. Each e-mail of a run is
//! stored in a savepoint of its own, so one that cannot be read or stored is recorded in the
//! run with its reason while the rest of the batch is ingested; each thread the run touched is
//! announced once at its end.

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::result::Error;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use tekup_proto::renos::v1::{ConversationRecorded, EmailThreadUpdated, Message};
use uuid::Uuid;

use crate::domain::mail::{self, Mail};
use crate::domain::signals::{self, Signals};
use crate::domain::wotnot::{self, ChatEvent, Kind};
use crate::events::{Scope, publish};
use crate::store::chat::{self, NewChatMessage, RaisedEscalation, SessionUpdate};
use crate::store::mail::{self as mailstore, NewMessage, NewResponse, NewThread, Run};

/// A customer and CVR an item is tied to, and how the CVR was found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tie {
    pub cvr: Option<String>,
    pub customer_id: Option<Uuid>,
    /// variable, email, text or domain.
    pub source: Option<&'static str>,
}

/// Finds what an item is about, in order of certainty: a CVR the sender gave explicitly (a
/// chatbot variable), a customer with the sender's address, a CVR in the text or signature, a
/// business customer at the sender's (non-free-mail) domain.
pub async fn tie(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    explicit_cvr: Option<&str>,
    addresses: &[String],
    text: &str,
) -> Result<Tie, Error> {
    let by_cvr = async |conn: &mut AsyncPgConnection, cvr: &str, source| {
        let customer = chat::customer_by_cvr(conn, org_id, cvr).await?;
        Ok::<_, Error>(Tie {
            cvr: Some(cvr.to_owned()),
            customer_id: customer.map(|c| c.id),
            source: Some(source),
        })
    };
    if let Some(cvr) = explicit_cvr.and_then(|c| tekup_types::Cvr::parse(c).ok()) {
        return by_cvr(conn, cvr.as_str(), "variable").await;
    }
    let addresses: Vec<String> = addresses.iter().map(|a| a.to_lowercase()).collect();
    if let Some(customer) = chat::customer_by_email(conn, org_id, &addresses).await? {
        return Ok(Tie {
            source: customer.cvr.as_ref().map(|_| "email"),
            cvr: customer.cvr,
            customer_id: Some(customer.id),
        });
    }
    if let Some(cvr) = signals::cvr_in_text(text) {
        return by_cvr(conn, cvr.as_str(), "text").await;
    }
    let domains: Vec<String> = addresses
        .iter()
        .filter_map(|a| signals::domain(a))
        .filter(|d| !signals::is_free_mail(d))
        .collect();
    if let Some(customer) = chat::customer_by_domain(conn, org_id, &domains).await? {
        return Ok(Tie {
            source: Some("domain"),
            cvr: customer.cvr,
            customer_id: Some(customer.id),
        });
    }
    Ok(Tie::default())
}

/// How one e-mail of a run went.
enum Outcome {
    /// Stored in this thread.
    Ingested(Uuid),
    Duplicate,
}

/// Why one e-mail of a run was not ingested.
enum Failure {
    Unreadable(String),
    Storage(Error),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Storage(err)
    }
}

/// Ingests a batch of raw e-mails as one run: each is parsed, threaded, tied, stored with its
/// event, in a savepoint of its own; failures are recorded with their reasons.
pub async fn ingest_mails(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    source: &str,
    created_by: Option<Uuid>,
    messages: &[Vec<u8>],
) -> Result<Run, Error> {
    let received = i32::try_from(messages.len()).unwrap_or(i32::MAX);
    let run_id = mailstore::start_run(conn, org_id, source, received, created_by).await?;
    let (mut ingested, mut duplicates, mut errors) = (0, 0, Vec::new());
    // Each thread the run touched is announced once, with all its messages, at the end.
    let mut touched = std::collections::BTreeSet::new();
    for (index, raw) in messages.iter().enumerate() {
        let parsed = mail::parse(raw);
        let message_id = parsed.as_ref().ok().map(|m| m.message_id.clone());
        let outcome = match parsed {
            Err(reason) => Err(Failure::Unreadable(reason)),
            Ok(parsed) => {
                conn.transaction::<_, Failure, _>(async |conn| {
                    ingest_mail(conn, org_id, run_id, raw, &parsed).await
                })
                .await
            }
        };
        match outcome {
            Ok(Outcome::Ingested(thread_id)) => {
                ingested += 1;
                touched.insert(thread_id);
            }
            Ok(Outcome::Duplicate) => duplicates += 1,
            // A lost connection is not the message's fault: the whole run fails and is retried.
            Err(Failure::Storage(err @ Error::BrokenTransactionManager)) => return Err(err),
            Err(failure) => {
                let reason = match failure {
                    Failure::Unreadable(reason) => reason,
                    Failure::Storage(err) => format!("could not be stored: {err}"),
                };
                tracing::warn!(index, reason, "e-mail not ingested");
                errors.push(serde_json::json!({
                    "index": index,
                    "message_id": message_id,
                    "reason": reason,
                }));
            }
        }
    }
    for thread_id in touched {
        let thread = mailstore::thread(conn, thread_id).await?;
        publish_thread(conn, &thread).await?;
    }
    mailstore::finish_run(conn, run_id, ingested, duplicates, &errors).await
}

async fn ingest_mail(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    run_id: Uuid,
    raw: &[u8],
    mail: &Mail,
) -> Result<Outcome, Failure> {
    if mailstore::message_exists(conn, org_id, &mail.message_id).await? {
        return Ok(Outcome::Duplicate);
    }
    let sent_at = mail.date.unwrap_or_else(Utc::now);
    let normalized = mail::normalize_subject(&mail.subject);
    let participants = mail.participants();
    let mut parents = mail.references.clone();
    parents.extend(mail.in_reply_to.iter().cloned());
    let existing = match mailstore::thread_by_ids(conn, org_id, &mail.message_id, &parents).await? {
        Some(thread) => Some(thread),
        None => {
            mailstore::thread_by_subject(conn, org_id, &normalized, &participants, sent_at).await?
        }
    };
    let text = format!("{}\n{}", mail.subject, mail.text);
    let (thread_id, direction) = match existing {
        Some(thread_id) => {
            let thread = mailstore::thread(conn, thread_id).await?;
            let ours = mailstore::first_recipients(conn, thread_id).await?;
            let direction = if ours.contains(&mail.from_address)
                && thread.customer_email.as_deref() != Some(mail.from_address.as_str())
            {
                "outbound"
            } else {
                "inbound"
            };
            if thread.cvr.is_none() || thread.customer_id.is_none() {
                let found = tie(conn, org_id, None, &participants, &text).await?;
                if found.cvr.is_some() || found.customer_id.is_some() {
                    mailstore::tie_thread(
                        conn,
                        thread_id,
                        found.cvr.as_deref(),
                        found.customer_id,
                        found.source,
                    )
                    .await?;
                }
            }
            (thread_id, direction)
        }
        None => {
            let found = tie(conn, org_id, None, &participants, &text).await?;
            let thread_id = mailstore::create_thread(
                conn,
                NewThread {
                    org_id,
                    cvr: found.cvr.as_deref(),
                    customer_id: found.customer_id,
                    cvr_source: found.source,
                    subject: &mail.subject,
                    normalized_subject: &normalized,
                    customer_email: &mail.from_address,
                    at: sent_at,
                },
            )
            .await?;
            (thread_id, "inbound")
        }
    };
    let read = if direction == "inbound" {
        signals::read(&text)
    } else {
        Signals {
            sentiment: 0.0,
            urgent: false,
        }
    };
    let attachments = serde_json::to_value(
        mail.attachments
            .iter()
            .map(|a| {
                serde_json::json!({
                    "index": a.index, "filename": a.filename, "content_type": a.content_type,
                    "size": a.size, "sha256": a.sha256,
                })
            })
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let Some(message_id) = mailstore::add_message(
        conn,
        NewMessage {
            org_id,
            thread_id,
            message_id: &mail.message_id,
            in_reply_to: mail.in_reply_to.as_deref(),
            references: &mail.references,
            direction,
            from_address: &mail.from_address,
            from_name: mail.from_name.as_deref(),
            to: &mail.to,
            cc: &mail.cc,
            subject: &mail.subject,
            body_text: &mail.text,
            attachments,
            raw: Some(raw),
            sentiment: read.sentiment,
            urgent: read.urgent,
            sent_at,
            ingest_run_id: Some(run_id),
        },
    )
    .await?
    else {
        return Ok(Outcome::Duplicate);
    };
    let thread = mailstore::thread(conn, thread_id).await?;
    if direction == "inbound" {
        if read.escalate() {
            chat::raise(
                conn,
                RaisedEscalation {
                    org_id,
                    cvr: thread.cvr.as_deref(),
                    customer_id: thread.customer_id,
                    conversation_id: None,
                    email_thread_id: Some(thread_id),
                    source_message_id: message_id,
                    severity: read.severity(),
                    description: &escalation_text("E-mail", &mail.from_address, &mail.text),
                },
            )
            .await?;
        }
        suggest_response(conn, &thread, message_id, mail).await?;
    }
    Ok(Outcome::Ingested(thread_id))
}

fn escalation_text(channel: &str, from: &str, text: &str) -> String {
    let excerpt: String = text.chars().take(400).collect();
    format!("{channel} fra {from}: {excerpt}")
}

/// The first active template whose keyword occurs in the message, filled in.
async fn suggest_response(
    conn: &mut AsyncPgConnection,
    thread: &mailstore::Thread,
    reply_to: Uuid,
    mail: &Mail,
) -> Result<(), Error> {
    let haystack = format!("{} {}", mail.subject, mail.text).to_lowercase();
    let templates = mailstore::templates(conn, thread.org_id).await?;
    let Some(template) = templates.iter().find(|t| {
        t.active
            && t.keywords
                .iter()
                .any(|k| !k.trim().is_empty() && haystack.contains(&k.to_lowercase()))
    }) else {
        return Ok(());
    };
    let name = mail.from_name.as_deref().unwrap_or(&mail.from_address);
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{subject}}", &mail.subject)
            .replace("{{company}}", thread.cvr.as_deref().unwrap_or(""))
    };
    mailstore::suggest(
        conn,
        NewResponse {
            org_id: thread.org_id,
            thread_id: thread.id,
            reply_to_id: reply_to,
            template_id: template.id,
            subject: &fill(&template.subject),
            body: &fill(&template.body),
        },
    )
    .await
}

/// Announces a thread with all its messages (`renos.email_thread`).
pub async fn publish_thread(
    conn: &mut AsyncPgConnection,
    thread: &mailstore::Thread,
) -> Result<(), Error> {
    let messages = mailstore::messages(conn, thread.id).await?;
    publish(
        conn,
        "email_thread",
        &Scope {
            org_id: thread.org_id,
            cvr: thread.cvr.clone(),
        },
        thread.id,
        &EmailThreadUpdated {
            thread_id: thread.id.to_string(),
            org_id: thread.org_id.to_string(),
            cvr: thread.cvr.clone().unwrap_or_default(),
            subject: thread.thread_subject.clone(),
            customer_email: thread.customer_email.clone().unwrap_or_default(),
            messages: messages
                .into_iter()
                .map(|m| Message {
                    author: m.from_address,
                    text: m.body_text,
                    sent_at: m.sent_at.to_rfc3339(),
                })
                .collect(),
        },
    )
    .await?;
    Ok(())
}

/// What a chatbot batch did.
#[derive(Debug, Default)]
pub struct ChatOutcome {
    pub conversations: usize,
    pub new_messages: usize,
    /// Events that could not be read, with their position and reason.
    pub unreadable: Vec<String>,
}

/// Applies a WotNot batch: sessions and conversations created on first sight, messages stored
/// once, labels and states kept, each touched conversation tied and announced whole.
pub async fn ingest_chat(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    body: &[u8],
) -> Result<ChatOutcome, Error> {
    let mut outcome = ChatOutcome::default();
    let events = match wotnot::parse_batch(body) {
        Ok(events) => events,
        Err(reason) => {
            outcome.unreadable.push(reason);
            return Ok(outcome);
        }
    };
    let mut by_key: BTreeMap<String, Vec<ChatEvent>> = BTreeMap::new();
    for (index, event) in events.into_iter().enumerate() {
        match event {
            Ok(event) => by_key
                .entry(event.external_key.clone())
                .or_default()
                .push(event),
            Err(reason) => outcome.unreadable.push(format!("event {index}: {reason}")),
        }
    }
    for (key, mut events) in by_key {
        events.sort_by_key(|e| e.at);
        let first_at = events.first().map_or_else(Utc::now, |e| e.at);
        let session = chat::session(conn, org_id, &key, first_at).await?;
        let mut fresh = Vec::new();
        let mut changed = false;
        for event in &events {
            changed |= apply_chat_event(conn, org_id, &session, event, &mut fresh).await?;
        }
        if !changed {
            // Every event of this conversation had been applied: nothing to announce.
            continue;
        }
        outcome.new_messages += fresh.len();
        outcome.conversations += 1;
        let conversation = tie_conversation(conn, org_id, &session, &events).await?;
        for (message_id, read, text) in fresh {
            chat::raise(
                conn,
                RaisedEscalation {
                    org_id,
                    cvr: conversation.cvr.as_deref(),
                    customer_id: conversation.customer_id,
                    conversation_id: Some(conversation.id),
                    email_thread_id: None,
                    source_message_id: message_id,
                    severity: read.severity(),
                    description: &escalation_text(
                        "Chat",
                        conversation
                            .customer_email
                            .as_deref()
                            .unwrap_or("besøgende"),
                        &text,
                    ),
                },
            )
            .await?;
        }
        publish_conversation(conn, &conversation, &session).await?;
    }
    Ok(outcome)
}

/// Stores one event (`false` when it had been applied before); new visitor messages that call
/// for an escalation are collected.
async fn apply_chat_event(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    session: &chat::Session,
    event: &ChatEvent,
    escalate: &mut Vec<(Uuid, Signals, String)>,
) -> Result<bool, Error> {
    let label = match &event.kind {
        Kind::Label(name) => {
            chat::ensure_label(conn, org_id, name).await?;
            Some(name.as_str())
        }
        _ => None,
    };
    let new = chat::update_session(
        conn,
        session,
        SessionUpdate {
            title: event.title.as_deref(),
            bot_id: event.bot_id.as_deref(),
            channel_name: event.channel_name.as_deref(),
            channel_provider: event.channel_provider.as_deref(),
            visitor_name: event.variable("visitor_name"),
            contact_id: event.variable("contact_id"),
            conversation_url: event.variable("conversation_url"),
            variables: serde_json::Value::Object(event.variables.clone()),
            assignee: event.assignee.as_deref(),
            closed: event.closed,
            label,
            at: event.at,
            raw: &event.raw,
        },
    )
    .await?;
    let (author, text) = match &event.kind {
        _ if !new => return Ok(false),
        Kind::Message { author, text } => (*author, text.replace('\0', "")),
        Kind::Note(text) => ("note", text.replace('\0', "")),
        _ => return Ok(true),
    };
    let read = if author == "visitor" {
        signals::read(&text)
    } else {
        Signals {
            sentiment: 0.0,
            urgent: false,
        }
    };
    let inserted = chat::add_chat_message(
        conn,
        NewChatMessage {
            org_id,
            session,
            dedupe_key: &event.dedupe_key(),
            author,
            text: &text,
            sentiment: read.sentiment,
            urgent: read.urgent,
            sent_at: event.at,
        },
    )
    .await?;
    if let Some(id) = inserted
        && read.escalate()
    {
        escalate.push((id, read, text));
    }
    Ok(true)
}

/// Ties a conversation by the variables the bot collected (cvr, email) and the visitor's words.
async fn tie_conversation(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    session: &chat::Session,
    events: &[ChatEvent],
) -> Result<chat::Conversation, Error> {
    let conversation = chat::conversation(conn, session.conversation_id).await?;
    let variable = |names: &[&str]| {
        events
            .iter()
            .rev()
            .find_map(|e| names.iter().find_map(|n| e.variable(n)))
            .map(str::to_owned)
            .or_else(|| {
                names.iter().find_map(|n| {
                    conversation
                        .metadata
                        .get(*n)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                })
            })
    };
    let email = variable(&["email", "visitor_email", "e-mail", "mail"])
        .map(|e| e.to_lowercase())
        .filter(|e| e.contains('@'));
    if conversation.cvr.is_some() && conversation.customer_id.is_some() {
        return Ok(conversation);
    }
    let explicit = variable(&["cvr", "CVR", "company_cvr", "cvr_number", "cvr_nummer"]);
    let texts: Vec<String> = chat::chat_messages(conn, session.id)
        .await?
        .into_iter()
        .filter(|m| m.author == "visitor")
        .map(|m| m.text)
        .collect();
    let addresses: Vec<String> = email.iter().cloned().collect();
    let found = tie(
        conn,
        org_id,
        explicit.as_deref(),
        &addresses,
        &texts.join("\n"),
    )
    .await?;
    if found != Tie::default() || email.is_some() {
        chat::tie_conversation(
            conn,
            conversation.id,
            found.cvr.as_deref(),
            found.customer_id,
            email.as_deref(),
            found.source,
        )
        .await?;
        return chat::conversation(conn, conversation.id).await;
    }
    Ok(conversation)
}

/// Announces a conversation with all its messages (`renos.conversation`).
pub async fn publish_conversation(
    conn: &mut AsyncPgConnection,
    conversation: &chat::Conversation,
    session: &chat::Session,
) -> Result<(), Error> {
    let messages = chat::chat_messages(conn, session.id).await?;
    publish(
        conn,
        "conversation",
        &Scope {
            org_id: conversation.org_id,
            cvr: conversation.cvr.clone(),
        },
        conversation.id,
        &ConversationRecorded {
            conversation_id: conversation.id.to_string(),
            org_id: conversation.org_id.to_string(),
            cvr: conversation.cvr.clone().unwrap_or_default(),
            channel: conversation.channel.clone(),
            customer_email: conversation.customer_email.clone().unwrap_or_default(),
            title: conversation.title.clone(),
            messages: messages
                .into_iter()
                .map(|m| Message {
                    author: m.author,
                    text: m.text,
                    sent_at: m.sent_at.to_rfc3339(),
                })
                .collect(),
        },
    )
    .await?;
    Ok(())
}

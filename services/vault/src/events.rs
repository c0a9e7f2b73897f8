//! What vault indexes from the other services, and what it announces.
//!
//! - renos: chatbot conversations and e-mail threads (each event carries the whole item, so
//!   the latest replaces the document's content as a new version), and their deletion;
//! - crm: activities and logged e-mails;
//! - flow: GDPR erasure requests (by person, or a whole company).
//!
//! Each item becomes a document keyed by (source, repository, path) — e.g. (renos,
//! conversation, <id>) — so a redelivered event changes nothing and an update makes a version.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_events::{Event, HandleError, Handler, Subscription};
use tekup_proto::crm::v1::{ActivityRecorded, EmailLogged};
use tekup_proto::renos::v1::{
    ConversationDeleted, ConversationRecorded, EmailThreadDeleted, EmailThreadUpdated, Message,
};
use tekup_proto::vault::v1::{DocumentDeleted, DocumentIndexed, SimilarItem, SimilarItemsFound};
use uuid::Uuid;

use crate::store::{documents, sync};

/// Writes an event about `document` to the outbox, on `tekup.vault.<aggregate>`, keyed by the
/// document.
async fn about<M: tekup_proto::Message + tekup_proto::Name>(
    conn: &mut AsyncPgConnection,
    aggregate: &str,
    document: &documents::Document,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic("vault", aggregate),
            org_id: Some(document.org_id),
            cvr: Some(&document.cvr),
            subject: &document.id.to_string(),
            payload,
        },
    )
    .await
}

/// Announces that a document's current version is searchable.
pub async fn publish_indexed(
    conn: &mut AsyncPgConnection,
    document: &documents::Document,
    chunks: i32,
) -> diesel::QueryResult<Uuid> {
    about(
        conn,
        "document",
        document,
        &DocumentIndexed {
            document_id: document.id.to_string(),
            org_id: document.org_id.to_string(),
            cvr: document.cvr.clone(),
            version: document.version,
            chunks,
            kind: document.kind.clone(),
            name: document.name.clone(),
            content_type: document.content_type.clone(),
            occurred_at: document.occurred_at.to_rfc3339(),
        },
    )
    .await
}

/// Announces that a document is gone, versions and all.
pub async fn publish_deleted(
    conn: &mut AsyncPgConnection,
    document: &documents::Document,
) -> diesel::QueryResult<Uuid> {
    about(
        conn,
        "document",
        document,
        &DocumentDeleted {
            document_id: document.id.to_string(),
            org_id: document.org_id.to_string(),
            cvr: document.cvr.clone(),
        },
    )
    .await
}

/// Announces the earlier items of the document's company it is much like.
pub async fn publish_similar(
    conn: &mut AsyncPgConnection,
    document: &documents::Document,
    similar: &[(documents::Document, f64)],
) -> diesel::QueryResult<Uuid> {
    about(
        conn,
        "similarity",
        document,
        &SimilarItemsFound {
            document_id: document.id.to_string(),
            org_id: document.org_id.to_string(),
            cvr: document.cvr.clone(),
            kind: document.kind.clone(),
            name: document.name.clone(),
            occurred_at: document.occurred_at.to_rfc3339(),
            similar: similar
                .iter()
                .map(|(d, score)| SimilarItem {
                    document_id: d.id.to_string(),
                    kind: d.kind.clone(),
                    name: d.name.clone(),
                    score: *score,
                    occurred_at: d.occurred_at.to_rfc3339(),
                })
                .collect(),
        },
    )
    .await
}

pub fn subscriptions() -> Vec<Subscription> {
    vec![Subscription {
        name: "items".into(),
        topics: vec![
            topic("renos", "conversation"),
            topic("renos", "email_thread"),
            topic("crm", "activity"),
            topic("crm", "email"),
        ],
        handler: Arc::new(Items),
    }]
}

/// An item of another service, as a document.
struct Item {
    org_id: Uuid,
    cvr: String,
    kind: &'static str,
    source: &'static str,
    repository: &'static str,
    path: String,
    name: String,
    contact_email: Option<String>,
    content: String,
    occurred_at: DateTime<Utc>,
}

struct Items;

impl Handler for Items {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            if let Some(deleted) = deletion(event)? {
                let (org_id, source, repository, path) = deleted;
                forget(conn, org_id, source, repository, &path).await?;
                return Ok(());
            }
            let Some(mut item) = item(event)? else {
                return Ok(());
            };
            // vault's documents are a company's. An item tied to none (a private customer's
            // chat, a thread not yet linked) is not one, or no longer is one: nothing to keep.
            if !company_cvr(&item.cvr) {
                forget(conn, item.org_id, item.source, item.repository, &item.path).await?;
                return Ok(());
            }
            if item.content.trim().is_empty() {
                return Ok(());
            }
            // An item about someone erased, published before the erasure and delivered after
            // it, does not bring them back (the erasure takes the same lock).
            if let Some(email) = &item.contact_email
                && tekup_events::gdpr::was_erased(conn, crate::ERASED, item.org_id, email).await?
            {
                forget(conn, item.org_id, item.source, item.repository, &item.path).await?;
                return Ok(());
            }
            item.name = title(&item.name, item.kind);
            let stored = documents::put(
                conn,
                documents::NewVersion {
                    org_id: item.org_id,
                    cvr: &item.cvr,
                    kind: item.kind,
                    source: item.source,
                    repository: item.repository,
                    path: &item.path,
                    name: &item.name,
                    url: None,
                    contact_email: item.contact_email.as_deref(),
                    category_id: None,
                    content: &item.content,
                    content_type: "text/plain",
                    occurred_at: item.occurred_at,
                    by: None,
                    space_id: None,
                },
            )
            .await;
            match stored {
                Ok((_, outcome)) => {
                    let changed = i64::from(outcome != documents::Outcome::Unchanged);
                    sync::record(
                        conn,
                        item.org_id,
                        item.source,
                        item.repository,
                        changed,
                        None,
                    )
                    .await?;
                    Ok(())
                }
                Err(diesel::result::Error::QueryBuilderError(msg)) => {
                    Err(HandleError::permanent(msg))
                }
                // What the table refuses now it refuses on every retry.
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::CheckViolation,
                    info,
                )) => Err(HandleError::permanent(info.message().to_owned())),
                Err(err) => Err(err.into()),
            }
        })
    }
}

fn time(value: &str, fallback: Option<DateTime<Utc>>) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or(fallback)
        .unwrap_or_else(Utc::now)
}

fn transcript(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| format!("{}: {}", m.author, m.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Deletes an item's document, if vault has one, and announces it (crm's timeline and similar
/// items drop it).
async fn forget(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    source: &str,
    repository: &str,
    path: &str,
) -> Result<(), HandleError> {
    for document in documents::delete_item(conn, org_id, source, repository, path).await? {
        publish_deleted(conn, &document).await?;
    }
    Ok(())
}

/// An address as the documents keep it: something before and after an `@`, else none.
fn optional(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        .then_some(email)
}

/// A CVR as the documents keep it: eight digits, the first not 0.
fn company_cvr(cvr: &str) -> bool {
    cvr.len() == 8 && cvr.bytes().all(|b| b.is_ascii_digit()) && !cvr.starts_with('0')
}

/// A document's name: the item's, trimmed and cut to 300 characters, or one for its kind when
/// it has none (a mail without a subject).
fn title(name: &str, kind: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        return match kind {
            "email_thread" | "email" => "(no subject)".to_owned(),
            other => format!("({other})"),
        };
    }
    name.chars().take(300).collect()
}

/// The item an event carries, when it carries one vault indexes.
fn item(event: &Event) -> Result<Option<Item>, HandleError> {
    let at = event.occurred_at();
    if let Some(c) = event.decoded::<ConversationRecorded>()? {
        let last = c.messages.last().map(|m| time(&m.sent_at, at));
        return Ok(Some(Item {
            org_id: HandleError::uuid("org_id", &c.org_id)?,
            cvr: c.cvr.clone(),
            kind: "conversation",
            source: "renos",
            repository: "conversation",
            path: c.conversation_id.clone(),
            name: if c.title.trim().is_empty() {
                format!("Conversation ({})", c.channel)
            } else {
                c.title.clone()
            },
            contact_email: optional(&c.customer_email),
            content: transcript(&c.messages),
            occurred_at: last.unwrap_or_else(|| time("", at)),
        }));
    }
    if let Some(t) = event.decoded::<EmailThreadUpdated>()? {
        let last = t.messages.last().map(|m| time(&m.sent_at, at));
        return Ok(Some(Item {
            org_id: HandleError::uuid("org_id", &t.org_id)?,
            cvr: t.cvr.clone(),
            kind: "email_thread",
            source: "renos",
            repository: "email_thread",
            path: t.thread_id.clone(),
            name: t.subject.clone(),
            contact_email: optional(&t.customer_email),
            content: format!("{}\n{}", t.subject, transcript(&t.messages)),
            occurred_at: last.unwrap_or_else(|| time("", at)),
        }));
    }
    if let Some(a) = event.decoded::<ActivityRecorded>()? {
        return Ok(Some(Item {
            org_id: HandleError::uuid("org_id", &a.org_id)?,
            cvr: a.cvr.clone(),
            kind: "activity",
            source: "crm",
            repository: "activity",
            path: a.activity_id.clone(),
            name: format!("{}: {}", a.kind, a.subject),
            contact_email: None,
            content: format!("{}\n{}", a.subject, a.body),
            occurred_at: time(&a.occurred_at, at),
        }));
    }
    if let Some(e) = event.decoded::<EmailLogged>()? {
        let contact = if e.direction == "inbound" {
            optional(&e.from_address)
        } else {
            e.to_addresses.first().and_then(|a| optional(a))
        };
        return Ok(Some(Item {
            org_id: HandleError::uuid("org_id", &e.org_id)?,
            cvr: e.cvr.clone(),
            kind: "email",
            source: "crm",
            repository: "email",
            path: e.email_id.clone(),
            name: e.subject.clone(),
            contact_email: contact,
            content: format!(
                "{}\nFrom: {}\nTo: {}\n{}",
                e.subject,
                e.from_address,
                e.to_addresses.join(", "),
                e.body
            ),
            occurred_at: time(&e.sent_at, at),
        }));
    }
    Ok(None)
}

type Deleted = (Uuid, &'static str, &'static str, String);

fn deletion(event: &Event) -> Result<Option<Deleted>, HandleError> {
    if let Some(d) = event.decoded::<ConversationDeleted>()? {
        let org = HandleError::uuid("org_id", &d.org_id)?;
        return Ok(Some((org, "renos", "conversation", d.conversation_id)));
    }
    if let Some(d) = event.decoded::<EmailThreadDeleted>()? {
        let org = HandleError::uuid("org_id", &d.org_id)?;
        return Ok(Some((org, "renos", "email_thread", d.thread_id)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_fitted_to_what_a_document_keeps() {
        assert!(company_cvr("13585628"));
        for not in ["", "0358562", "03585628", "1358562x", "135856281"] {
            assert!(!company_cvr(not), "{not:?}");
        }
        assert_eq!(title("  ", "email_thread"), "(no subject)");
        assert_eq!(title("  Tilbud ", "email_thread"), "Tilbud");
        assert_eq!(title(&"æ".repeat(400), "conversation").chars().count(), 300);
        assert_eq!(optional(" Ole@Firma.dk "), Some("ole@firma.dk".to_owned()));
        for not in ["", "ole", "@firma.dk", "ole@"] {
            assert_eq!(optional(not), None, "{not:?}");
        }
    }
}

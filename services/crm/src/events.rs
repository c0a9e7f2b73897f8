//! What crm announces, and what it keeps from shared.

use std::sync::Arc;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_events::{Event, HandleError, Handler, Subscription};
use tekup_proto::shared::v1::{CompanyChanged, CompanyRegistered};
use tekup_proto::vault::v1::SimilarItemsFound;
use tekup_proto::{Message, Name};
use uuid::Uuid;

/// Writes an event about company `cvr` to the outbox of the caller's transaction, on
/// `tekup.crm.<aggregate>`, keyed by `subject`.
pub async fn publish<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    aggregate: &str,
    org_id: Uuid,
    cvr: &str,
    subject: Uuid,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic("crm", aggregate),
            org_id: Some(org_id),
            cvr: Some(cvr),
            subject: &subject.to_string(),
            payload,
        },
    )
    .await
}

/// A company registered in shared gets its CRM record, and the registry's facts (status,
/// advertising protection) follow shared's changes; the record's name is crm's own.
pub fn companies() -> Subscription {
    Subscription {
        name: "companies".into(),
        topics: vec![topic("shared", "company")],
        handler: Arc::new(Companies),
    }
}

struct Companies;

impl Handler for Companies {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            use diesel::sql_types::{Bool, Text, Timestamptz, Uuid as SqlUuid};
            let at = event.occurred_at().unwrap_or_else(chrono::Utc::now);
            let active = |status: &str| {
                if status == "inactive" {
                    "inactive"
                } else {
                    "active"
                }
            };
            if let Some(r) = event.decoded::<CompanyRegistered>()? {
                // A new record takes the registry's name; one crm already has keeps its own,
                // and takes the facts unless newer ones arrived first.
                diesel::sql_query(
                    "INSERT INTO companies (id, org_id, cvr, name, registry_status, \
                       advertising_protected, registry_updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (org_id, cvr) DO UPDATE SET \
                       registry_status = EXCLUDED.registry_status, \
                       advertising_protected = EXCLUDED.advertising_protected, \
                       registry_updated_at = EXCLUDED.registry_updated_at, updated_at = now() \
                     WHERE companies.registry_updated_at IS NULL \
                        OR companies.registry_updated_at <= EXCLUDED.registry_updated_at",
                )
                .bind::<SqlUuid, _>(Uuid::now_v7())
                .bind::<SqlUuid, _>(HandleError::uuid("org_id", &r.org_id)?)
                .bind::<Text, _>(&r.cvr)
                .bind::<Text, _>(&r.name)
                .bind::<Text, _>(active(&r.status))
                .bind::<Bool, _>(r.advertising_protected)
                .bind::<Timestamptz, _>(at)
                .execute(conn)
                .await?;
            } else if let Some(c) = event.decoded::<CompanyChanged>()? {
                // The facts of a record crm keeps; its name is crm's own (PUT /v1/companies).
                diesel::sql_query(
                    "UPDATE companies SET registry_status = $3, advertising_protected = $4, \
                       registry_updated_at = $5, updated_at = now() \
                     WHERE org_id = $1 AND cvr = $2 \
                       AND (registry_updated_at IS NULL OR registry_updated_at <= $5)",
                )
                .bind::<SqlUuid, _>(HandleError::uuid("org_id", &c.org_id)?)
                .bind::<Text, _>(&c.cvr)
                .bind::<Text, _>(active(&c.status))
                .bind::<Bool, _>(c.advertising_protected)
                .bind::<Timestamptz, _>(at)
                .execute(conn)
                .await?;
            }
            Ok(())
        })
    }
}

/// vault's similarity hits (earlier items of the same company like a new one) become facts of
/// the recommender.
pub fn similar_items() -> Subscription {
    Subscription {
        name: "similar-items".into(),
        topics: vec![topic("vault", "similarity")],
        handler: Arc::new(SimilarItems),
    }
}

struct SimilarItems;

impl Handler for SimilarItems {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let Some(found) = event.decoded::<SimilarItemsFound>()? else {
                return Ok(());
            };
            let org_id = HandleError::uuid("org_id", &found.org_id)?;
            let document_id = HandleError::uuid("document_id", &found.document_id)?;
            let occurred_at = HandleError::time("occurred_at", &found.occurred_at)?;
            // The latest announcement about a document replaces the earlier one.
            diesel::sql_query("DELETE FROM similar_items WHERE org_id = $1 AND document_id = $2")
                .bind::<diesel::sql_types::Uuid, _>(org_id)
                .bind::<diesel::sql_types::Uuid, _>(document_id)
                .execute(conn)
                .await?;
            for item in &found.similar {
                let similar_id = HandleError::uuid("similar.document_id", &item.document_id)?;
                diesel::sql_query(
                    "INSERT INTO similar_items (org_id, cvr, document_id, kind, name, occurred_at, \
                     similar_document_id, similar_kind, similar_name, similar_occurred_at, score) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                )
                .bind::<diesel::sql_types::Uuid, _>(org_id)
                .bind::<diesel::sql_types::Text, _>(&found.cvr)
                .bind::<diesel::sql_types::Uuid, _>(document_id)
                .bind::<diesel::sql_types::Text, _>(&found.kind)
                .bind::<diesel::sql_types::Text, _>(&found.name)
                .bind::<diesel::sql_types::Timestamptz, _>(occurred_at)
                .bind::<diesel::sql_types::Uuid, _>(similar_id)
                .bind::<diesel::sql_types::Text, _>(&item.kind)
                .bind::<diesel::sql_types::Text, _>(&item.name)
                .bind::<diesel::sql_types::Timestamptz, _>(HandleError::time(
                    "similar.occurred_at",
                    &item.occurred_at,
                )?)
                .bind::<diesel::sql_types::Double, _>(item.score)
                .execute(conn)
                .await?;
            }
            Ok(())
        })
    }
}

/// renos's chatbot conversations and e-mail threads of a company, for the timeline and the
/// recommender. Each event carries the whole item, so the latest replaces what was kept.
pub fn communications() -> Subscription {
    Subscription {
        name: "communications".into(),
        topics: vec![
            topic("renos", "conversation"),
            topic("renos", "email_thread"),
        ],
        handler: Arc::new(Communications),
    }
}

struct Communications;

/// One item as the timeline keeps it.
struct Communication<'a> {
    id: &'a str,
    org_id: &'a str,
    cvr: &'a str,
    kind: &'static str,
    title: String,
    channel: &'a str,
    customer_email: &'a str,
    messages: &'a [tekup_proto::renos::v1::Message],
    /// Who speaks for the customer: `visitor` in chats, their address in e-mail.
    customer_author: &'a str,
}

impl Handler for Communications {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        use tekup_proto::renos::v1::{
            ConversationDeleted, ConversationRecorded, EmailThreadDeleted, EmailThreadUpdated,
        };
        Box::pin(async move {
            let at = event.occurred_at().unwrap_or_else(chrono::Utc::now);
            if let Some(c) = event.decoded::<ConversationRecorded>()? {
                let item = Communication {
                    id: &c.conversation_id,
                    org_id: &c.org_id,
                    cvr: &c.cvr,
                    kind: "conversation",
                    title: if c.title.is_empty() {
                        "Chatsamtale".into()
                    } else {
                        c.title.clone()
                    },
                    channel: &c.channel,
                    customer_email: &c.customer_email,
                    messages: &c.messages,
                    customer_author: "visitor",
                };
                return keep(conn, item, at).await;
            }
            if let Some(t) = event.decoded::<EmailThreadUpdated>()? {
                let item = Communication {
                    id: &t.thread_id,
                    org_id: &t.org_id,
                    cvr: &t.cvr,
                    kind: "email_thread",
                    title: if t.subject.is_empty() {
                        "(uden emne)".into()
                    } else {
                        t.subject.clone()
                    },
                    channel: "email",
                    customer_email: &t.customer_email,
                    messages: &t.messages,
                    customer_author: &t.customer_email,
                };
                return keep(conn, item, at).await;
            }
            let deleted = match (
                event.decoded::<ConversationDeleted>()?,
                event.decoded::<EmailThreadDeleted>()?,
            ) {
                (Some(c), _) => Some(c.conversation_id),
                (_, Some(t)) => Some(t.thread_id),
                _ => None,
            };
            if let Some(id) = deleted {
                diesel::sql_query("DELETE FROM communications WHERE id = $1")
                    .bind::<diesel::sql_types::Uuid, _>(HandleError::uuid("id", &id)?)
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
    }
}

async fn keep(
    conn: &mut AsyncPgConnection,
    item: Communication<'_>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), HandleError> {
    use diesel::sql_types::{Bool, Integer, Jsonb, Nullable, Text, Timestamptz};
    let id = HandleError::uuid("id", item.id)?;
    let org_id = HandleError::uuid("org_id", item.org_id)?;
    if item.cvr.is_empty() {
        // Not (yet) tied to a company: nothing for the company timeline.
        return Ok(());
    }
    let mut times = Vec::with_capacity(item.messages.len());
    for m in item.messages {
        times.push(HandleError::time("messages.sent_at", &m.sent_at)?);
    }
    let messages: Vec<serde_json::Value> = item
        .messages
        .iter()
        .map(|m| serde_json::json!({"author": m.author, "text": m.text, "sent_at": m.sent_at}))
        .collect();
    let awaiting_reply = item
        .messages
        .last()
        .is_some_and(|m| !item.customer_author.is_empty() && m.author == item.customer_author);
    diesel::sql_query(
        "INSERT INTO communications (id, org_id, cvr, kind, title, channel, customer_email, messages, \
         message_count, first_at, last_at, awaiting_reply, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO UPDATE SET cvr = EXCLUDED.cvr, title = EXCLUDED.title, \
           channel = EXCLUDED.channel, customer_email = EXCLUDED.customer_email, \
           messages = EXCLUDED.messages, message_count = EXCLUDED.message_count, \
           first_at = EXCLUDED.first_at, last_at = EXCLUDED.last_at, \
           awaiting_reply = EXCLUDED.awaiting_reply, updated_at = EXCLUDED.updated_at \
         WHERE communications.org_id = EXCLUDED.org_id AND communications.updated_at <= EXCLUDED.updated_at",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Uuid, _>(org_id)
    .bind::<Text, _>(item.cvr)
    .bind::<Text, _>(item.kind)
    .bind::<Text, _>(&item.title)
    .bind::<Text, _>(item.channel)
    .bind::<Nullable<Text>, _>(Some(item.customer_email).filter(|e| !e.is_empty()))
    .bind::<Jsonb, _>(serde_json::Value::Array(messages))
    .bind::<Integer, _>(i32::try_from(item.messages.len()).unwrap_or(i32::MAX))
    .bind::<Timestamptz, _>(times.iter().min().copied().unwrap_or(at))
    .bind::<Timestamptz, _>(times.iter().max().copied().unwrap_or(at))
    .bind::<Bool, _>(awaiting_reply)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// What renos and vault did for a company — price calculations, quotes, bookings, invoices,
/// uploaded documents — kept for its timeline. Each event carries the item's state, so the
/// latest replaces what was kept; an older event arriving late changes nothing.
pub fn company_records() -> Subscription {
    Subscription {
        name: "company-records".into(),
        topics: vec![
            topic("renos", "price_calculation"),
            topic("renos", "quote"),
            topic("renos", "booking"),
            topic("renos", "invoice"),
            topic("vault", "document"),
        ],
        handler: Arc::new(CompanyRecords),
    }
}

struct CompanyRecords;

/// One item as the timeline keeps it.
struct Record {
    id: String,
    org_id: String,
    cvr: String,
    kind: &'static str,
    title: String,
    status: Option<String>,
    amount_ore: Option<i64>,
    details: serde_json::Value,
}

/// A change to a record already kept: a new status, or its removal.
enum Change {
    Status {
        id: String,
        org_id: String,
        status: String,
    },
    Removed {
        id: String,
        org_id: String,
    },
}

/// The record an event describes whole, if it describes one.
fn record(event: &Event) -> Result<Option<Record>, HandleError> {
    use serde_json::json;
    use tekup_proto::renos::v1::{BookingChanged, InvoiceIssued, PriceCalculated, QuoteChanged};
    use tekup_proto::vault::v1::DocumentIndexed;
    if let Some(c) = event.decoded::<PriceCalculated>()? {
        let extras: Vec<_> = c
            .extras
            .iter()
            .map(|e| json!({"code": e.code, "name": e.name, "price_ore": e.price_ore, "labour": e.labour}))
            .collect();
        let steps: Vec<_> = c
            .steps
            .iter()
            .map(
                |s| json!({"step": s.step, "explanation": s.explanation, "value_ore": s.value_ore}),
            )
            .collect();
        let details = json!({
            "logic_version": c.logic_version,
            "parameters": {
                "service_code": c.service_code, "pricing": c.pricing,
                "unit_price_ore": c.unit_price_ore, "area_m2": c.area_m2, "minutes": c.minutes,
                "cleaners": c.cleaners, "frequency": c.frequency, "extras": extras,
            },
            "steps": steps,
            "net_ore": c.net_ore, "vat_ore": c.vat_ore, "total_ore": c.total_ore,
            "labour_ore": c.labour_ore, "calculated_at": c.calculated_at,
        });
        return Ok(Some(Record {
            title: c.service_code,
            status: None,
            amount_ore: Some(c.total_ore),
            details,
            id: c.calculation_id,
            org_id: c.org_id,
            cvr: c.cvr,
            kind: "price_calculation",
        }));
    }
    if let Some(q) = event.decoded::<QuoteChanged>()? {
        let details = json!({
            "price_calculation_id": q.price_calculation_id, "valid_until": q.valid_until,
            "total_ore": q.total_ore,
        });
        return Ok(Some(Record {
            title: String::new(),
            status: Some(q.status),
            amount_ore: Some(q.total_ore),
            details,
            id: q.quote_id,
            org_id: q.org_id,
            cvr: q.cvr,
            kind: "quote",
        }));
    }
    if let Some(b) = event.decoded::<BookingChanged>()? {
        let details = json!({"starts_at": b.starts_at, "change": b.change});
        return Ok(Some(Record {
            title: b.starts_at,
            status: Some(b.status),
            amount_ore: None,
            details,
            id: b.booking_id,
            org_id: b.org_id,
            cvr: b.cvr,
            kind: "booking",
        }));
    }
    if let Some(i) = event.decoded::<InvoiceIssued>()? {
        // The customer's name and address stay with renos and billy: the timeline needs neither.
        let lines: Vec<_> = i
            .lines
            .iter()
            .map(|l| {
                json!({"description": l.description, "quantity": l.quantity,
                "unit_price_ore": l.unit_price_ore, "net_ore": l.net_ore})
            })
            .collect();
        let details = json!({
            "number": i.number, "net_ore": i.net_ore, "vat_ore": i.vat_ore,
            "total_ore": i.total_ore, "labour_ore": i.labour_ore, "issued_at": i.issued_at,
            "due_date": i.due_date, "lines": lines,
        });
        return Ok(Some(Record {
            title: i.number.to_string(),
            status: Some("issued".into()),
            amount_ore: Some(i.total_ore),
            details,
            id: i.invoice_id,
            org_id: i.org_id,
            cvr: i.cvr,
            kind: "invoice",
        }));
    }
    if let Some(d) = event.decoded::<DocumentIndexed>()? {
        // vault indexes the other services' items too; those have their own timeline entries.
        if d.kind != "document" {
            return Ok(None);
        }
        let details = json!({"version": d.version, "content_type": d.content_type,
            "occurred_at": d.occurred_at});
        return Ok(Some(Record {
            title: d.name,
            status: None,
            amount_ore: None,
            details,
            id: d.document_id,
            org_id: d.org_id,
            cvr: d.cvr,
            kind: "document",
        }));
    }
    Ok(None)
}

/// The change an event makes to a record already kept, if it makes one.
fn change(event: &Event) -> Result<Option<Change>, HandleError> {
    use tekup_proto::renos::v1::InvoiceStatusChanged;
    use tekup_proto::vault::v1::DocumentDeleted;
    if let Some(s) = event.decoded::<InvoiceStatusChanged>()? {
        return Ok(Some(Change::Status {
            id: s.invoice_id,
            org_id: s.org_id,
            status: s.status,
        }));
    }
    if let Some(d) = event.decoded::<DocumentDeleted>()? {
        return Ok(Some(Change::Removed {
            id: d.document_id,
            org_id: d.org_id,
        }));
    }
    Ok(None)
}

impl Handler for CompanyRecords {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
        Box::pin(async move {
            let at = event.occurred_at().unwrap_or_else(chrono::Utc::now);
            if let Some(r) = record(event)? {
                if r.cvr.is_empty() {
                    // Not (yet) tied to a company: nothing for the company timeline.
                    return Ok(());
                }
                diesel::sql_query(
                    "INSERT INTO company_records (id, org_id, cvr, kind, title, status, amount_ore, \
                     details, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET cvr = EXCLUDED.cvr, title = EXCLUDED.title, \
                       status = EXCLUDED.status, amount_ore = EXCLUDED.amount_ore, \
                       details = EXCLUDED.details, updated_at = EXCLUDED.updated_at \
                     WHERE company_records.org_id = EXCLUDED.org_id \
                       AND company_records.kind = EXCLUDED.kind \
                       AND company_records.updated_at <= EXCLUDED.updated_at",
                )
                .bind::<SqlUuid, _>(HandleError::uuid("id", &r.id)?)
                .bind::<SqlUuid, _>(HandleError::uuid("org_id", &r.org_id)?)
                .bind::<Text, _>(&r.cvr)
                .bind::<Text, _>(r.kind)
                .bind::<Text, _>(&r.title)
                .bind::<Nullable<Text>, _>(r.status.as_deref())
                .bind::<Nullable<BigInt>, _>(r.amount_ore)
                .bind::<Jsonb, _>(&r.details)
                .bind::<Timestamptz, _>(at)
                .execute(conn)
                .await?;
                return Ok(());
            }
            match change(event)? {
                Some(Change::Status { id, org_id, status }) => {
                    diesel::sql_query(
                        "UPDATE company_records SET status = $3, updated_at = $4 \
                         WHERE id = $1 AND org_id = $2 AND updated_at <= $4",
                    )
                    .bind::<SqlUuid, _>(HandleError::uuid("id", &id)?)
                    .bind::<SqlUuid, _>(HandleError::uuid("org_id", &org_id)?)
                    .bind::<Text, _>(&status)
                    .bind::<Timestamptz, _>(at)
                    .execute(conn)
                    .await?;
                }
                Some(Change::Removed { id, org_id }) => {
                    diesel::sql_query("DELETE FROM company_records WHERE id = $1 AND org_id = $2")
                        .bind::<SqlUuid, _>(HandleError::uuid("id", &id)?)
                        .bind::<SqlUuid, _>(HandleError::uuid("org_id", &org_id)?)
                        .execute(conn)
                        .await?;
                }
                None => {}
            }
            Ok(())
        })
    }
}

/// Deals workflows ask for (`tekup.flow.v1.DealRequested`, e.g. from flow's lead validation):
/// opened in the pipeline's first open stage. The inbox makes a redelivery open nothing twice;
/// a company crm does not know is a permanent failure (to the dead-letter topic, with why).
pub fn deal_requests() -> Subscription {
    Subscription {
        name: "deal-requests".into(),
        topics: vec![topic("flow", "workflow")],
        handler: Arc::new(DealRequests),
    }
}

struct DealRequests;

impl Handler for DealRequests {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            use crate::store::{companies, deals};
            let Some(request) = event.decoded::<tekup_proto::flow::v1::DealRequested>()? else {
                return Ok(());
            };
            let org_id = HandleError::uuid("org_id", &request.org_id)?;
            let cvr = tekup_types::Cvr::parse(&request.cvr)
                .map_err(|e| HandleError::permanent(format!("cvr {:?}: {e}", request.cvr)))?;
            let title = request.title.trim();
            if title.is_empty() || title.chars().count() > 200 || request.value_ore < 0 {
                return Err(HandleError::permanent(
                    "a requested deal needs a title of 1-200 characters and a value of 0 or more",
                ));
            }
            match companies::find(conn, org_id, cvr.as_str()).await {
                Ok(_) => {}
                Err(diesel::result::Error::NotFound) => {
                    return Err(HandleError::permanent(format!(
                        "company {} is not registered in the organization",
                        cvr.as_str()
                    )));
                }
                Err(e) => return Err(e.into()),
            }
            let stages = deals::stages(conn, org_id).await?;
            let stage = stages
                .iter()
                .find(|s| s.outcome == "open")
                .ok_or_else(|| HandleError::permanent("the pipeline has no open stage"))?;
            let deal = deals::create(
                conn,
                org_id,
                cvr.as_str(),
                stage,
                deals::Fields {
                    title: Some(title.to_owned()),
                    value_ore: Some(request.value_ore),
                    ..deals::Fields::default()
                },
            )
            .await?;
            tracing::info!(deal_id = %deal.id, request_id = request.request_id,
                source = request.source, "deal opened on a workflow's request");
            Ok(())
        })
    }
}

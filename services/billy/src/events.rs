//! What billy announces, and what it takes from renos: each issued invoice is queued once to
//! be put into Billy.dk (the queue row commits with the consumer's inbox row, so a redelivered
//! event changes nothing).

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_events::{Event, HandleError, Handler, Subscription};
use tekup_proto::renos::v1::InvoiceIssued;
use tekup_proto::{Message, Name};
use uuid::Uuid;

/// Writes an event to the outbox of the caller's transaction, on `tekup.billy.<aggregate>`.
pub async fn publish<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    aggregate: &str,
    org_id: Uuid,
    subject: &str,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic("billy", aggregate),
            org_id: Some(org_id),
            cvr: None,
            subject,
            payload,
        },
    )
    .await
}

/// Like [`publish`] for many events of one kind, each about `subjects[i]`, in one statement.
pub async fn publish_all<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    aggregate: &str,
    org_id: Uuid,
    subjects: &[&str],
    payloads: &[M],
) -> diesel::QueryResult<Vec<Uuid>> {
    let topic = topic("billy", aggregate);
    let events: Vec<Outgoing<'_, M>> = subjects
        .iter()
        .zip(payloads)
        .map(|(subject, payload)| Outgoing {
            topic: &topic,
            org_id: Some(org_id),
            cvr: None,
            subject,
            payload,
        })
        .collect();
    outbox::publish_all(conn, &events).await
}

pub fn issued_invoices() -> Subscription {
    Subscription {
        name: "issued-invoices".into(),
        topics: vec![topic("renos", "invoice")],
        handler: Arc::new(IssuedInvoices),
    }
}

struct IssuedInvoices;

impl Handler for IssuedInvoices {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let Some(issued) = event.decoded::<InvoiceIssued>()? else {
                return Ok(());
            };
            let invoice_id = HandleError::uuid("invoice_id", &issued.invoice_id)?;
            let org_id = HandleError::uuid("org_id", &issued.org_id)?;
            crate::store::enqueue(conn, invoice_id, org_id, &crate::push::to_json(&issued)).await?;
            Ok(())
        })
    }
}

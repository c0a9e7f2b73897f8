//! What renos announces.

use diesel_async::AsyncPgConnection;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_proto::{Message, Name};
use uuid::Uuid;

/// The organization (and company, for business customers) an event is about.
#[derive(Debug, Clone)]
pub struct Scope {
    pub org_id: Uuid,
    pub cvr: Option<String>,
}

/// Writes an event to the outbox of the caller's transaction, on `tekup.renos.<aggregate>`,
/// keyed by `subject`.
pub async fn publish<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    aggregate: &str,
    scope: &Scope,
    subject: Uuid,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic("renos", aggregate),
            org_id: Some(scope.org_id),
            cvr: scope.cvr.as_deref(),
            subject: &subject.to_string(),
            payload,
        },
    )
    .await
}

/// billy's results of syncing issued invoices to Billy.dk: the invoice is marked synced (with
/// Billy's id), and paid when Billy.dk reports it paid.
pub fn invoice_sync() -> tekup_events::Subscription {
    tekup_events::Subscription {
        name: "invoice-sync".into(),
        topics: vec![topic("billy", "invoice")],
        handler: std::sync::Arc::new(InvoiceSync),
    }
}

struct InvoiceSync;

impl tekup_events::Handler for InvoiceSync {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a tekup_events::Event,
    ) -> futures_util::future::BoxFuture<'a, Result<(), tekup_events::HandleError>> {
        use diesel_async::RunQueryDsl;
        use tekup_events::HandleError;
        Box::pin(async move {
            if let Some(failed) = event.decoded::<tekup_proto::billy::v1::InvoiceSyncFailed>()? {
                let id = HandleError::uuid("invoice_id", &failed.invoice_id)?;
                diesel::sql_query(
                    "UPDATE renos.invoices SET billy_sync_error = $2 \
                     WHERE id = $1 AND org_id::text = $3 AND synced_at IS NULL",
                )
                .bind::<diesel::sql_types::Uuid, _>(id)
                .bind::<diesel::sql_types::Text, _>(&failed.reason)
                .bind::<diesel::sql_types::Text, _>(&failed.org_id)
                .execute(conn)
                .await?;
                return Ok(());
            }
            let Some(synced) = event.decoded::<tekup_proto::billy::v1::InvoiceSynced>()? else {
                return Ok(());
            };
            let id = HandleError::uuid("invoice_id", &synced.invoice_id)?;
            let at = chrono::DateTime::parse_from_rfc3339(&synced.synced_at)
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok()
                .or_else(|| event.occurred_at())
                .unwrap_or_else(chrono::Utc::now);
            // An invoice of another organization, or unknown here, is left alone.
            diesel::sql_query(
                "UPDATE renos.invoices SET billy_id = $2, synced_at = $3, billy_sync_error = NULL, \
                 status = CASE WHEN $4 AND status = 'issued' THEN 'paid' ELSE status END, \
                 paid_at = CASE WHEN $4 AND status = 'issued' THEN $3 ELSE paid_at END \
                 WHERE id = $1 AND org_id::text = $5",
            )
            .bind::<diesel::sql_types::Uuid, _>(id)
            .bind::<diesel::sql_types::Text, _>(&synced.billy_invoice_id)
            .bind::<diesel::sql_types::Timestamptz, _>(at)
            .bind::<diesel::sql_types::Bool, _>(synced.paid)
            .bind::<diesel::sql_types::Text, _>(&synced.org_id)
            .execute(conn)
            .await?;
            Ok(())
        })
    }
}

/// flow's inbound webhooks: WotNot batches become conversations, forwarded e-mails threads
/// (each delivery an ingest run of its own). Other formats are workflows' business.
pub fn inbound() -> tekup_events::Subscription {
    tekup_events::Subscription {
        name: "inbound".into(),
        topics: vec![topic("flow", "webhook")],
        handler: std::sync::Arc::new(Inbound),
    }
}

struct Inbound;

impl tekup_events::Handler for Inbound {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a tekup_events::Event,
    ) -> futures_util::future::BoxFuture<'a, Result<(), tekup_events::HandleError>> {
        use tekup_events::HandleError;
        Box::pin(async move {
            let Some(delivery) = event.decoded::<tekup_proto::flow::v1::WebhookReceived>()? else {
                return Ok(());
            };
            let org_id = HandleError::uuid("org_id", &delivery.org_id)?;
            match delivery.format.as_str() {
                "wotnot" => {
                    let outcome = crate::inbound::ingest_chat(conn, org_id, &delivery.body).await?;
                    if !outcome.unreadable.is_empty() {
                        tracing::warn!(
                            delivery = delivery.delivery_id,
                            unreadable = ?outcome.unreadable,
                            "chatbot events not understood"
                        );
                    }
                }
                "email" => {
                    let run = crate::inbound::ingest_mails(
                        conn,
                        org_id,
                        "webhook",
                        None,
                        std::slice::from_ref(&delivery.body),
                    )
                    .await?;
                    tracing::info!(run = %run.id, ingested = run.ingested, failed = run.failed, "forwarded e-mail");
                }
                _ => {}
            }
            Ok(())
        })
    }
}

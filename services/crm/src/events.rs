//! What crm announces, and what it keeps from shared.

use std::sync::Arc;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_events::{Event, HandleError, Handler, Subscription};
use tekup_proto::shared::v1::CompanyRegistered;
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

/// A company registered in shared gets its CRM record (when it has none yet).
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
            let Some(registered) = event.decoded::<CompanyRegistered>()? else {
                return Ok(());
            };
            let org_id = HandleError::uuid("org_id", &registered.org_id)?;
            diesel::sql_query(
                "INSERT INTO companies (id, org_id, cvr, name) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (org_id, cvr) DO NOTHING",
            )
            .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
            .bind::<diesel::sql_types::Uuid, _>(org_id)
            .bind::<diesel::sql_types::Text, _>(&registered.cvr)
            .bind::<diesel::sql_types::Text, _>(&registered.name)
            .execute(conn)
            .await?;
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

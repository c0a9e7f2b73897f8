//! What crm announces, and what it keeps from shared.

use std::sync::Arc;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_events::{Event, HandleError, Handler, Subscription};
use tekup_proto::shared::v1::CompanyRegistered;
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
            let Some(registered) = event.payload::<CompanyRegistered>() else {
                return Ok(());
            };
            let registered = registered.map_err(HandleError::permanent)?;
            let org_id = Uuid::parse_str(&registered.org_id)
                .map_err(|err| HandleError::permanent(format!("org_id: {err}")))?;
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

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

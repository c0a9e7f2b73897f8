//! What shared announces, and on which topics. Every function writes to the outbox of the
//! caller's transaction.

use diesel_async::AsyncPgConnection;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_proto::{Message, Name};
use uuid::Uuid;

/// Organizations, keyed by organization.
pub fn organization_topic() -> String {
    tekup_events::projection::organization_topic()
}

/// Users, keyed by user.
pub fn user_topic() -> String {
    topic("shared", "user")
}

/// Companies, keyed by organization and CVR.
pub fn company_topic() -> String {
    topic("shared", "company")
}

/// Access grants, keyed by user, so one user's grants and revocations keep their order.
pub fn access_topic() -> String {
    tekup_events::projection::access_topic()
}

pub fn all_topics() -> Vec<String> {
    vec![
        organization_topic(),
        user_topic(),
        company_topic(),
        access_topic(),
    ]
}

pub async fn organization<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    let subject = org_id.to_string();
    publish(conn, &organization_topic(), org_id, None, &subject, payload).await
}

pub async fn user<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    user_id: Uuid,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    let subject = user_id.to_string();
    publish(conn, &user_topic(), org_id, None, &subject, payload).await
}

pub async fn company<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    let subject = format!("{org_id}/{cvr}");
    publish(conn, &company_topic(), org_id, Some(cvr), &subject, payload).await
}

pub async fn access<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    user_id: Uuid,
    cvr: &str,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    let subject = user_id.to_string();
    publish(conn, &access_topic(), org_id, Some(cvr), &subject, payload).await
}

async fn publish<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    topic: &str,
    org_id: Uuid,
    cvr: Option<&str>,
    subject: &str,
    payload: &M,
) -> diesel::QueryResult<Uuid> {
    outbox::publish(
        conn,
        Outgoing {
            topic,
            org_id: Some(org_id),
            cvr,
            subject,
            payload,
        },
    )
    .await
}

/// Every topic the audit trail records: all of the platform's (see `tekup_events::catalog`).
pub fn audited_topics() -> Vec<String> {
    tekup_events::catalog::all()
}

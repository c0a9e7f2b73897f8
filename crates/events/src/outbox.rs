//! Writing events: in the caller's transaction, next to the change they announce.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_proto::{Message, Name};
use uuid::Uuid;

use crate::envelope::current_traceparent;
use crate::schema::outbox;

/// An event to publish: `payload` about aggregate `subject`, on `topic`.
pub struct Outgoing<'a, M> {
    pub topic: &'a str,
    pub org_id: Option<Uuid>,
    /// The company the event concerns, if one.
    pub cvr: Option<&'a str>,
    pub subject: &'a str,
    pub payload: &'a M,
}

/// Writes the event into the service's outbox and returns its id. Call it inside the
/// transaction that makes the change: the event becomes visible to the relay exactly when that
/// transaction commits, and never if it rolls back. The current span's trace context travels
/// with the event.
pub async fn publish<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    event: Outgoing<'_, M>,
) -> QueryResult<Uuid> {
    let payload = event.payload.encode_to_vec();
    publish_encoded(
        conn,
        Outgoing {
            topic: event.topic,
            org_id: event.org_id,
            cvr: event.cvr,
            subject: event.subject,
            payload: &payload,
        },
        &M::full_name(),
    )
    .await
}

/// Like [`publish`] for many events of one type in one statement per thousand (in their order):
/// a bulk change announces itself without a round trip per event.
pub async fn publish_all<M: Message + Name>(
    conn: &mut AsyncPgConnection,
    events: &[Outgoing<'_, M>],
) -> QueryResult<Vec<Uuid>> {
    let event_type = M::full_name();
    let traceparent = current_traceparent();
    let mut ids = Vec::with_capacity(events.len());
    // PostgreSQL takes at most 65,535 parameters per statement; a row here has 8.
    for chunk in events.chunks(1_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|event| {
                let id = Uuid::now_v7();
                ids.push(id);
                (
                    outbox::id.eq(id),
                    outbox::topic.eq(event.topic),
                    outbox::event_type.eq(event_type.as_str()),
                    outbox::aggregate_id.eq(event.subject),
                    outbox::org_id.eq(event.org_id),
                    outbox::cvr.eq(event.cvr),
                    outbox::payload.eq(event.payload.encode_to_vec()),
                    outbox::traceparent.eq(traceparent.clone()),
                )
            })
            .collect();
        diesel::insert_into(outbox::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(ids)
}

/// Like [`publish`], for a payload already encoded as `event_type` (a workflow builds events
/// from JSON by type name, see [`tekup_proto::from_json`]).
pub async fn publish_encoded(
    conn: &mut AsyncPgConnection,
    event: Outgoing<'_, Vec<u8>>,
    event_type: &str,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(id),
            outbox::topic.eq(event.topic),
            outbox::event_type.eq(event_type),
            outbox::aggregate_id.eq(event.subject),
            outbox::org_id.eq(event.org_id),
            outbox::cvr.eq(event.cvr),
            outbox::payload.eq(event.payload),
            outbox::traceparent.eq(current_traceparent()),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

//! The cross-app audit trail and the system log.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use tekup_db::limit::LimitedDsl;
use tekup_events::Event;
use uuid::Uuid;

use crate::schema::{audit_logs, system_logs};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_logs)]
pub struct AuditEntry {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub org_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub cvr: Option<String>,
    pub source: String,
    pub event_type: String,
    pub subject: String,
    pub topic: String,
    pub details: serde_json::Value,
}

/// Records one event of any service (idempotent per event id).
pub async fn record(conn: &mut AsyncPgConnection, event: &Event) -> Result<(), Error> {
    let occurred_at = event.occurred_at().unwrap_or_else(Utc::now);
    diesel::insert_into(audit_logs::table)
        .values((
            audit_logs::id.eq(event.id),
            audit_logs::occurred_at.eq(occurred_at),
            audit_logs::org_id.eq(event.org_id()),
            audit_logs::actor_id.eq(event.actor_id()),
            audit_logs::cvr.eq(event.cvr()),
            audit_logs::source.eq(&event.envelope.source),
            audit_logs::event_type.eq(event.event_type()),
            audit_logs::subject.eq(&event.envelope.subject),
            audit_logs::topic.eq(&event.topic),
            audit_logs::details.eq(json!({
                "partition": event.partition,
                "offset": event.offset,
                "traceparent": event.envelope.traceparent,
            })),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct Filter {
    pub actor_id: Option<Uuid>,
    pub cvr: Option<String>,
    pub event_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Continue after this entry (newest first).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Entries visible to the caller (their organization's, for org admins), newest first.
pub async fn query(conn: &mut AsyncPgConnection, filter: Filter) -> Result<Vec<AuditEntry>, Error> {
    let mut query = audit_logs::table
        .select(AuditEntry::as_select())
        .order((audit_logs::occurred_at.desc(), audit_logs::id.desc()))
        .into_boxed();
    if let Some(actor) = filter.actor_id {
        query = query.filter(audit_logs::actor_id.eq(actor));
    }
    if let Some(cvr) = filter.cvr {
        query = query.filter(audit_logs::cvr.eq(cvr));
    }
    if let Some(kind) = filter.event_type {
        query = query.filter(audit_logs::event_type.eq(kind));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_logs::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_logs::occurred_at.lt(to));
    }
    if let Some((at, id)) = filter.after {
        query = query.filter(
            audit_logs::occurred_at
                .lt(at)
                .or(audit_logs::occurred_at.eq(at).and(audit_logs::id.lt(id))),
        );
    }
    query.limited(filter.limit).load(conn).await
}

/// Makes the monthly log partitions from this month on, `months` ahead (idempotent).
pub async fn ensure_partitions(conn: &mut AsyncPgConnection, months: i32) -> Result<(), Error> {
    diesel::sql_query("SELECT shared.ensure_log_partitions(current_date, $1)")
        .bind::<diesel::sql_types::Integer, _>(months)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes a system log entry (`severity` info, warning or error).
pub async fn system_log(
    conn: &mut AsyncPgConnection,
    org_id: Option<Uuid>,
    user_id: Option<Uuid>,
    event_type: &str,
    severity: &str,
    details: serde_json::Value,
) -> Result<(), Error> {
    diesel::insert_into(system_logs::table)
        .values((
            system_logs::id.eq(Uuid::now_v7()),
            system_logs::org_id.eq(org_id),
            system_logs::user_id.eq(user_id),
            system_logs::event_type.eq(event_type),
            system_logs::severity.eq(severity),
            system_logs::details.eq(details),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = system_logs)]
pub struct SystemEntry {
    pub id: Uuid,
    pub timestamp: DateTime<Utc>,
    pub org_id: Option<Uuid>,
    pub event_type: String,
    pub severity: String,
    pub user_id: Option<Uuid>,
    pub cvr: Option<String>,
    pub details: serde_json::Value,
}

pub async fn system_entries(
    conn: &mut AsyncPgConnection,
    severity: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<SystemEntry>, Error> {
    let mut query = system_logs::table
        .select(SystemEntry::as_select())
        .order((system_logs::timestamp.desc(), system_logs::id.desc()))
        .into_boxed();
    if let Some(severity) = severity {
        query = query.filter(system_logs::severity.eq(severity.to_owned()));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            system_logs::timestamp
                .lt(at)
                .or(system_logs::timestamp.eq(at).and(system_logs::id.lt(id))),
        );
    }
    query.limited(limit).load(conn).await
}

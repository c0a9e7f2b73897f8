//! Checklists of the work, cleaners' breaks and escalations.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;
use crate::events::Scope;

#[derive(Debug, Clone, QueryableByName)]
pub struct Task {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub plan_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub booking_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Integer)]
    pub position: i32,
    /// Ticked off by an execution of the booking asked about.
    #[diesel(sql_type = Bool)]
    pub done: bool,
}

/// Adds a checklist item to a plan (each visit) or to one booking.
pub async fn add_task(
    conn: &mut AsyncPgConnection,
    scope: &Scope,
    plan_id: Option<Uuid>,
    booking_id: Option<Uuid>,
    title: &str,
    position: i32,
) -> Result<Task, Error> {
    diesel::sql_query(
        "INSERT INTO renos.cleaning_tasks (id, org_id, cvr, plan_id, booking_id, title, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, plan_id, booking_id, title, position, false AS done",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(scope.org_id)
    .bind::<Nullable<Text>, _>(scope.cvr.as_deref())
    .bind::<Nullable<SqlUuid>, _>(plan_id)
    .bind::<Nullable<SqlUuid>, _>(booking_id)
    .bind::<Text, _>(title)
    .bind::<Integer, _>(position)
    .get_result(conn)
    .await
}

/// A booking's checklist: its plan's items and its own, with what its executions ticked off.
pub async fn booking_tasks(
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    plan_id: Option<Uuid>,
) -> Result<Vec<Task>, Error> {
    diesel::sql_query(
        "SELECT t.id, t.plan_id, t.booking_id, t.title, t.position, \
         EXISTS (SELECT 1 FROM renos.task_executions e WHERE e.booking_id = $1 \
                 AND t.id = ANY(e.completed_task_ids)) AS done \
         FROM renos.cleaning_tasks t WHERE t.booking_id = $1 OR ($2::uuid IS NOT NULL AND t.plan_id = $2) \
         ORDER BY t.plan_id NULLS LAST, t.position, t.id",
    )
    .bind::<SqlUuid, _>(booking_id)
    .bind::<Nullable<SqlUuid>, _>(plan_id)
    .load(conn)
    .await
}

pub async fn record_ticks(
    conn: &mut AsyncPgConnection,
    execution_id: Uuid,
    tasks: &[Uuid],
) -> Result<(), Error> {
    diesel::sql_query("UPDATE renos.task_executions SET completed_task_ids = $2 WHERE id = $1")
        .bind::<SqlUuid, _>(execution_id)
        .bind::<Array<SqlUuid>, _>(tasks)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Break {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub cleaner_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    pub starts_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub ends_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub reason: String,
}

pub async fn add_break(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cleaner_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    reason: &str,
) -> Result<Break, Error> {
    diesel::sql_query(
        "INSERT INTO renos.breaks (id, org_id, cleaner_id, starts_at, ends_at, reason) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, cleaner_id, starts_at, ends_at, reason",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<SqlUuid, _>(cleaner_id)
    .bind::<Timestamptz, _>(starts_at)
    .bind::<Timestamptz, _>(ends_at)
    .bind::<Text, _>(reason)
    .get_result(conn)
    .await
}

/// A page of breaks in time order: those still running at `from` (all when `None`), after
/// the cursor's `(starts_at, id)`.
pub async fn breaks(
    conn: &mut AsyncPgConnection,
    cleaner_id: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Break>, Error> {
    let (at, id) = after.unzip();
    diesel::sql_query(
        "SELECT id, cleaner_id, starts_at, ends_at, reason FROM renos.breaks \
         WHERE ($1::uuid IS NULL OR cleaner_id = $1) AND ($2::timestamptz IS NULL OR ends_at > $2) \
           AND ($3::timestamptz IS NULL OR (starts_at, id) > ($3, $4)) \
         ORDER BY starts_at, id LIMIT $5",
    )
    .bind::<Nullable<SqlUuid>, _>(cleaner_id)
    .bind::<Nullable<Timestamptz>, _>(from)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Escalation {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    /// Unknown for an escalation raised from a message of someone not yet a customer.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub customer_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub booking_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub conversation_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub email_thread_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub severity: String,
    #[diesel(sql_type = Text)]
    pub description: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub owner_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub resolution: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub resolved_at: Option<DateTime<Utc>>,
}

const ESCALATION: &str = "id, cvr, customer_id, booking_id, conversation_id, email_thread_id, \
     severity, description, owner_id, status, resolution, created_at, resolved_at";

pub struct NewEscalation<'a> {
    pub scope: &'a Scope,
    pub customer_id: Uuid,
    pub booking_id: Option<Uuid>,
    pub severity: &'a str,
    pub description: &'a str,
    pub owner_id: Option<Uuid>,
}

pub async fn escalate(
    conn: &mut AsyncPgConnection,
    new: NewEscalation<'_>,
) -> Result<Escalation, Error> {
    diesel::sql_query(format!(
        "INSERT INTO renos.escalations (id, org_id, cvr, customer_id, booking_id, severity, \
         description, owner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ESCALATION}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.scope.org_id)
    .bind::<Nullable<Text>, _>(new.scope.cvr.as_deref())
    .bind::<SqlUuid, _>(new.customer_id)
    .bind::<Nullable<SqlUuid>, _>(new.booking_id)
    .bind::<Text, _>(new.severity)
    .bind::<Text, _>(new.description)
    .bind::<Nullable<SqlUuid>, _>(new.owner_id)
    .get_result(conn)
    .await
}

pub async fn find_escalation(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Escalation, Error> {
    diesel::sql_query(format!(
        "SELECT {ESCALATION} FROM renos.escalations WHERE id = $1 FOR UPDATE"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

pub async fn update_escalation(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner_id: Option<Uuid>,
    resolution: Option<&str>,
) -> Result<Escalation, Error> {
    diesel::sql_query(format!(
        "UPDATE renos.escalations SET owner_id = coalesce($2, owner_id), \
         resolution = coalesce($3, resolution), \
         status = CASE WHEN $3 IS NULL THEN status ELSE 'resolved' END, \
         resolved_at = CASE WHEN $3 IS NULL THEN resolved_at ELSE now() END \
         WHERE id = $1 RETURNING {ESCALATION}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Nullable<SqlUuid>, _>(owner_id)
    .bind::<Nullable<Text>, _>(resolution)
    .get_result(conn)
    .await
}

/// An escalation's place in the list: its severity's rank (critical first), then age.
pub fn severity_rank(severity: &str) -> i32 {
    match severity {
        "critical" => 1,
        "high" => 2,
        "medium" => 3,
        _ => 4,
    }
}

/// A page of the escalations the user may read, most severe and oldest first, after the
/// cursor's `(rank, created_at, id)`.
pub async fn escalations(
    conn: &mut AsyncPgConnection,
    status: Option<&str>,
    after: Option<(i32, DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Escalation>, Error> {
    let (rank, at, id) = match after {
        Some((rank, at, id)) => (Some(rank), Some(at), Some(id)),
        None => (None, None, None),
    };
    diesel::sql_query(format!(
        "SELECT {ESCALATION} FROM renos.escalations WHERE ($1::text IS NULL OR status = $1) \
           AND ($2::int IS NULL OR (array_position(ARRAY['critical', 'high', 'medium', 'low'], \
                severity), created_at, id) > ($2, $3, $4)) \
         ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low'], severity), \
                  created_at, id \
         LIMIT $5"
    ))
    .bind::<Nullable<Text>, _>(status)
    .bind::<Nullable<Integer>, _>(rank)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

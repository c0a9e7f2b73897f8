//! Cron schedules of workflows.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Bool, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Schedule {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Text)]
    pub workflow_name: String,
    #[diesel(sql_type = Text)]
    pub cron: String,
    #[diesel(sql_type = Text)]
    pub timezone: String,
    #[diesel(sql_type = Bool)]
    pub skip_holidays: bool,
    #[diesel(sql_type = Text)]
    pub missed: String,
    #[diesel(sql_type = Jsonb)]
    pub input: Value,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Timestamptz)]
    pub next_run_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_run_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, org_id, workflow_name, cron, timezone, skip_holidays, missed, input, \
    active, next_run_at, last_run_at, created_at";

pub struct NewSchedule<'a> {
    pub org_id: Uuid,
    pub workflow_name: &'a str,
    pub cron: &'a str,
    pub skip_holidays: bool,
    pub missed: &'a str,
    pub input: &'a Value,
    pub next_run_at: DateTime<Utc>,
    pub created_by: Uuid,
}

pub async fn create(conn: &mut AsyncPgConnection, new: NewSchedule<'_>) -> Result<Schedule, Error> {
    diesel::sql_query(format!(
        "INSERT INTO flow.schedules (id, org_id, workflow_name, cron, skip_holidays, missed, \
         input, next_run_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.workflow_name)
    .bind::<Text, _>(new.cron)
    .bind::<Bool, _>(new.skip_holidays)
    .bind::<Text, _>(new.missed)
    .bind::<Jsonb, _>(new.input)
    .bind::<Timestamptz, _>(new.next_run_at)
    .bind::<SqlUuid, _>(new.created_by)
    .get_result(conn)
    .await
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Schedule>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.schedules \
         WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2)) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Schedule, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.schedules WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, Error> {
    let n = diesel::sql_query("DELETE FROM flow.schedules WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Due schedules, locked for this transaction (other instances skip them).
pub async fn due(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<Schedule>, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.schedules WHERE active AND next_run_at <= now() \
         ORDER BY next_run_at LIMIT $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

pub async fn moved_on(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    next_run_at: Option<DateTime<Utc>>,
    ran_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE flow.schedules SET next_run_at = coalesce($2, next_run_at), \
         active = active AND $2 IS NOT NULL, last_run_at = coalesce($3, last_run_at) WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Nullable<Timestamptz>, _>(next_run_at)
    .bind::<Nullable<Timestamptz>, _>(ran_at)
    .execute(conn)
    .await?;
    Ok(())
}

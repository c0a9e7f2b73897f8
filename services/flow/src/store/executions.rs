//! Executions, their steps and logs, and per-workflow metrics.

use chrono::{DateTime, Utc};
use diesel::result::Error;
use diesel::sql_types::{BigInt, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Execution {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub workflow_id: Uuid,
    #[diesel(sql_type = Text)]
    pub workflow_name: String,
    #[diesel(sql_type = Integer)]
    pub workflow_version: i32,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Jsonb)]
    pub trigger: Value,
    #[diesel(sql_type = Jsonb)]
    pub input: Value,
    #[diesel(sql_type = Jsonb)]
    pub outputs: Value,
    #[diesel(sql_type = Integer)]
    pub step_index: i32,
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
    #[diesel(sql_type = Timestamptz)]
    pub wake_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub waiting: Option<Value>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub parent_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub rerun_of: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Executions before this one along flow's own events (see the `chain` column).
    #[diesel(sql_type = Integer)]
    pub chain: i32,
}

const COLUMNS: &str = "e.id, e.org_id, e.workflow_id, w.name AS workflow_name, \
    w.version AS workflow_version, e.status, e.trigger, e.input, e.outputs, e.step_index, \
    e.attempt, e.wake_at, e.waiting, e.parent_id, e.rerun_of, e.error, e.created_at, \
    e.started_at, e.finished_at, e.chain";
const FROM: &str = "flow.executions e JOIN flow.workflows w ON w.id = e.workflow_id";

pub struct NewExecution<'a> {
    pub org_id: Uuid,
    pub workflow_id: Uuid,
    pub trigger: &'a Value,
    /// A trigger starts one execution per key.
    pub dedupe_key: Option<&'a str>,
    pub input: &'a Value,
    pub created_by: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub rerun_of: Option<Uuid>,
    /// Executions before it along flow's own events.
    pub chain: i32,
}

/// Starts an execution; `None` when its trigger (dedupe key) already started one.
pub async fn start(
    conn: &mut AsyncPgConnection,
    new: NewExecution<'_>,
) -> Result<Option<Uuid>, Error> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let id: Option<Id> = diesel::sql_query(
        "INSERT INTO flow.executions (id, org_id, workflow_id, trigger, dedupe_key, input, \
         created_by, parent_id, rerun_of, chain) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (workflow_id, dedupe_key) DO NOTHING RETURNING id",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<SqlUuid, _>(new.workflow_id)
    .bind::<Jsonb, _>(new.trigger)
    .bind::<Nullable<Text>, _>(new.dedupe_key)
    .bind::<Jsonb, _>(new.input)
    .bind::<Nullable<SqlUuid>, _>(new.created_by)
    .bind::<Nullable<SqlUuid>, _>(new.parent_id)
    .bind::<Nullable<SqlUuid>, _>(new.rerun_of)
    .bind::<Integer, _>(new.chain)
    .get_result(conn)
    .await
    .optional()?;
    Ok(id.map(|i| i.id))
}

/// Claims up to `limit` due executions for `owner` for `lease_ms`: pending ones whose time
/// came, waiting ones whose deadline passed, and running ones whose instance stopped renewing
/// its lease (it died). Locked rows are skipped, so instances never claim the same one.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Execution>, Error> {
    diesel::sql_query(format!(
        "WITH due AS (
            SELECT id FROM flow.executions
            WHERE status IN ('pending', 'running', 'waiting') AND wake_at <= now()
              AND (lease_until IS NULL OR lease_until < now())
            ORDER BY wake_at LIMIT $3 FOR UPDATE SKIP LOCKED
         ), claimed AS (
            UPDATE flow.executions e SET lease_owner = $1,
                lease_until = now() + make_interval(secs => $2 / 1000.0),
                started_at = coalesce(e.started_at, now())
            FROM due WHERE e.id = due.id RETURNING e.*
         )
         SELECT {} FROM claimed e JOIN flow.workflows w ON w.id = e.workflow_id",
        COLUMNS
    ))
    .bind::<SqlUuid, _>(owner)
    .bind::<BigInt, _>(lease_ms)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Extends `owner`'s lease; `false` when the execution is no longer its to run (cancelled,
/// or claimed by another instance after the lease ran out).
pub async fn renew(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: Uuid,
    lease_ms: i64,
) -> Result<bool, Error> {
    let n = diesel::sql_query(
        "UPDATE flow.executions SET lease_until = now() + make_interval(secs => $3 / 1000.0) \
         WHERE id = $1 AND lease_owner = $2 AND status IN ('pending', 'running', 'waiting')",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(owner)
    .bind::<BigInt, _>(lease_ms)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Where an execution goes after a step.
pub struct Progress<'a> {
    pub status: &'a str,
    pub outputs: &'a Value,
    pub step_index: i32,
    pub attempt: i32,
    pub wake_at: Option<DateTime<Utc>>,
    pub waiting: Option<&'a Value>,
    pub error: Option<&'a str>,
}

/// Records progress made under `owner`'s lease; the lease is kept while the execution goes on
/// running and released otherwise. `false` (and nothing changed) when the execution is no
/// longer `owner`'s.
pub async fn advance(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: Uuid,
    p: Progress<'_>,
) -> Result<bool, Error> {
    let finished = matches!(p.status, "succeeded" | "failed" | "cancelled");
    let n = diesel::sql_query(
        "UPDATE flow.executions SET status = $3, outputs = $4, step_index = $5, attempt = $6, \
         wake_at = coalesce($7, now()), waiting = $8, error = $9, \
         lease_owner = CASE WHEN $3 = 'running' THEN lease_owner END, \
         lease_until = CASE WHEN $3 = 'running' THEN lease_until END, finished_at = CASE WHEN $10 THEN now() END \
         WHERE id = $1 AND lease_owner = $2 AND status IN ('pending', 'running', 'waiting')",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(owner)
    .bind::<Text, _>(p.status)
    .bind::<Jsonb, _>(p.outputs)
    .bind::<Integer, _>(p.step_index)
    .bind::<Integer, _>(p.attempt)
    .bind::<Nullable<Timestamptz>, _>(p.wake_at)
    .bind::<Nullable<Jsonb>, _>(p.waiting)
    .bind::<Nullable<Text>, _>(p.error)
    .bind::<diesel::sql_types::Bool, _>(finished)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Execution, Error> {
    diesel::sql_query(format!("SELECT {COLUMNS} FROM {FROM} WHERE e.id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
}

/// Executions newest first, optionally of one workflow (by name) or in one status.
pub async fn list(
    conn: &mut AsyncPgConnection,
    workflow: Option<&str>,
    status: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Execution>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM {FROM} \
         WHERE ($1::text IS NULL OR w.name = $1) AND ($2::text IS NULL OR e.status = $2) \
         AND ($3::timestamptz IS NULL OR (e.created_at, e.id) < ($3, $4)) \
         ORDER BY e.created_at DESC, e.id DESC LIMIT $5"
    ))
    .bind::<Nullable<Text>, _>(workflow)
    .bind::<Nullable<Text>, _>(status)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Cancels an unfinished execution; `false` when it had already ended.
pub async fn cancel(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, Error> {
    let n = diesel::sql_query(
        "UPDATE flow.executions SET status = 'cancelled', finished_at = now(), lease_owner = NULL, \
         lease_until = NULL, waiting = NULL, error = 'cancelled' \
         WHERE id = $1 AND status IN ('pending', 'running', 'waiting')",
    )
    .bind::<SqlUuid, _>(id)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Waiting executions of `org_id` waiting for an event of `event_type`, locked.
pub async fn waiting_for(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    event_type: &str,
) -> Result<Vec<Execution>, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE e.org_id = $1 AND e.status = 'waiting' \
         AND e.waiting ->> 'event' = $2 ORDER BY e.created_at LIMIT 1000 FOR UPDATE OF e SKIP LOCKED"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(event_type)
    .load(conn)
    .await
}

/// Resumes a waiting execution at `step_index` with `outputs` (an event came, a child ended).
pub async fn resume(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    outputs: &Value,
    step_index: i32,
) -> Result<bool, Error> {
    let n = diesel::sql_query(
        "UPDATE flow.executions SET status = 'pending', outputs = $2, step_index = $3, attempt = 0, \
         waiting = NULL, wake_at = now() WHERE id = $1 AND status = 'waiting' \
         AND (lease_until IS NULL OR lease_until < now())",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Jsonb, _>(outputs)
    .bind::<Integer, _>(step_index)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct StepRun {
    #[diesel(sql_type = Text)]
    pub step_id: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub idempotency_key: String,
    #[diesel(sql_type = Jsonb)]
    pub input: Value,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub output: Option<Value>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Records that an attempt of a step starts (before its side effect). A resumed execution
/// finds the row of an attempt its dead instance began and carries on with the same key.
#[allow(clippy::too_many_arguments)]
pub async fn begin_step(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    execution_id: Uuid,
    step_id: &str,
    kind: &str,
    attempt: i32,
    key: &str,
    input: &Value,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO flow.execution_steps (id, org_id, execution_id, step_id, kind, attempt, \
         status, idempotency_key, input) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8) \
         ON CONFLICT (execution_id, step_id, attempt) DO NOTHING",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<SqlUuid, _>(execution_id)
    .bind::<Text, _>(step_id)
    .bind::<Text, _>(kind)
    .bind::<Integer, _>(attempt)
    .bind::<Text, _>(key)
    .bind::<Jsonb, _>(input)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records how an attempt of a step ended.
pub async fn end_step(
    conn: &mut AsyncPgConnection,
    execution_id: Uuid,
    step_id: &str,
    attempt: i32,
    status: &str,
    output: Option<&Value>,
    error: Option<&str>,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE flow.execution_steps SET status = $4, output = $5, error = $6, finished_at = now() \
         WHERE execution_id = $1 AND step_id = $2 AND attempt = $3",
    )
    .bind::<SqlUuid, _>(execution_id)
    .bind::<Text, _>(step_id)
    .bind::<Integer, _>(attempt)
    .bind::<Text, _>(status)
    .bind::<Nullable<Jsonb>, _>(output)
    .bind::<Nullable<Text>, _>(error)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn steps(
    conn: &mut AsyncPgConnection,
    execution_id: Uuid,
) -> Result<Vec<StepRun>, Error> {
    diesel::sql_query(
        "SELECT step_id, kind, attempt, status, idempotency_key, input, output, error, started_at, \
         finished_at FROM flow.execution_steps WHERE execution_id = $1 ORDER BY started_at, id",
    )
    .bind::<SqlUuid, _>(execution_id)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct LogLine {
    #[diesel(sql_type = Nullable<Text>)]
    pub step_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub level: String,
    #[diesel(sql_type = Text)]
    pub message: String,
    #[diesel(sql_type = Jsonb)]
    pub data: Value,
    #[diesel(sql_type = Timestamptz)]
    pub logged_at: DateTime<Utc>,
}

/// How far along its chain the execution `id` of `org_id` is; `None` when there is none.
pub async fn chain_of(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<i32>, Error> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        chain: i32,
    }
    let row: Option<Row> =
        diesel::sql_query("SELECT chain FROM flow.executions WHERE org_id = $1 AND id = $2")
            .bind::<SqlUuid, _>(org_id)
            .bind::<SqlUuid, _>(id)
            .get_result(conn)
            .await
            .optional()?;
    Ok(row.map(|r| r.chain))
}

pub async fn log(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    execution_id: Uuid,
    step_id: Option<&str>,
    level: &str,
    message: &str,
    data: &Value,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO flow.execution_logs (id, org_id, execution_id, step_id, level, message, data) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<SqlUuid, _>(execution_id)
    .bind::<Nullable<Text>, _>(step_id)
    .bind::<Text, _>(level)
    .bind::<Text, _>(message)
    .bind::<Jsonb, _>(data)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn logs(conn: &mut AsyncPgConnection, execution_id: Uuid) -> Result<Vec<LogLine>, Error> {
    diesel::sql_query(
        "SELECT step_id, level, message, data, logged_at FROM flow.execution_logs \
         WHERE execution_id = $1 ORDER BY logged_at, id LIMIT 1000",
    )
    .bind::<SqlUuid, _>(execution_id)
    .load(conn)
    .await
}

/// Counts an ended run in its workflow's metrics for the Copenhagen day.
pub async fn count_run(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    workflow_name: &str,
    status: &str,
    duration_ms: i64,
) -> Result<(), Error> {
    let day = tekup_types::copenhagen::date(Utc::now());
    diesel::sql_query(
        "INSERT INTO flow.metrics AS m (org_id, workflow_name, day, runs, succeeded, failed, \
         cancelled, total_ms, max_ms) VALUES ($1, $2, $3, 1, ($4 = 'succeeded')::int, \
         ($4 = 'failed')::int, ($4 = 'cancelled')::int, $5, $5) \
         ON CONFLICT (org_id, workflow_name, day) DO UPDATE SET runs = m.runs + 1, \
         succeeded = m.succeeded + excluded.succeeded, failed = m.failed + excluded.failed, \
         cancelled = m.cancelled + excluded.cancelled, total_ms = m.total_ms + excluded.total_ms, \
         max_ms = greatest(m.max_ms, excluded.max_ms)",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(workflow_name)
    .bind::<diesel::sql_types::Date, _>(day)
    .bind::<Text, _>(status)
    .bind::<BigInt, _>(duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct DayMetrics {
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub day: chrono::NaiveDate,
    #[diesel(sql_type = Integer)]
    pub runs: i32,
    #[diesel(sql_type = Integer)]
    pub succeeded: i32,
    #[diesel(sql_type = Integer)]
    pub failed: i32,
    #[diesel(sql_type = Integer)]
    pub cancelled: i32,
    #[diesel(sql_type = BigInt)]
    pub total_ms: i64,
    #[diesel(sql_type = BigInt)]
    pub max_ms: i64,
}

/// A workflow's metrics for its last `days` days with runs, newest first.
pub async fn metrics(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    workflow_name: &str,
    days: i64,
) -> Result<Vec<DayMetrics>, Error> {
    diesel::sql_query(
        "SELECT day, runs, succeeded, failed, cancelled, total_ms, max_ms FROM flow.metrics \
         WHERE org_id = $1 AND workflow_name = $2 ORDER BY day DESC LIMIT $3",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(workflow_name)
    .bind::<BigInt, _>(days)
    .load(conn)
    .await
}

/// The execution a trigger's key already started.
pub async fn by_dedupe_key(
    conn: &mut AsyncPgConnection,
    workflow_id: Uuid,
    key: &str,
) -> Result<Uuid, Error> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let found: Id = diesel::sql_query(
        "SELECT id FROM flow.executions WHERE workflow_id = $1 AND dedupe_key = $2",
    )
    .bind::<SqlUuid, _>(workflow_id)
    .bind::<Text, _>(key)
    .get_result(conn)
    .await?;
    Ok(found.id)
}

#[derive(QueryableByName)]
struct Depth {
    #[diesel(sql_type = Integer)]
    depth: i32,
}

/// How many executions above this one started it through their sub-workflow steps (0 for one
/// started otherwise), counted no further than `cap`.
pub async fn nesting(conn: &mut AsyncPgConnection, id: Uuid, cap: i32) -> Result<i32, Error> {
    let row: Depth = diesel::sql_query(
        "WITH RECURSIVE up(parent_id, depth) AS ( \
             SELECT parent_id, 0 FROM flow.executions WHERE id = $1 \
             UNION ALL \
             SELECT e.parent_id, up.depth + 1 FROM flow.executions e \
               JOIN up ON e.id = up.parent_id WHERE up.depth < $2) \
         SELECT max(depth) AS depth FROM up",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Integer, _>(cap)
    .get_result(conn)
    .await?;
    Ok(row.depth)
}

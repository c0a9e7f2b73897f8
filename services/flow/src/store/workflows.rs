//! Workflow definitions, versioned by name.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Bool, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Workflow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Integer)]
    pub version: i32,
    #[diesel(sql_type = Text)]
    pub description: String,
    #[diesel(sql_type = Jsonb)]
    pub definition: Value,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, version, description, definition, active, created_at";

pub struct NewVersion<'a> {
    pub org_id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub definition: &'a Value,
    pub trigger_kind: &'a str,
    pub trigger_key: Option<&'a str>,
    pub created_by: Option<Uuid>,
}

/// Stores a new version of workflow `name` and makes it the active one.
pub async fn save(conn: &mut AsyncPgConnection, new: NewVersion<'_>) -> Result<Workflow, Error> {
    // One writer per name at a time: the version number is taken under the lock.
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtext('flow.workflows:' || $1::text || ':' || $2))",
    )
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.name)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "UPDATE flow.workflows SET active = false WHERE org_id = $1 AND name = $2 AND active",
    )
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.name)
    .execute(conn)
    .await?;
    diesel::sql_query(format!(
        "INSERT INTO flow.workflows (id, org_id, name, version, description, definition, \
         trigger_kind, trigger_key, created_by) \
         SELECT $1, $2, $3, coalesce(max(version), 0) + 1, $4, $5, $6, $7, $8 \
         FROM flow.workflows WHERE org_id = $2 AND name = $3 RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.name)
    .bind::<Text, _>(new.description)
    .bind::<Jsonb, _>(new.definition)
    .bind::<Text, _>(new.trigger_kind)
    .bind::<Nullable<Text>, _>(new.trigger_key)
    .bind::<Nullable<SqlUuid>, _>(new.created_by)
    .get_result(conn)
    .await
}

/// The active version of workflow `name` of `org_id`.
pub async fn active(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
) -> Result<Workflow, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.workflows WHERE org_id = $1 AND name = $2 AND active"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .get_result(conn)
    .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Workflow, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.workflows WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

/// Every version of workflow `name`, newest first.
pub async fn versions(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
) -> Result<Vec<Workflow>, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.workflows WHERE org_id = $1 AND name = $2 ORDER BY version DESC LIMIT 100"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .load(conn)
    .await
}

/// Active workflows by name, after `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Workflow>, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.workflows WHERE org_id = $1 AND active \
         AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Nullable<Text>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Stops workflow `name` (no version stays active); `false` when none was.
pub async fn deactivate(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
) -> Result<bool, Error> {
    let n = diesel::sql_query(
        "UPDATE flow.workflows SET active = false WHERE org_id = $1 AND name = $2 AND active",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// The active workflows of `org_id` a trigger starts.
pub async fn triggered_by(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    kind: &str,
    key: &str,
) -> Result<Vec<Workflow>, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.workflows \
         WHERE org_id = $1 AND trigger_kind = $2 AND trigger_key = $3 AND active"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(key)
    .load(conn)
    .await
}

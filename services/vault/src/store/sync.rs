//! Sync status per source and repository: when it last delivered, how much, and its last
//! failure.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct SyncStatus {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub repository: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub documents: i64,
    #[diesel(sql_type = Timestamptz)]
    pub last_synced_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

/// Records a delivery from `source`/`repository`: `changed` documents stored, or a failure.
pub async fn record(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    source: &str,
    repository: &str,
    changed: i64,
    error: Option<&str>,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO vault.sync_status AS s (org_id, source, repository, status, documents, \
         last_synced_at, last_error) VALUES ($1, $2, $3, $4, $5, now(), $6) \
         ON CONFLICT (org_id, source, repository) DO UPDATE SET status = excluded.status, \
         documents = s.documents + excluded.documents, last_synced_at = now(), \
         last_error = coalesce(excluded.last_error, s.last_error)",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(source)
    .bind::<Text, _>(repository)
    .bind::<Text, _>(if error.is_some() { "failed" } else { "ok" })
    .bind::<BigInt, _>(changed)
    .bind::<Nullable<Text>, _>(error)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<SyncStatus>, Error> {
    diesel::sql_query(
        "SELECT source, repository, status, documents, last_synced_at, last_error \
         FROM vault.sync_status ORDER BY source, repository",
    )
    .load(conn)
    .await
}

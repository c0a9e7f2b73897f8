//! What renos and vault did for a company, as crm keeps it from their events: price
//! calculations, quotes, bookings, invoices and uploaded documents.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Record {
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub details: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

/// One of the company's records.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
) -> Result<Record, Error> {
    diesel::sql_query(
        "SELECT kind, title, status, details, updated_at \
         FROM company_records WHERE org_id = $1 AND cvr = $2 AND id = $3",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

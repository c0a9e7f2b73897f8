//! GDPR data-subject requests and the answers of the services.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::SqlUuid;

/// The services that answer every request.
pub const SERVICES: [&str; 6] = ["shared", "crm", "renos", "vault", "billy", "flow"];

#[derive(Debug, Clone, QueryableByName)]
pub struct Request {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamptz)]
    pub requested_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub deadline: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, org_id, kind, email, cvr, reason, status, requested_at, deadline, completed_at";

pub struct NewRequest<'a> {
    pub org_id: Uuid,
    pub kind: &'a str,
    pub email: Option<&'a str>,
    pub cvr: Option<&'a str>,
    pub reason: &'a str,
    pub requested_by: Uuid,
}

pub async fn create(conn: &mut AsyncPgConnection, new: NewRequest<'_>) -> Result<Request, Error> {
    diesel::sql_query(format!(
        "INSERT INTO flow.gdpr_requests (id, org_id, kind, email, cvr, reason, requested_by, deadline) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + interval '1 month') RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.kind)
    .bind::<Nullable<Text>, _>(new.email)
    .bind::<Nullable<Text>, _>(new.cvr)
    .bind::<Text, _>(new.reason)
    .bind::<SqlUuid, _>(new.requested_by)
    .get_result(conn)
    .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Request, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.gdpr_requests WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Request>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.gdpr_requests \
         WHERE ($1::timestamptz IS NULL OR (requested_at, id) < ($1, $2)) \
         ORDER BY requested_at DESC, id DESC LIMIT $3"
    ))
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Answer {
    #[diesel(sql_type = Text)]
    pub service: String,
    #[diesel(sql_type = Jsonb)]
    pub counts: Value,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub bundle: Option<Value>,
    #[diesel(sql_type = Timestamptz)]
    pub answered_at: DateTime<Utc>,
}

/// Records a service's answer (once) and completes the request when every service answered.
pub async fn answer(
    conn: &mut AsyncPgConnection,
    request_id: Uuid,
    org_id: Uuid,
    service: &str,
    counts: &Value,
    bundle: Option<&Value>,
    answered_at: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO flow.gdpr_answers (request_id, org_id, service, counts, bundle, answered_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id, service) DO NOTHING",
    )
    .bind::<SqlUuid, _>(request_id)
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(service)
    .bind::<Jsonb, _>(counts)
    .bind::<Nullable<Jsonb>, _>(bundle)
    .bind::<Timestamptz, _>(answered_at)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "UPDATE flow.gdpr_requests r SET status = 'completed', completed_at = now() \
         WHERE id = $1 AND status = 'open' \
         AND (SELECT count(*) FROM flow.gdpr_answers a WHERE a.request_id = r.id) >= $2",
    )
    .bind::<SqlUuid, _>(request_id)
    .bind::<BigInt, _>(i64::try_from(SERVICES.len()).unwrap_or(6))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn answers(conn: &mut AsyncPgConnection, request_id: Uuid) -> Result<Vec<Answer>, Error> {
    diesel::sql_query(
        "SELECT service, counts, bundle, answered_at FROM flow.gdpr_answers \
         WHERE request_id = $1 ORDER BY answered_at",
    )
    .bind::<SqlUuid, _>(request_id)
    .load(conn)
    .await
}

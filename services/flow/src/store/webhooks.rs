//! Inbound webhook endpoints and their deliveries.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Bool, Bytea, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Webhook {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub format: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, org_id, name, format, secret, active, created_at";

pub async fn create(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
    format: &str,
    secret: &str,
    created_by: Uuid,
) -> Result<Webhook, Error> {
    // Random (v4) ids: the id is part of the address handed to the outside world.
    diesel::sql_query(format!(
        "INSERT INTO flow.webhooks (id, org_id, name, format, secret, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(Uuid::new_v4())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .bind::<Text, _>(format)
    .bind::<Text, _>(secret)
    .bind::<SqlUuid, _>(created_by)
    .get_result(conn)
    .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Webhook, Error> {
    diesel::sql_query(format!("SELECT {COLUMNS} FROM flow.webhooks WHERE id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
}

/// Webhooks newest first, after the `(created_at, id)` position.
pub async fn list(
    conn: &mut AsyncPgConnection,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Webhook>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.webhooks \
         WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2)) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Stops accepting deliveries; returns whether the webhook exists.
pub async fn deactivate(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, Error> {
    let rows = diesel::sql_query("UPDATE flow.webhooks SET active = false WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await?;
    Ok(rows == 1)
}

pub struct NewDelivery<'a> {
    pub webhook: &'a Webhook,
    pub dedupe_key: &'a str,
    pub content_type: &'a str,
    pub body: &'a [u8],
    pub headers: serde_json::Value,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Delivery {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub content_type: String,
    #[diesel(sql_type = Integer)]
    pub size: i32,
    #[diesel(sql_type = Jsonb)]
    pub headers: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
}

const DELIVERY_COLUMNS: &str = "id, content_type, length(body) AS size, headers, received_at";

/// Stores a delivery; `None` when the webhook already has one with this key (a redelivery).
pub async fn record(
    conn: &mut AsyncPgConnection,
    new: NewDelivery<'_>,
) -> Result<Option<Delivery>, Error> {
    diesel::sql_query(format!(
        "INSERT INTO flow.webhook_deliveries (id, org_id, webhook_id, dedupe_key, content_type, body, headers) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (webhook_id, dedupe_key) DO NOTHING \
         RETURNING {DELIVERY_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.webhook.org_id)
    .bind::<SqlUuid, _>(new.webhook.id)
    .bind::<Text, _>(new.dedupe_key)
    .bind::<Text, _>(new.content_type)
    .bind::<Bytea, _>(new.body)
    .bind::<Jsonb, _>(new.headers)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(|err| match err {
        Error::NotFound => Ok(None),
        other => Err(other),
    })
}

/// The delivery a redelivery repeats.
pub async fn recorded(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    dedupe_key: &str,
) -> Result<Delivery, Error> {
    diesel::sql_query(format!(
        "SELECT {DELIVERY_COLUMNS} FROM flow.webhook_deliveries WHERE webhook_id = $1 AND dedupe_key = $2"
    ))
    .bind::<SqlUuid, _>(webhook_id)
    .bind::<Text, _>(dedupe_key)
    .get_result(conn)
    .await
}

/// A webhook's deliveries, newest first.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Delivery>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {DELIVERY_COLUMNS} FROM flow.webhook_deliveries WHERE webhook_id = $1 \
         AND ($2::timestamptz IS NULL OR (received_at, id) < ($2, $3)) \
         ORDER BY received_at DESC, id DESC LIMIT $4"
    ))
    .bind::<SqlUuid, _>(webhook_id)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

//! Integrations (outgoing webhooks and HTTP endpoints), their deliveries, and variables.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Bool, Bytea, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use tekup_auth::sealing::Sealed;
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Integration {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Jsonb)]
    pub headers: Value,
    #[diesel(sql_type = Text)]
    pub secret_key_id: String,
    #[diesel(sql_type = Bytea)]
    pub secret_nonce: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    pub secret: Vec<u8>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

impl Integration {
    pub fn sealed(&self) -> Sealed {
        Sealed {
            key_id: self.secret_key_id.clone(),
            nonce: self.secret_nonce.clone(),
            ciphertext: self.secret.clone(),
        }
    }
}

const COLUMNS: &str =
    "id, name, kind, url, headers, secret_key_id, secret_nonce, secret, created_at";

pub struct NewIntegration<'a> {
    pub org_id: Uuid,
    pub name: &'a str,
    pub kind: &'a str,
    pub url: &'a str,
    pub headers: &'a Value,
    pub secret: Sealed,
    pub created_by: Uuid,
}

/// Creates or replaces integration `name`.
pub async fn save(
    conn: &mut AsyncPgConnection,
    new: NewIntegration<'_>,
) -> Result<Integration, Error> {
    diesel::sql_query(format!(
        "INSERT INTO flow.integrations (id, org_id, name, kind, url, headers, secret_key_id, \
         secret_nonce, secret, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (org_id, name) DO UPDATE SET kind = excluded.kind, url = excluded.url, \
         headers = excluded.headers, secret_key_id = excluded.secret_key_id, \
         secret_nonce = excluded.secret_nonce, secret = excluded.secret, active = true \
         RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.name)
    .bind::<Text, _>(new.kind)
    .bind::<Text, _>(new.url)
    .bind::<Jsonb, _>(new.headers)
    .bind::<Text, _>(&new.secret.key_id)
    .bind::<Bytea, _>(&new.secret.nonce)
    .bind::<Bytea, _>(&new.secret.ciphertext)
    .bind::<SqlUuid, _>(new.created_by)
    .get_result(conn)
    .await
}

pub async fn by_name(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
) -> Result<Integration, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.integrations WHERE org_id = $1 AND name = $2 AND active"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .get_result(conn)
    .await
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Integration>, Error> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM flow.integrations WHERE active AND ($1::text IS NULL OR name > $1) \
         ORDER BY name LIMIT $2"
    ))
    .bind::<Nullable<Text>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

pub async fn deactivate(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
) -> Result<bool, Error> {
    let n = diesel::sql_query(
        "UPDATE flow.integrations SET active = false WHERE org_id = $1 AND name = $2 AND active",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub execution_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub step_id: Option<String>,
    /// The webhook-id: the same on every attempt of one message.
    #[diesel(sql_type = Text)]
    pub message_id: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    pub status_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Integer)]
    pub duration_ms: i32,
    #[diesel(sql_type = Timestamptz)]
    pub delivered_at: DateTime<Utc>,
}

pub struct NewDelivery<'a> {
    pub org_id: Uuid,
    pub integration_id: Uuid,
    pub execution_id: Uuid,
    pub step_id: &'a str,
    pub message_id: &'a str,
    pub event_type: &'a str,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<&'a str>,
    pub duration_ms: i32,
}

pub async fn record_delivery(
    conn: &mut AsyncPgConnection,
    d: NewDelivery<'_>,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO flow.outgoing_deliveries (id, org_id, integration_id, execution_id, step_id, \
         message_id, event_type, attempt, status_code, error, duration_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(d.org_id)
    .bind::<SqlUuid, _>(d.integration_id)
    .bind::<SqlUuid, _>(d.execution_id)
    .bind::<Text, _>(d.step_id)
    .bind::<Text, _>(d.message_id)
    .bind::<Text, _>(d.event_type)
    .bind::<Integer, _>(d.attempt)
    .bind::<Nullable<Integer>, _>(d.status_code)
    .bind::<Nullable<Text>, _>(d.error)
    .bind::<Integer, _>(d.duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    integration_id: Uuid,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Delivery>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(
        "SELECT id, execution_id, step_id, message_id, event_type, attempt, status_code, error, \
         duration_ms, delivered_at FROM flow.outgoing_deliveries WHERE integration_id = $1 \
         AND ($2::timestamptz IS NULL OR (delivered_at, id) < ($2, $3)) \
         ORDER BY delivered_at DESC, id DESC LIMIT $4",
    )
    .bind::<SqlUuid, _>(integration_id)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Variable {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub secret: bool,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub value: Option<Value>,
    #[diesel(sql_type = Nullable<Text>)]
    pub key_id: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    pub nonce: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    pub ciphertext: Option<Vec<u8>>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

impl Variable {
    pub fn sealed(&self) -> Option<Sealed> {
        Some(Sealed {
            key_id: self.key_id.clone()?,
            nonce: self.nonce.clone()?,
            ciphertext: self.ciphertext.clone()?,
        })
    }
}

/// Sets variable `name`: a plain `value`, or a `sealed` secret.
pub async fn set_variable(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
    value: Option<&Value>,
    sealed: Option<&Sealed>,
    updated_by: Uuid,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO flow.variables (org_id, name, secret, value, key_id, nonce, ciphertext, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, name) DO UPDATE SET \
         secret = excluded.secret, value = excluded.value, key_id = excluded.key_id, \
         nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_by = excluded.updated_by, \
         updated_at = now()",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .bind::<Bool, _>(sealed.is_some())
    .bind::<Nullable<Jsonb>, _>(value)
    .bind::<Nullable<Text>, _>(sealed.map(|s| s.key_id.as_str()))
    .bind::<Nullable<Bytea>, _>(sealed.map(|s| s.nonce.as_slice()))
    .bind::<Nullable<Bytea>, _>(sealed.map(|s| s.ciphertext.as_slice()))
    .bind::<SqlUuid, _>(updated_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn variables(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Vec<Variable>, Error> {
    diesel::sql_query(
        "SELECT name, secret, value, key_id, nonce, ciphertext, updated_at FROM flow.variables \
         WHERE org_id = $1 ORDER BY name LIMIT 1000",
    )
    .bind::<SqlUuid, _>(org_id)
    .load(conn)
    .await
}

pub async fn delete_variable(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
) -> Result<bool, Error> {
    let n = diesel::sql_query("DELETE FROM flow.variables WHERE org_id = $1 AND name = $2")
        .bind::<SqlUuid, _>(org_id)
        .bind::<Text, _>(name)
        .execute(conn)
        .await?;
    Ok(n == 1)
}

//! Queries of the `billy` schema, on the caller's transaction (whose tenant context Row Level
//! Security applies); changes write their events to the same transaction's outbox.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Date, Integer, Jsonb, Nullable, Text, Timestamptz,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::crypto::Sealed;

type SqlUuid = diesel::sql_types::Uuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Connection {
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub billy_organization_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub billy_organization_name: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    pub token_ciphertext: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    pub token_nonce: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub token_key_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub product_id: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub connected_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Date>)]
    pub invoice_watermark: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_synced_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_sync_error: Option<String>,
}

impl Connection {
    /// The stored token, when the organization is connected.
    pub fn sealed(&self) -> Option<Sealed> {
        Some(Sealed {
            key_id: self.token_key_id.clone()?,
            nonce: self.token_nonce.clone()?,
            ciphertext: self.token_ciphertext.clone()?,
        })
    }
}

const CONNECTION: &str = "id AS org_id, billy_organization_id, billy_organization_name, \
    token_ciphertext, token_nonce, token_key_id, product_id, connected_at, invoice_watermark, \
    last_synced_at, last_sync_error";

pub async fn connection(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
) -> Result<Option<Connection>, Error> {
    let found: Vec<Connection> = diesel::sql_query(format!(
        "SELECT {CONNECTION} FROM billy.organizations WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(org_id)
    .load(conn)
    .await?;
    Ok(found.into_iter().next())
}

/// Organizations with a stored token.
pub async fn connected(conn: &mut AsyncPgConnection) -> Result<Vec<Connection>, Error> {
    diesel::sql_query(format!(
        "SELECT {CONNECTION} FROM billy.organizations WHERE token_ciphertext IS NOT NULL ORDER BY id"
    ))
    .load(conn)
    .await
}

pub struct NewConnection<'a> {
    pub org_id: Uuid,
    pub billy_organization_id: &'a str,
    pub billy_organization_name: &'a str,
    pub sealed: &'a Sealed,
    pub product_id: Option<&'a str>,
    pub by: Uuid,
}

/// Stores the connection (the organization's row may not have arrived from shared yet: then
/// it is made with a placeholder name that the projection replaces).
pub async fn connect(conn: &mut AsyncPgConnection, new: NewConnection<'_>) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO billy.organizations (id, name, updated_at, billy_organization_id, \
           billy_organization_name, token_ciphertext, token_nonce, token_key_id, product_id, \
           connected_by, connected_at) \
         VALUES ($1, $3, '-infinity', $2, $3, $4, $5, $6, $7, $8, now()) \
         ON CONFLICT (id) DO UPDATE SET billy_organization_id = EXCLUDED.billy_organization_id, \
           billy_organization_name = EXCLUDED.billy_organization_name, \
           token_ciphertext = EXCLUDED.token_ciphertext, token_nonce = EXCLUDED.token_nonce, \
           token_key_id = EXCLUDED.token_key_id, product_id = EXCLUDED.product_id, \
           connected_by = EXCLUDED.connected_by, connected_at = EXCLUDED.connected_at, \
           last_sync_error = NULL",
    )
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.billy_organization_id)
    .bind::<Text, _>(new.billy_organization_name)
    .bind::<Bytea, _>(&new.sealed.ciphertext)
    .bind::<Bytea, _>(&new.sealed.nonce)
    .bind::<Text, _>(&new.sealed.key_id)
    .bind::<Nullable<Text>, _>(new.product_id)
    .bind::<SqlUuid, _>(new.by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the Billy.dk user a connected token belongs to.
pub async fn seen_user(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    billy_user_id: &str,
    name: &str,
    email: Option<&str>,
    by: Uuid,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO billy.users (org_id, billy_user_id, name, email, connected_by) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, billy_user_id) DO UPDATE \
         SET name = EXCLUDED.name, email = EXCLUDED.email, connected_by = EXCLUDED.connected_by, \
             seen_at = now()",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(billy_user_id)
    .bind::<Text, _>(name)
    .bind::<Nullable<Text>, _>(email)
    .bind::<SqlUuid, _>(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets the token; returns whether the organization was connected.
pub async fn disconnect(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<bool, Error> {
    let rows = diesel::sql_query(
        "UPDATE billy.organizations SET token_ciphertext = NULL, token_nonce = NULL, \
         token_key_id = NULL WHERE id = $1 AND token_ciphertext IS NOT NULL",
    )
    .bind::<SqlUuid, _>(org_id)
    .execute(conn)
    .await?;
    Ok(rows == 1)
}

pub async fn set_product(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    product_id: &str,
) -> Result<(), Error> {
    diesel::sql_query("UPDATE billy.organizations SET product_id = $2 WHERE id = $1")
        .bind::<SqlUuid, _>(org_id)
        .bind::<Text, _>(product_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn synced(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    watermark: Option<NaiveDate>,
    error: Option<&str>,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE billy.organizations SET last_synced_at = now(), last_sync_error = $3, \
         invoice_watermark = greatest(invoice_watermark, $2) WHERE id = $1",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Nullable<Date>, _>(watermark)
    .bind::<Nullable<Text>, _>(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// The earliest entry date of a cached invoice that is neither paid nor cancelled: polling
/// reads from there, so a payment of an old invoice is seen.
pub async fn oldest_open_invoice(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
) -> Result<Option<NaiveDate>, Error> {
    #[derive(QueryableByName)]
    struct Oldest {
        #[diesel(sql_type = Nullable<Date>)]
        day: Option<NaiveDate>,
    }
    let row: Oldest = diesel::sql_query(
        "SELECT min(entry_date) AS day FROM billy.cached_invoices \
         WHERE org_id = $1 AND NOT is_paid AND state NOT IN ('cancelled', 'voided', 'draft')",
    )
    .bind::<SqlUuid, _>(org_id)
    .get_result(conn)
    .await?;
    Ok(row.day)
}

/// A record of Billy's as cached; `changed` tells whether it is new or differs.
pub struct Cached {
    pub changed: bool,
    pub was_paid: bool,
}

pub struct CachedInvoice<'a> {
    pub org_id: Uuid,
    pub billy_id: &'a str,
    pub invoice_no: Option<&'a str>,
    pub contact_id: Option<&'a str>,
    pub entry_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub state: &'a str,
    pub is_paid: bool,
    pub gross_ore: i64,
    pub currency: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub hash: &'a str,
    pub data: &'a serde_json::Value,
}

#[derive(QueryableByName)]
struct Upserted {
    #[diesel(sql_type = Bool)]
    was_paid: bool,
}

pub async fn cache_invoice(
    conn: &mut AsyncPgConnection,
    i: CachedInvoice<'_>,
) -> Result<Cached, Error> {
    // The previous paid flag comes from the row as it was before the update.
    let rows: Vec<Upserted> = diesel::sql_query(
        "WITH before AS (SELECT is_paid FROM billy.cached_invoices WHERE org_id = $1 AND billy_id = $2) \
         INSERT INTO billy.cached_invoices (org_id, billy_id, invoice_no, contact_id, entry_date, \
           due_date, state, is_paid, gross_ore, currency, external_id, content_hash, data) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (org_id, billy_id) DO UPDATE SET invoice_no = EXCLUDED.invoice_no, \
           contact_id = EXCLUDED.contact_id, entry_date = EXCLUDED.entry_date, \
           due_date = EXCLUDED.due_date, state = EXCLUDED.state, is_paid = EXCLUDED.is_paid, \
           gross_ore = EXCLUDED.gross_ore, currency = EXCLUDED.currency, \
           external_id = EXCLUDED.external_id, content_hash = EXCLUDED.content_hash, \
           data = EXCLUDED.data, synced_at = now() \
         WHERE cached_invoices.content_hash <> EXCLUDED.content_hash \
         RETURNING coalesce((SELECT is_paid FROM before), false) AS was_paid",
    )
    .bind::<SqlUuid, _>(i.org_id)
    .bind::<Text, _>(i.billy_id)
    .bind::<Nullable<Text>, _>(i.invoice_no)
    .bind::<Nullable<Text>, _>(i.contact_id)
    .bind::<Nullable<Date>, _>(i.entry_date)
    .bind::<Nullable<Date>, _>(i.due_date)
    .bind::<Text, _>(i.state)
    .bind::<Bool, _>(i.is_paid)
    .bind::<BigInt, _>(i.gross_ore)
    .bind::<Nullable<Text>, _>(i.currency)
    .bind::<Nullable<Text>, _>(i.external_id)
    .bind::<Text, _>(i.hash)
    .bind::<Jsonb, _>(i.data)
    .load(conn)
    .await?;
    Ok(match rows.into_iter().next() {
        Some(row) => Cached {
            changed: true,
            was_paid: row.was_paid,
        },
        None => Cached {
            changed: false,
            was_paid: i.is_paid,
        },
    })
}

pub struct CachedCustomer<'a> {
    pub billy_id: &'a str,
    pub name: &'a str,
    pub cvr: Option<&'a str>,
    pub email: Option<&'a str>,
    pub hash: &'a str,
    pub data: &'a serde_json::Value,
}

/// Caches contacts of one organization in one statement; returns the Billy ids of those that
/// are new or changed. A contact whose person was erased on a GDPR request
/// (`erased_subjects`) is not cached again. A contact listed twice counts once, as its last.
pub async fn cache_customers(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    contacts: &[CachedCustomer<'_>],
) -> Result<Vec<String>, Error> {
    // Serialized with the organization's erasures: one that commits while this copy is under
    // way is seen by the check below, instead of its person being written back.
    diesel::sql_query(tekup_events::gdpr::remembering_lock(
        "billy.erased_subjects",
    ))
    .bind::<SqlUuid, _>(org_id)
    .execute(conn)
    .await?;
    #[derive(QueryableByName)]
    struct Changed {
        #[diesel(sql_type = Text)]
        billy_id: String,
    }
    // ON CONFLICT may not touch a row twice in one statement.
    let mut last = std::collections::HashMap::new();
    for (i, c) in contacts.iter().enumerate() {
        last.insert(c.billy_id, i);
    }
    let unique: Vec<&CachedCustomer<'_>> = contacts
        .iter()
        .enumerate()
        .filter(|(i, c)| last.get(c.billy_id) == Some(i))
        .map(|(_, c)| c)
        .collect();
    let changed: Vec<Changed> = diesel::sql_query(format!(
        "INSERT INTO billy.cached_customers (org_id, billy_id, name, cvr, email, content_hash, data) \
         SELECT $1, c.billy_id, c.name, c.cvr, c.email, c.hash, c.data \
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[]) \
                AS c(billy_id, name, cvr, email, hash, data) \
          WHERE c.email IS NULL OR NOT EXISTS ( \
            SELECT 1 FROM billy.erased_subjects e WHERE e.org_id = $1 \
            AND e.email_sha256 = {}) \
         ON CONFLICT (org_id, billy_id) DO UPDATE SET name = EXCLUDED.name, cvr = EXCLUDED.cvr, \
           email = EXCLUDED.email, content_hash = EXCLUDED.content_hash, data = EXCLUDED.data, \
           synced_at = now() \
         WHERE cached_customers.content_hash <> EXCLUDED.content_hash \
            OR cached_customers.cvr IS DISTINCT FROM EXCLUDED.cvr \
         RETURNING billy_id",
        tekup_events::gdpr::subject_hash("c.email")
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Array<Text>, _>(unique.iter().map(|c| c.billy_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(unique.iter().map(|c| c.name).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(unique.iter().map(|c| c.cvr).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(unique.iter().map(|c| c.email).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(unique.iter().map(|c| c.hash).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(unique.iter().map(|c| c.data).collect::<Vec<_>>())
    .load(conn)
    .await?;
    Ok(changed.into_iter().map(|c| c.billy_id).collect())
}

pub async fn cache_product(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    billy_id: &str,
    name: &str,
    unit_price_ore: Option<i64>,
    hash: &str,
    data: &serde_json::Value,
) -> Result<bool, Error> {
    let rows = diesel::sql_query(
        "INSERT INTO billy.cached_products (org_id, billy_id, name, unit_price_ore, content_hash, data) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (org_id, billy_id) DO UPDATE SET name = EXCLUDED.name, \
           unit_price_ore = EXCLUDED.unit_price_ore, content_hash = EXCLUDED.content_hash, \
           data = EXCLUDED.data, synced_at = now() \
         WHERE cached_products.content_hash <> EXCLUDED.content_hash",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(billy_id)
    .bind::<Text, _>(name)
    .bind::<Nullable<BigInt>, _>(unit_price_ore)
    .bind::<Text, _>(hash)
    .bind::<Jsonb, _>(data)
    .execute(conn)
    .await?;
    Ok(rows == 1)
}

/// The cached contact for a CVR (companies) or, failing that, an e-mail address.
pub async fn cached_contact(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: Option<&str>,
    email: Option<&str>,
) -> Result<Option<String>, Error> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        billy_id: String,
    }
    let found: Vec<Id> = diesel::sql_query(
        "SELECT billy_id FROM billy.cached_customers WHERE org_id = $1 \
           AND (($2::text IS NOT NULL AND cvr = $2) OR ($3::text IS NOT NULL AND lower(email) = lower($3))) \
         ORDER BY (cvr IS NOT DISTINCT FROM $2) DESC, billy_id LIMIT 1",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Nullable<Text>, _>(cvr)
    .bind::<Nullable<Text>, _>(email)
    .load(conn)
    .await?;
    Ok(found.into_iter().next().map(|i| i.billy_id))
}

/// A cache row as listed.
#[derive(Debug, Clone, QueryableByName)]
pub struct Row {
    #[diesel(sql_type = Text)]
    pub billy_id: String,
    #[diesel(sql_type = Jsonb)]
    pub data: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub synced_at: DateTime<Utc>,
}

/// One of the caches (`cached_invoices`, `cached_customers`, `cached_products`), by Billy id.
pub async fn cached(
    conn: &mut AsyncPgConnection,
    table: &'static str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Row>, Error> {
    diesel::sql_query(format!(
        "SELECT billy_id, data, synced_at FROM billy.{table} \
         WHERE ($1::text IS NULL OR billy_id > $1) ORDER BY billy_id LIMIT $2"
    ))
    .bind::<Nullable<Text>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Queues an issued invoice for Billy.dk (once).
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    invoice_id: Uuid,
    org_id: Uuid,
    invoice: &serde_json::Value,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO billy.invoice_pushes (invoice_id, org_id, invoice) VALUES ($1, $2, $3) \
         ON CONFLICT (invoice_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(invoice_id)
    .bind::<SqlUuid, _>(org_id)
    .bind::<Jsonb, _>(invoice)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Push {
    #[diesel(sql_type = SqlUuid)]
    pub invoice_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Jsonb)]
    pub invoice: serde_json::Value,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub billy_invoice_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub next_attempt_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

const PUSH: &str = "invoice_id, org_id, invoice, status, attempts, billy_invoice_id, last_error, \
    next_attempt_at, updated_at";

/// Claims the next due push for `lease_secs` (another instance may take it after that, should
/// this one die), counting the attempt.
pub async fn claim(conn: &mut AsyncPgConnection, lease_secs: i64) -> Result<Option<Push>, Error> {
    let claimed: Vec<Push> = diesel::sql_query(format!(
        "UPDATE billy.invoice_pushes SET attempts = attempts + 1, updated_at = now(), \
           next_attempt_at = now() + $1 * interval '1 second' \
         WHERE invoice_id = (SELECT invoice_id FROM billy.invoice_pushes \
           WHERE status = 'pending' AND next_attempt_at <= now() \
           ORDER BY next_attempt_at FOR UPDATE SKIP LOCKED LIMIT 1) \
         RETURNING {PUSH}"
    ))
    .bind::<BigInt, _>(lease_secs)
    .load(conn)
    .await?;
    Ok(claimed.into_iter().next())
}

pub async fn pushed(
    conn: &mut AsyncPgConnection,
    invoice_id: Uuid,
    billy_invoice_id: &str,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE billy.invoice_pushes SET status = 'synced', billy_invoice_id = $2, last_error = NULL, \
         updated_at = now() WHERE invoice_id = $1",
    )
    .bind::<SqlUuid, _>(invoice_id)
    .bind::<Text, _>(billy_invoice_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A failed attempt: try again after `retry_in_ms`, or give up (`None`).
pub async fn push_failed(
    conn: &mut AsyncPgConnection,
    invoice_id: Uuid,
    error: &str,
    retry_in_ms: Option<i64>,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE billy.invoice_pushes SET last_error = $2, updated_at = now(), \
           status = CASE WHEN $3::bigint IS NULL THEN 'failed' ELSE 'pending' END, \
           next_attempt_at = CASE WHEN $3::bigint IS NULL THEN next_attempt_at \
                                  ELSE now() + $3 * interval '1 millisecond' END \
         WHERE invoice_id = $1",
    )
    .bind::<SqlUuid, _>(invoice_id)
    .bind::<Text, _>(error)
    .bind::<Nullable<BigInt>, _>(retry_in_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The push of one invoice, as the caller may see it.
pub async fn push(conn: &mut AsyncPgConnection, invoice_id: Uuid) -> Result<Option<Push>, Error> {
    let found: Vec<Push> = diesel::sql_query(format!(
        "SELECT {PUSH} FROM billy.invoice_pushes WHERE invoice_id = $1"
    ))
    .bind::<SqlUuid, _>(invoice_id)
    .load(conn)
    .await?;
    Ok(found.into_iter().next())
}

/// Puts a failed push back in the queue; returns whether there was one.
pub async fn retry(conn: &mut AsyncPgConnection, invoice_id: Uuid) -> Result<bool, Error> {
    let rows = diesel::sql_query(
        "UPDATE billy.invoice_pushes SET status = 'pending', attempts = 0, next_attempt_at = now(), \
         updated_at = now() WHERE invoice_id = $1 AND status = 'failed'",
    )
    .bind::<SqlUuid, _>(invoice_id)
    .execute(conn)
    .await?;
    Ok(rows == 1)
}

pub async fn pushes(
    conn: &mut AsyncPgConnection,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Push>, Error> {
    diesel::sql_query(format!(
        "SELECT {PUSH} FROM billy.invoice_pushes WHERE ($1::text IS NULL OR status = $1) \
         AND ($2::uuid IS NULL OR invoice_id < $2) ORDER BY invoice_id DESC LIMIT $3"
    ))
    .bind::<Nullable<Text>, _>(status)
    .bind::<Nullable<SqlUuid>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Audit {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub operation: String,
    #[diesel(sql_type = Text)]
    pub method: String,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Integer)]
    pub status: i32,
    #[diesel(sql_type = Integer)]
    pub duration_ms: i32,
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub error_code: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
}

pub async fn audit(
    conn: &mut AsyncPgConnection,
    status: Option<i32>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Audit>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(
        "SELECT id, operation, method, path, status, duration_ms, attempt, error_code, at \
         FROM billy.audit_logs WHERE ($1::int IS NULL OR status = $1) \
           AND ($2::timestamptz IS NULL OR (at, id) < ($2, $3)) \
         ORDER BY at DESC, id DESC LIMIT $4",
    )
    .bind::<Nullable<Integer>, _>(status)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Usage {
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = Integer)]
    pub calls: i32,
    #[diesel(sql_type = Integer)]
    pub errors: i32,
    #[diesel(sql_type = Integer)]
    pub rate_limited: i32,
    #[diesel(sql_type = BigInt)]
    pub total_ms: i64,
}

/// The last 31 days' usage, newest first.
pub async fn usage(conn: &mut AsyncPgConnection) -> Result<Vec<Usage>, Error> {
    diesel::sql_query(
        "SELECT day, calls, errors, rate_limited, total_ms FROM billy.usage_metrics \
         WHERE day > current_date - 31 ORDER BY day DESC",
    )
    .load(conn)
    .await
}

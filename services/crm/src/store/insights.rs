//! Customers, their interactions and behaviour patterns. Numeric columns travel as float8.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{Double, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Customer {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = Text)]
    pub external_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub first_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub segment: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub metadata: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub first_seen_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_seen_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    pub interaction_count: i32,
    #[diesel(sql_type = Nullable<Double>)]
    pub average_sentiment: Option<f64>,
}

const CUSTOMER: &str = "id, cvr, external_id, email, first_name, last_name, segment, metadata, \
    first_seen_at, last_seen_at, interaction_count, average_sentiment::float8 AS average_sentiment";

pub struct CustomerFields<'a> {
    pub cvr: Option<&'a str>,
    pub email: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub segment: Option<&'a str>,
    pub metadata: &'a serde_json::Value,
}

/// Creates or updates a customer by the organization's own id for it; `(customer, created)`.
pub async fn upsert_customer(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    external_id: &str,
    fields: CustomerFields<'_>,
) -> Result<(Customer, bool), Error> {
    #[derive(QueryableByName)]
    struct Upserted {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        created: bool,
    }
    let sql = format!(
        "INSERT INTO customers (id, org_id, external_id, cvr, email, first_name, last_name, segment, \
         metadata, first_seen_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now()) \
         ON CONFLICT (org_id, external_id) DO UPDATE SET cvr = excluded.cvr, email = excluded.email, \
         first_name = excluded.first_name, last_name = excluded.last_name, segment = excluded.segment, \
         metadata = excluded.metadata, updated_at = now() \
         RETURNING {CUSTOMER}, (xmax = 0) AS created"
    );
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(embed)]
        customer: Customer,
        #[diesel(embed)]
        upserted: Upserted,
    }
    let row: Row = diesel::sql_query(sql)
        .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
        .bind::<diesel::sql_types::Uuid, _>(org_id)
        .bind::<Text, _>(external_id)
        .bind::<Nullable<Text>, _>(fields.cvr)
        .bind::<Nullable<Text>, _>(fields.email)
        .bind::<Nullable<Text>, _>(fields.first_name)
        .bind::<Nullable<Text>, _>(fields.last_name)
        .bind::<Nullable<Text>, _>(fields.segment)
        .bind::<Jsonb, _>(fields.metadata)
        .get_result(conn)
        .await?;
    // What was recorded about the customer goes with it to its company (whose grants then
    // decide who reads it), in the same transaction.
    for table in ["customer_interactions", "behavior_patterns"] {
        diesel::sql_query(format!(
            "UPDATE {table} SET cvr = $2 WHERE customer_id = $1 AND cvr IS DISTINCT FROM $2"
        ))
        .bind::<diesel::sql_types::Uuid, _>(row.customer.id)
        .bind::<Nullable<Text>, _>(row.customer.cvr.as_deref())
        .execute(conn)
        .await?;
    }
    Ok((row.customer, row.upserted.created))
}

pub async fn customer(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    external_id: &str,
) -> Result<Customer, Error> {
    diesel::sql_query(format!(
        "SELECT {CUSTOMER} FROM customers WHERE org_id = $1 AND external_id = $2"
    ))
    .bind::<diesel::sql_types::Uuid, _>(org_id)
    .bind::<Text, _>(external_id)
    .get_result(conn)
    .await
}

pub async fn customers(
    conn: &mut AsyncPgConnection,
    segment: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Customer>, Error> {
    diesel::sql_query(format!(
        "SELECT {CUSTOMER} FROM customers WHERE ($1::text IS NULL OR segment = $1) \
         AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
    ))
    .bind::<Nullable<Text>, _>(segment)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(after)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Interaction {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub timestamp: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub content: Option<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub sentiment: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<Double>)]
    pub sentiment_confidence: Option<f64>,
    #[diesel(sql_type = Jsonb)]
    pub metadata: serde_json::Value,
}

const INTERACTION: &str = "id, customer_id, cvr, \"timestamp\", channel, event_type, content, \
    sentiment, sentiment_confidence::float8 AS sentiment_confidence, metadata";

pub struct NewInteraction<'a> {
    pub timestamp: DateTime<Utc>,
    pub channel: &'a str,
    pub event_type: &'a str,
    pub content: Option<&'a str>,
    pub sentiment: Option<&'a serde_json::Value>,
    /// The sentiment score in [-1, 1], folded into the customer's average.
    pub score: Option<f64>,
    pub sentiment_confidence: Option<f64>,
    pub metadata: &'a serde_json::Value,
}

/// Records an interaction and updates the customer's counters in the same transaction.
pub async fn record_interaction(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    customer: &Customer,
    new: NewInteraction<'_>,
) -> Result<Interaction, Error> {
    let interaction: Interaction = diesel::sql_query(format!(
        "INSERT INTO customer_interactions (id, customer_id, org_id, cvr, \"timestamp\", channel, \
         event_type, content, sentiment, sentiment_confidence, metadata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {INTERACTION}"
    ))
    .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
    .bind::<diesel::sql_types::Uuid, _>(customer.id)
    .bind::<diesel::sql_types::Uuid, _>(org_id)
    .bind::<Nullable<Text>, _>(customer.cvr.as_deref())
    .bind::<Timestamptz, _>(new.timestamp)
    .bind::<Text, _>(new.channel)
    .bind::<Text, _>(new.event_type)
    .bind::<Nullable<Text>, _>(new.content)
    .bind::<Nullable<Jsonb>, _>(new.sentiment)
    .bind::<Nullable<Double>, _>(new.sentiment_confidence)
    .bind::<Jsonb, _>(new.metadata)
    .get_result(conn)
    .await?;
    diesel::sql_query(
        "UPDATE customers SET interaction_count = interaction_count + 1, \
         first_seen_at = least(first_seen_at, $2), last_seen_at = greatest(last_seen_at, $2), \
         average_sentiment = CASE WHEN $3::float8 IS NULL THEN average_sentiment \
             ELSE round(((coalesce(average_sentiment, 0) * scored + $3) / (scored + 1))::numeric, 4) END, \
         updated_at = now() \
         FROM (SELECT count(*) - 1 AS scored FROM customer_interactions \
               WHERE customer_id = $1 AND sentiment ? 'score') s \
         WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(customer.id)
    .bind::<Timestamptz, _>(new.timestamp)
    .bind::<Nullable<Double>, _>(new.score)
    .execute(conn)
    .await?;
    Ok(interaction)
}

#[derive(Debug, Default)]
pub struct InteractionFilter {
    pub q: Option<String>,
    pub channel: Option<String>,
    pub customer_id: Option<Uuid>,
    pub metadata: Option<serde_json::Value>,
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Interactions visible to the caller, newest first. `q` matches Danish or English word forms;
/// `metadata` is JSON containment (served by the GIN index).
pub async fn interactions(
    conn: &mut AsyncPgConnection,
    filter: InteractionFilter,
) -> Result<Vec<Interaction>, Error> {
    let (before_at, before_id) = filter.before.unzip();
    diesel::sql_query(format!(
        "SELECT {INTERACTION} FROM customer_interactions \
         WHERE ($1::text IS NULL OR search @@ (websearch_to_tsquery('danish', $1) \
                                               || websearch_to_tsquery('english', $1))) \
           AND ($2::text IS NULL OR channel = $2) \
           AND ($3::uuid IS NULL OR customer_id = $3) \
           AND ($4::jsonb IS NULL OR metadata @> $4) \
           AND ($5::timestamptz IS NULL OR (\"timestamp\", id) < ($5, $6)) \
         ORDER BY \"timestamp\" DESC, id DESC LIMIT $7"
    ))
    .bind::<Nullable<Text>, _>(filter.q)
    .bind::<Nullable<Text>, _>(filter.channel)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(filter.customer_id)
    .bind::<Nullable<Jsonb>, _>(filter.metadata)
    .bind::<Nullable<Timestamptz>, _>(before_at)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(before_id)
    .bind::<diesel::sql_types::BigInt, _>(filter.limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Pattern {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub pattern_type: String,
    #[diesel(sql_type = Double)]
    pub confidence: f64,
    #[diesel(sql_type = Integer)]
    pub frequency: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub description: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub metadata: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub detected_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub valid_until: Option<DateTime<Utc>>,
}

const PATTERN: &str = "id, pattern_type, confidence::float8 AS confidence, frequency, description, \
    metadata, detected_at, valid_until";

pub struct NewPattern<'a> {
    pub pattern_type: &'a str,
    pub confidence: f64,
    pub frequency: i32,
    pub description: Option<&'a str>,
    pub metadata: &'a serde_json::Value,
    pub detected_at: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
}

pub async fn record_pattern(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    customer: &Customer,
    new: NewPattern<'_>,
) -> Result<Pattern, Error> {
    diesel::sql_query(format!(
        "INSERT INTO behavior_patterns (id, customer_id, org_id, cvr, pattern_type, confidence, \
         frequency, description, metadata, detected_at, valid_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {PATTERN}"
    ))
    .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
    .bind::<diesel::sql_types::Uuid, _>(customer.id)
    .bind::<diesel::sql_types::Uuid, _>(org_id)
    .bind::<Nullable<Text>, _>(customer.cvr.as_deref())
    .bind::<Text, _>(new.pattern_type)
    .bind::<Double, _>(new.confidence)
    .bind::<Integer, _>(new.frequency)
    .bind::<Nullable<Text>, _>(new.description)
    .bind::<Jsonb, _>(new.metadata)
    .bind::<Timestamptz, _>(new.detected_at)
    .bind::<Nullable<Timestamptz>, _>(new.valid_until)
    .get_result(conn)
    .await
}

pub async fn patterns(
    conn: &mut AsyncPgConnection,
    customer_id: Uuid,
) -> Result<Vec<Pattern>, Error> {
    diesel::sql_query(format!(
        "SELECT {PATTERN} FROM behavior_patterns WHERE customer_id = $1 ORDER BY detected_at DESC"
    ))
    .bind::<diesel::sql_types::Uuid, _>(customer_id)
    .load(conn)
    .await
}

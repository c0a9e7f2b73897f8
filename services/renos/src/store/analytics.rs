//! Competitor prices and the figures of the business.

use chrono::NaiveDate;
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;

pub struct NewCompetitorPrice<'a> {
    pub competitor: &'a str,
    pub service_code: &'a str,
    pub pricing: &'a str,
    pub unit_price_ore: i64,
    pub observed_at: NaiveDate,
    pub source: &'a str,
}

pub async fn record_competitor_price(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    new: NewCompetitorPrice<'_>,
) -> Result<Uuid, Error> {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO renos.competitor_pricing (id, org_id, competitor, service_code, pricing, \
         unit_price_ore, observed_at, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(new.competitor)
    .bind::<Text, _>(new.service_code)
    .bind::<Text, _>(new.pricing)
    .bind::<BigInt, _>(new.unit_price_ore)
    .bind::<Date, _>(new.observed_at)
    .bind::<Text, _>(new.source)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Where our price of each service stands against competitors' prices of the same pricing
/// model seen in the last year (their latest observation each).
#[derive(Debug, Clone, QueryableByName)]
pub struct PricePosition {
    #[diesel(sql_type = Text)]
    pub service_code: String,
    #[diesel(sql_type = Text)]
    pub pricing: String,
    #[diesel(sql_type = BigInt)]
    pub our_unit_price_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub competitors: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub min_ore: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_ore: Option<f64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub max_ore: Option<i64>,
    /// Our price above (+) or below (−) their average, in percent.
    #[diesel(sql_type = Nullable<Double>)]
    pub vs_average_percent: Option<f64>,
}

pub async fn price_positions(conn: &mut AsyncPgConnection) -> Result<Vec<PricePosition>, Error> {
    diesel::sql_query(
        "WITH latest AS (SELECT DISTINCT ON (competitor, service_code, pricing) * \
                         FROM renos.competitor_pricing WHERE observed_at > current_date - 365 \
                         ORDER BY competitor, service_code, pricing, observed_at DESC) \
         SELECT s.code AS service_code, s.pricing, s.unit_price_ore AS our_unit_price_ore, \
                count(l.id) AS competitors, min(l.unit_price_ore) AS min_ore, \
                avg(l.unit_price_ore)::float8 AS avg_ore, max(l.unit_price_ore) AS max_ore, \
                round(((s.unit_price_ore / avg(l.unit_price_ore) - 1) * 100)::numeric, 1)::float8 \
                  AS vs_average_percent \
         FROM renos.services s LEFT JOIN latest l \
           ON l.service_code = s.code AND l.pricing = s.pricing AND l.org_id = s.org_id \
         WHERE s.active GROUP BY s.id ORDER BY s.code",
    )
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Revenue {
    #[diesel(sql_type = Text)]
    pub month: String,
    #[diesel(sql_type = BigInt)]
    pub invoices: i64,
    #[diesel(sql_type = BigInt)]
    pub net_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub labour_ore: i64,
}

/// Issued (and paid) invoices per month of issue, in Copenhagen.
pub async fn revenue(
    conn: &mut AsyncPgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Revenue>, Error> {
    diesel::sql_query(
        "SELECT to_char(issued_at AT TIME ZONE 'Europe/Copenhagen', 'YYYY-MM') AS month, \
         count(*) AS invoices, sum(net_ore)::bigint AS net_ore, sum(labour_ore)::bigint AS labour_ore \
         FROM renos.invoices WHERE status IN ('issued', 'paid') \
         AND (issued_at AT TIME ZONE 'Europe/Copenhagen')::date BETWEEN $1 AND $2 \
         GROUP BY 1 ORDER BY 1",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Work {
    #[diesel(sql_type = BigInt)]
    pub scheduled: i64,
    #[diesel(sql_type = BigInt)]
    pub completed: i64,
    #[diesel(sql_type = BigInt)]
    pub cancelled: i64,
    #[diesel(sql_type = Double)]
    pub booked_hours: f64,
    #[diesel(sql_type = Double)]
    pub worked_hours: f64,
    #[diesel(sql_type = BigInt)]
    pub cleaners: i64,
    /// Weekdays in the period.
    #[diesel(sql_type = BigInt)]
    pub weekdays: i64,
}

pub async fn work(
    conn: &mut AsyncPgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Work, Error> {
    diesel::sql_query(
        "WITH b AS (SELECT * FROM renos.bookings \
                    WHERE (starts_at AT TIME ZONE 'Europe/Copenhagen')::date BETWEEN $1 AND $2) \
         SELECT count(*) FILTER (WHERE status = 'scheduled') AS scheduled, \
                count(*) FILTER (WHERE status = 'completed') AS completed, \
                count(*) FILTER (WHERE status = 'cancelled') AS cancelled, \
                coalesce(sum(extract(epoch FROM ends_at - starts_at) / 3600) \
                  FILTER (WHERE status <> 'cancelled'), 0)::float8 AS booked_hours, \
                coalesce((SELECT sum(e.duration_minutes) / 60.0 FROM renos.task_executions e \
                          WHERE e.booking_id IN (SELECT id FROM b)), 0)::float8 AS worked_hours, \
                count(DISTINCT cleaner_id) AS cleaners, \
                (SELECT count(*) FROM generate_series($1::date, $2::date, interval '1 day') d \
                 WHERE extract(isodow FROM d) < 6) AS weekdays \
         FROM b",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .get_result(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Funnel {
    #[diesel(sql_type = BigInt)]
    pub leads: i64,
    #[diesel(sql_type = BigInt)]
    pub converted: i64,
    #[diesel(sql_type = BigInt)]
    pub won: i64,
    #[diesel(sql_type = BigInt)]
    pub lost: i64,
}

/// Leads that arrived in the period, and how far they got.
pub async fn funnel(
    conn: &mut AsyncPgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Funnel, Error> {
    diesel::sql_query(
        "SELECT count(*) AS leads, count(customer_id) AS converted, \
                count(*) FILTER (WHERE status = 'won') AS won, \
                count(*) FILTER (WHERE status = 'lost') AS lost \
         FROM renos.leads WHERE (created_at AT TIME ZONE 'Europe/Copenhagen')::date BETWEEN $1 AND $2",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .get_result(conn)
    .await
}

//! The services catalogue, price calculations and quotes.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Bool, Date, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;
use crate::domain::pricing::{Calculation, Parameters};
use crate::events::Scope;

#[derive(Debug, Clone, QueryableByName)]
pub struct Service {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub pricing: String,
    #[diesel(sql_type = BigInt)]
    pub unit_price_ore: i64,
    #[diesel(sql_type = Jsonb)]
    pub extras: serde_json::Value,
    #[diesel(sql_type = Bool)]
    pub active: bool,
}

const SERVICE: &str = "id, code, name, pricing, unit_price_ore, extras, active";

pub async fn create_service(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    code: &str,
    name: &str,
    pricing: &str,
    unit_price_ore: i64,
    extras: serde_json::Value,
) -> Result<Service, Error> {
    diesel::sql_query(format!(
        "INSERT INTO renos.services (id, org_id, code, name, pricing, unit_price_ore, extras) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {SERVICE}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(code)
    .bind::<Text, _>(name)
    .bind::<Text, _>(pricing)
    .bind::<BigInt, _>(unit_price_ore)
    .bind::<Jsonb, _>(extras)
    .get_result(conn)
    .await
}

pub async fn services(conn: &mut AsyncPgConnection) -> Result<Vec<Service>, Error> {
    diesel::sql_query(format!(
        "SELECT {SERVICE} FROM renos.services ORDER BY code"
    ))
    .load(conn)
    .await
}

/// An active service of the tenant's organization, by code.
pub async fn service_by_code(conn: &mut AsyncPgConnection, code: &str) -> Result<Service, Error> {
    diesel::sql_query(format!(
        "SELECT {SERVICE} FROM renos.services WHERE code = $1 AND active"
    ))
    .bind::<Text, _>(code)
    .get_result(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct StoredCalculation {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub customer_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub lead_id: Option<Uuid>,
    #[diesel(sql_type = SqlUuid)]
    pub service_id: Uuid,
    #[diesel(sql_type = Text)]
    pub logic_version: String,
    #[diesel(sql_type = Jsonb)]
    pub calculation_parameters: serde_json::Value,
    #[diesel(sql_type = Jsonb)]
    pub data_sources: serde_json::Value,
    #[diesel(sql_type = Jsonb)]
    pub partial_results: serde_json::Value,
    #[diesel(sql_type = BigInt)]
    pub net_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub vat_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub final_price: i64,
    #[diesel(sql_type = BigInt)]
    pub labour_ore: i64,
    #[diesel(sql_type = Timestamptz)]
    pub calculation_date: DateTime<Utc>,
}

const CALCULATION: &str = "id, cvr, customer_id, lead_id, service_id, logic_version, \
     calculation_parameters, data_sources, partial_results, net_ore, vat_ore, final_price, \
     labour_ore, calculation_date";

pub struct NewCalculation<'a> {
    pub scope: &'a Scope,
    pub customer_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub service_id: Uuid,
    pub parameters: &'a Parameters,
    pub data_sources: serde_json::Value,
    pub result: &'a Calculation,
    pub by: Uuid,
}

pub async fn store_calculation(
    conn: &mut AsyncPgConnection,
    new: NewCalculation<'_>,
) -> Result<StoredCalculation, Error> {
    let parameters = serde_json::to_value(new.parameters)
        .map_err(|err| Error::SerializationError(Box::new(err)))?;
    let steps = serde_json::to_value(&new.result.steps)
        .map_err(|err| Error::SerializationError(Box::new(err)))?;
    let stored: StoredCalculation = diesel::sql_query(format!(
        "INSERT INTO renos.price_calculations (id, org_id, cvr, customer_id, lead_id, service_id, \
         logic_version, calculation_parameters, data_sources, partial_results, net_ore, vat_ore, \
         final_price, labour_ore, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         RETURNING {CALCULATION}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.scope.org_id)
    .bind::<Nullable<Text>, _>(new.scope.cvr.as_deref())
    .bind::<Nullable<SqlUuid>, _>(new.customer_id)
    .bind::<Nullable<SqlUuid>, _>(new.lead_id)
    .bind::<SqlUuid, _>(new.service_id)
    .bind::<Text, _>(crate::domain::pricing::LOGIC_VERSION)
    .bind::<Jsonb, _>(parameters)
    .bind::<Jsonb, _>(new.data_sources)
    .bind::<Jsonb, _>(steps)
    .bind::<BigInt, _>(new.result.net_ore)
    .bind::<BigInt, _>(new.result.vat_ore)
    .bind::<BigInt, _>(new.result.total_ore)
    .bind::<BigInt, _>(new.result.labour_ore)
    .bind::<SqlUuid, _>(new.by)
    .get_result(conn)
    .await?;
    announce_calculation(conn, new.scope, &stored, new.parameters, new.result).await?;
    Ok(stored)
}

/// Announces a calculation with everything it was made of, so readers can explain it.
async fn announce_calculation(
    conn: &mut AsyncPgConnection,
    scope: &Scope,
    stored: &StoredCalculation,
    parameters: &Parameters,
    result: &Calculation,
) -> Result<(), Error> {
    use tekup_proto::renos::v1::{CalculationExtra, CalculationStep, PriceCalculated};
    let id_text = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    crate::events::publish(
        conn,
        "price_calculation",
        scope,
        stored.id,
        &PriceCalculated {
            calculation_id: stored.id.to_string(),
            org_id: scope.org_id.to_string(),
            cvr: stored.cvr.clone().unwrap_or_default(),
            customer_id: id_text(stored.customer_id),
            lead_id: id_text(stored.lead_id),
            logic_version: stored.logic_version.clone(),
            service_code: parameters.service_code.clone(),
            pricing: parameters.pricing.as_str().to_owned(),
            unit_price_ore: parameters.unit_price_ore,
            area_m2: parameters.area_m2,
            minutes: parameters.minutes,
            cleaners: parameters.cleaners,
            frequency: parameters.frequency.as_str().to_owned(),
            extras: parameters
                .extras
                .iter()
                .map(|e| CalculationExtra {
                    code: e.code.clone(),
                    name: e.name.clone(),
                    price_ore: e.price_ore,
                    labour: e.labour,
                })
                .collect(),
            steps: result
                .steps
                .iter()
                .map(|s| CalculationStep {
                    step: s.step.clone(),
                    explanation: s.explanation.clone(),
                    value_ore: s.value_ore,
                })
                .collect(),
            net_ore: result.net_ore,
            vat_ore: result.vat_ore,
            total_ore: result.total_ore,
            labour_ore: result.labour_ore,
            calculated_at: stored.calculation_date.to_rfc3339(),
        },
    )
    .await?;
    Ok(())
}

pub async fn calculation(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<StoredCalculation, Error> {
    diesel::sql_query(format!(
        "SELECT {CALCULATION} FROM renos.price_calculations WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Quote {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub price_calculation_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub lead_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Date)]
    pub valid_until: NaiveDate,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub sent_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub decided_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    pub total_ore: i64,
}

const QUOTE: &str = "q.id, q.org_id, q.cvr, q.customer_id, q.price_calculation_id, q.lead_id, \
     q.status, q.valid_until, q.sent_at, q.decided_at, \
     (SELECT final_price FROM renos.price_calculations c WHERE c.id = q.price_calculation_id) AS total_ore";

pub async fn create_quote(
    conn: &mut AsyncPgConnection,
    calculation: &StoredCalculation,
    scope: &Scope,
    customer_id: Uuid,
    valid_until: NaiveDate,
    by: Uuid,
) -> Result<Quote, Error> {
    let quote: Quote = diesel::sql_query(format!(
        "WITH q AS (INSERT INTO renos.quotes (id, org_id, cvr, customer_id, price_calculation_id, \
         lead_id, valid_until, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *) \
         SELECT {QUOTE} FROM q"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(scope.org_id)
    .bind::<Nullable<Text>, _>(scope.cvr.as_deref())
    .bind::<SqlUuid, _>(customer_id)
    .bind::<SqlUuid, _>(calculation.id)
    .bind::<Nullable<SqlUuid>, _>(calculation.lead_id)
    .bind::<Date, _>(valid_until)
    .bind::<SqlUuid, _>(by)
    .get_result(conn)
    .await?;
    announce_quote(conn, &quote).await?;
    Ok(quote)
}

pub async fn find_quote(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Quote, Error> {
    diesel::sql_query(format!(
        "SELECT {QUOTE} FROM renos.quotes q WHERE q.id = $1 FOR UPDATE OF q"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

/// Moves a quote to `status` (sent, accepted, declined) and announces it.
pub async fn set_quote_status(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: &str,
) -> Result<Quote, Error> {
    let quote: Quote = diesel::sql_query(format!(
        "WITH q AS (UPDATE renos.quotes SET status = $2, \
           sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END, \
           decided_at = CASE WHEN $2 IN ('accepted', 'declined') THEN now() ELSE decided_at END \
         WHERE id = $1 RETURNING *) SELECT {QUOTE} FROM q"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(status)
    .get_result(conn)
    .await?;
    if status == "accepted"
        && let Some(lead) = quote.lead_id
    {
        super::customers::set_lead(conn, quote.org_id, lead, "won", None).await?;
    }
    announce_quote(conn, &quote).await?;
    Ok(quote)
}

async fn announce_quote(conn: &mut AsyncPgConnection, quote: &Quote) -> Result<(), Error> {
    crate::events::publish(
        conn,
        "quote",
        &Scope {
            org_id: quote.org_id,
            cvr: quote.cvr.clone(),
        },
        quote.id,
        &tekup_proto::renos::v1::QuoteChanged {
            quote_id: quote.id.to_string(),
            org_id: quote.org_id.to_string(),
            cvr: quote.cvr.clone().unwrap_or_default(),
            customer_id: quote.customer_id.to_string(),
            status: quote.status.clone(),
            total_ore: quote.total_ore,
            price_calculation_id: quote.price_calculation_id.to_string(),
            valid_until: quote.valid_until.to_string(),
        },
    )
    .await?;
    Ok(())
}

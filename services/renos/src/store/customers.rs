//! Customers and leads.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Customer {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub phone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub street: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub zipcode: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub city: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    pub labels: Vec<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const CUSTOMER: &str =
    "id, org_id, cvr, kind, name, email, phone, street, zipcode, city, labels, created_at";

pub struct NewCustomer<'a> {
    pub cvr: Option<&'a str>,
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub street: Option<&'a str>,
    pub zipcode: Option<&'a str>,
    pub city: Option<&'a str>,
    pub labels: &'a [String],
    pub by: Uuid,
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    new: NewCustomer<'_>,
) -> Result<Customer, Error> {
    let customer: Customer = diesel::sql_query(format!(
        "INSERT INTO renos.customers (id, org_id, cvr, kind, name, email, phone, street, zipcode, \
         city, labels, created_by) VALUES ($1, $2, $3, CASE WHEN $3 IS NULL THEN 'private' \
         ELSE 'business' END, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {CUSTOMER}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Nullable<Text>, _>(new.cvr)
    .bind::<Text, _>(new.name)
    .bind::<Nullable<Text>, _>(new.email)
    .bind::<Nullable<Text>, _>(new.phone)
    .bind::<Nullable<Text>, _>(new.street)
    .bind::<Nullable<Text>, _>(new.zipcode)
    .bind::<Nullable<Text>, _>(new.city)
    .bind::<Array<Text>, _>(new.labels)
    .bind::<SqlUuid, _>(new.by)
    .get_result(conn)
    .await?;
    crate::events::publish(
        conn,
        "customer",
        &customer_scope(&customer),
        customer.id,
        &tekup_proto::renos::v1::CustomerCreated {
            customer_id: customer.id.to_string(),
            org_id: org_id.to_string(),
            cvr: customer.cvr.clone().unwrap_or_default(),
            kind: customer.kind.clone(),
            name: customer.name.clone(),
        },
    )
    .await?;
    Ok(customer)
}

/// The organization and CVR an event about the customer is filed under.
pub fn customer_scope(c: &Customer) -> crate::events::Scope {
    crate::events::Scope {
        org_id: c.org_id,
        cvr: c.cvr.clone(),
    }
}

/// The organization's business customer with this CVR, if there is one (there is at most one).
pub async fn find_business(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
) -> Result<Option<Customer>, Error> {
    use diesel::OptionalExtension;
    diesel::sql_query(format!(
        "SELECT {CUSTOMER} FROM renos.customers WHERE org_id = $1 AND cvr = $2"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .get_result(conn)
    .await
    .optional()
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Customer, Error> {
    diesel::sql_query(format!(
        "SELECT {CUSTOMER} FROM renos.customers WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

/// The organization's customers the user may read, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Customer>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {CUSTOMER} FROM renos.customers WHERE org_id = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Lead {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub phone: Option<String>,
    #[diesel(sql_type = Text)]
    pub message: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub score: i32,
    #[diesel(sql_type = Jsonb)]
    pub score_reasons: serde_json::Value,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub customer_id: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const LEAD: &str = "id, cvr, source, name, email, phone, message, status, score, score_reasons, \
     customer_id, created_at";

pub struct NewLead<'a> {
    pub cvr: Option<&'a str>,
    pub source: &'a str,
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub message: &'a str,
    pub score: i32,
    pub score_reasons: serde_json::Value,
}

pub async fn create_lead(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    new: NewLead<'_>,
) -> Result<Lead, Error> {
    let lead: Lead = diesel::sql_query(format!(
        "INSERT INTO renos.leads (id, org_id, cvr, source, name, email, phone, message, score, \
         score_reasons) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {LEAD}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Nullable<Text>, _>(new.cvr)
    .bind::<Text, _>(new.source)
    .bind::<Text, _>(new.name)
    .bind::<Nullable<Text>, _>(new.email)
    .bind::<Nullable<Text>, _>(new.phone)
    .bind::<Text, _>(new.message)
    .bind::<Integer, _>(new.score)
    .bind::<Jsonb, _>(new.score_reasons)
    .get_result(conn)
    .await?;
    announce_lead(
        conn,
        org_id,
        &lead,
        &tekup_proto::renos::v1::LeadCreated {
            lead_id: lead.id.to_string(),
            org_id: org_id.to_string(),
            source: lead.source.clone(),
            cvr: lead.cvr.clone().unwrap_or_default(),
        },
    )
    .await?;
    Ok(lead)
}

/// Announces `payload` about `lead` on renos's lead topic, in the caller's transaction.
async fn announce_lead<M: tekup_proto::Message + tekup_proto::Name>(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    lead: &Lead,
    payload: &M,
) -> Result<(), Error> {
    let scope = crate::events::Scope {
        org_id,
        cvr: lead.cvr.clone(),
    };
    crate::events::publish(conn, "lead", &scope, lead.id, payload).await?;
    Ok(())
}

pub async fn find_lead(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Lead, Error> {
    diesel::sql_query(format!(
        "SELECT {LEAD} FROM renos.leads WHERE id = $1 FOR UPDATE"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

/// Sets a lead's status (and the customer it became) and announces the change; a lead that
/// has them already is left as it is, unannounced.
pub async fn set_lead(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    id: Uuid,
    status: &str,
    customer_id: Option<Uuid>,
) -> Result<Lead, Error> {
    use diesel::OptionalExtension;
    let changed: Option<Lead> = diesel::sql_query(format!(
        "UPDATE renos.leads SET status = $2, customer_id = coalesce($3, customer_id), \
         updated_at = now() WHERE id = $1 AND (status IS DISTINCT FROM $2 \
           OR ($3::uuid IS NOT NULL AND customer_id IS DISTINCT FROM $3)) RETURNING {LEAD}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(status)
    .bind::<Nullable<SqlUuid>, _>(customer_id)
    .get_result(conn)
    .await
    .optional()?;
    let Some(lead) = changed else {
        return find_lead(conn, id).await;
    };
    announce_lead(
        conn,
        org_id,
        &lead,
        &tekup_proto::renos::v1::LeadStatusChanged {
            lead_id: lead.id.to_string(),
            org_id: org_id.to_string(),
            cvr: lead.cvr.clone().unwrap_or_default(),
            status: lead.status.clone(),
            customer_id: lead.customer_id.map(|c| c.to_string()).unwrap_or_default(),
        },
    )
    .await?;
    Ok(lead)
}

/// The organization's leads the user may read, best first within the newest.
pub async fn leads(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    status: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Lead>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {LEAD} FROM renos.leads WHERE org_id = $1 AND ($2::text IS NULL OR status = $2) \
         AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Nullable<Text>, _>(status)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

//! Invoices from completed bookings, numbered without gaps per organization when issued.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;
use crate::domain::pricing::VAT_PERCENT;
use crate::events::Scope;
use crate::store::customers::Customer;

#[derive(Debug, Clone, QueryableByName)]
pub struct Invoice {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = Nullable<Integer>)]
    pub number: Option<i32>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub net_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub vat_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub total_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub labour_ore: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub issued_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Date>)]
    pub due_date: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub paid_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub billy_id: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub synced_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub billy_sync_error: Option<String>,
}

const INVOICE: &str = "id, org_id, cvr, customer_id, number, status, net_ore, vat_ore, total_ore, \
     labour_ore, issued_at, due_date, paid_at, billy_id, synced_at, billy_sync_error";

#[derive(Debug, Clone, QueryableByName)]
pub struct Line {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub booking_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub description: String,
    #[diesel(sql_type = Integer)]
    pub quantity: i32,
    #[diesel(sql_type = BigInt)]
    pub unit_price_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub net_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub labour_ore: i64,
}

/// A draft invoice with a line per completed, not yet invoiced booking of the customer;
/// `None` when there is nothing to invoice.
pub async fn draft(
    conn: &mut AsyncPgConnection,
    customer: &Customer,
    by: Uuid,
) -> Result<Option<Invoice>, Error> {
    let id = Uuid::now_v7();
    let lines = diesel::sql_query(
        "WITH billable AS (SELECT b.id, b.price_ore, b.labour_ore, \
             s.name || ' ' || to_char(b.starts_at AT TIME ZONE 'Europe/Copenhagen', 'DD-MM-YYYY') AS description \
           FROM renos.bookings b JOIN renos.services s ON s.id = b.service_id \
           WHERE b.customer_id = $2 AND b.status = 'completed' AND b.invoice_id IS NULL \
           ORDER BY b.starts_at FOR UPDATE OF b), \
         invoice AS (INSERT INTO renos.invoices (id, org_id, cvr, customer_id, net_ore, vat_ore, \
             total_ore, labour_ore, created_by) \
           SELECT $1, $3, $4, $2, sum(price_ore), 0, sum(price_ore), sum(labour_ore), $5 \
           FROM billable HAVING count(*) > 0 RETURNING id) \
         INSERT INTO renos.invoice_line_items (id, org_id, cvr, invoice_id, booking_id, description, \
             quantity, unit_price_ore, net_ore, labour_ore) \
         SELECT uuidv7(), $3, $4, invoice.id, billable.id, billable.description, 1, \
             billable.price_ore, billable.price_ore, billable.labour_ore FROM billable, invoice",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(customer.id)
    .bind::<SqlUuid, _>(customer.org_id)
    .bind::<Nullable<Text>, _>(customer.cvr.as_deref())
    .bind::<SqlUuid, _>(by)
    .execute(conn)
    .await?;
    if lines == 0 {
        return Ok(None);
    }
    // VAT on the invoice's net total, rounded once.
    diesel::sql_query(
        "UPDATE renos.invoices SET vat_ore = round(net_ore * $2 / 100.0)::bigint, \
         total_ore = net_ore + round(net_ore * $2 / 100.0)::bigint WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(VAT_PERCENT)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "UPDATE renos.bookings SET invoice_id = $1 \
         WHERE id IN (SELECT booking_id FROM renos.invoice_line_items WHERE invoice_id = $1)",
    )
    .bind::<SqlUuid, _>(id)
    .execute(conn)
    .await?;
    Ok(Some(find(conn, id).await?))
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Invoice, Error> {
    diesel::sql_query(format!(
        "SELECT {INVOICE} FROM renos.invoices WHERE id = $1 FOR UPDATE"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

pub async fn lines(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Vec<Line>, Error> {
    diesel::sql_query(
        "SELECT l.booking_id, l.description, l.quantity, l.unit_price_ore, l.net_ore, l.labour_ore \
         FROM renos.invoice_line_items l LEFT JOIN renos.bookings b ON b.id = l.booking_id \
         WHERE l.invoice_id = $1 ORDER BY b.starts_at NULLS LAST, l.id",
    )
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await
}

/// Issues a draft: the organization's next number (a rolled-back issue returns it, so there
/// are no gaps), a due date, and `invoice.issued` for billy.
pub async fn issue(
    conn: &mut AsyncPgConnection,
    invoice: &Invoice,
    customer: &Customer,
    due_date: NaiveDate,
) -> Result<Invoice, Error> {
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = Integer)]
        last_number: i32,
    }
    let number: Number = diesel::sql_query(
        "INSERT INTO renos.invoice_counters AS c (org_id, last_number) VALUES ($1, 1) \
         ON CONFLICT (org_id) DO UPDATE SET last_number = c.last_number + 1 RETURNING last_number",
    )
    .bind::<SqlUuid, _>(invoice.org_id)
    .get_result(conn)
    .await?;
    let issued: Invoice = diesel::sql_query(format!(
        "UPDATE renos.invoices SET status = 'issued', number = $2, issued_at = now(), due_date = $3 \
         WHERE id = $1 RETURNING {INVOICE}"
    ))
    .bind::<SqlUuid, _>(invoice.id)
    .bind::<Integer, _>(number.last_number)
    .bind::<Date, _>(due_date)
    .get_result(conn)
    .await?;
    let lines = lines(conn, invoice.id).await?;
    crate::events::publish(
        conn,
        "invoice",
        &Scope {
            org_id: issued.org_id,
            cvr: issued.cvr.clone(),
        },
        issued.id,
        &tekup_proto::renos::v1::InvoiceIssued {
            invoice_id: issued.id.to_string(),
            org_id: issued.org_id.to_string(),
            cvr: issued.cvr.clone().unwrap_or_default(),
            customer_id: issued.customer_id.to_string(),
            number: number.last_number,
            net_ore: issued.net_ore,
            vat_ore: issued.vat_ore,
            total_ore: issued.total_ore,
            labour_ore: issued.labour_ore,
            issued_at: issued.issued_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            due_date: due_date.to_string(),
            customer_name: customer.name.clone(),
            customer_email: customer.email.clone().unwrap_or_default(),
            lines: lines
                .iter()
                .map(|l| tekup_proto::renos::v1::InvoiceLine {
                    description: l.description.clone(),
                    quantity: l.quantity,
                    unit_price_ore: l.unit_price_ore,
                    net_ore: l.net_ore,
                    labour_ore: l.labour_ore,
                })
                .collect(),
        },
    )
    .await?;
    Ok(issued)
}

/// Marks an issued invoice paid or cancelled; a cancelled draft releases its bookings.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    invoice: &Invoice,
    status: &str,
) -> Result<Invoice, Error> {
    let changed: Invoice = diesel::sql_query(format!(
        "UPDATE renos.invoices SET status = $2, \
         paid_at = CASE WHEN $2 = 'paid' THEN now() ELSE paid_at END WHERE id = $1 \
         RETURNING {INVOICE}"
    ))
    .bind::<SqlUuid, _>(invoice.id)
    .bind::<Text, _>(status)
    .get_result(conn)
    .await?;
    if status == "cancelled" && invoice.status == "draft" {
        diesel::sql_query("UPDATE renos.bookings SET invoice_id = NULL WHERE invoice_id = $1")
            .bind::<SqlUuid, _>(invoice.id)
            .execute(conn)
            .await?;
        diesel::sql_query("DELETE FROM renos.invoice_line_items WHERE invoice_id = $1")
            .bind::<SqlUuid, _>(invoice.id)
            .execute(conn)
            .await?;
    }
    if let Some(number) = changed.number {
        crate::events::publish(
            conn,
            "invoice",
            &Scope {
                org_id: changed.org_id,
                cvr: changed.cvr.clone(),
            },
            changed.id,
            &tekup_proto::renos::v1::InvoiceStatusChanged {
                invoice_id: changed.id.to_string(),
                org_id: changed.org_id.to_string(),
                cvr: changed.cvr.clone().unwrap_or_default(),
                number,
                status: status.to_owned(),
            },
        )
        .await?;
    }
    Ok(changed)
}

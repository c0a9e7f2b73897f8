//! Polling Billy.dk, which sends no webhooks: every connected organization's contacts,
//! products and invoices are listed (every page) into the caches; a record whose content hash
//! changed is announced — the synthetic webhooks `ContactChanged` and `InvoiceChanged`, and
//! `InvoiceSynced { paid: true }` when one of the platform's invoices became paid. Invoices are
//! read incrementally: from the newest entry date seen (less an overlap), or from the oldest
//! invoice still open, whichever is earlier, so a late payment is not missed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_proto::billy::v1::{ContactChanged, InvoiceChanged, InvoiceSynced};
use tekup_runtime::in_context;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::client::BillyError;
use crate::crypto::TokenCipher;
use crate::events::{publish, publish_all};
use crate::store::{self, CachedCustomer, CachedInvoice, Connection};
use crate::{Client, State, SyncConfig};

pub fn spawn(pool: Pool, state: &State, cipher: Arc<TokenCipher>) {
    let client = state.client.clone();
    let config = state.config.sync.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(config.interval_ms)).await;
            let connected = in_context!(&pool, Context::System, |conn| {
                Ok::<_, tekup_runtime::Problem>(store::connected(conn).await?)
            });
            let Ok(connected) = connected else {
                continue;
            };
            for connection in connected {
                if let Err(err) = sync(&pool, &client, &cipher, &config, &connection).await {
                    tracing::warn!(org = %connection.org_id, error = %err, "Billy.dk sync");
                }
            }
        }
    });
}

/// What one sync saw.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Outcome {
    pub invoices: usize,
    pub customers: usize,
    pub products: usize,
    /// Records new or changed since the previous sync (each announced).
    pub changed: usize,
}

fn hash(record: &Value) -> String {
    format!("{:x}", Sha256::digest(record.to_string().as_bytes()))
}

fn text<'a>(record: &'a Value, field: &str) -> Option<&'a str> {
    record
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn ore(record: &Value, field: &str) -> Option<i64> {
    record
        .get(field)
        .and_then(Value::as_f64)
        .map(|amount| (amount * 100.0).round() as i64)
}

fn date(record: &Value, field: &str) -> Option<NaiveDate> {
    text(record, field).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

/// Brings one organization's caches up to date; records the outcome on its connection.
pub async fn sync(
    pool: &Pool,
    client: &Client,
    cipher: &TokenCipher,
    config: &SyncConfig,
    connection: &Connection,
) -> Result<Outcome, BillyError> {
    let result = run(pool, client, cipher, config, connection).await;
    let org_id = connection.org_id;
    let (watermark, error) = match &result {
        Ok((_, watermark)) => (*watermark, None),
        Err(err) => (None, Some(err.to_string())),
    };
    in_context!(pool, Context::System, |conn| {
        Ok::<_, tekup_runtime::Problem>(
            store::synced(conn, org_id, watermark, error.as_deref()).await?,
        )
    })
    .map_err(BillyError::from)?;
    result.map(|(outcome, _)| outcome)
}

/// A contact's registration number as the grants name companies: a valid CVR as its 8 digits
/// (Billy.dk keeps what was typed, e.g. `DK 13 58 56 28`); anything else as typed, which
/// matches no grant, so that only administrators read such a contact.
fn registration(contact: &Value) -> Option<String> {
    let typed = text(contact, "registrationNo")?.trim();
    if typed.is_empty() {
        return None;
    }
    Some(
        tekup_types::Cvr::parse(typed)
            .map(|cvr| cvr.as_str().to_owned())
            .unwrap_or_else(|_| typed.to_owned()),
    )
}

/// Caches a chunk of contacts in one transaction (one statement for the rows, one for their
/// events) and announces each new or changed one; returns how many changed.
async fn cache_contacts(pool: &Pool, org_id: Uuid, chunk: &[Value]) -> Result<usize, BillyError> {
    let listed: Vec<(&Value, &str)> = chunk
        .iter()
        .filter_map(|contact| Some((contact, text(contact, "id")?)))
        .collect();
    let hashes: Vec<String> = listed.iter().map(|(contact, _)| hash(contact)).collect();
    let cvrs: Vec<Option<String>> = listed
        .iter()
        .map(|(contact, _)| registration(contact))
        .collect();
    let customers: Vec<CachedCustomer<'_>> = listed
        .iter()
        .zip(&hashes)
        .zip(&cvrs)
        .map(|(((contact, billy_id), hash), cvr)| CachedCustomer {
            billy_id,
            name: text(contact, "name").unwrap_or(""),
            cvr: cvr.as_deref(),
            email: contact
                .get("contactPersons")
                .and_then(Value::as_array)
                .and_then(|people| people.iter().find_map(|p| text(p, "email"))),
            hash,
            data: contact,
        })
        .collect();
    in_context!(pool, Context::System, |conn| {
        let mut changed: HashSet<String> = store::cache_customers(conn, org_id, &customers)
            .await?
            .into_iter()
            .collect();
        // Each changed contact announced once, as cached (its last listing), in Billy's order.
        let mut announced: Vec<&CachedCustomer<'_>> = customers
            .iter()
            .rev()
            .filter(|c| changed.remove(c.billy_id))
            .collect();
        announced.reverse();
        let payloads: Vec<ContactChanged> = announced
            .iter()
            .map(|c| ContactChanged {
                org_id: org_id.to_string(),
                billy_contact_id: c.billy_id.to_owned(),
                name: c.name.to_owned(),
                cvr: c.cvr.unwrap_or_default().to_owned(),
                email: c.email.unwrap_or_default().to_owned(),
            })
            .collect();
        let subjects: Vec<&str> = announced.iter().map(|c| c.billy_id).collect();
        publish_all(conn, "contact", org_id, &subjects, &payloads).await?;
        Ok::<_, tekup_runtime::Problem>(payloads.len())
    })
    .map_err(BillyError::from)
}

async fn run(
    pool: &Pool,
    client: &Client,
    cipher: &TokenCipher,
    config: &SyncConfig,
    connection: &Connection,
) -> Result<(Outcome, Option<NaiveDate>), BillyError> {
    let org_id = connection.org_id;
    let sealed = connection
        .sealed()
        .ok_or_else(|| BillyError::Internal(anyhow::anyhow!("not connected")))?;
    let token = cipher
        .open(org_id, &sealed)
        .map_err(|err| BillyError::Internal(anyhow::anyhow!("{err}")))?;
    let session = client.session(org_id, token);
    let mut outcome = Outcome::default();

    let contacts = session.list("contacts", &[]).await?;
    outcome.customers = contacts.len();
    // Cached in transactions of a few hundred: one per contact made a large organization's
    // sync take as many round trips as it has contacts.
    for chunk in contacts.chunks(250) {
        outcome.changed += cache_contacts(pool, org_id, chunk).await?;
    }

    let products = session.list("products", &[]).await?;
    outcome.products = products.len();
    for chunk in products.chunks(250) {
        let changed = in_context!(pool, Context::System, |conn| {
            let mut changed = 0;
            for product in chunk {
                let Some(billy_id) = text(product, "id") else {
                    continue;
                };
                let price = product
                    .get("prices")
                    .and_then(Value::as_array)
                    .and_then(|prices| prices.first())
                    .and_then(|p| ore(p, "unitPrice"));
                let cached = store::cache_product(
                    conn,
                    org_id,
                    billy_id,
                    text(product, "name").unwrap_or(""),
                    price,
                    &hash(product),
                    product,
                )
                .await?;
                changed += usize::from(cached);
            }
            Ok::<_, tekup_runtime::Problem>(changed)
        })
        .map_err(BillyError::from)?;
        outcome.changed += changed;
    }

    let oldest_open = in_context!(pool, Context::System, |conn| {
        Ok::<_, tekup_runtime::Problem>(store::oldest_open_invoice(conn, org_id).await?)
    })
    .map_err(BillyError::from)?;
    let from = [
        connection
            .invoice_watermark
            .map(|w| w - TimeDelta::days(config.overlap_days)),
        oldest_open,
    ]
    .into_iter()
    .flatten()
    .min();
    // The first sync reads everything.
    let filters: Vec<(&str, String)> = match (connection.invoice_watermark, from) {
        (Some(_), Some(from)) => vec![("entryDateGte", from.to_string())],
        _ => Vec::new(),
    };
    let invoices = session.list("invoices", &filters).await?;
    outcome.invoices = invoices.len();
    let mut newest: Option<NaiveDate> = None;
    for invoice in &invoices {
        let Some(billy_id) = text(invoice, "id") else {
            continue;
        };
        let entry = date(invoice, "entryDate");
        newest = newest.max(entry);
        let state = text(invoice, "state").unwrap_or("unknown");
        let is_paid = invoice
            .get("isPaid")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || state == "paid";
        let gross = ore(invoice, "grossAmount").unwrap_or(0);
        let external_id = text(invoice, "externalId");
        let ours = external_id.and_then(|id| Uuid::parse_str(id).ok());
        let invoice_no = invoice.get("invoiceNo").map(|n| match n {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let changed = in_context!(pool, Context::System, |conn| {
            let cached = store::cache_invoice(
                conn,
                CachedInvoice {
                    org_id,
                    billy_id,
                    invoice_no: invoice_no.as_deref(),
                    contact_id: text(invoice, "contactId"),
                    entry_date: entry,
                    due_date: date(invoice, "dueDate"),
                    state,
                    is_paid,
                    gross_ore: gross,
                    currency: text(invoice, "currencyId"),
                    external_id,
                    hash: &hash(invoice),
                    data: invoice,
                },
            )
            .await?;
            if cached.changed {
                publish(
                    conn,
                    "invoice",
                    org_id,
                    billy_id,
                    &InvoiceChanged {
                        org_id: org_id.to_string(),
                        billy_invoice_id: billy_id.to_owned(),
                        invoice_no: invoice_no.clone().unwrap_or_default(),
                        state: state.to_owned(),
                        paid: is_paid,
                        gross_ore: gross,
                        external_id: external_id.unwrap_or_default().to_owned(),
                        contact_id: text(invoice, "contactId").unwrap_or_default().to_owned(),
                    },
                )
                .await?;
                if let Some(ours) = ours
                    && is_paid
                    && !cached.was_paid
                {
                    publish(
                        conn,
                        "invoice",
                        org_id,
                        &ours.to_string(),
                        &InvoiceSynced {
                            invoice_id: ours.to_string(),
                            org_id: org_id.to_string(),
                            billy_invoice_id: billy_id.to_owned(),
                            synced_at: Utc::now().to_rfc3339(),
                            paid: true,
                        },
                    )
                    .await?;
                }
            }
            Ok::<_, tekup_runtime::Problem>(cached.changed)
        })
        .map_err(BillyError::from)?;
        outcome.changed += usize::from(changed);
    }
    Ok((outcome, newest))
}

//! Putting issued invoices into Billy.dk, exactly once. The queue (`billy.invoice_pushes`) is
//! worked off by any instance, each push claimed for a lease. An attempt first looks for the
//! invoice in Billy.dk by its `externalId` (our invoice id), so a create whose answer was lost
//! (timeout, crash) is found instead of made again; then the contact (by CVR or e-mail, cache
//! first) and the product, creating them when missing; then the invoice. The outcome is
//! announced: `InvoiceSynced`, or `InvoiceSyncFailed` with the reason once retrying is over.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_proto::billy::v1::{InvoiceSyncFailed, InvoiceSynced};
use tekup_proto::renos::v1::InvoiceIssued;
use tekup_runtime::in_context;
use uuid::Uuid;

use crate::client::{BillyError, Session};
use crate::crypto::TokenCipher;
use crate::events::publish;
use crate::store::{self, Push};
use crate::{Client, PushConfig, State};

/// The product invoices are booked on when the connection names none.
const DEFAULT_PRODUCT: &str = "Rengøring";
/// How long a claimed push is this instance's.
const LEASE_SECS: i64 = 300;

/// An issued invoice as queued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issued {
    pub invoice_id: String,
    pub org_id: String,
    pub cvr: String,
    pub number: i32,
    pub net_ore: i64,
    pub total_ore: i64,
    pub issued_at: String,
    pub due_date: String,
    pub customer_name: String,
    pub customer_email: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub description: String,
    pub quantity: i32,
    pub unit_price_ore: i64,
}

pub fn to_json(issued: &InvoiceIssued) -> Value {
    serde_json::to_value(Issued {
        invoice_id: issued.invoice_id.clone(),
        org_id: issued.org_id.clone(),
        cvr: issued.cvr.clone(),
        number: issued.number,
        net_ore: issued.net_ore,
        total_ore: issued.total_ore,
        issued_at: issued.issued_at.clone(),
        due_date: issued.due_date.clone(),
        customer_name: issued.customer_name.clone(),
        customer_email: issued.customer_email.clone(),
        lines: issued
            .lines
            .iter()
            .map(|l| Line {
                description: l.description.clone(),
                quantity: l.quantity,
                unit_price_ore: l.unit_price_ore,
            })
            .collect(),
    })
    .unwrap_or(Value::Null)
}

pub fn spawn(pool: Pool, state: &State, cipher: Arc<TokenCipher>) {
    let worker = Worker {
        pool,
        client: state.client.clone(),
        cipher,
        config: state.config.push.clone(),
        wake: Arc::clone(&state.wake_push),
    };
    tokio::spawn(async move { worker.run().await });
}

struct Worker {
    pool: Pool,
    client: Client,
    cipher: Arc<TokenCipher>,
    config: PushConfig,
    wake: Arc<tokio::sync::Notify>,
}

impl Worker {
    async fn run(self) {
        loop {
            match self.next().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "invoice push"),
            }
            let idle = Duration::from_millis(self.config.poll_interval_ms);
            let _ = tokio::time::timeout(idle, self.wake.notified()).await;
        }
    }

    /// Works one due push; `false` when none was due.
    async fn next(&self) -> anyhow::Result<bool> {
        let claimed = in_context!(&self.pool, Context::System, |conn| {
            Ok::<_, tekup_runtime::Problem>(store::claim(conn, LEASE_SECS).await?)
        })
        .map_err(crate::database)?;
        let Some(push) = claimed else {
            return Ok(false);
        };
        let outcome = self.attempt(&push).await;
        let invoice_id = push.invoice_id;
        let org_id = push.org_id;
        match outcome {
            Ok(billy_id) => {
                in_context!(&self.pool, Context::System, |conn| {
                    store::pushed(conn, invoice_id, &billy_id).await?;
                    publish(
                        conn,
                        "invoice",
                        org_id,
                        &invoice_id.to_string(),
                        &InvoiceSynced {
                            invoice_id: invoice_id.to_string(),
                            org_id: org_id.to_string(),
                            billy_invoice_id: billy_id.clone(),
                            synced_at: Utc::now().to_rfc3339(),
                            paid: false,
                        },
                    )
                    .await?;
                    Ok::<_, tekup_runtime::Problem>(())
                })
                .map_err(crate::database)?;
                tracing::info!(invoice = %invoice_id, billy = billy_id, "invoice in Billy.dk");
            }
            Err(err) => {
                let give_up = !err.is_transient() || push.attempts >= self.config.max_attempts;
                let reason = err.to_string();
                let backoff = i64::try_from(
                    self.config
                        .retry_backoff_ms
                        .saturating_mul(1 << (push.attempts.clamp(1, 10) - 1)),
                )
                .unwrap_or(i64::MAX);
                // A create without an answer is looked up again soon.
                let retry_in = match (&err, give_up) {
                    (_, true) => None,
                    (BillyError::Unknown(_), false) => {
                        Some(self.config.retry_backoff_ms.min(1_000) as i64)
                    }
                    (_, false) => Some(backoff),
                };
                in_context!(&self.pool, Context::System, |conn| {
                    store::push_failed(conn, invoice_id, &reason, retry_in).await?;
                    if retry_in.is_none() {
                        publish(
                            conn,
                            "invoice",
                            org_id,
                            &invoice_id.to_string(),
                            &InvoiceSyncFailed {
                                invoice_id: invoice_id.to_string(),
                                org_id: org_id.to_string(),
                                reason: reason.clone(),
                                failed_at: Utc::now().to_rfc3339(),
                            },
                        )
                        .await?;
                    }
                    Ok::<_, tekup_runtime::Problem>(())
                })
                .map_err(crate::database)?;
                tracing::warn!(invoice = %invoice_id, attempt = push.attempts, give_up, reason, "invoice push failed");
            }
        }
        Ok(true)
    }

    /// One attempt; returns Billy's invoice id.
    async fn attempt(&self, push: &Push) -> Result<String, BillyError> {
        let issued: Issued =
            serde_json::from_value(push.invoice.clone()).map_err(|err| BillyError::Refused {
                status: 0,
                code: None,
                message: format!("the queued invoice is unreadable: {err}"),
            })?;
        let org_id = push.org_id;
        let connection = in_context!(&self.pool, Context::System, |conn| {
            Ok::<_, tekup_runtime::Problem>(store::connection(conn, org_id).await?)
        })
        .map_err(BillyError::from)?;
        let (Some(connection), Some(sealed)) = (
            connection.clone(),
            connection.as_ref().and_then(store::Connection::sealed),
        ) else {
            return Err(BillyError::Refused {
                status: 0,
                code: None,
                message: "the organization has not connected Billy.dk".into(),
            });
        };
        let token = self
            .cipher
            .open(org_id, &sealed)
            .map_err(|err| BillyError::Internal(anyhow::anyhow!("{err}")))?;
        let billy_org = connection.billy_organization_id.clone().unwrap_or_default();
        let session = self.client.session(org_id, token);
        let entry_date = entry_date(&issued.issued_at);

        if let Some(found) = find_invoice(&session, &issued.invoice_id, entry_date).await? {
            tracing::info!(
                invoice = issued.invoice_id,
                "found in Billy.dk already: not created again"
            );
            return Ok(found);
        }
        let contact_id = self.contact(&session, &billy_org, org_id, &issued).await?;
        let product_id = self.product(&session, &billy_org, &connection).await?;
        let payment_days = NaiveDate::parse_from_str(&issued.due_date, "%Y-%m-%d")
            .ok()
            .map_or(8, |due| (due - entry_date).num_days().max(0));
        let lines: Vec<Value> = issued
            .lines
            .iter()
            .map(|l| {
                json!({
                    "productId": product_id,
                    "description": l.description,
                    "quantity": l.quantity,
                    "unitPrice": l.unit_price_ore as f64 / 100.0,
                })
            })
            .collect();
        let created = session
            .create(
                "invoices",
                "invoice",
                json!({
                    "organizationId": billy_org,
                    "contactId": contact_id,
                    "entryDate": entry_date.to_string(),
                    "paymentTermsDays": payment_days,
                    "currencyId": "DKK",
                    "taxMode": "excl",
                    "state": "approved",
                    "externalId": issued.invoice_id,
                    "invoiceNo": issued.number.to_string(),
                    "lines": lines,
                }),
            )
            .await?;
        id_of(&created)
    }

    async fn contact(
        &self,
        session: &Session<'_>,
        billy_org: &str,
        org_id: Uuid,
        issued: &Issued,
    ) -> Result<String, BillyError> {
        let cvr = Some(issued.cvr.as_str()).filter(|c| !c.is_empty());
        let email = Some(issued.customer_email.as_str()).filter(|e| !e.is_empty());
        let cached = in_context!(&self.pool, Context::System, |conn| {
            Ok::<_, tekup_runtime::Problem>(store::cached_contact(conn, org_id, cvr, email).await?)
        })
        .map_err(BillyError::from)?;
        if let Some(id) = cached {
            return Ok(id);
        }
        // Not cached (new, or made by a create whose answer was lost): look in Billy.dk.
        let contacts = session.list("contacts", &[]).await?;
        let matching = contacts.iter().find(|c| {
            let by_cvr = cvr.is_some() && c.get("registrationNo").and_then(Value::as_str) == cvr;
            let by_email = email.is_some_and(|e| {
                c.get("contactPersons")
                    .and_then(Value::as_array)
                    .is_some_and(|people| {
                        people.iter().any(|p| {
                            p.get("email")
                                .and_then(Value::as_str)
                                .is_some_and(|pe| pe.eq_ignore_ascii_case(e))
                        })
                    })
            });
            by_cvr || (cvr.is_none() && by_email)
        });
        if let Some(contact) = matching {
            return id_of(contact);
        }
        let mut person = json!({"name": issued.customer_name});
        if let Some(email) = email {
            person["email"] = json!(email);
        }
        let mut contact = json!({
            "organizationId": billy_org,
            "type": if cvr.is_some() { "company" } else { "person" },
            "name": issued.customer_name,
            "countryId": "DK",
            "contactPersons": [person],
        });
        if let Some(cvr) = cvr {
            contact["registrationNo"] = json!(cvr);
        }
        match session.create("contacts", "contact", contact).await {
            Ok(created) => id_of(&created),
            // Without an answer, the next attempt looks the contact up again.
            Err(err) => Err(err),
        }
    }

    async fn product(
        &self,
        session: &Session<'_>,
        billy_org: &str,
        connection: &store::Connection,
    ) -> Result<String, BillyError> {
        if let Some(id) = &connection.product_id {
            return Ok(id.clone());
        }
        let products = session.list("products", &[]).await?;
        let id = match products
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(DEFAULT_PRODUCT))
        {
            Some(product) => id_of(product)?,
            None => id_of(
                &session
                    .create(
                        "products",
                        "product",
                        json!({
                            "organizationId": billy_org,
                            "name": DEFAULT_PRODUCT,
                            "prices": [{"currencyId": "DKK", "unitPrice": 0}],
                        }),
                    )
                    .await?,
            )?,
        };
        let org_id = connection.org_id;
        in_context!(&self.pool, Context::System, |conn| {
            Ok::<_, tekup_runtime::Problem>(store::set_product(conn, org_id, &id).await?)
        })
        .map_err(BillyError::from)?;
        Ok(id)
    }
}

/// The issue date in Copenhagen (Billy's entry date).
fn entry_date(issued_at: &str) -> NaiveDate {
    chrono::DateTime::parse_from_rfc3339(issued_at)
        .map(|t| tekup_types::copenhagen::date(t.with_timezone(&Utc)))
        .or_else(|_| NaiveDate::parse_from_str(issued_at, "%Y-%m-%d"))
        .unwrap_or_else(|_| tekup_types::copenhagen::date(Utc::now()))
}

/// The invoice with our id as `externalId`, among those entered on its date.
async fn find_invoice(
    session: &Session<'_>,
    invoice_id: &str,
    entry_date: NaiveDate,
) -> Result<Option<String>, BillyError> {
    let day = entry_date.to_string();
    let invoices = session
        .list(
            "invoices",
            &[("entryDateGte", day.clone()), ("entryDateLte", day)],
        )
        .await?;
    invoices
        .iter()
        .find(|i| i.get("externalId").and_then(Value::as_str) == Some(invoice_id))
        .map(id_of)
        .transpose()
}

fn id_of(record: &Value) -> Result<String, BillyError> {
    record
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| BillyError::Unavailable("Billy.dk returned a record without id".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_date_is_the_day_in_copenhagen() {
        // 23:30 UTC is the next day in Copenhagen, in winter and in summer.
        assert_eq!(entry_date("2026-01-15T23:30:00Z").to_string(), "2026-01-16");
        assert_eq!(entry_date("2026-07-15T22:30:00Z").to_string(), "2026-07-16");
        assert_eq!(entry_date("2026-07-15T21:30:00Z").to_string(), "2026-07-15");
        // The night summer time ends (25 October 2026, 01:00 UTC).
        assert_eq!(entry_date("2026-10-24T22:30:00Z").to_string(), "2026-10-25");
        assert_eq!(entry_date("2026-10-25T22:30:00Z").to_string(), "2026-10-25");
        assert_eq!(entry_date("2026-11-20").to_string(), "2026-11-20");
    }
}

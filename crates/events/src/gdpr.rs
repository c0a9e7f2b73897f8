//! Data-subject requests (GDPR art. 15, 17 and 20), answered by every service the same way.
//!
//! flow announces an erasure or export request on `tekup.flow.gdpr`; each service lists the
//! places where it keeps personal data ([`Part`]s) and subscribes with [`subscription`]. The
//! handler erases (deletes or anonymises) or exports the subject's rows and publishes its
//! [`GdprAnswered`] on its own `tekup.<service>.gdpr` topic, in the one transaction that did the
//! work: the evidence exists exactly when the work was done.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::sql_types::{BigInt, Jsonb, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use tekup_proto::flow::v1::{ErasureRequested, ExportRequested, GdprAnswered};
use uuid::Uuid;

use crate::consumer::{HandleError, Handler, Subscription};
use crate::outbox::{self, Outgoing};
use crate::{Event, kafka};

/// How a part erases a subject's rows.
#[derive(Debug, Clone, Copy)]
pub enum Erase {
    Delete,
    /// An `UPDATE ... SET` clause that leaves no personal data, for rows that must stay (an
    /// invoice's customer is kept for the bookkeeping act, without name or address).
    Anonymise(&'static str),
}

/// One place a service keeps personal data: rows of `table` (which has `org_id`) that concern
/// the person (`by_email`: a SQL condition on `$2`, the address) or the company (`by_cvr`: a
/// condition on `$2`, the CVR). A part without the condition a request needs is skipped.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub table: &'static str,
    pub by_email: Option<&'static str>,
    pub by_cvr: Option<&'static str>,
    pub erase: Erase,
}

/// A request as services see it.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: String,
    pub org_id: Uuid,
    pub kind: Kind,
    pub email: Option<String>,
    pub cvr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Erasure,
    Export,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Erasure => "erasure",
            Kind::Export => "export",
        }
    }
}

impl Request {
    /// The request an event carries, if it is one.
    pub fn from_event(event: &Event) -> Result<Option<Self>, HandleError> {
        let (kind, id, org, cvr, email) = if let Some(r) = event.decoded::<ErasureRequested>()? {
            (Kind::Erasure, r.request_id, r.org_id, r.cvr, r.email)
        } else if let Some(r) = event.decoded::<ExportRequested>()? {
            (Kind::Export, r.request_id, r.org_id, r.cvr, r.email)
        } else {
            return Ok(None);
        };
        let non_empty = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let request = Self {
            id,
            org_id: HandleError::uuid("org_id", &org)?,
            kind,
            email: non_empty(email),
            cvr: non_empty(cvr),
        };
        if request.email.is_none() && request.cvr.is_none() {
            return Err(HandleError::permanent(
                "a data-subject request names neither a company nor a person",
            ));
        }
        Ok(Some(request))
    }

    /// The condition and bound value selecting the subject's rows of `part`, if it has any.
    fn selector(&self, part: &Part) -> Option<(&'static str, String)> {
        match (&self.email, &self.cvr) {
            (Some(email), _) => part.by_email.map(|c| (c, email.clone())),
            (None, Some(cvr)) => part.by_cvr.map(|c| (c, cvr.clone())),
            (None, None) => None,
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Exported {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Jsonb)]
    rows: serde_json::Value,
}

/// Erases or exports the subject's rows of every part; returns the count per table and, for an
/// export, the rows per table. Runs in the caller's transaction.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    parts: &[Part],
    request: &Request,
) -> Result<
    (
        HashMap<String, u64>,
        serde_json::Map<String, serde_json::Value>,
    ),
    diesel::result::Error,
> {
    let mut counts = HashMap::new();
    let mut bundle = serde_json::Map::new();
    for part in parts {
        let Some((condition, value)) = request.selector(part) else {
            continue;
        };
        let filter = format!("org_id = $1 AND ({condition})");
        let n = match request.kind {
            Kind::Erasure => {
                let sql = match part.erase {
                    Erase::Delete => format!("DELETE FROM {} WHERE {filter}", part.table),
                    Erase::Anonymise(set) => {
                        format!("UPDATE {} SET {set} WHERE {filter}", part.table)
                    }
                };
                diesel::sql_query(sql)
                    .bind::<SqlUuid, _>(request.org_id)
                    .bind::<Text, _>(&value)
                    .execute(conn)
                    .await? as u64
            }
            Kind::Export => {
                let sql = format!(
                    "SELECT count(*) AS n, coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) AS rows \
                     FROM {} t WHERE {filter}",
                    part.table
                );
                let exported: Exported = diesel::sql_query(sql)
                    .bind::<SqlUuid, _>(request.org_id)
                    .bind::<Text, _>(&value)
                    .get_result(conn)
                    .await?;
                bundle.insert(part.table.to_owned(), exported.rows);
                u64::try_from(exported.n).unwrap_or(0)
            }
        };
        *counts.entry(part.table.to_owned()).or_insert(0) += n;
    }
    Ok((counts, bundle))
}

/// Publishes `service`'s answer to `request` in the current transaction.
pub async fn answer(
    conn: &mut AsyncPgConnection,
    service: &str,
    request: &Request,
    counts: HashMap<String, u64>,
    bundle: serde_json::Map<String, serde_json::Value>,
) -> Result<(), diesel::result::Error> {
    let topic = kafka::topic(service, "gdpr");
    let answer = GdprAnswered {
        request_id: request.id.clone(),
        org_id: request.org_id.to_string(),
        service: service.to_owned(),
        kind: request.kind.as_str().to_owned(),
        counts,
        bundle_json: match request.kind {
            Kind::Export => serde_json::Value::Object(bundle).to_string(),
            Kind::Erasure => String::new(),
        },
        answered_at: chrono::Utc::now().to_rfc3339(),
    };
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic,
            org_id: Some(request.org_id),
            cvr: request.cvr.as_deref(),
            subject: &request.id,
            payload: &answer,
        },
    )
    .await?;
    Ok(())
}

/// `service`'s answers to flow's data-subject requests over `parts`.
pub fn subscription(service: &'static str, parts: &'static [Part]) -> Subscription {
    Subscription {
        name: "gdpr".into(),
        topics: vec![kafka::topic("flow", "gdpr")],
        handler: Arc::new(Answers {
            service,
            parts,
            remember: None,
        }),
    }
}

/// Like [`subscription`], for a service that copies people from an outside system: an erased
/// person's e-mail address is remembered as its SHA-256 (lower-cased) in `table` (`org_id`,
/// `email_sha256`), so that the next copy can leave them out.
pub fn subscription_remembering(
    service: &'static str,
    parts: &'static [Part],
    table: &'static str,
) -> Subscription {
    Subscription {
        name: "gdpr".into(),
        topics: vec![kafka::topic("flow", "gdpr")],
        handler: Arc::new(Answers {
            service,
            parts,
            remember: Some(table),
        }),
    }
}

struct Answers {
    service: &'static str,
    parts: &'static [Part],
    remember: Option<&'static str>,
}

/// The statement that takes, until the transaction ends, the lock an organization's erasures
/// and the copying of its people into `table`'s service share (`$1`: the organization).
pub fn remembering_lock(table: &str) -> String {
    format!("SELECT pg_advisory_xact_lock(hashtextextended('{table}:' || $1::text, 0))")
}

/// SQL for how an address (the SQL expression `email`) is remembered: the SHA-256 of it trimmed
/// and lower-cased, in hex.
pub fn subject_hash(email: &str) -> String {
    format!("encode(sha256(convert_to(lower(btrim({email})), 'UTF8')), 'hex')")
}

/// Whether `email` belongs to someone erased in `org_id` and remembered in `table`, seen under
/// the lock erasures take ([`remembering_lock`]): the rest of the caller's transaction cannot
/// cross an erasure of them.
pub async fn was_erased(
    conn: &mut AsyncPgConnection,
    table: &str,
    org_id: Uuid,
    email: &str,
) -> Result<bool, diesel::result::Error> {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        erased: bool,
    }
    diesel::sql_query(remembering_lock(table))
        .bind::<SqlUuid, _>(org_id)
        .execute(conn)
        .await?;
    let found: Found = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE org_id = $1 AND email_sha256 = {}) AS erased",
        subject_hash("$2")
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(email)
    .get_result(conn)
    .await?;
    Ok(found.erased)
}

impl Handler for Answers {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let Some(request) = Request::from_event(event)? else {
                return Ok(());
            };
            if let (Some(table), Kind::Erasure) = (self.remember, request.kind) {
                // The service's copying of people takes the same lock ([`remembering_lock`]), so
                // a copy that read the person before the erasure cannot write them back after it.
                diesel::sql_query(remembering_lock(table))
                    .bind::<SqlUuid, _>(request.org_id)
                    .execute(conn)
                    .await?;
            }
            let (counts, bundle) = apply(conn, self.parts, &request).await?;
            if let (Some(table), Kind::Erasure, Some(email)) =
                (self.remember, request.kind, &request.email)
            {
                diesel::sql_query(format!(
                    "INSERT INTO {table} (org_id, email_sha256) VALUES ($1, {}) \
                     ON CONFLICT DO NOTHING",
                    subject_hash("$2")
                ))
                .bind::<SqlUuid, _>(request.org_id)
                .bind::<Text, _>(email)
                .execute(conn)
                .await?;
            }
            tracing::info!(
                request_id = request.id,
                kind = request.kind.as_str(),
                rows = counts.values().sum::<u64>(),
                "data-subject request answered"
            );
            answer(conn, self.service, &request, counts, bundle).await?;
            Ok(())
        })
    }
}

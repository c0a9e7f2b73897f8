//! `tekup migrate-data`: copies a legacy database (the original platform's Prisma-era schemas)
//! into the platform, table by table in batches, resumably, and reports parity.
//!
//! Each [`Mapping`] reads importable rows of one legacy table in key order, maps their columns
//! in SQL, and inserts them into the service's table under ids derived from the legacy keys
//! (UUIDv5), so a batch that runs twice inserts nothing twice. The rows, the id map, the
//! progress and the events announcing the new rows (in the service's outbox, for the relay)
//! commit together. Parity compares, per table, the count and an order-independent checksum
//! of the mapped columns on both sides; rows the platform cannot accept (an invalid CVR, no
//! name) are reported as rejected, with why.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Jsonb, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::{Map, Value};
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use uuid::Uuid;

/// A CVR number that the platform accepts: eight digits, no leading zero, modulus 11.
fn valid_cvr(expr: &str) -> String {
    format!(
        "(coalesce({expr}, '') ~ '^[1-9][0-9]{{7}}$' AND (\
         substr({expr},1,1)::int*2 + substr({expr},2,1)::int*7 + substr({expr},3,1)::int*6 + \
         substr({expr},4,1)::int*5 + substr({expr},5,1)::int*4 + substr({expr},6,1)::int*3 + \
         substr({expr},7,1)::int*2 + substr({expr},8,1)::int) % 11 = 0)"
    )
}

/// Builds the event that announces an imported row: (topic, payload, type, subject, cvr).
type Announce = fn(&Map<String, Value>) -> Option<Announcement>;

pub struct Announcement {
    pub topic: String,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub subject: String,
    pub cvr: Option<String>,
}

pub struct Mapping {
    pub name: &'static str,
    /// The legacy schema (renamed with `--map legacy=service`) and table.
    pub service: &'static str,
    pub legacy_table: &'static str,
    /// The legacy key, as text: batches go in its order.
    pub key: &'static str,
    /// Which legacy rows the platform can take; the others are rejected, with `rejected_because`.
    pub filter: String,
    pub rejected_because: &'static str,
    /// (target column, legacy SQL expression); `id` and `org_id` are set by the import.
    pub columns: Vec<(&'static str, String)>,
    pub target: &'static str,
    /// A mapping whose rows must have reached this projection before these rows go in:
    /// (SQL counting the imported parents still missing, what is waited for).
    pub waits_for: Option<(&'static str, &'static str)>,
    pub announce: Announce,
}

/// A mapping's SQL with the legacy schema's actual name filled in.
struct Resolved {
    from_table: String,
    filter: String,
    columns: Vec<(&'static str, String)>,
}

impl Mapping {
    fn resolve(&self, options: &Options) -> Resolved {
        let schema = options
            .schemas
            .get(self.service)
            .map_or(self.service, String::as_str);
        Resolved {
            from_table: format!("{schema}.{}", self.legacy_table),
            filter: self.filter.replace("{legacy}", schema),
            columns: self
                .columns
                .iter()
                .map(|(c, e)| (*c, e.replace("{legacy}", schema)))
                .collect(),
        }
    }
}

fn text(row: &Map<String, Value>, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn encode<M: tekup_proto::Message + tekup_proto::Name>(
    service: &str,
    aggregate: &str,
    subject: String,
    cvr: Option<String>,
    payload: &M,
) -> Option<Announcement> {
    Some(Announcement {
        topic: topic(service, aggregate),
        event_type: M::full_name(),
        payload: payload.encode_to_vec(),
        subject,
        cvr,
    })
}

/// The legacy tables the platform takes, in dependency order.
pub fn mappings() -> Vec<Mapping> {
    let contact_cvr = "(SELECT c.cvr FROM {legacy}.\"CrmCompany\" c WHERE c.id = t.\"companyId\")";
    vec![
        Mapping {
            name: "crm.CrmCompany",
            service: "crm",
            legacy_table: "\"CrmCompany\"",
            key: "t.id::text",
            filter: format!(
                "{} AND length(btrim(coalesce(t.name, ''))) BETWEEN 1 AND 200",
                valid_cvr("t.cvr")
            ),
            rejected_because: "no valid CVR number or no name",
            columns: vec![
                ("cvr", "t.cvr".into()),
                ("name", "btrim(t.name)".into()),
                ("created_at", "t.\"createdAt\"::timestamptz".into()),
            ],
            target: "shared.companies",
            waits_for: None,
            announce: |row| {
                encode(
                    "shared",
                    "company",
                    text(row, "id"),
                    Some(text(row, "cvr")),
                    &tekup_proto::shared::v1::CompanyRegistered {
                        company_id: text(row, "id"),
                        org_id: text(row, "org_id"),
                        cvr: text(row, "cvr"),
                        name: text(row, "name"),
                        // The legacy table holds neither: the columns' defaults.
                        status: "active".into(),
                        advertising_protected: false,
                    },
                )
            },
        },
        Mapping {
            name: "crm.CrmContact",
            service: "crm",
            legacy_table: "\"CrmContact\"",
            key: "t.id::text",
            filter: format!(
                "{} AND length(btrim(coalesce(t.\"firstName\", ''))) BETWEEN 1 AND 100 \
                 AND length(btrim(coalesce(t.\"lastName\", ''))) BETWEEN 1 AND 100",
                valid_cvr(contact_cvr)
            ),
            rejected_because: "no valid company or no first and last name",
            columns: vec![
                ("cvr", contact_cvr.into()),
                ("first_name", "btrim(t.\"firstName\")".into()),
                ("last_name", "btrim(t.\"lastName\")".into()),
                (
                    "email",
                    "CASE WHEN t.email LIKE '%_@_%' THEN lower(btrim(t.email)) END".into(),
                ),
                (
                    "phone",
                    "CASE WHEN t.phone ~ '^\\+?[0-9 ]{8,20}$' THEN t.phone END".into(),
                ),
                ("created_at", "t.\"createdAt\"::timestamptz".into()),
            ],
            target: "crm.contacts",
            waits_for: Some((
                "SELECT count(*) AS n FROM tekup_import.ids i JOIN shared.companies s ON s.id = i.target_id \
                 WHERE i.mapping = 'crm.CrmCompany' AND NOT EXISTS \
                 (SELECT 1 FROM crm.companies c WHERE c.org_id = s.org_id AND c.cvr = s.cvr)",
                "crm's record of every imported company (shared's events applied)",
            )),
            announce: |row| {
                encode(
                    "crm",
                    "contact",
                    text(row, "id"),
                    Some(text(row, "cvr")),
                    &tekup_proto::crm::v1::ContactChanged {
                        contact_id: text(row, "id"),
                        org_id: text(row, "org_id"),
                        cvr: text(row, "cvr"),
                        change: "created".into(),
                    },
                )
            },
        },
        Mapping {
            name: "renos.leads",
            service: "renos",
            legacy_table: "leads",
            key: "t.id::text",
            filter: "length(btrim(coalesce(t.name, ''))) BETWEEN 1 AND 200".into(),
            rejected_because: "no name",
            columns: vec![
                (
                    "cvr",
                    format!("CASE WHEN {} THEN t.cvr END", valid_cvr("t.cvr")),
                ),
                (
                    "source",
                    "CASE WHEN t.source IN ('chatbot', 'email', 'web', 'phone', 'referral') \
                     THEN t.source ELSE 'other' END"
                        .into(),
                ),
                ("name", "btrim(t.name)".into()),
                (
                    "email",
                    "CASE WHEN t.email LIKE '%_@_%' THEN lower(btrim(t.email)) END".into(),
                ),
                (
                    "phone",
                    "CASE WHEN t.phone ~ '^\\+?[0-9 ]{8,20}$' THEN t.phone END".into(),
                ),
                ("message", "left(coalesce(t.message, ''), 10000)".into()),
                ("score", "0".into()),
                ("created_at", "t.created_at::timestamptz".into()),
            ],
            target: "renos.leads",
            waits_for: None,
            announce: |row| {
                encode(
                    "renos",
                    "lead",
                    text(row, "id"),
                    row.get("cvr").and_then(Value::as_str).map(str::to_owned),
                    &tekup_proto::renos::v1::LeadCreated {
                        lead_id: text(row, "id"),
                        org_id: text(row, "org_id"),
                        source: text(row, "source"),
                        cvr: text(row, "cvr"),
                    },
                )
            },
        },
    ]
}

#[derive(QueryableByName)]
struct LegacyRow {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Jsonb)]
    row: Value,
}

#[derive(QueryableByName)]
struct Sum {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Text)]
    sum: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    last_key: String,
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// One table's outcome.
#[derive(Debug, serde::Serialize)]
pub struct Parity {
    pub table: &'static str,
    pub target: &'static str,
    pub legacy_rows: i64,
    pub imported_rows: i64,
    pub rejected_rows: i64,
    pub rejected_because: &'static str,
    pub legacy_checksum: String,
    pub imported_checksum: String,
    pub matches: bool,
}

pub struct Options {
    pub org_id: Uuid,
    pub batch: i64,
    /// Legacy schema names by service, when they differ (`--map public=renos`).
    pub schemas: HashMap<String, String>,
    /// Stop after this many batches (an interruption, for trying resumption).
    pub max_batches: Option<u64>,
    pub wait: Duration,
}

const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_9a2e_52b4_4c1d_9e7a_7d3b_0c55_e1a4);

fn checksum(columns: &[String]) -> String {
    format!(
        "coalesce(sum(('x' || substr(md5(concat_ws('|', {})), 1, 15))::bit(60)::bigint::numeric), 0)::text",
        columns.join(", ")
    )
}

/// Runs every mapping to its end (or to `max_batches`), then reports parity.
pub async fn run(from: &str, to: &str, options: &Options) -> anyhow::Result<(Vec<Parity>, bool)> {
    let mut legacy = AsyncPgConnection::establish(from)
        .await
        .context("connecting to the legacy database")?;
    let mut target = AsyncPgConnection::establish(to)
        .await
        .context("connecting to the platform's database as the administrator")?;
    for conn in [&mut legacy, &mut target] {
        conn.batch_execute("SET TIME ZONE 'UTC'").await?;
    }
    target
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS tekup_import; \
             CREATE TABLE IF NOT EXISTS tekup_import.progress (mapping text PRIMARY KEY, \
                 last_key text NOT NULL, copied bigint NOT NULL DEFAULT 0, \
                 updated_at timestamptz NOT NULL DEFAULT now()); \
             CREATE TABLE IF NOT EXISTS tekup_import.ids (mapping text NOT NULL, \
                 legacy_key text NOT NULL, target_id uuid NOT NULL, PRIMARY KEY (mapping, legacy_key))",
        )
        .await?;
    let known: Count =
        diesel::sql_query("SELECT count(*) AS n FROM shared.organizations WHERE id = $1")
            .bind::<SqlUuid, _>(options.org_id)
            .get_result(&mut target)
            .await?;
    if known.n == 0 {
        bail!("organization {} does not exist in shared", options.org_id);
    }
    let mut batches = 0u64;
    let mut finished = true;
    'mappings: for mapping in mappings() {
        let Resolved {
            from_table,
            filter,
            columns,
        } = mapping.resolve(options);
        if let Some((missing, what)) = mapping.waits_for {
            let started = Instant::now();
            loop {
                let left: Count = diesel::sql_query(missing).get_result(&mut target).await?;
                if left.n == 0 {
                    break;
                }
                if started.elapsed() > options.wait {
                    bail!(
                        "{}: waited {:?} for {what}; {} still missing",
                        mapping.name,
                        options.wait,
                        left.n
                    );
                }
                eprintln!("{}: waiting for {what} ({} missing)", mapping.name, left.n);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let select = format!(
            "SELECT {key} AS key, jsonb_build_object({fields}) AS row FROM {from_table} t \
             WHERE ({filter}) AND {key} > $1 ORDER BY {key} LIMIT $2",
            key = mapping.key,
            fields = columns
                .iter()
                .map(|(c, e)| format!("'{c}', {e}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let total: Count = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM {from_table} t WHERE {filter}"
        ))
        .get_result(&mut legacy)
        .await
        .with_context(|| format!("reading {from_table}"))?;
        loop {
            let last: Option<Key> =
                diesel::sql_query("SELECT last_key FROM tekup_import.progress WHERE mapping = $1")
                    .bind::<Text, _>(mapping.name)
                    .get_result(&mut target)
                    .await
                    .map(Some)
                    .or_else(|e| {
                        if e == diesel::result::Error::NotFound {
                            Ok(None)
                        } else {
                            Err(e)
                        }
                    })?;
            let after = last.map(|k| k.last_key).unwrap_or_default();
            if options.max_batches.is_some_and(|max| batches >= max) {
                finished = false;
                break 'mappings;
            }
            let rows: Vec<LegacyRow> = diesel::sql_query(&select)
                .bind::<Text, _>(&after)
                .bind::<BigInt, _>(options.batch)
                .load(&mut legacy)
                .await
                .with_context(|| format!("reading {from_table}"))?;
            let Some(last_key) = rows.last().map(|r| r.key.clone()) else {
                break;
            };
            batches += 1;
            let mut records = Vec::with_capacity(rows.len());
            let mut ids = Vec::with_capacity(rows.len());
            for row in &rows {
                let id = Uuid::new_v5(
                    &NAMESPACE,
                    format!("{}:{}", mapping.name, row.key).as_bytes(),
                );
                let mut record = row.row.as_object().cloned().unwrap_or_default();
                record.insert("id".into(), Value::String(id.to_string()));
                record.insert("org_id".into(), Value::String(options.org_id.to_string()));
                records.push(Value::Object(record));
                ids.push(serde_json::json!({"legacy_key": row.key, "target_id": id}));
            }
            let target_columns: Vec<&str> = ["id", "org_id"]
                .into_iter()
                .chain(columns.iter().map(|(c, _)| *c))
                .collect();
            let insert = format!(
                "INSERT INTO {table} ({cols}) SELECT {cols} FROM jsonb_populate_recordset(NULL::{table}, $1) \
                 ON CONFLICT DO NOTHING RETURNING id",
                table = mapping.target,
                cols = target_columns.join(", "),
            );
            let copied = rows.len();
            let announce = mapping.announce;
            let service = mapping
                .target
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned();
            let name = mapping.name;
            target
                .transaction::<_, anyhow::Error, _>(async |conn| {
                    // The service's outbox is `outbox` on its search path.
                    conn.batch_execute(&format!("SET LOCAL search_path TO {service}")).await?;
                    let inserted: Vec<Inserted> = diesel::sql_query(&insert)
                        .bind::<Jsonb, _>(Value::Array(records.clone()))
                        .load(conn)
                        .await
                        .with_context(|| format!("inserting into {}", mapping.target))?;
                    diesel::sql_query(
                        "INSERT INTO tekup_import.ids (mapping, legacy_key, target_id) \
                         SELECT $1, legacy_key, target_id FROM jsonb_to_recordset($2) AS x(legacy_key text, target_id uuid) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind::<Text, _>(name)
                    .bind::<Jsonb, _>(Value::Array(ids.clone()))
                    .execute(conn)
                    .await?;
                    for record in &records {
                        let Some(row) = record.as_object() else { continue };
                        let new = inserted.iter().any(|i| Some(i.id.to_string().as_str()) == row.get("id").and_then(Value::as_str));
                        if !new {
                            continue;
                        }
                        if let Some(event) = announce(row) {
                            outbox::publish_encoded(
                                conn,
                                Outgoing {
                                    topic: &event.topic,
                                    org_id: Some(options.org_id),
                                    cvr: event.cvr.as_deref().filter(|c| !c.is_empty()),
                                    subject: &event.subject,
                                    payload: &event.payload,
                                },
                                &event.event_type,
                            )
                            .await?;
                        }
                    }
                    diesel::sql_query(
                        "INSERT INTO tekup_import.progress (mapping, last_key, copied) VALUES ($1, $2, $3) \
                         ON CONFLICT (mapping) DO UPDATE SET last_key = excluded.last_key, \
                         copied = tekup_import.progress.copied + excluded.copied, updated_at = now()",
                    )
                    .bind::<Text, _>(name)
                    .bind::<Text, _>(&last_key)
                    .bind::<BigInt, _>(i64::try_from(inserted.len()).unwrap_or(0))
                    .execute(conn)
                    .await?;
                    Ok(())
                })
                .await?;
            let done: Count =
                diesel::sql_query("SELECT count(*) AS n FROM tekup_import.ids WHERE mapping = $1")
                    .bind::<Text, _>(mapping.name)
                    .get_result(&mut target)
                    .await?;
            eprintln!(
                "{}: {}/{} rows ({copied} in this batch)",
                mapping.name, done.n, total.n
            );
        }
    }

    let mut report = Vec::new();
    for mapping in mappings() {
        let Resolved {
            from_table,
            filter,
            columns,
        } = mapping.resolve(options);
        let expressions: Vec<String> = columns.into_iter().map(|(_, e)| e).collect();
        let names: Vec<String> = mapping
            .columns
            .iter()
            .map(|(c, _)| format!("x.{c}"))
            .collect();
        let legacy_sum: Sum = diesel::sql_query(format!(
            "SELECT count(*) AS n, {} AS sum FROM {from_table} t WHERE {filter}",
            checksum(&expressions)
        ))
        .get_result(&mut legacy)
        .await?;
        let all: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {from_table}"))
            .get_result(&mut legacy)
            .await?;
        let target_sum: Sum = diesel::sql_query(format!(
            "SELECT count(*) AS n, {} AS sum FROM {} x \
             WHERE x.id IN (SELECT target_id FROM tekup_import.ids WHERE mapping = $1)",
            checksum(&names),
            mapping.target
        ))
        .bind::<Text, _>(mapping.name)
        .get_result(&mut target)
        .await?;
        report.push(Parity {
            table: mapping.name,
            target: mapping.target,
            legacy_rows: legacy_sum.n,
            imported_rows: target_sum.n,
            rejected_rows: all.n - legacy_sum.n,
            rejected_because: mapping.rejected_because,
            matches: legacy_sum.n == target_sum.n && legacy_sum.sum == target_sum.sum,
            legacy_checksum: legacy_sum.sum,
            imported_checksum: target_sum.sum,
        });
    }
    Ok((report, finished))
}

//! E-mail threads, their messages, ingest runs, templates and responses.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Float4, Integer, Jsonb, Nullable, Text, Timestamptz,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Thread {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub customer_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub thread_subject: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub customer_email: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    pub participants: Vec<String>,
    #[diesel(sql_type = Jsonb)]
    pub attachments_links: serde_json::Value,
    #[diesel(sql_type = Array<Text>)]
    pub labels: Vec<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr_source: Option<String>,
    #[diesel(sql_type = Integer)]
    pub message_count: i32,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_updated: DateTime<Utc>,
}

const THREAD: &str = "id, org_id, cvr, customer_id, thread_subject, customer_email, participants, \
    attachments_links, labels, status, cvr_source, message_count, created_at, last_updated";

pub async fn thread(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Thread, Error> {
    diesel::sql_query(format!(
        "SELECT {THREAD} FROM renos.email_threads WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

/// Threads the user may read, most recently updated first.
pub async fn threads(
    conn: &mut AsyncPgConnection,
    cvr: Option<&str>,
    status: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Thread>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {THREAD} FROM renos.email_threads \
         WHERE ($1::text IS NULL OR cvr = $1) AND ($2::text IS NULL OR status = $2) \
           AND ($3::timestamptz IS NULL OR (last_updated, id) < ($3, $4)) \
         ORDER BY last_updated DESC, id DESC LIMIT $5"
    ))
    .bind::<Nullable<Text>, _>(cvr)
    .bind::<Nullable<Text>, _>(status)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

pub struct NewThread<'a> {
    pub org_id: Uuid,
    pub cvr: Option<&'a str>,
    pub customer_id: Option<Uuid>,
    pub cvr_source: Option<&'a str>,
    pub subject: &'a str,
    pub normalized_subject: &'a str,
    pub customer_email: &'a str,
    pub at: DateTime<Utc>,
}

pub async fn create_thread(
    conn: &mut AsyncPgConnection,
    new: NewThread<'_>,
) -> Result<Uuid, Error> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let row: Id = diesel::sql_query(
        "INSERT INTO renos.email_threads (id, org_id, cvr, customer_id, cvr_source, thread_subject, \
         normalized_subject, customer_email, created_at, last_updated) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, least($9, now())) RETURNING id",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Nullable<Text>, _>(new.cvr)
    .bind::<Nullable<SqlUuid>, _>(new.customer_id)
    .bind::<Nullable<Text>, _>(new.cvr_source)
    .bind::<Text, _>(new.subject)
    .bind::<Text, _>(new.normalized_subject)
    .bind::<Text, _>(new.customer_email)
    .bind::<Timestamptz, _>(new.at)
    .get_result(conn)
    .await?;
    Ok(row.id)
}

#[derive(QueryableByName)]
struct ThreadId {
    #[diesel(sql_type = SqlUuid)]
    thread_id: Uuid,
}

/// Whether the organization already has a message with this Message-ID.
pub async fn message_exists(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    message_id: &str,
) -> Result<bool, Error> {
    let found: Vec<ThreadId> = diesel::sql_query(
        "SELECT thread_id FROM renos.email_messages WHERE org_id = $1 AND message_id = $2",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(message_id)
    .load(conn)
    .await?;
    Ok(!found.is_empty())
}

/// The thread of a message this one answers (In-Reply-To, References) or, for a message that
/// arrives after its replies, of a reply naming it.
pub async fn thread_by_ids(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    message_id: &str,
    parents: &[String],
) -> Result<Option<Uuid>, Error> {
    let found: Vec<ThreadId> = diesel::sql_query(
        "SELECT thread_id FROM renos.email_messages WHERE org_id = $1 \
           AND (message_id = ANY($2) OR in_reply_to = $3 OR $3 = ANY(\"references\")) \
         ORDER BY sent_at DESC LIMIT 1",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Array<Text>, _>(parents)
    .bind::<Text, _>(message_id)
    .load(conn)
    .await?;
    Ok(<[_]>::first(&found).map(|t| t.thread_id))
}

/// The subject fallback: the latest thread with the same normalised subject that shares a
/// participant and was active within 60 days of the message.
pub async fn thread_by_subject(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    normalized_subject: &str,
    participants: &[String],
    at: DateTime<Utc>,
) -> Result<Option<Uuid>, Error> {
    if normalized_subject.is_empty() {
        return Ok(None);
    }
    let found: Vec<ThreadId> = diesel::sql_query(
        "SELECT id AS thread_id FROM renos.email_threads WHERE org_id = $1 AND normalized_subject = $2 \
           AND participants && $3 AND last_updated > $4 - interval '60 days' \
           AND created_at < $4 + interval '60 days' \
         ORDER BY last_updated DESC LIMIT 1",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(normalized_subject)
    .bind::<Array<Text>, _>(participants)
    .bind::<Timestamptz, _>(at)
    .load(conn)
    .await?;
    Ok(<[_]>::first(&found).map(|t| t.thread_id))
}

/// The addresses the thread's first message was sent to: a message from one of them is the
/// organization answering (outbound).
pub async fn first_recipients(
    conn: &mut AsyncPgConnection,
    thread_id: Uuid,
) -> Result<Vec<String>, Error> {
    #[derive(QueryableByName)]
    struct To {
        #[diesel(sql_type = Array<Text>)]
        to_addresses: Vec<String>,
    }
    let first: Vec<To> = diesel::sql_query(
        "SELECT to_addresses FROM renos.email_messages WHERE thread_id = $1 \
         ORDER BY sent_at, id LIMIT 1",
    )
    .bind::<SqlUuid, _>(thread_id)
    .load(conn)
    .await?;
    Ok(first
        .into_iter()
        .next()
        .map(|t| t.to_addresses)
        .unwrap_or_default())
}

pub struct NewMessage<'a> {
    pub org_id: Uuid,
    pub thread_id: Uuid,
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub direction: &'a str,
    pub from_address: &'a str,
    pub from_name: Option<&'a str>,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub subject: &'a str,
    pub body_text: &'a str,
    pub attachments: serde_json::Value,
    pub raw: Option<&'a [u8]>,
    pub sentiment: f32,
    pub urgent: bool,
    pub sent_at: DateTime<Utc>,
    pub ingest_run_id: Option<Uuid>,
}

/// Stores a message in its thread (taking the thread's CVR) and brings the thread up to date:
/// participants, count, attachments, last update. `None` when the Message-ID is known already.
pub async fn add_message(
    conn: &mut AsyncPgConnection,
    new: NewMessage<'_>,
) -> Result<Option<Uuid>, Error> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let id = Uuid::now_v7();
    let inserted: Vec<Id> = diesel::sql_query(
        "INSERT INTO renos.email_messages (id, org_id, cvr, thread_id, message_id, in_reply_to, \
         \"references\", direction, from_address, from_name, to_addresses, cc_addresses, subject, \
         body_text, attachments, raw, sentiment, urgent, sent_at, ingest_run_id) \
         SELECT $1, $2, t.cvr, t.id, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19 \
         FROM renos.email_threads t WHERE t.id = $3 \
         ON CONFLICT (org_id, message_id) DO NOTHING RETURNING id",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<SqlUuid, _>(new.thread_id)
    .bind::<Text, _>(new.message_id)
    .bind::<Nullable<Text>, _>(new.in_reply_to)
    .bind::<Array<Text>, _>(new.references)
    .bind::<Text, _>(new.direction)
    .bind::<Text, _>(new.from_address)
    .bind::<Nullable<Text>, _>(new.from_name)
    .bind::<Array<Text>, _>(new.to)
    .bind::<Array<Text>, _>(new.cc)
    .bind::<Text, _>(new.subject)
    .bind::<Text, _>(new.body_text)
    .bind::<Jsonb, _>(&new.attachments)
    .bind::<Nullable<Bytea>, _>(new.raw)
    .bind::<Float4, _>(new.sentiment)
    .bind::<Bool, _>(new.urgent)
    .bind::<Timestamptz, _>(new.sent_at)
    .bind::<Nullable<SqlUuid>, _>(new.ingest_run_id)
    .load(conn)
    .await?;
    let Some(row) = <[_]>::first(&inserted) else {
        return Ok(None);
    };
    let mut people: Vec<String> = vec![new.from_address.to_owned()];
    people.extend(new.to.iter().cloned());
    people.extend(new.cc.iter().cloned());
    let links: Vec<serde_json::Value> = new
        .attachments
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    let mut a = a.clone();
                    if let Some(object) = a.as_object_mut() {
                        object.insert("message_id".into(), row.id.to_string().into());
                    }
                    a
                })
                .collect()
        })
        .unwrap_or_default();
    diesel::sql_query(
        "UPDATE renos.email_threads SET \
           participants = ARRAY(SELECT DISTINCT p FROM unnest(participants || $2) AS p ORDER BY p), \
           message_count = message_count + 1, \
           attachments_links = attachments_links || $3, \
           last_updated = greatest(last_updated, least($4, now())), \
           status = CASE WHEN $5 = 'outbound' AND status = 'open' THEN 'answered' \
                         WHEN $5 = 'inbound' AND status = 'answered' THEN 'open' ELSE status END \
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(new.thread_id)
    .bind::<Array<Text>, _>(&people)
    .bind::<Jsonb, _>(serde_json::Value::Array(links))
    .bind::<Timestamptz, _>(new.sent_at)
    .bind::<Text, _>(new.direction)
    .execute(conn)
    .await?;
    Ok(Some(row.id))
}

/// Ties a thread (and its messages, responses) to a customer and CVR found later.
pub async fn tie_thread(
    conn: &mut AsyncPgConnection,
    thread_id: Uuid,
    cvr: Option<&str>,
    customer_id: Option<Uuid>,
    cvr_source: Option<&str>,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE renos.email_threads SET cvr = coalesce($2, cvr), \
         customer_id = coalesce($3, customer_id), cvr_source = coalesce($4, cvr_source) WHERE id = $1",
    )
    .bind::<SqlUuid, _>(thread_id)
    .bind::<Nullable<Text>, _>(cvr)
    .bind::<Nullable<SqlUuid>, _>(customer_id)
    .bind::<Nullable<Text>, _>(cvr.and(cvr_source))
    .execute(conn)
    .await?;
    if cvr.is_some() {
        for table in ["email_messages", "email_responses"] {
            diesel::sql_query(format!(
                "UPDATE renos.{table} SET cvr = $2 WHERE thread_id = $1 AND cvr IS DISTINCT FROM $2"
            ))
            .bind::<SqlUuid, _>(thread_id)
            .bind::<Nullable<Text>, _>(cvr)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

pub async fn set_thread(
    conn: &mut AsyncPgConnection,
    thread_id: Uuid,
    status: Option<&str>,
    labels: Option<&[String]>,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE renos.email_threads SET status = coalesce($2, status), labels = coalesce($3, labels) \
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(thread_id)
    .bind::<Nullable<Text>, _>(status)
    .bind::<Nullable<Array<Text>>, _>(labels)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Message {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub message_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub in_reply_to: Option<String>,
    #[diesel(sql_type = Text)]
    pub direction: String,
    #[diesel(sql_type = Text)]
    pub from_address: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub from_name: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    pub to_addresses: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub cc_addresses: Vec<String>,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub body_text: String,
    #[diesel(sql_type = Jsonb)]
    pub attachments: serde_json::Value,
    #[diesel(sql_type = Float4)]
    pub sentiment: f32,
    #[diesel(sql_type = Bool)]
    pub urgent: bool,
    #[diesel(sql_type = Timestamptz)]
    pub sent_at: DateTime<Utc>,
}

/// A thread's messages, oldest first.
pub async fn messages(
    conn: &mut AsyncPgConnection,
    thread_id: Uuid,
) -> Result<Vec<Message>, Error> {
    diesel::sql_query(
        "SELECT id, message_id, in_reply_to, direction, from_address, from_name, \
         to_addresses, cc_addresses, subject, body_text, attachments, sentiment, urgent, sent_at \
         FROM renos.email_messages WHERE thread_id = $1 ORDER BY sent_at, id",
    )
    .bind::<SqlUuid, _>(thread_id)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Run {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Integer)]
    pub received: i32,
    #[diesel(sql_type = Integer)]
    pub ingested: i32,
    #[diesel(sql_type = Integer)]
    pub duplicates: i32,
    #[diesel(sql_type = Integer)]
    pub failed: i32,
    #[diesel(sql_type = Jsonb)]
    pub errors: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

const RUN: &str =
    "id, source, received, ingested, duplicates, failed, errors, started_at, finished_at";

pub async fn start_run(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    source: &str,
    received: i32,
    created_by: Option<Uuid>,
) -> Result<Uuid, Error> {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO renos.email_ingest_runs (id, org_id, source, received, created_by) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(source)
    .bind::<Integer, _>(received)
    .bind::<Nullable<SqlUuid>, _>(created_by)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn finish_run(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    ingested: i32,
    duplicates: i32,
    errors: &[serde_json::Value],
) -> Result<Run, Error> {
    diesel::sql_query(format!(
        "UPDATE renos.email_ingest_runs SET ingested = $2, duplicates = $3, failed = $4, \
         errors = $5, finished_at = now() WHERE id = $1 RETURNING {RUN}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Integer, _>(ingested)
    .bind::<Integer, _>(duplicates)
    .bind::<Integer, _>(i32::try_from(errors.len()).unwrap_or(i32::MAX))
    .bind::<Jsonb, _>(serde_json::Value::Array(errors.to_vec()))
    .get_result(conn)
    .await
}

pub async fn run(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Run, Error> {
    diesel::sql_query(format!(
        "SELECT {RUN} FROM renos.email_ingest_runs WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

pub async fn runs(
    conn: &mut AsyncPgConnection,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Run>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {RUN} FROM renos.email_ingest_runs \
         WHERE ($1::timestamptz IS NULL OR (started_at, id) < ($1, $2)) \
         ORDER BY started_at DESC, id DESC LIMIT $3"
    ))
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Template {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub language: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Array<Text>)]
    pub keywords: Vec<String>,
    #[diesel(sql_type = Integer)]
    pub position: i32,
    #[diesel(sql_type = Bool)]
    pub active: bool,
}

const TEMPLATE: &str = "id, name, language, subject, body, keywords, position, active";

pub struct NewTemplate<'a> {
    pub org_id: Uuid,
    pub name: &'a str,
    pub language: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub keywords: &'a [String],
    pub position: i32,
}

pub async fn create_template(
    conn: &mut AsyncPgConnection,
    new: NewTemplate<'_>,
) -> Result<Template, Error> {
    diesel::sql_query(format!(
        "INSERT INTO renos.email_templates (id, org_id, name, language, subject, body, keywords, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TEMPLATE}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.name)
    .bind::<Text, _>(new.language)
    .bind::<Text, _>(new.subject)
    .bind::<Text, _>(new.body)
    .bind::<Array<Text>, _>(new.keywords)
    .bind::<Integer, _>(new.position)
    .get_result(conn)
    .await
}

/// The organization's templates in the order they are tried.
pub async fn templates(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Vec<Template>, Error> {
    diesel::sql_query(format!(
        "SELECT {TEMPLATE} FROM renos.email_templates WHERE org_id = $1 ORDER BY position, name LIMIT 500"
    ))
    .bind::<SqlUuid, _>(org_id)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Response {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub thread_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub reply_to_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub template_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub sent_message_id: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub decided_at: Option<DateTime<Utc>>,
}

const RESPONSE: &str = "id, thread_id, reply_to_id, template_id, subject, body, status, \
    sent_message_id, created_at, decided_at";

pub struct NewResponse<'a> {
    pub org_id: Uuid,
    pub thread_id: Uuid,
    pub reply_to_id: Uuid,
    pub template_id: Uuid,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Suggests a response to an inbound message (one per message).
pub async fn suggest(conn: &mut AsyncPgConnection, new: NewResponse<'_>) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO renos.email_responses (id, org_id, cvr, thread_id, reply_to_id, template_id, subject, body) \
         SELECT $1, $2, t.cvr, t.id, $4, $5, $6, $7 FROM renos.email_threads t WHERE t.id = $3 \
         ON CONFLICT (reply_to_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<SqlUuid, _>(new.thread_id)
    .bind::<SqlUuid, _>(new.reply_to_id)
    .bind::<SqlUuid, _>(new.template_id)
    .bind::<Text, _>(new.subject)
    .bind::<Text, _>(new.body)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn responses(
    conn: &mut AsyncPgConnection,
    thread_id: Uuid,
) -> Result<Vec<Response>, Error> {
    diesel::sql_query(format!(
        "SELECT {RESPONSE} FROM renos.email_responses WHERE thread_id = $1 ORDER BY created_at, id"
    ))
    .bind::<SqlUuid, _>(thread_id)
    .load(conn)
    .await
}

pub async fn response_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Response, Error> {
    diesel::sql_query(format!(
        "SELECT {RESPONSE} FROM renos.email_responses WHERE id = $1 FOR UPDATE"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

pub async fn decide(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: &str,
    by: Uuid,
    sent_message_id: Option<Uuid>,
) -> Result<Response, Error> {
    diesel::sql_query(format!(
        "UPDATE renos.email_responses SET status = $2, sent_by = $3, sent_message_id = $4, \
         decided_at = now() WHERE id = $1 RETURNING {RESPONSE}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(status)
    .bind::<SqlUuid, _>(by)
    .bind::<Nullable<SqlUuid>, _>(sent_message_id)
    .get_result(conn)
    .await
}

/// The thread a message belongs to, and its raw form.
pub async fn message_raw(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<(Uuid, Option<Vec<u8>>), Error> {
    #[derive(QueryableByName)]
    struct Raw {
        #[diesel(sql_type = SqlUuid)]
        thread_id: Uuid,
        #[diesel(sql_type = Nullable<Bytea>)]
        raw: Option<Vec<u8>>,
    }
    let row: Raw =
        diesel::sql_query("SELECT thread_id, raw FROM renos.email_messages WHERE id = $1")
            .bind::<SqlUuid, _>(id)
            .get_result(conn)
            .await?;
    Ok((row.thread_id, row.raw))
}

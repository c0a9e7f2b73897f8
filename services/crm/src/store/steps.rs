//! Process steps (next-step recommendations) and the facts the recommender reads.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::recommender::{
    AwaitingReply, Candidate, Facts, OpenDeal, OpenTask, RecentInteraction, SimilarCase,
};

type SqlUuid = diesel::sql_types::Uuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Step {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub cvr: String,
    #[diesel(sql_type = Text)]
    pub recommendation_text: String,
    #[diesel(sql_type = Double)]
    pub confidence_score: f64,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub rule: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub source_ref: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub based_on_conversation_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub based_on_thread_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub created_by: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const STEP: &str = "id, cvr, recommendation_text, confidence_score::float8 AS confidence_score, \
    reason, rule, source_ref, based_on_conversation_id, based_on_thread_id, status, created_by, created_at";

/// What the recommender needs about one company, read under the caller's access.
pub async fn facts(conn: &mut AsyncPgConnection, org_id: Uuid, cvr: &str) -> Result<Facts, Error> {
    #[derive(QueryableByName)]
    struct TaskRow {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        title: String,
        #[diesel(sql_type = Nullable<Date>)]
        due_date: Option<NaiveDate>,
    }
    #[derive(QueryableByName)]
    struct DealRow {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        title: String,
        #[diesel(sql_type = BigInt)]
        value_ore: i64,
        #[diesel(sql_type = Timestamptz)]
        updated_at: DateTime<Utc>,
    }
    #[derive(QueryableByName)]
    struct InteractionRow {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        channel: String,
        #[diesel(sql_type = Nullable<Text>)]
        content: Option<String>,
        #[diesel(sql_type = Nullable<Double>)]
        score: Option<f64>,
        #[diesel(sql_type = Timestamptz)]
        at: DateTime<Utc>,
    }
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = Nullable<Timestamptz>)]
        at: Option<DateTime<Utc>>,
    }
    let tasks: Vec<TaskRow> = diesel::sql_query(
        "SELECT id, title, due_date FROM tasks WHERE org_id = $1 AND cvr = $2 AND status = 'open'",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .load(conn)
    .await?;
    // Open deals: in a stage whose outcome is open (the org's stages, or the default keys).
    let deals: Vec<DealRow> = diesel::sql_query(
        "SELECT d.id, d.title, d.value_ore, d.updated_at FROM deals d \
         WHERE d.org_id = $1 AND d.cvr = $2 AND d.closed_at IS NULL",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .load(conn)
    .await?;
    let interactions: Vec<InteractionRow> = diesel::sql_query(
        "SELECT id, channel, content, (sentiment ->> 'score')::float8 AS score, \"timestamp\" AS at \
         FROM customer_interactions WHERE org_id = $1 AND cvr = $2 \
         AND \"timestamp\" > now() - interval '30 days'",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .load(conn)
    .await?;
    let last: Last = diesel::sql_query(
        "SELECT max(occurred_at) AS at FROM activities WHERE org_id = $1 AND cvr = $2",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .get_result(conn)
    .await?;
    #[derive(QueryableByName)]
    struct SimilarRow {
        #[diesel(sql_type = SqlUuid)]
        document_id: Uuid,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Timestamptz)]
        occurred_at: DateTime<Utc>,
        #[diesel(sql_type = SqlUuid)]
        similar_document_id: Uuid,
        #[diesel(sql_type = Text)]
        similar_kind: String,
        #[diesel(sql_type = Text)]
        similar_name: String,
        #[diesel(sql_type = Timestamptz)]
        similar_occurred_at: DateTime<Utc>,
        #[diesel(sql_type = Double)]
        score: f64,
    }
    // The closest earlier case of each recent item.
    let similar: Vec<SimilarRow> = diesel::sql_query(
        "SELECT DISTINCT ON (document_id) document_id, kind, name, occurred_at, \
         similar_document_id, similar_kind, similar_name, similar_occurred_at, score \
         FROM similar_items WHERE org_id = $1 AND cvr = $2 \
         AND occurred_at > now() - interval '30 days' \
         ORDER BY document_id, score DESC",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .load(conn)
    .await?;
    #[derive(QueryableByName)]
    struct AwaitingRow {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Text)]
        title: String,
        #[diesel(sql_type = Nullable<Text>)]
        customer_email: Option<String>,
        #[diesel(sql_type = Timestamptz)]
        last_at: DateTime<Utc>,
    }
    let awaiting: Vec<AwaitingRow> = diesel::sql_query(
        "SELECT id, kind, title, customer_email, last_at FROM communications \
         WHERE org_id = $1 AND cvr = $2 AND awaiting_reply AND last_at > now() - interval '30 days' \
         ORDER BY last_at LIMIT 20",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .load(conn)
    .await?;
    let now = Utc::now();
    Ok(Facts {
        today: now.date_naive(),
        now,
        open_tasks: tasks
            .into_iter()
            .map(|t| OpenTask {
                id: t.id,
                title: t.title,
                due_date: t.due_date,
            })
            .collect(),
        open_deals: deals
            .into_iter()
            .map(|d| OpenDeal {
                id: d.id,
                title: d.title,
                value_ore: d.value_ore,
                updated_at: d.updated_at,
            })
            .collect(),
        recent_interactions: interactions
            .into_iter()
            .map(|i| RecentInteraction {
                id: i.id,
                channel: i.channel,
                content: i.content,
                score: i.score,
                at: i.at,
            })
            .collect(),
        last_activity: last.at,
        similar_items: similar
            .into_iter()
            .map(|r| SimilarCase {
                document_id: r.document_id,
                kind: r.kind,
                name: r.name,
                at: r.occurred_at,
                earlier_id: r.similar_document_id,
                earlier_kind: r.similar_kind,
                earlier_name: r.similar_name,
                earlier_at: r.similar_occurred_at,
                score: r.score,
            })
            .collect(),
        awaiting_reply: awaiting
            .into_iter()
            .map(|a| AwaitingReply {
                id: a.id,
                kind: a.kind,
                title: a.title,
                customer_email: a.customer_email,
                last_at: a.last_at,
            })
            .collect(),
    })
}

/// Stores new candidates; one already known (active, completed or skipped) is left alone.
pub async fn propose(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    candidates: &[Candidate],
) -> Result<usize, Error> {
    let mut added = 0;
    for candidate in candidates {
        let inserted: Vec<Step> = diesel::sql_query(format!(
            "INSERT INTO process_steps (id, org_id, cvr, recommendation_text, confidence_score, \
             reason, rule, source_ref, based_on_conversation_id, based_on_thread_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (org_id, cvr, rule, source_ref) WHERE rule IS NOT NULL DO NOTHING \
             RETURNING {STEP}"
        ))
        .bind::<SqlUuid, _>(Uuid::now_v7())
        .bind::<SqlUuid, _>(org_id)
        .bind::<Text, _>(cvr)
        .bind::<Text, _>(&candidate.text)
        .bind::<Double, _>(candidate.confidence)
        .bind::<Text, _>(&candidate.reason)
        .bind::<Text, _>(candidate.rule)
        .bind::<Text, _>(&candidate.source_ref)
        .bind::<Nullable<SqlUuid>, _>(candidate.based_on_conversation_id)
        .bind::<Nullable<SqlUuid>, _>(candidate.based_on_thread_id)
        .load(conn)
        .await?;
        for step in &inserted {
            announce(conn, org_id, step).await?;
        }
        added += inserted.len();
    }
    Ok(added)
}

pub struct ManualStep<'a> {
    pub text: &'a str,
    pub confidence: f64,
    pub reason: &'a str,
    pub based_on_conversation_id: Option<Uuid>,
    pub based_on_thread_id: Option<Uuid>,
    pub by: Uuid,
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    step: ManualStep<'_>,
) -> Result<Step, Error> {
    let step: Step = diesel::sql_query(format!(
        "INSERT INTO process_steps (id, org_id, cvr, recommendation_text, confidence_score, reason, \
         based_on_conversation_id, based_on_thread_id, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {STEP}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .bind::<Text, _>(step.text)
    .bind::<Double, _>(step.confidence)
    .bind::<Text, _>(step.reason)
    .bind::<Nullable<SqlUuid>, _>(step.based_on_conversation_id)
    .bind::<Nullable<SqlUuid>, _>(step.based_on_thread_id)
    .bind::<SqlUuid, _>(step.by)
    .get_result(conn)
    .await?;
    announce(conn, org_id, &step).await?;
    Ok(step)
}

/// A company's steps, most confident first.
pub async fn list(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    status: Option<&str>,
) -> Result<Vec<Step>, Error> {
    diesel::sql_query(format!(
        "SELECT {STEP} FROM process_steps WHERE org_id = $1 AND cvr = $2 \
         AND ($3::text IS NULL OR status = $3) ORDER BY confidence_score DESC, created_at, id"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .bind::<Nullable<Text>, _>(status)
    .load(&mut { conn })
    .await
}

async fn announce(conn: &mut AsyncPgConnection, org_id: Uuid, step: &Step) -> Result<(), Error> {
    crate::events::publish(
        conn,
        "process_step",
        org_id,
        &step.cvr,
        step.id,
        &tekup_proto::crm::v1::ProcessStepChanged {
            step_id: step.id.to_string(),
            org_id: org_id.to_string(),
            cvr: step.cvr.clone(),
            status: step.status.clone(),
            confidence_score: step.confidence_score,
        },
    )
    .await?;
    Ok(())
}

pub async fn set_status(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
    status: &str,
) -> Result<Step, Error> {
    let step: Step = diesel::sql_query(format!(
        "UPDATE process_steps SET status = $4, updated_at = now() \
         WHERE id = $1 AND org_id = $2 AND cvr = $3 RETURNING {STEP}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .bind::<Text, _>(status)
    .get_result(conn)
    .await?;
    announce(conn, org_id, &step).await?;
    Ok(step)
}

/// The kinds of item on a company's timeline, in the order its filter lists them.
pub const KINDS: [&str; 13] = [
    "conversation",
    "email_thread",
    "email",
    "document",
    "activity",
    "task",
    "deal",
    "process_step",
    "interaction",
    "price_calculation",
    "quote",
    "booking",
    "invoice",
];

#[derive(Debug, Clone, QueryableByName)]
pub struct TimelineItem {
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub detail: Option<String>,
    /// The amount of a price calculation, quote or invoice.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub amount_ore: Option<i64>,
}

/// Everything about a company, newest first: activities, interactions, tasks, deals, process
/// steps, logged e-mails, renos's chatbot conversations, e-mail threads, price calculations,
/// quotes, bookings and invoices, and the documents uploaded to vault.
pub async fn timeline(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    kinds: Option<Vec<String>>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<TimelineItem>, Error> {
    let (before_at, before_id) = before.unzip();
    diesel::sql_query(
        "SELECT * FROM ( \
           SELECT 'activity' AS kind, id, occurred_at AS at, subject AS title, kind AS detail, \
                  NULL::bigint AS amount_ore \
             FROM activities WHERE org_id = $1 AND cvr = $2 \
           UNION ALL SELECT 'interaction', id, \"timestamp\", event_type, left(content, 200), NULL \
             FROM customer_interactions WHERE org_id = $1 AND cvr = $2 \
           UNION ALL SELECT 'task', id, created_at, title, status, NULL FROM tasks WHERE org_id = $1 AND cvr = $2 \
           UNION ALL SELECT 'deal', id, updated_at, title, stage, value_ore FROM deals WHERE org_id = $1 AND cvr = $2 \
           UNION ALL SELECT 'process_step', id, created_at, recommendation_text, status, NULL \
             FROM process_steps WHERE org_id = $1 AND cvr = $2 \
           UNION ALL SELECT 'email', id, sent_at, subject, direction, NULL FROM emails WHERE org_id = $1 AND cvr = $2 \
           UNION ALL SELECT kind, id, last_at, title, left(messages -> -1 ->> 'text', 200), NULL \
             FROM communications WHERE org_id = $1 AND cvr = $2 \
           UNION ALL SELECT kind, id, updated_at, title, status, amount_ore \
             FROM company_records WHERE org_id = $1 AND cvr = $2 \
         ) items \
         WHERE ($3::text[] IS NULL OR kind = ANY($3)) \
           AND ($4::timestamptz IS NULL OR (at, id) < ($4, $5)) \
         ORDER BY at DESC, id DESC LIMIT $6",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .bind::<Nullable<diesel::sql_types::Array<Text>>, _>(kinds)
    .bind::<Nullable<Timestamptz>, _>(before_at)
    .bind::<Nullable<SqlUuid>, _>(before_id)
    .bind::<BigInt, _>(limit)
    .load(&mut { conn })
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Communication {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub cvr: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub customer_email: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub messages: serde_json::Value,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub message_count: i32,
    #[diesel(sql_type = Timestamptz)]
    pub first_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub awaiting_reply: bool,
}

/// One of the company's conversations or e-mail threads, as renos announced it.
pub async fn communication(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
) -> Result<Communication, Error> {
    diesel::sql_query(
        "SELECT id, cvr, kind, title, channel, customer_email, messages, message_count, first_at, \
         last_at, awaiting_reply FROM communications WHERE org_id = $1 AND cvr = $2 AND id = $3",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .bind::<SqlUuid, _>(id)
    .get_result(&mut { conn })
    .await
}

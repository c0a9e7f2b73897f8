//! Conversations, chatbot sessions and their messages, labels, escalations raised from
//! messages, and the lookups that tie an item to a customer.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{Array, BigInt, Bool, Float4, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Conversation {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub customer_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub customer_email: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub metadata: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr_source: Option<String>,
    #[diesel(sql_type = Integer)]
    pub message_count: i32,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_message_at: Option<DateTime<Utc>>,
}

const CONVERSATION: &str = "id, org_id, cvr, customer_id, channel, title, customer_email, metadata, \
    cvr_source, message_count, created_at, last_message_at";

pub async fn conversation(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Conversation, Error> {
    diesel::sql_query(format!(
        "SELECT {CONVERSATION} FROM renos.conversations WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

/// Conversations the user may read, newest first.
pub async fn conversations(
    conn: &mut AsyncPgConnection,
    cvr: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Conversation>, Error> {
    let (at, id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {CONVERSATION} FROM renos.conversations WHERE ($1::text IS NULL OR cvr = $1) \
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind::<Nullable<Text>, _>(cvr)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Session {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub conversation_id: Uuid,
    #[diesel(sql_type = Text)]
    pub external_key: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub bot_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub channel_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub visitor_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub conversation_url: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub assignee: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    pub labels: Vec<String>,
    #[diesel(sql_type = Jsonb)]
    pub variables: serde_json::Value,
}

const SESSION: &str = "id, conversation_id, external_key, bot_id, channel_name, visitor_name, \
    conversation_url, status, assignee, labels, variables";

pub async fn session_of(
    conn: &mut AsyncPgConnection,
    conversation_id: Uuid,
) -> Result<Option<Session>, Error> {
    let found: Vec<Session> = diesel::sql_query(format!(
        "SELECT {SESSION} FROM renos.chat_sessions WHERE conversation_id = $1"
    ))
    .bind::<SqlUuid, _>(conversation_id)
    .load(conn)
    .await?;
    Ok(found.into_iter().next())
}

/// The chatbot session with this key, created (with its conversation) on first sight.
pub async fn session(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    external_key: &str,
    at: DateTime<Utc>,
) -> Result<Session, Error> {
    let existing: Vec<Session> = diesel::sql_query(format!(
        "SELECT {SESSION} FROM renos.chat_sessions \
         WHERE org_id = $1 AND provider = 'wotnot' AND external_key = $2 FOR UPDATE"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(external_key)
    .load(conn)
    .await?;
    if let Some(session) = existing.into_iter().next() {
        return Ok(session);
    }
    let conversation_id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO renos.conversations (id, org_id, channel, created_at) VALUES ($1, $2, 'chatbot', $3)",
    )
    .bind::<SqlUuid, _>(conversation_id)
    .bind::<SqlUuid, _>(org_id)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await?;
    diesel::sql_query(format!(
        "INSERT INTO renos.chat_sessions (id, org_id, conversation_id, external_key, started_at, last_event_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {SESSION}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<SqlUuid, _>(conversation_id)
    .bind::<Text, _>(external_key)
    .bind::<Timestamptz, _>(at)
    .get_result(conn)
    .await
}

/// What one event says about its session; `None` leaves a field as it was.
pub struct SessionUpdate<'a> {
    pub title: Option<&'a str>,
    pub bot_id: Option<&'a str>,
    pub channel_name: Option<&'a str>,
    pub channel_provider: Option<&'a str>,
    pub visitor_name: Option<&'a str>,
    pub contact_id: Option<&'a str>,
    pub conversation_url: Option<&'a str>,
    pub variables: serde_json::Value,
    pub assignee: Option<&'a str>,
    pub closed: Option<bool>,
    pub label: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// The event as received, appended to the conversation's raw form once.
    pub raw: &'a serde_json::Value,
}

/// Applies an event to its session and conversation; returns `false`, changing nothing, when
/// the conversation already holds this very event (a redelivery).
pub async fn update_session(
    conn: &mut AsyncPgConnection,
    session: &Session,
    update: SessionUpdate<'_>,
) -> Result<bool, Error> {
    let new = diesel::sql_query(
        "UPDATE renos.conversations SET title = coalesce(nullif($2, ''), title), \
           metadata = metadata || $3, created_at = least(created_at, $4), \
           raw_conversation = raw_conversation || jsonb_build_array($5::jsonb) \
         WHERE id = $1 AND NOT raw_conversation @> jsonb_build_array($5::jsonb)",
    )
    .bind::<SqlUuid, _>(session.conversation_id)
    .bind::<Nullable<Text>, _>(update.title)
    .bind::<Jsonb, _>(&update.variables)
    .bind::<Timestamptz, _>(update.at)
    .bind::<Jsonb, _>(update.raw)
    .execute(conn)
    .await?
        == 1;
    if !new {
        return Ok(false);
    }
    diesel::sql_query(
        "UPDATE renos.chat_sessions SET bot_id = coalesce($2, bot_id), \
           channel_name = coalesce($3, channel_name), channel_provider = coalesce($4, channel_provider), \
           visitor_name = coalesce($5, visitor_name), contact_id = coalesce($6, contact_id), \
           conversation_url = coalesce($7, conversation_url), variables = variables || $8, \
           assignee = coalesce($9, assignee), \
           status = CASE WHEN $10 IS NULL THEN status WHEN $10 THEN 'closed' ELSE 'open' END, \
           labels = CASE WHEN $11::text IS NULL OR $11 = ANY(labels) THEN labels ELSE labels || $11::text END, \
           last_event_at = greatest(last_event_at, $12), started_at = least(started_at, $12) \
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(session.id)
    .bind::<Nullable<Text>, _>(update.bot_id)
    .bind::<Nullable<Text>, _>(update.channel_name)
    .bind::<Nullable<Text>, _>(update.channel_provider)
    .bind::<Nullable<Text>, _>(update.visitor_name)
    .bind::<Nullable<Text>, _>(update.contact_id)
    .bind::<Nullable<Text>, _>(update.conversation_url)
    .bind::<Jsonb, _>(&update.variables)
    .bind::<Nullable<Text>, _>(update.assignee)
    .bind::<Nullable<Bool>, _>(update.closed)
    .bind::<Nullable<Text>, _>(update.label)
    .bind::<Timestamptz, _>(update.at)
    .execute(conn)
    .await?;
    Ok(true)
}

pub struct NewChatMessage<'a> {
    pub org_id: Uuid,
    pub session: &'a Session,
    pub dedupe_key: &'a str,
    pub author: &'a str,
    pub text: &'a str,
    pub sentiment: f32,
    pub urgent: bool,
    pub sent_at: DateTime<Utc>,
}

/// Stores a chat message once; `None` when the event was seen before.
pub async fn add_chat_message(
    conn: &mut AsyncPgConnection,
    new: NewChatMessage<'_>,
) -> Result<Option<Uuid>, Error> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let inserted: Vec<Id> = diesel::sql_query(
        "INSERT INTO renos.chat_messages (id, org_id, cvr, session_id, dedupe_key, author, text, sentiment, urgent, sent_at) \
         SELECT $1, $2, c.cvr, $3, $4, $5, $6, $7, $8, $9 FROM renos.conversations c WHERE c.id = $10 \
         ON CONFLICT (session_id, dedupe_key) DO NOTHING RETURNING id",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<SqlUuid, _>(new.session.id)
    .bind::<Text, _>(new.dedupe_key)
    .bind::<Text, _>(new.author)
    .bind::<Text, _>(new.text)
    .bind::<Float4, _>(new.sentiment)
    .bind::<Bool, _>(new.urgent)
    .bind::<Timestamptz, _>(new.sent_at)
    .bind::<SqlUuid, _>(new.session.conversation_id)
    .load(conn)
    .await?;
    let Some(row) = <[_]>::first(&inserted) else {
        return Ok(None);
    };
    diesel::sql_query(
        "UPDATE renos.conversations SET message_count = message_count + 1, \
         last_message_at = greatest(last_message_at, $2) WHERE id = $1",
    )
    .bind::<SqlUuid, _>(new.session.conversation_id)
    .bind::<Timestamptz, _>(new.sent_at)
    .execute(conn)
    .await?;
    Ok(Some(row.id))
}

#[derive(Debug, Clone, QueryableByName)]
pub struct ChatMessage {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub author: String,
    #[diesel(sql_type = Text)]
    pub text: String,
    #[diesel(sql_type = Float4)]
    pub sentiment: f32,
    #[diesel(sql_type = Bool)]
    pub urgent: bool,
    #[diesel(sql_type = Timestamptz)]
    pub sent_at: DateTime<Utc>,
}

/// A session's messages, oldest first.
pub async fn chat_messages(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
) -> Result<Vec<ChatMessage>, Error> {
    diesel::sql_query(
        "SELECT id, author, text, sentiment, urgent, sent_at FROM renos.chat_messages \
         WHERE session_id = $1 ORDER BY sent_at, id",
    )
    .bind::<SqlUuid, _>(session_id)
    .load(conn)
    .await
}

/// Ties a conversation (its session and messages) to a customer and CVR found later.
pub async fn tie_conversation(
    conn: &mut AsyncPgConnection,
    conversation_id: Uuid,
    cvr: Option<&str>,
    customer_id: Option<Uuid>,
    customer_email: Option<&str>,
    cvr_source: Option<&str>,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE renos.conversations SET cvr = coalesce($2, cvr), customer_id = coalesce($3, customer_id), \
         customer_email = coalesce($4, customer_email), cvr_source = coalesce($5, cvr_source) WHERE id = $1",
    )
    .bind::<SqlUuid, _>(conversation_id)
    .bind::<Nullable<Text>, _>(cvr)
    .bind::<Nullable<SqlUuid>, _>(customer_id)
    .bind::<Nullable<Text>, _>(customer_email)
    .bind::<Nullable<Text>, _>(cvr.and(cvr_source))
    .execute(conn)
    .await?;
    if cvr.is_some() {
        diesel::sql_query(
            "UPDATE renos.chat_sessions SET cvr = $2 WHERE conversation_id = $1 AND cvr IS DISTINCT FROM $2",
        )
        .bind::<SqlUuid, _>(conversation_id)
        .bind::<Nullable<Text>, _>(cvr)
        .execute(conn)
        .await?;
        diesel::sql_query(
            "UPDATE renos.chat_messages m SET cvr = $2 FROM renos.chat_sessions s \
             WHERE s.conversation_id = $1 AND m.session_id = s.id AND m.cvr IS DISTINCT FROM $2",
        )
        .bind::<SqlUuid, _>(conversation_id)
        .bind::<Nullable<Text>, _>(cvr)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Adds a label to the organization's catalogue (when new).
pub async fn ensure_label(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO renos.labels (id, org_id, name) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id, lower(name)) DO NOTHING",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Label {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub color: String,
}

pub async fn create_label(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
    color: &str,
) -> Result<Option<Label>, Error> {
    let created: Vec<Label> = diesel::sql_query(
        "INSERT INTO renos.labels (id, org_id, name, color) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, lower(name)) DO NOTHING RETURNING id, name, color",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .bind::<Text, _>(color)
    .load(conn)
    .await?;
    Ok(created.into_iter().next())
}

pub async fn labels(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Vec<Label>, Error> {
    diesel::sql_query(
        "SELECT id, name, color FROM renos.labels WHERE org_id = $1 ORDER BY lower(name) LIMIT 1000",
    )
    .bind::<SqlUuid, _>(org_id)
    .load(conn)
    .await
}

/// Which of `names` are not in the organization's catalogue.
pub async fn unknown_labels(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    names: &[String],
) -> Result<Vec<String>, Error> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let unknown: Vec<Name> = diesel::sql_query(
        "SELECT n AS name FROM unnest($2::text[]) AS n WHERE NOT EXISTS \
         (SELECT 1 FROM renos.labels l WHERE l.org_id = $1 AND lower(l.name) = lower(n))",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Array<Text>, _>(names)
    .load(conn)
    .await?;
    Ok(unknown.into_iter().map(|n| n.name).collect())
}

/// Where an escalation raised from a message points.
pub struct RaisedEscalation<'a> {
    pub org_id: Uuid,
    pub cvr: Option<&'a str>,
    pub customer_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
    pub email_thread_id: Option<Uuid>,
    pub source_message_id: Uuid,
    pub severity: &'a str,
    pub description: &'a str,
}

/// Raises an escalation for a message (once per message).
pub async fn raise(conn: &mut AsyncPgConnection, new: RaisedEscalation<'_>) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO renos.escalations (id, org_id, cvr, customer_id, conversation_id, email_thread_id, \
         source_message_id, severity, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (source_message_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Nullable<Text>, _>(new.cvr)
    .bind::<Nullable<SqlUuid>, _>(new.customer_id)
    .bind::<Nullable<SqlUuid>, _>(new.conversation_id)
    .bind::<Nullable<SqlUuid>, _>(new.email_thread_id)
    .bind::<SqlUuid, _>(new.source_message_id)
    .bind::<Text, _>(new.severity)
    .bind::<Text, _>(new.description)
    .execute(conn)
    .await?;
    Ok(())
}

/// A customer an address or a CVR points to.
#[derive(Debug, Clone, QueryableByName)]
pub struct Match {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
}

/// The customer with one of these e-mail addresses.
pub async fn customer_by_email(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    addresses: &[String],
) -> Result<Option<Match>, Error> {
    let found: Vec<Match> = diesel::sql_query(
        "SELECT id, cvr FROM renos.customers WHERE org_id = $1 AND lower(email) = ANY($2) \
         ORDER BY array_position($2, lower(email)), created_at LIMIT 1",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Array<Text>, _>(addresses)
    .load(conn)
    .await?;
    Ok(found.into_iter().next())
}

/// The business customer whose e-mail address is at one of these domains.
pub async fn customer_by_domain(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    domains: &[String],
) -> Result<Option<Match>, Error> {
    let found: Vec<Match> = diesel::sql_query(
        "SELECT id, cvr FROM renos.customers WHERE org_id = $1 AND cvr IS NOT NULL \
           AND lower(split_part(email, '@', 2)) = ANY($2) ORDER BY created_at LIMIT 1",
    )
    .bind::<SqlUuid, _>(org_id)
    .bind::<Array<Text>, _>(domains)
    .load(conn)
    .await?;
    Ok(found.into_iter().next())
}

/// The business customer with this CVR.
pub async fn customer_by_cvr(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
) -> Result<Option<Match>, Error> {
    let found: Vec<Match> =
        diesel::sql_query("SELECT id, cvr FROM renos.customers WHERE org_id = $1 AND cvr = $2")
            .bind::<SqlUuid, _>(org_id)
            .bind::<Text, _>(cvr)
            .load(conn)
            .await?;
    Ok(found.into_iter().next())
}

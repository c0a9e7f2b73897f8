//! Conversations and e-mail: ingestion of forwarded and imported e-mails, threads with their
//! messages and attachments, chatbot conversations, labels, templates and responses.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::http::{media_type, read_body};
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::FieldError;
use tekup_runtime::validate::{check, text};
use tekup_runtime::{Problem, in_context};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{invalid, not_found, org_editor, require};
use crate::domain::mail;
use crate::inbound;
use crate::store::chat::{self, ChatMessage, Conversation, Label, Session};
use crate::store::mail::{
    self as mailstore, Message, NewTemplate, Response, Run, Template, Thread,
};

/// The largest upload or mailbox import taken in one request.
pub const MAX_IMPORT: usize = 25 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    id: Uuid,
    /// upload, mbox or webhook.
    source: String,
    received: i32,
    ingested: i32,
    /// Messages already stored (by Message-ID): nothing changed for them.
    duplicates: i32,
    failed: i32,
    /// Per failed message: {index, message_id, reason}.
    #[schema(value_type = Vec<Object>)]
    errors: serde_json::Value,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        Self {
            id: r.id,
            source: r.source,
            received: r.received,
            ingested: r.ingested,
            duplicates: r.duplicates,
            failed: r.failed,
            errors: r.errors,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// Ingest e-mails (administrators): one forwarded message as `message/rfc822`, or a mailbox
/// (`application/mbox`) for back-fills. The run records what was ingested, what was known
/// already, and why any message failed; the rest of the batch is ingested regardless.
#[utoipa::path(post, path = "/v1/email/ingest", tag = "communications", security(("user" = [])),
    request_body(content = String, description = "One RFC 5322 message, or an mbox file", content_type = "message/rfc822"),
    responses((status = 201, body = RunView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 413, body = Problem, content_type = "application/problem+json"),
              (status = 415, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn ingest(
    principal: Principal,
    pool: web::Data<Pool>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let source = match media_type(&req).as_str() {
        "message/rfc822" => "upload",
        "application/mbox" => "mbox",
        _ => {
            return Err(Problem::unsupported_media_type(
                "Send one e-mail as message/rfc822 or a mailbox as application/mbox.",
            ));
        }
    };
    let body = read_body(payload, MAX_IMPORT).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("body", "is empty"));
    }
    let messages = if source == "mbox" {
        mail::split_mbox(&body)
    } else {
        vec![body.to_vec()]
    };
    let run = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            inbound::ingest_mails(
                conn,
                principal.org_id,
                source,
                Some(principal.user_id),
                &messages,
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(RunView::from(run)))
}

/// The organization's e-mail ingest runs, newest first.
#[utoipa::path(get, path = "/v1/email/ingest-runs", tag = "communications", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of runs: {items, next_cursor}")))]
pub async fn runs(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let after = parse_time_cursor(query.after.as_deref())?;
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(mailstore::runs(conn, after, limit).await?)
    })?;
    let views: Vec<RunView> = list.into_iter().map(RunView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |r| time_cursor(r.started_at, r.id))))
}

/// One ingest run.
#[utoipa::path(get, path = "/v1/email/ingest-runs/{id}", tag = "communications", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RunView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn run(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let run = in_context!(&pool, principal.context(), |conn| {
        mailstore::run(conn, *id)
            .await
            .map_err(not_found("such ingest run"))
    })?;
    Ok(HttpResponse::Ok().json(RunView::from(run)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadView {
    id: Uuid,
    cvr: Option<String>,
    customer_id: Option<Uuid>,
    subject: String,
    customer_email: Option<String>,
    participants: Vec<String>,
    /// [{message_id, index, filename, content_type, size, sha256}]; fetch one at
    /// /v1/email/messages/{message_id}/attachments/{index}.
    #[schema(value_type = Vec<Object>)]
    attachments: serde_json::Value,
    labels: Vec<String>,
    /// open, answered or closed.
    status: String,
    /// How the CVR was found: variable, email, text, domain.
    cvr_source: Option<String>,
    message_count: i32,
    created_at: DateTime<Utc>,
    last_updated: DateTime<Utc>,
}

impl From<Thread> for ThreadView {
    fn from(t: Thread) -> Self {
        Self {
            id: t.id,
            cvr: t.cvr,
            customer_id: t.customer_id,
            subject: t.thread_subject,
            customer_email: t.customer_email,
            participants: t.participants,
            attachments: t.attachments_links,
            labels: t.labels,
            status: t.status,
            cvr_source: t.cvr_source,
            message_count: t.message_count,
            created_at: t.created_at,
            last_updated: t.last_updated,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    /// Only threads of this company.
    cvr: Option<String>,
    /// open, answered or closed.
    status: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

const THREAD_STATUSES: [&str; 3] = ["open", "answered", "closed"];

/// E-mail threads the user may read, most recently updated first.
#[utoipa::path(get, path = "/v1/email/threads", tag = "communications", security(("user" = [])),
    params(ThreadQuery),
    responses((status = 200, description = "A page of threads: {items, next_cursor}"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn threads(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<ThreadQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        after: query.after,
    };
    let limit = page.limit()?;
    let after = parse_time_cursor(page.after.as_deref())?;
    let cvr = query
        .cvr
        .as_deref()
        .map(|c| tekup_runtime::validate::cvr("cvr", c))
        .transpose()?;
    if let Some(status) = &query.status
        && !THREAD_STATUSES.contains(&status.as_str())
    {
        return Err(invalid("status", "must be open, answered or closed"));
    }
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            mailstore::threads(
                conn,
                cvr.as_ref().map(|c| c.as_str()),
                query.status.as_deref(),
                after,
                limit,
            )
            .await?,
        )
    })?;
    let views: Vec<ThreadView> = list.into_iter().map(ThreadView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |t| {
        time_cursor(t.last_updated, t.id)
    })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    id: Uuid,
    message_id: String,
    in_reply_to: Option<String>,
    /// inbound or outbound.
    direction: String,
    from_address: String,
    from_name: Option<String>,
    to: Vec<String>,
    cc: Vec<String>,
    subject: String,
    text: String,
    #[schema(value_type = Vec<Object>)]
    attachments: serde_json::Value,
    /// -1 (very negative) to 1 (very positive).
    sentiment: f32,
    urgent: bool,
    sent_at: DateTime<Utc>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            message_id: m.message_id,
            in_reply_to: m.in_reply_to,
            direction: m.direction,
            from_address: m.from_address,
            from_name: m.from_name,
            to: m.to_addresses,
            cc: m.cc_addresses,
            subject: m.subject,
            text: m.body_text,
            attachments: m.attachments,
            sentiment: m.sentiment,
            urgent: m.urgent,
            sent_at: m.sent_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseView {
    id: Uuid,
    /// The inbound message it answers.
    reply_to_id: Uuid,
    template_id: Option<Uuid>,
    subject: String,
    body: String,
    /// suggested, sent or discarded.
    status: String,
    /// The outbound message recorded when it was sent.
    sent_message_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

impl From<Response> for ResponseView {
    fn from(r: Response) -> Self {
        Self {
            id: r.id,
            reply_to_id: r.reply_to_id,
            template_id: r.template_id,
            subject: r.subject,
            body: r.body,
            status: r.status,
            sent_message_id: r.sent_message_id,
            created_at: r.created_at,
            decided_at: r.decided_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadDetail {
    #[serde(flatten)]
    thread: ThreadView,
    /// Oldest first.
    messages: Vec<MessageView>,
    responses: Vec<ResponseView>,
}

async fn thread_access(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
    level: AccessLevel,
) -> Result<Thread, Problem> {
    let thread = mailstore::thread(conn, id)
        .await
        .map_err(not_found("such e-mail thread"))?;
    require(conn, principal, thread.cvr.as_deref(), level).await?;
    Ok(thread)
}

/// One thread with its messages and suggested or sent responses.
#[utoipa::path(get, path = "/v1/email/threads/{id}", tag = "communications", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ThreadDetail),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn thread(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let detail = in_context!(&pool, principal.context(), |conn| {
        let thread = thread_access(conn, &principal, *id, AccessLevel::Read).await?;
        let messages = mailstore::messages(conn, thread.id).await?;
        let responses = mailstore::responses(conn, thread.id).await?;
        Ok::<_, Problem>(ThreadDetail {
            thread: ThreadView::from(thread),
            messages: messages.into_iter().map(MessageView::from).collect(),
            responses: responses.into_iter().map(ResponseView::from).collect(),
        })
    })?;
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadChanges {
    /// open, answered or closed.
    status: Option<String>,
    /// Replaces the thread's labels; each must be in the organization's catalogue.
    labels: Option<Vec<String>>,
}

/// Close or reopen a thread, or set its labels (write access).
#[utoipa::path(patch, path = "/v1/email/threads/{id}", tag = "communications", security(("user" = [])),
    params(("id" = Uuid, Path)), request_body = ThreadChanges,
    responses((status = 200, body = ThreadView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update_thread(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
    body: web::Json<ThreadChanges>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    if let Some(status) = &body.status
        && !THREAD_STATUSES.contains(&status.as_str())
    {
        return Err(invalid("status", "must be open, answered or closed"));
    }
    let thread = in_context!(&pool, principal.context(), |conn| {
        let thread = thread_access(conn, &principal, *id, AccessLevel::Write).await?;
        if let Some(labels) = &body.labels {
            let unknown = chat::unknown_labels(conn, principal.org_id, labels).await?;
            if !unknown.is_empty() {
                return Err(invalid(
                    "labels",
                    format!("unknown labels: {}", unknown.join(", ")),
                ));
            }
        }
        mailstore::set_thread(
            conn,
            thread.id,
            body.status.as_deref(),
            body.labels.as_deref(),
        )
        .await?;
        Ok::<_, Problem>(mailstore::thread(conn, thread.id).await?)
    })?;
    Ok(HttpResponse::Ok().json(ThreadView::from(thread)))
}

/// Download one attachment of a stored message.
#[utoipa::path(get, path = "/v1/email/messages/{id}/attachments/{index}", tag = "communications",
    security(("user" = [])),
    params(("id" = Uuid, Path), ("index" = usize, Path)),
    responses((status = 200, description = "The attachment's bytes, with its content type"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn attachment(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(Uuid, usize)>,
) -> Result<HttpResponse, Problem> {
    let (id, index) = path.into_inner();
    let raw = in_context!(&pool, principal.context(), |conn| {
        let (thread_id, raw) = mailstore::message_raw(conn, id)
            .await
            .map_err(not_found("such message"))?;
        thread_access(conn, &principal, thread_id, AccessLevel::Read).await?;
        Ok::<_, Problem>(raw)
    })?;
    let (content_type, bytes) = raw
        .and_then(|raw| mail::attachment(&raw, index))
        .ok_or_else(|| Problem::not_found("No such attachment."))?;
    Ok(HttpResponse::Ok().content_type(content_type).body(bytes))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    name: String,
    /// da (default) or en.
    language: Option<String>,
    subject: String,
    /// May use {{name}}, {{subject}} and {{company}}.
    body: String,
    /// The template is suggested for an inbound message containing one of these.
    keywords: Vec<String>,
    /// Templates are tried in this order (lowest first).
    #[serde(default)]
    position: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    id: Uuid,
    name: String,
    language: String,
    subject: String,
    body: String,
    keywords: Vec<String>,
    position: i32,
    active: bool,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        Self {
            id: t.id,
            name: t.name,
            language: t.language,
            subject: t.subject,
            body: t.body,
            keywords: t.keywords,
            position: t.position,
            active: t.active,
        }
    }
}

/// Add an auto-response template (administrators and analysts).
#[utoipa::path(post, path = "/v1/email/templates", tag = "communications", security(("user" = [])),
    request_body = TemplateBody,
    responses((status = 201, body = TemplateView),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_template(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<TemplateBody>,
) -> Result<HttpResponse, Problem> {
    org_editor(&principal, "manage templates")?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let name = text("name", &body.name, 200, &mut errors);
    let subject = text("subject", &body.subject, 500, &mut errors);
    let template_body = text("body", &body.body, 20_000, &mut errors);
    let language = body.language.unwrap_or_else(|| "da".into());
    if !["da", "en"].contains(&language.as_str()) {
        errors.push(FieldError::new("language", "must be da or en"));
    }
    let keywords: Vec<String> = body
        .keywords
        .iter()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect();
    if keywords.is_empty() || keywords.len() > 50 || keywords.iter().any(|k| k.len() > 100) {
        errors.push(FieldError::new(
            "keywords",
            "must hold 1 to 50 keywords of at most 100 characters",
        ));
    }
    check(errors)?;
    let template = in_context!(&pool, principal.context(), |conn| {
        mailstore::create_template(
            conn,
            NewTemplate {
                org_id: principal.org_id,
                name: &name,
                language: &language,
                subject: &subject,
                body: &template_body,
                keywords: &keywords,
                position: body.position,
            },
        )
        .await
        .map_err(|err| match err {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => Problem::conflict("A template with this name exists."),
            other => other.into(),
        })
    })?;
    Ok(HttpResponse::Created().json(TemplateView::from(template)))
}

/// The organization's templates, in the order they are tried.
#[utoipa::path(get, path = "/v1/email/templates", tag = "communications", security(("user" = [])),
    responses((status = 200, body = [TemplateView])))]
pub async fn templates(
    principal: Principal,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, Problem> {
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(mailstore::templates(conn, principal.org_id).await?)
    })?;
    let views: Vec<TemplateView> = list.into_iter().map(TemplateView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Send a suggested response (it is recorded as the thread's outbound message, and the thread
/// is answered) or discard it (write access to the thread). A decided response is final.
#[utoipa::path(post, path = "/v1/email/responses/{id}/{action}", tag = "communications",
    security(("user" = [])),
    params(("id" = Uuid, Path), ("action" = String, Path, description = "send or discard")),
    responses((status = 200, body = ResponseView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn decide_response(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, Problem> {
    let (id, action) = path.into_inner();
    if !["send", "discard"].contains(&action.as_str()) {
        return Err(Problem::not_found("No such action: use send or discard."));
    }
    let response = in_context!(&pool, principal.context(), |conn| {
        let response = mailstore::response_for_update(conn, id)
            .await
            .map_err(not_found("such response"))?;
        let thread =
            thread_access(conn, &principal, response.thread_id, AccessLevel::Write).await?;
        if response.status != "suggested" {
            return Err(Problem::conflict(format!(
                "The response was {} already.",
                response.status
            )));
        }
        if action == "discard" {
            return Ok(mailstore::decide(conn, id, "discarded", principal.user_id, None).await?);
        }
        let messages = mailstore::messages(conn, thread.id).await?;
        let answered = messages
            .iter()
            .find(|m| m.id == response.reply_to_id)
            .ok_or_else(|| Problem::conflict("The message it answers is gone."))?;
        let from = answered
            .to_addresses
            .first()
            .cloned()
            .unwrap_or_else(|| "noreply@tekup.dk".into());
        let mut references: Vec<String> = Vec::new();
        references.extend(answered.in_reply_to.iter().cloned());
        references.push(answered.message_id.clone());
        let message_id = format!("{id}@renos.tekup.dk");
        let sent = mailstore::add_message(
            conn,
            mailstore::NewMessage {
                org_id: principal.org_id,
                thread_id: thread.id,
                message_id: &message_id,
                in_reply_to: Some(&answered.message_id),
                references: &references,
                direction: "outbound",
                from_address: &from,
                from_name: None,
                to: std::slice::from_ref(&answered.from_address),
                cc: &[],
                subject: &response.subject,
                body_text: &response.body,
                attachments: serde_json::json!([]),
                raw: None,
                sentiment: 0.0,
                urgent: false,
                sent_at: Utc::now(),
                ingest_run_id: None,
            },
        )
        .await?;
        let decided = mailstore::decide(conn, id, "sent", principal.user_id, sent).await?;
        let thread = mailstore::thread(conn, thread.id).await?;
        inbound::publish_thread(conn, &thread).await?;
        Ok::<_, Problem>(decided)
    })?;
    Ok(HttpResponse::Ok().json(ResponseView::from(response)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    id: Uuid,
    cvr: Option<String>,
    customer_id: Option<Uuid>,
    /// chatbot.
    channel: String,
    title: String,
    customer_email: Option<String>,
    /// How the CVR was found: variable, email, text, domain.
    cvr_source: Option<String>,
    message_count: i32,
    created_at: DateTime<Utc>,
    last_message_at: Option<DateTime<Utc>>,
}

impl From<Conversation> for ConversationView {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id,
            cvr: c.cvr,
            customer_id: c.customer_id,
            channel: c.channel,
            title: c.title,
            customer_email: c.customer_email,
            cvr_source: c.cvr_source,
            message_count: c.message_count,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// Only conversations of this company.
    cvr: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// Chatbot conversations the user may read, newest first.
#[utoipa::path(get, path = "/v1/conversations", tag = "communications", security(("user" = [])),
    params(ConversationQuery),
    responses((status = 200, description = "A page of conversations: {items, next_cursor}"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn conversations(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<ConversationQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        after: query.after,
    };
    let limit = page.limit()?;
    let after = parse_time_cursor(page.after.as_deref())?;
    let cvr = query
        .cvr
        .as_deref()
        .map(|c| tekup_runtime::validate::cvr("cvr", c))
        .transpose()?;
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            chat::conversations(conn, cvr.as_ref().map(|c| c.as_str()), after, limit).await?,
        )
    })?;
    let views: Vec<ConversationView> = list.into_iter().map(ConversationView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |c| time_cursor(c.created_at, c.id))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatMessageView {
    id: Uuid,
    /// visitor, bot, agent or note.
    author: String,
    text: String,
    sentiment: f32,
    urgent: bool,
    sent_at: DateTime<Utc>,
}

impl From<ChatMessage> for ChatMessageView {
    fn from(m: ChatMessage) -> Self {
        Self {
            id: m.id,
            author: m.author,
            text: m.text,
            sentiment: m.sentiment,
            urgent: m.urgent,
            sent_at: m.sent_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    external_key: String,
    bot_id: Option<String>,
    channel: Option<String>,
    visitor_name: Option<String>,
    conversation_url: Option<String>,
    /// open or closed.
    status: String,
    assignee: Option<String>,
    labels: Vec<String>,
    #[schema(value_type = Object)]
    variables: serde_json::Value,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        Self {
            external_key: s.external_key,
            bot_id: s.bot_id,
            channel: s.channel_name,
            visitor_name: s.visitor_name,
            conversation_url: s.conversation_url,
            status: s.status,
            assignee: s.assignee,
            labels: s.labels,
            variables: s.variables,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    conversation: ConversationView,
    session: Option<SessionView>,
    /// Oldest first.
    messages: Vec<ChatMessageView>,
}

/// One conversation with its chatbot session and messages.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "communications", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ConversationDetail),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn conversation(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let detail = in_context!(&pool, principal.context(), |conn| {
        let conversation = chat::conversation(conn, *id)
            .await
            .map_err(not_found("such conversation"))?;
        require(
            conn,
            &principal,
            conversation.cvr.as_deref(),
            AccessLevel::Read,
        )
        .await?;
        let session = chat::session_of(conn, conversation.id).await?;
        let messages = match &session {
            Some(s) => chat::chat_messages(conn, s.id).await?,
            None => Vec::new(),
        };
        Ok::<_, Problem>(ConversationDetail {
            conversation: ConversationView::from(conversation),
            session: session.map(SessionView::from),
            messages: messages.into_iter().map(ChatMessageView::from).collect(),
        })
    })?;
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelBody {
    name: String,
    /// #rrggbb (default grey).
    color: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LabelView {
    id: Uuid,
    name: String,
    color: String,
}

impl From<Label> for LabelView {
    fn from(l: Label) -> Self {
        Self {
            id: l.id,
            name: l.name,
            color: l.color,
        }
    }
}

/// Add a label to the organization's catalogue (administrators and analysts).
#[utoipa::path(post, path = "/v1/labels", tag = "communications", security(("user" = [])),
    request_body = LabelBody,
    responses((status = 201, body = LabelView),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_label(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<LabelBody>,
) -> Result<HttpResponse, Problem> {
    org_editor(&principal, "manage labels")?;
    let mut errors = Vec::new();
    let name = text("name", &body.name, 100, &mut errors);
    let color = body.color.clone().unwrap_or_else(|| "#808080".into());
    let hex = color.strip_prefix('#').unwrap_or_default();
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        errors.push(FieldError::new("color", "must be #rrggbb"));
    }
    check(errors)?;
    let created = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(chat::create_label(conn, principal.org_id, &name, &color).await?)
    })?;
    match created {
        Some(label) => Ok(HttpResponse::Created().json(LabelView::from(label))),
        None => Err(Problem::conflict("A label with this name exists.")),
    }
}

/// The organization's labels.
#[utoipa::path(get, path = "/v1/labels", tag = "communications", security(("user" = [])),
    responses((status = 200, body = [LabelView])))]
pub async fn labels(principal: Principal, pool: web::Data<Pool>) -> Result<HttpResponse, Problem> {
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(chat::labels(conn, principal.org_id).await?)
    })?;
    let views: Vec<LabelView> = list.into_iter().map(LabelView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

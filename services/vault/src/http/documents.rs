//! Documents of a company: upload (JSON or multipart), list, versions, delete, and sync from
//! other sources.

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::FieldError;
use tekup_runtime::validate::{check, text};
use tekup_runtime::{Problem, in_company, in_context};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cvr, not_found};
use crate::State;
use crate::store::documents::{self, Document, ListFilter, NewVersion, Outcome, Version};
use crate::store::{categories, sync};

/// Content types a document may have: text, which is what gets searched.
const TEXT_TYPES: &[&str] = &[
    "text/plain",
    "text/markdown",
    "text/csv",
    "text/html",
    "application/json",
];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentBody {
    /// The document's name; a new upload with the same name for the same company makes a new
    /// version of it.
    name: String,
    /// The text.
    content: String,
    /// One of text/plain (default), text/markdown, text/csv, text/html, application/json.
    content_type: Option<String>,
    category_id: Option<Uuid>,
    /// When what the document records happened; now when absent.
    occurred_at: Option<DateTime<Utc>>,
}

/// The multipart form of an upload (documentation of `multipart/form-data` bodies).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The document: UTF-8 text of one of the accepted content types.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Defaults to the file name.
    name: Option<String>,
    category_id: Option<Uuid>,
    occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    id: Uuid,
    cvr: String,
    kind: String,
    source: String,
    repository: String,
    path: String,
    name: String,
    url: Option<String>,
    category_id: Option<Uuid>,
    version: i32,
    content_type: String,
    uploaded_by: Option<Uuid>,
    uploaded_at: DateTime<Utc>,
    last_updated: DateTime<Utc>,
    occurred_at: DateTime<Utc>,
    /// pending until the current version is chunked and embedded, then indexed.
    status: &'static str,
}

impl DocumentView {
    pub fn new(d: Document, space: i16) -> Self {
        let indexed = d.indexed_version == Some(d.version) && d.indexed_space == Some(space);
        Self {
            id: d.id,
            cvr: d.cvr,
            kind: d.kind,
            source: d.source,
            repository: d.repository,
            path: d.path,
            name: d.name,
            url: d.url,
            category_id: d.category_id,
            version: d.version,
            content_type: d.content_type,
            uploaded_by: d.uploaded_by,
            uploaded_at: d.uploaded_at,
            last_updated: d.last_updated,
            occurred_at: d.occurred_at,
            status: if indexed { "indexed" } else { "pending" },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    version: i32,
    content_type: String,
    byte_size: i32,
    sha256: String,
    uploaded_by: Option<Uuid>,
    uploaded_at: DateTime<Utc>,
    /// Only when one version is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
}

impl From<Version> for VersionView {
    fn from(v: Version) -> Self {
        Self {
            version: v.version,
            content_type: v.content_type,
            byte_size: v.byte_size,
            sha256: v.sha256,
            uploaded_by: v.uploaded_by,
            uploaded_at: v.uploaded_at,
            content: v.raw_content,
        }
    }
}

/// An upload, from either body format.
struct Upload {
    name: String,
    content: String,
    content_type: String,
    category_id: Option<Uuid>,
    occurred_at: Option<DateTime<Utc>>,
}

fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_lowercase()
}

fn unsupported(what: &str) -> Problem {
    Problem::unsupported_media_type(format!(
        "{what}: documents are text, one of {}.",
        TEXT_TYPES.join(", ")
    ))
}

fn too_large(limit: usize) -> Problem {
    Problem::payload_too_large("The document", limit)
}

/// Checks an upload's fields and content; every fault named at once.
fn validate(upload: &mut Upload, max_bytes: usize) -> Result<(), Problem> {
    if upload.content.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    if !TEXT_TYPES.contains(&upload.content_type.as_str()) {
        return Err(unsupported(&format!(
            "content type {}",
            upload.content_type
        )));
    }
    let mut errors = Vec::new();
    upload.name = text("name", &upload.name, 300, &mut errors);
    if upload.content.trim().is_empty() {
        errors.push(FieldError::new("content", "must not be empty"));
    }
    if upload.content.contains('\0') {
        errors.push(FieldError::new(
            "content",
            "must be text (it contains NUL bytes)",
        ));
    }
    check(errors)
}

async fn read_multipart(mut multipart: Multipart, max_bytes: usize) -> Result<Upload, Problem> {
    let mut upload = Upload {
        name: String::new(),
        content: String::new(),
        content_type: "text/plain".into(),
        category_id: None,
        occurred_at: None,
    };
    let mut file = None;
    let mut errors = Vec::new();
    // An upload has four fields: the body is not read on past a few more, nor past the file's
    // limit and room for the other fields.
    let mut parts = 0;
    let mut total = 0;
    let most = max_bytes + 64 * 1024;
    while let Some(field) = multipart.next().await {
        parts += 1;
        if parts > 8 {
            return Err(Problem::validation(vec![FieldError::new(
                "body",
                "has more than 8 parts; an upload has file, name, category_id and occurred_at",
            )]));
        }
        let mut field =
            field.map_err(|err| Problem::bad_request(format!("Invalid multipart body: {err}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(|m| media_type(m.as_ref()));
        let limit = if name == "file" { max_bytes } else { 4096 };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk
                .map_err(|err| Problem::bad_request(format!("Invalid multipart body: {err}")))?;
            total += chunk.len();
            if total > most {
                return Err(too_large(max_bytes));
            }
            if bytes.len() + chunk.len() > limit {
                return Err(if name == "file" {
                    too_large(max_bytes)
                } else {
                    Problem::validation(vec![FieldError::new(name, "is too long")])
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(bytes);
        match (name.as_str(), text) {
            ("file", Ok(text)) => {
                if let Some(ct) = content_type.filter(|ct| ct != "application/octet-stream") {
                    upload.content_type = ct;
                }
                file = Some((text, filename));
            }
            ("file", Err(_)) => {
                return Err(unsupported("the file is not UTF-8 text"));
            }
            ("name", Ok(text)) => upload.name = text,
            ("category_id", Ok(text)) => match Uuid::parse_str(text.trim()) {
                Ok(id) => upload.category_id = Some(id),
                Err(_) => errors.push(FieldError::new("category_id", "must be a UUID")),
            },
            ("occurred_at", Ok(text)) => match DateTime::parse_from_rfc3339(text.trim()) {
                Ok(at) => upload.occurred_at = Some(at.with_timezone(&Utc)),
                Err(_) => errors.push(FieldError::new("occurred_at", "must be an RFC 3339 time")),
            },
            (other, _) => errors.push(FieldError::new(
                other,
                "is not a field of an upload (file, name, category_id, occurred_at)",
            )),
        }
    }
    match file {
        Some((content, filename)) => {
            upload.content = content;
            if upload.name.trim().is_empty() {
                upload.name = filename.unwrap_or_default();
            }
        }
        None => errors.push(FieldError::new("file", "is required")),
    }
    check(errors)?;
    Ok(upload)
}

/// Upload a document for a company, as JSON (`DocumentBody`) or as `multipart/form-data` with a
/// `file` part (and optional `name`, `category_id`, `occurred_at`). A document of the same name
/// gets a new version; the same content again changes nothing (write access).
#[utoipa::path(post, path = "/v1/companies/{cvr}/documents", tag = "documents",
    security(("user" = [])),
    request_body(content((DocumentBody = "application/json"), (UploadForm = "multipart/form-data"))),
    responses((status = 201, description = "A new document", body = DocumentView),
              (status = 200, description = "A new version, or unchanged", body = DocumentView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 413, body = Problem, content_type = "application/problem+json"),
              (status = 415, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn upload(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    path: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let max_bytes = state.config.upload.max_bytes;
    let header = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type)
        .unwrap_or_default();
    let mut upload = match header.as_str() {
        "multipart/form-data" => {
            read_multipart(Multipart::new(request.headers(), payload), max_bytes).await?
        }
        "application/json" => {
            let bytes = read_body(payload, max_bytes + 64 * 1024).await?;
            let body: DocumentBody = serde_json::from_slice(&bytes)
                .map_err(|err| Problem::bad_request(format!("Invalid JSON body: {err}")))?;
            Upload {
                name: body.name,
                content: body.content,
                content_type: body
                    .content_type
                    .map(|ct| media_type(&ct))
                    .unwrap_or_else(|| "text/plain".into()),
                category_id: body.category_id,
                occurred_at: body.occurred_at,
            }
        }
        other => {
            return Err(Problem::unsupported_media_type(format!(
                "Send the document as application/json or multipart/form-data, not {}.",
                if other.is_empty() {
                    "without a content type"
                } else {
                    other
                }
            )));
        }
    };
    validate(&mut upload, max_bytes)?;
    let space = state.space.id;
    let (document, outcome) = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        if let Some(category) = upload.category_id {
            categories::find_active(conn, category).await.map_err(|_| {
                Problem::validation(vec![FieldError::new(
                    "category_id",
                    "is not an active category of your organization",
                )])
            })?;
        }
        let stored = documents::put(
            conn,
            NewVersion {
                org_id: principal.org_id,
                cvr: cvr.as_str(),
                kind: "document",
                source: "upload",
                repository: cvr.as_str(),
                path: &upload.name,
                name: &upload.name,
                url: None,
                contact_email: None,
                category_id: upload.category_id,
                content: &upload.content,
                content_type: &upload.content_type,
                occurred_at: upload.occurred_at.unwrap_or_else(Utc::now),
                by: Some(principal.user_id),
                space_id: Some(space),
            },
        )
        .await?;
        Ok::<_, Problem>(stored)
    })?;
    state.wake.notify_one();
    let view = DocumentView::new(document, space);
    Ok(match outcome {
        Outcome::Created => HttpResponse::Created().json(view),
        Outcome::NewVersion | Outcome::Unchanged => HttpResponse::Ok().json(view),
    })
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, Problem> {
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| Problem::bad_request(format!("Invalid body: {err}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// The repository (or collection) at the source.
    repository: String,
    /// The item's path within it; with source and repository, its identity.
    path: String,
    cvr: String,
    name: String,
    content: String,
    content_type: Option<String>,
    /// Where the item lives at its source.
    url: Option<String>,
    occurred_at: Option<DateTime<Utc>>,
    category_id: Option<Uuid>,
}

/// Store an item synced from another source (unique on source, repository and path): a new
/// document, a new version when its content changed, nothing when it did not. Records the
/// source's sync status (write access to the company).
#[utoipa::path(put, path = "/v1/sources/{source}/documents", tag = "documents",
    security(("user" = [])), request_body = SyncBody,
    params(("source" = String, Path, description = "e.g. github, drive")),
    responses((status = 201, body = DocumentView), (status = 200, body = DocumentView),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn sync_item(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    path: web::Path<String>,
    body: web::Json<SyncBody>,
) -> Result<HttpResponse, Problem> {
    let source = path.into_inner();
    let body = body.into_inner();
    let mut errors = Vec::new();
    let valid_source = source.len() <= 40
        && source.starts_with(|c: char| c.is_ascii_lowercase())
        && source
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !valid_source || ["upload", "renos", "crm"].contains(&source.as_str()) {
        errors.push(FieldError::new(
            "source",
            "must be a lower-case name (a-z, 0-9, _ . -), not upload, renos or crm",
        ));
    }
    let company = cvr("cvr", &body.cvr);
    if let Err(problem) = &company {
        errors.extend(problem.errors.clone());
    }
    let repository = text("repository", &body.repository, 200, &mut errors);
    let item_path = text("path", &body.path, 500, &mut errors);
    let mut upload = Upload {
        name: body.name,
        content: body.content,
        content_type: body
            .content_type
            .map(|ct| media_type(&ct))
            .unwrap_or_else(|| "text/plain".into()),
        category_id: body.category_id,
        occurred_at: body.occurred_at,
    };
    if let Some(url) = &body.url
        && (url.len() > 2000 || !(url.starts_with("https://") || url.starts_with("http://")))
    {
        errors.push(FieldError::new(
            "url",
            "must be an http(s) URL of at most 2000 characters",
        ));
    }
    check(errors)?;
    validate(&mut upload, state.config.upload.max_bytes)?;
    let cvr = company?;
    let space = state.space.id;
    let (document, outcome) = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        let stored = documents::put(
            conn,
            NewVersion {
                org_id: principal.org_id,
                cvr: cvr.as_str(),
                kind: "document",
                source: &source,
                repository: &repository,
                path: &item_path,
                name: &upload.name,
                url: body.url.as_deref(),
                contact_email: None,
                category_id: upload.category_id,
                content: &upload.content,
                content_type: &upload.content_type,
                occurred_at: upload.occurred_at.unwrap_or_else(Utc::now),
                by: Some(principal.user_id),
                space_id: Some(space),
            },
        )
        .await;
        let stored = match stored {
            Err(diesel::result::Error::QueryBuilderError(_)) => {
                return Err(Problem::conflict(format!(
                    "{source}/{repository}/{item_path} belongs to another company."
                )));
            }
            Err(diesel::result::Error::NotFound) => {
                // The item exists but Row Level Security hides it: another company's.
                return Err(Problem::conflict(format!(
                    "{source}/{repository}/{item_path} belongs to another company."
                )));
            }
            other => other?,
        };
        let changed = i64::from(stored.1 != Outcome::Unchanged);
        sync::record(conn, principal.org_id, &source, &repository, changed, None).await?;
        Ok::<_, Problem>(stored)
    })?;
    state.wake.notify_one();
    let view = DocumentView::new(document, space);
    Ok(match outcome {
        Outcome::Created => HttpResponse::Created().json(view),
        _ => HttpResponse::Ok().json(view),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// document, conversation, email_thread, activity or email.
    kind: Option<String>,
    category_id: Option<Uuid>,
    limit: Option<i64>,
    after: Option<String>,
}

/// A company's documents, most recently changed first (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/documents", tag = "documents",
    security(("user" = [])), params(ListQuery),
    responses((status = 200, description = "A page of documents: {items, next_cursor}"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    let before = parse_time_cursor(query.after.as_deref())?;
    if let Some(kind) = &query.kind {
        super::search::check_kinds(std::slice::from_ref(kind))?;
    }
    let items = in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        Ok::<_, Problem>(
            documents::list(
                conn,
                ListFilter {
                    org_id: principal.org_id,
                    cvr: cvr.as_str(),
                    kind: query.kind.as_deref(),
                    category_id: query.category_id,
                    before,
                    limit,
                },
            )
            .await?,
        )
    })?;
    let space = state.space.id;
    let page = Page::new(
        items
            .into_iter()
            .map(|d| DocumentView::new(d, space))
            .collect(),
        limit,
        |d: &DocumentView| time_cursor(d.last_updated, d.id),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// A document (read access to its company).
#[utoipa::path(get, path = "/v1/documents/{id}", tag = "documents", security(("user" = [])),
    responses((status = 200, body = DocumentView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let document = in_context!(&pool, principal.context(), |conn| {
        documents::find(conn, id)
            .await
            .map_err(not_found("such document"))
    })?;
    Ok(HttpResponse::Ok().json(DocumentView::new(document, state.space.id)))
}

/// Delete a document with every version, chunk and vector of it (write access).
#[utoipa::path(delete, path = "/v1/documents/{id}", tag = "documents", security(("user" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    in_context!(&pool, principal.context(), |conn| {
        let document = documents::find(conn, id)
            .await
            .map_err(not_found("such document"))?;
        let cvr = cvr("cvr", &document.cvr)?;
        tekup_auth::require_access(conn, &principal, &cvr, AccessLevel::Write).await?;
        documents::delete(conn, id).await?;
        crate::events::publish_deleted(conn, &document).await?;
        Ok::<_, Problem>(())
    })?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every version of a document, newest first, without content (read access).
#[utoipa::path(get, path = "/v1/documents/{id}/versions", tag = "documents",
    security(("user" = [])),
    responses((status = 200, body = [VersionView]),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn versions(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let versions = in_context!(&pool, principal.context(), |conn| {
        documents::find(conn, id)
            .await
            .map_err(not_found("such document"))?;
        Ok::<_, Problem>(documents::versions(conn, id).await?)
    })?;
    let views: Vec<VersionView> = versions.into_iter().map(VersionView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// One version of a document, with its content (read access).
#[utoipa::path(get, path = "/v1/documents/{id}/versions/{version}", tag = "documents",
    security(("user" = [])),
    responses((status = 200, body = VersionView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn version(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(Uuid, i32)>,
) -> Result<HttpResponse, Problem> {
    let (id, number) = path.into_inner();
    let version = in_context!(&pool, principal.context(), |conn| {
        documents::version(conn, id, number)
            .await
            .map_err(not_found("such document version"))
    })?;
    Ok(HttpResponse::Ok().json(VersionView::from(version)))
}

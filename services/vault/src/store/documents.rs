//! Documents and their versions.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::{Error, OptionalExtension};
use diesel::sql_types::{BigInt, Integer, Nullable, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Document {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Text)]
    pub cvr: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub category_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub repository: String,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub url: Option<String>,
    #[diesel(sql_type = Integer)]
    pub version: i32,
    #[diesel(sql_type = Text)]
    pub content_type: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub uploaded_by: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub uploaded_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_updated: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub indexed_version: Option<i32>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    pub indexed_space: Option<i16>,
}

pub const DOCUMENT: &str = "id, org_id, cvr, category_id, kind, source, repository, path, name, \
     url, version, content_type, uploaded_by, uploaded_at, last_updated, occurred_at, \
     indexed_version, indexed_space";

#[derive(Debug, Clone, QueryableByName)]
pub struct Version {
    #[diesel(sql_type = Integer)]
    pub version: i32,
    #[diesel(sql_type = Text)]
    pub content_type: String,
    #[diesel(sql_type = Integer)]
    pub byte_size: i32,
    #[diesel(sql_type = Text)]
    pub sha256: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub uploaded_by: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub uploaded_at: DateTime<Utc>,
    /// Only when asked for one version.
    #[diesel(sql_type = Nullable<Text>)]
    pub raw_content: Option<String>,
}

/// A version of a document to store: a new document, a new version of an existing one, or
/// nothing new when the content and name are unchanged (a redelivered event, a repeated sync).
pub struct NewVersion<'a> {
    pub org_id: Uuid,
    pub cvr: &'a str,
    pub kind: &'a str,
    pub source: &'a str,
    pub repository: &'a str,
    pub path: &'a str,
    pub name: &'a str,
    pub url: Option<&'a str>,
    pub contact_email: Option<&'a str>,
    pub category_id: Option<Uuid>,
    pub content: &'a str,
    pub content_type: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub by: Option<Uuid>,
    /// The embedding space to queue the document for; `None`: the one registered last.
    pub space_id: Option<i16>,
}

/// What [`put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    NewVersion,
    Unchanged,
}

#[derive(QueryableByName)]
struct Current {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    cvr: String,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    category_id: Option<Uuid>,
}

#[derive(QueryableByName)]
struct Sha {
    #[diesel(sql_type = Text)]
    sha256: String,
}

/// The error [`put`] gives when the item exists under another company.
pub const OTHER_COMPANY: &str = "the item belongs to another company";

/// Stores `new` as the next version of the document with its (source, repository, path), and
/// queues the document for indexing. Idempotent for unchanged content.
pub async fn put(
    conn: &mut AsyncPgConnection,
    new: NewVersion<'_>,
) -> Result<(Document, Outcome), Error> {
    let sha256 = hex(&Sha256::digest(new.content.as_bytes()));
    let created: Option<Uuid> = diesel::sql_query(
        "INSERT INTO vault.documents (id, org_id, cvr, category_id, kind, source, repository, path, \
         name, url, contact_email, content_type, uploaded_by, occurred_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (org_id, source, repository, path) DO NOTHING RETURNING id",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.cvr)
    .bind::<Nullable<SqlUuid>, _>(new.category_id)
    .bind::<Text, _>(new.kind)
    .bind::<Text, _>(new.source)
    .bind::<Text, _>(new.repository)
    .bind::<Text, _>(new.path)
    .bind::<Text, _>(new.name)
    .bind::<Nullable<Text>, _>(new.url)
    .bind::<Nullable<Text>, _>(new.contact_email)
    .bind::<Text, _>(new.content_type)
    .bind::<Nullable<SqlUuid>, _>(new.by)
    .bind::<Timestamptz, _>(new.occurred_at)
    .get_result::<IdRow>(conn)
    .await
    .optional()?
    .map(|row| row.id);
    let (id, version, outcome) = match created {
        Some(id) => (id, 1, Outcome::Created),
        None => {
            // The document alone is locked. Joined to its version, a writer that waited for
            // another's new version would re-check the locked row (now one version on) against
            // the version row it read before waiting, and find nothing.
            let current: Current = diesel::sql_query(
                "SELECT d.id, d.cvr, d.version, d.name, d.category_id FROM vault.documents d \
                 WHERE d.org_id = $1 AND d.source = $2 AND d.repository = $3 AND d.path = $4 \
                 FOR UPDATE",
            )
            .bind::<SqlUuid, _>(new.org_id)
            .bind::<Text, _>(new.source)
            .bind::<Text, _>(new.repository)
            .bind::<Text, _>(new.path)
            .get_result(conn)
            .await?;
            if current.cvr != new.cvr {
                return Err(Error::QueryBuilderError(OTHER_COMPANY.into()));
            }
            let latest: Sha = diesel::sql_query(
                "SELECT sha256 FROM vault.document_versions WHERE document_id = $1 AND version = $2",
            )
            .bind::<SqlUuid, _>(current.id)
            .bind::<Integer, _>(current.version)
            .get_result(conn)
            .await?;
            if latest.sha256 == sha256
                && current.name == new.name
                && (new.category_id.is_none() || current.category_id == new.category_id)
            {
                return Ok((find(conn, current.id).await?, Outcome::Unchanged));
            }
            let version = current.version + 1;
            diesel::sql_query(
                "UPDATE vault.documents SET version = $2, name = $3, url = coalesce($4, url), \
                 contact_email = coalesce($5, contact_email), \
                 category_id = coalesce($6, category_id), content_type = $7, \
                 uploaded_by = coalesce($8, uploaded_by), last_updated = now(), occurred_at = $9 \
                 WHERE id = $1",
            )
            .bind::<SqlUuid, _>(current.id)
            .bind::<Integer, _>(version)
            .bind::<Text, _>(new.name)
            .bind::<Nullable<Text>, _>(new.url)
            .bind::<Nullable<Text>, _>(new.contact_email)
            .bind::<Nullable<SqlUuid>, _>(new.category_id)
            .bind::<Text, _>(new.content_type)
            .bind::<Nullable<SqlUuid>, _>(new.by)
            .bind::<Timestamptz, _>(new.occurred_at)
            .execute(conn)
            .await?;
            (current.id, version, Outcome::NewVersion)
        }
    };
    diesel::sql_query(
        "INSERT INTO vault.document_versions (document_id, version, org_id, cvr, raw_content, \
         content_type, byte_size, sha256, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Integer, _>(version)
    .bind::<SqlUuid, _>(new.org_id)
    .bind::<Text, _>(new.cvr)
    .bind::<Text, _>(new.content)
    .bind::<Text, _>(new.content_type)
    .bind::<Integer, _>(i32::try_from(new.content.len()).unwrap_or(i32::MAX))
    .bind::<Text, _>(&sha256)
    .bind::<Nullable<SqlUuid>, _>(new.by)
    .execute(conn)
    .await?;
    enqueue(conn, id, new.space_id).await?;
    Ok((find(conn, id).await?, outcome))
}

/// Queues a document for (re-)indexing in a space (`None`: the space registered last); a
/// queued one is retried at once.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    space_id: Option<i16>,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO vault.index_queue (document_id, space_id, org_id, cvr) \
         SELECT id, coalesce($2, (SELECT s.id FROM vault.embedding_spaces s \
                                  ORDER BY s.registered_at DESC, s.id DESC LIMIT 1)), \
                org_id, cvr \
         FROM vault.documents WHERE id = $1 \
         ON CONFLICT (document_id, space_id) DO UPDATE SET not_before = now(), attempts = 0",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Nullable<SmallInt>, _>(space_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Document, Error> {
    diesel::sql_query(format!(
        "SELECT {DOCUMENT} FROM vault.documents WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

/// Filters of a document list.
pub struct ListFilter<'a> {
    pub org_id: Uuid,
    pub cvr: &'a str,
    pub kind: Option<&'a str>,
    pub category_id: Option<Uuid>,
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// A company's documents, most recently changed first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: ListFilter<'_>,
) -> Result<Vec<Document>, Error> {
    let (before_at, before_id) = filter.before.unzip();
    diesel::sql_query(format!(
        "SELECT {DOCUMENT} FROM vault.documents WHERE org_id = $1 AND cvr = $2 \
         AND ($3::text IS NULL OR kind = $3) AND ($4::uuid IS NULL OR category_id = $4) \
         AND ($5::timestamptz IS NULL OR (last_updated, id) < ($5, $6)) \
         ORDER BY last_updated DESC, id DESC LIMIT $7"
    ))
    .bind::<SqlUuid, _>(filter.org_id)
    .bind::<Text, _>(filter.cvr)
    .bind::<Nullable<Text>, _>(filter.kind)
    .bind::<Nullable<SqlUuid>, _>(filter.category_id)
    .bind::<Nullable<Timestamptz>, _>(before_at)
    .bind::<Nullable<SqlUuid>, _>(before_id)
    .bind::<BigInt, _>(filter.limit)
    .load(conn)
    .await
}

/// Every version of a document, newest first, without content.
pub async fn versions(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Vec<Version>, Error> {
    diesel::sql_query(
        "SELECT version, content_type, byte_size, sha256, uploaded_by, uploaded_at, \
         NULL::text AS raw_content FROM vault.document_versions WHERE document_id = $1 \
         ORDER BY version DESC",
    )
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await
}

/// One version of a document, with its content.
pub async fn version(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    version: i32,
) -> Result<Version, Error> {
    diesel::sql_query(
        "SELECT version, content_type, byte_size, sha256, uploaded_by, uploaded_at, raw_content \
         FROM vault.document_versions WHERE document_id = $1 AND version = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Integer, _>(version)
    .get_result(conn)
    .await
}

/// Deletes a document with its versions, chunks and embeddings; false when there was none.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, Error> {
    let n = diesel::sql_query("DELETE FROM vault.documents WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Deletes the document of a synced item, if there is one.
pub async fn delete_item(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    source: &str,
    repository: &str,
    path: &str,
) -> Result<Vec<Document>, Error> {
    diesel::sql_query(format!(
        "DELETE FROM vault.documents WHERE org_id = $1 AND source = $2 AND repository = $3 \
         AND path = $4 RETURNING {DOCUMENT}"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(source)
    .bind::<Text, _>(repository)
    .bind::<Text, _>(path)
    .load(conn)
    .await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

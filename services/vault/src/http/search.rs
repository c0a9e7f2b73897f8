//! Search and similar items.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::problem::FieldError;
use tekup_runtime::validate::check;
use tekup_runtime::{Problem, in_context};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cvr, not_found};
use crate::State;
use crate::search::{self, Detail, Hit, Scope, Strategy};
use crate::store::SqlUuid;
use crate::store::documents;

const KINDS: &[&str] = &[
    "document",
    "conversation",
    "email_thread",
    "activity",
    "email",
];
const MAX_LIMIT: i64 = 50;
/// Candidates each method brings to fusion and to the one-chunk-per-document cut.
const CANDIDATES: i64 = 60;

/// 422 unless every kind is one vault knows.
pub fn check_kinds(kinds: &[String]) -> Result<(), Problem> {
    match kinds.iter().find(|k| !KINDS.contains(&k.as_str())) {
        Some(bad) => Err(Problem::validation(vec![FieldError::new(
            "kinds",
            format!("{bad} is not one of {}", KINDS.join(", ")),
        )])),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// By meaning: the query's embedding against the chunks'.
    Semantic,
    /// By words: Danish and English stems, and words as written.
    FullText,
    /// Both, fused by reciprocal rank (the default).
    #[default]
    Hybrid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// What to look for, in words.
    query: String,
    #[serde(default)]
    mode: Mode,
    /// Only these companies (each must be readable); all readable ones when absent.
    cvrs: Option<Vec<String>>,
    /// Only these kinds: document, conversation, email_thread, activity, email.
    kinds: Option<Vec<String>>,
    /// Only items that happened at or after this time.
    from: Option<DateTime<Utc>>,
    /// Only items that happened before this time.
    to: Option<DateTime<Utc>>,
    /// Results (documents), 1 to 50; 10 by default.
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResultView {
    document_id: Uuid,
    chunk_id: Uuid,
    cvr: String,
    kind: String,
    name: String,
    /// Where the item comes from: upload, renos, crm, or a synced source.
    source: String,
    repository: String,
    path: String,
    /// The item at its source when it has an address, else the document in this API.
    link: String,
    version: i32,
    occurred_at: DateTime<Utc>,
    /// The matching passage; the query's words marked «like this».
    snippet: String,
    /// Semantic: cosine similarity; full-text: rank; hybrid: fused reciprocal rank.
    score: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchView {
    mode: Mode,
    /// How the semantic part searched, when there was one.
    strategy: Option<Strategy>,
    results: Vec<ResultView>,
}

/// A search names 1 to 100 companies when it names any.
fn check_cvrs(cvrs: Option<&[String]>, errors: &mut Vec<FieldError>) {
    if cvrs.is_some_and(|c| c.is_empty() || c.len() > 100) {
        errors.push(FieldError::new(
            "cvrs",
            "must name 1 to 100 companies when given",
        ));
    }
}

/// The companies a search may look in: the ones asked for (each readable, else 404), or all
/// the principal may read (`None` for an administrator: the whole organization). The access
/// to each company asked for is checked in one round trip.
async fn resolve_cvrs(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    asked: Option<&[String]>,
) -> Result<Option<Vec<String>>, Problem> {
    if let Some(asked) = asked {
        let mut cvrs = Vec::with_capacity(asked.len());
        for text in asked {
            let cvr = cvr("cvrs", text)?;
            if !cvrs.contains(&cvr) {
                cvrs.push(cvr);
            }
        }
        let shared: &AsyncPgConnection = conn;
        let levels = futures_util::future::try_join_all(cvrs.iter().map(async |cvr| {
            tekup_db::tenancy::access_level(&mut { shared }, principal.org_id, cvr.as_str()).await
        }))
        .await?;
        for (cvr, level) in cvrs.iter().zip(levels) {
            tekup_auth::require_level(level, cvr, AccessLevel::Read)?;
        }
        return Ok(Some(cvrs.iter().map(|c| c.as_str().to_owned()).collect()));
    }
    if principal.is_admin() {
        return Ok(None);
    }
    #[derive(QueryableByName)]
    struct Granted {
        #[diesel(sql_type = Text)]
        cvr: String,
    }
    let granted: Vec<Granted> =
        diesel::sql_query("SELECT cvr FROM vault.access_grants WHERE org_id = $1 AND user_id = $2")
            .bind::<SqlUuid, _>(principal.org_id)
            .bind::<SqlUuid, _>(principal.user_id)
            .load(conn)
            .await?;
    Ok(Some(granted.into_iter().map(|g| g.cvr).collect()))
}

fn limit(value: Option<i64>) -> Result<i64, Problem> {
    let limit = value.unwrap_or(10);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::validation(vec![FieldError::new(
            "limit",
            format!("must be 1 to {MAX_LIMIT}"),
        )]));
    }
    Ok(limit)
}

fn views(hits: &[Hit], details: Vec<Detail>) -> Vec<ResultView> {
    let mut by_chunk: std::collections::HashMap<Uuid, Detail> =
        details.into_iter().map(|d| (d.chunk_id, d)).collect();
    hits.iter()
        .filter_map(|hit| {
            let d = by_chunk.remove(&hit.chunk_id)?;
            Some(ResultView {
                link: d
                    .url
                    .clone()
                    .unwrap_or_else(|| format!("/v1/documents/{}", d.document_id)),
                document_id: d.document_id,
                chunk_id: d.chunk_id,
                cvr: d.cvr,
                kind: d.kind,
                name: d.name,
                source: d.source,
                repository: d.repository,
                path: d.path,
                version: d.version,
                occurred_at: d.occurred_at,
                snippet: d.snippet,
                score: hit.score,
            })
        })
        .collect()
}

/// Search the documents of the companies the user may read: by meaning, by words, or both
/// (hybrid, the default). One result per document: its best chunk.
#[utoipa::path(post, path = "/v1/search", tag = "search", security(("user" = [])),
    request_body = SearchBody,
    responses((status = 200, body = SearchView),
              (status = 404, description = "A company asked for is not readable", body = Problem,
               content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "The embedder is unavailable", body = Problem,
               content_type = "application/problem+json")))]
pub async fn search(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    body: web::Json<SearchBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let query = body.query.trim().to_owned();
    if query.is_empty() || query.chars().count() > 1000 {
        errors.push(FieldError::new("query", "must be 1 to 1000 characters"));
    }
    if let (Some(from), Some(to)) = (body.from, body.to)
        && from >= to
    {
        errors.push(FieldError::new("to", "must be after from"));
    }
    check_cvrs(body.cvrs.as_deref(), &mut errors);
    check(errors)?;
    if let Some(kinds) = &body.kinds {
        check_kinds(kinds)?;
    }
    let limit = limit(body.limit)?;
    let vector = match body.mode {
        Mode::FullText => None,
        _ => Some(
            state
                .queries
                .embed(state.embedder.as_ref(), &query)
                .await
                .map_err(|err| {
                    Problem::unavailable(format!("Semantic search is unavailable: {err}"))
                })?,
        ),
    };
    let (hits, strategy, details) = in_context!(&pool, principal.context(), |conn| {
        let cvrs = resolve_cvrs(conn, &principal, body.cvrs.as_deref()).await?;
        if cvrs.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), None, Vec::new()));
        }
        let scope = Scope {
            org_id: principal.org_id,
            cvrs,
            kinds: body.kinds.clone(),
            from: body.from,
            to: body.to,
            exclude: None,
        };
        let (semantic, strategy) = match &vector {
            Some(v) => {
                let (hits, strategy) = search::semantic(
                    conn,
                    state.space,
                    &scope,
                    v,
                    CANDIDATES,
                    &state.config.search,
                )
                .await?;
                (hits, Some(strategy))
            }
            None => (Vec::new(), None),
        };
        let text = match body.mode {
            Mode::Semantic => Vec::new(),
            _ => search::full_text(conn, &scope, &query, CANDIDATES).await?,
        };
        let ranked = match body.mode {
            Mode::Semantic => semantic,
            Mode::FullText => text,
            Mode::Hybrid => search::fuse(&[&semantic, &text]),
        };
        let hits = search::best_per_document(ranked, limit as usize);
        let ids: Vec<Uuid> = hits.iter().map(|h| h.chunk_id).collect();
        let details = search::details(conn, &ids, &query).await?;
        Ok::<_, Problem>((hits, strategy, details))
    })?;
    Ok(HttpResponse::Ok().json(SearchView {
        mode: body.mode,
        strategy,
        results: views(&hits, details),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimilarQuery {
    /// Only in this company; all readable ones when absent.
    cvr: Option<String>,
    /// Only items of this kind.
    kind: Option<String>,
    /// 1 to 50; 5 by default.
    limit: Option<i64>,
}

/// Other documents most like this one in meaning (the mean of its chunks' vectors), one result
/// per document, among the companies the user may read.
#[utoipa::path(get, path = "/v1/documents/{id}/similar", tag = "search", security(("user" = [])),
    params(SimilarQuery),
    responses((status = 200, body = SearchView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "The document is not indexed yet", body = Problem,
               content_type = "application/problem+json")))]
pub async fn similar(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    path: web::Path<Uuid>,
    query: web::Query<SimilarQuery>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let limit = limit(query.limit.or(Some(5)))?;
    if let Some(kind) = &query.kind {
        check_kinds(std::slice::from_ref(kind))?;
    }
    let (hits, strategy, details) = in_context!(&pool, principal.context(), |conn| {
        let document = documents::find(conn, id)
            .await
            .map_err(not_found("such document"))?;
        let Some(centroid) = search::centroid(conn, state.space, id).await? else {
            return Err(Problem::conflict(format!(
                "Document {} is not indexed yet; try again shortly.",
                document.id
            )));
        };
        let asked = query.cvr.clone().map(|c| vec![c]);
        let cvrs = resolve_cvrs(conn, &principal, asked.as_deref()).await?;
        let scope = Scope {
            org_id: principal.org_id,
            cvrs,
            kinds: query.kind.clone().map(|k| vec![k]),
            from: None,
            to: None,
            exclude: Some(id),
        };
        similar_to(
            conn,
            &state,
            &scope,
            &centroid.to_vec(),
            limit,
            &document.name,
        )
        .await
    })?;
    Ok(HttpResponse::Ok().json(SearchView {
        mode: Mode::Semantic,
        strategy,
        results: views(&hits, details),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimilarBody {
    /// The text to find items like: a thread, a conversation, a note.
    text: String,
    cvrs: Option<Vec<String>>,
    kinds: Option<Vec<String>>,
    /// Leave out hits below this cosine similarity (0 to 1; 0.3 by default).
    min_score: Option<f64>,
    /// 1 to 50; 5 by default.
    limit: Option<i64>,
}

/// Items most like a text in meaning, e.g. "threads like this one" for a next-step
/// recommendation: the text is cut into chunks and their mean vector searched for, one result
/// per document, among the companies the user may read.
#[utoipa::path(post, path = "/v1/similar", tag = "search", security(("user" = [])),
    request_body = SimilarBody,
    responses((status = 200, body = SearchView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn similar_to_text(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    body: web::Json<SimilarBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    if body.text.trim().is_empty() || body.text.len() > 100_000 {
        errors.push(FieldError::new("text", "must be 1 to 100000 bytes"));
    }
    let min_score = body.min_score.unwrap_or(0.3);
    if !(0.0..=1.0).contains(&min_score) {
        errors.push(FieldError::new("min_score", "must be 0 to 1"));
    }
    check_cvrs(body.cvrs.as_deref(), &mut errors);
    check(errors)?;
    if let Some(kinds) = &body.kinds {
        check_kinds(kinds)?;
    }
    let limit = limit(body.limit.or(Some(5)))?;
    let chunks = tekup_embed::chunk(
        &body.text,
        state.config.chunks.max_chars,
        state.config.chunks.overlap_chars,
    );
    let vectors = state
        .embedder
        .embed(&chunks)
        .await
        .map_err(|err| Problem::unavailable(format!("Similarity is unavailable: {err}")))?;
    let centroid = mean(&vectors);
    let (hits, strategy, details) = in_context!(&pool, principal.context(), |conn| {
        let cvrs = resolve_cvrs(conn, &principal, body.cvrs.as_deref()).await?;
        let scope = Scope {
            org_id: principal.org_id,
            cvrs,
            kinds: body.kinds.clone(),
            from: None,
            to: None,
            exclude: None,
        };
        similar_to(conn, &state, &scope, &centroid, limit, &body.text).await
    })?;
    let kept: Vec<Hit> = hits.into_iter().filter(|h| h.score >= min_score).collect();
    Ok(HttpResponse::Ok().json(SearchView {
        mode: Mode::Semantic,
        strategy,
        results: views(&kept, details),
    }))
}

type Found = (Vec<Hit>, Option<Strategy>, Vec<Detail>);

async fn similar_to(
    conn: &mut AsyncPgConnection,
    state: &State,
    scope: &Scope,
    vector: &[f32],
    limit: i64,
    words: &str,
) -> Result<Found, Problem> {
    if scope.cvrs.as_ref().is_some_and(Vec::is_empty) {
        return Ok((Vec::new(), None, Vec::new()));
    }
    let (hits, strategy) = search::semantic(
        conn,
        state.space,
        scope,
        vector,
        CANDIDATES,
        &state.config.search,
    )
    .await?;
    let hits = search::best_per_document(hits, limit as usize);
    let ids: Vec<Uuid> = hits.iter().map(|h| h.chunk_id).collect();
    let words: String = words.chars().take(200).collect();
    let details = search::details(conn, &ids, &words).await?;
    Ok((hits, Some(strategy), details))
}

fn mean(vectors: &[Vec<f32>]) -> Vec<f32> {
    let Some(first) = vectors.first() else {
        return Vec::new();
    };
    let mut sum = vec![0.0; first.len()];
    for v in vectors {
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x;
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    sum.iter().map(|x| x / norm).collect()
}

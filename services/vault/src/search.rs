//! Search over chunks: by meaning (pgvector), by words (full-text), or both fused by
//! reciprocal rank. Every query runs in the caller's tenant context, so Row Level Security
//! filters again whatever the scope says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::{Array, BigInt, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use pgvector::Vector;
use tekup_embed::{EmbedError, Embedder};
use uuid::Uuid;

use crate::SearchConfig;
use crate::space::SpaceId;
use crate::store::SqlUuid;

/// Query texts already embedded, so a repeated query does not run the model again. Bounded:
/// when full it starts over.
pub struct QueryCache {
    capacity: usize,
    entries: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

impl QueryCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn embed(
        &self,
        embedder: &dyn Embedder,
        text: &str,
    ) -> Result<Arc<Vec<f32>>, EmbedError> {
        if let Some(hit) = self.lock().get(text) {
            return Ok(hit.clone());
        }
        let mut vectors = embedder.embed(&[text.to_owned()]).await?;
        let vector = Arc::new(
            vectors
                .pop()
                .ok_or_else(|| EmbedError::Invalid("no vector for the query".into()))?,
        );
        if self.capacity > 0 {
            let mut entries = self.lock();
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(text.to_owned(), vector.clone());
        }
        Ok(vector)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<f32>>>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Which rows a search may return (on top of Row Level Security).
#[derive(Debug, Clone)]
pub struct Scope {
    pub org_id: Uuid,
    /// `None`: every company the user may read.
    pub cvrs: Option<Vec<String>>,
    pub kinds: Option<Vec<String>>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Leave out the chunks of this document (similar items).
    pub exclude: Option<Uuid>,
}

/// A matching chunk.
#[derive(Debug, Clone, QueryableByName)]
pub struct Hit {
    #[diesel(sql_type = SqlUuid)]
    pub chunk_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub document_id: Uuid,
    #[diesel(sql_type = Double)]
    pub score: f64,
}

/// How a semantic search found its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every vector in scope compared: recall 1.0.
    Exact,
    /// The HNSW index with an iterative scan.
    Index,
}

type Query = diesel::query_builder::BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery>;

/// `AND ...` filters of `scope` on a table with org_id, cvr, kind, occurred_at, document_id,
/// binding from parameter `$next`.
fn filters(scope: &Scope, mut next: usize, column_prefix: &str) -> (String, usize) {
    let p = column_prefix;
    let mut sql = format!(" AND {p}org_id = ${next}");
    next += 1;
    if scope.cvrs.is_some() {
        sql += &format!(" AND {p}cvr = ANY(${next})");
        next += 1;
    }
    if scope.kinds.is_some() {
        sql += &format!(" AND {p}kind = ANY(${next})");
        next += 1;
    }
    if scope.from.is_some() {
        sql += &format!(" AND {p}occurred_at >= ${next}");
        next += 1;
    }
    if scope.to.is_some() {
        sql += &format!(" AND {p}occurred_at < ${next}");
        next += 1;
    }
    if scope.exclude.is_some() {
        sql += &format!(" AND {p}document_id <> ${next}");
        next += 1;
    }
    (sql, next)
}

fn bind_filters(mut query: Query, scope: &Scope) -> Query {
    query = query.bind::<SqlUuid, _>(scope.org_id);
    if let Some(cvrs) = &scope.cvrs {
        query = query.bind::<Array<Text>, _>(cvrs.clone());
    }
    if let Some(kinds) = &scope.kinds {
        query = query.bind::<Array<Text>, _>(kinds.clone());
    }
    if let Some(from) = scope.from {
        query = query.bind::<Timestamptz, _>(from);
    }
    if let Some(to) = scope.to {
        query = query.bind::<Timestamptz, _>(to);
    }
    if let Some(exclude) = scope.exclude {
        query = query.bind::<SqlUuid, _>(exclude);
    }
    query
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The `k` chunks nearest to `vector`: exact when the scope holds few vectors, else through
/// the space's HNSW index with an iterative scan (so a selective filter still fills `k`).
pub async fn semantic(
    conn: &mut AsyncPgConnection,
    space: SpaceId,
    scope: &Scope,
    vector: &[f32],
    k: i64,
    config: &SearchConfig,
) -> Result<(Vec<Hit>, Strategy), diesel::result::Error> {
    // The space id and dimension are our own numbers: formatted in, so the planner can match
    // the partial index `WHERE space_id = N` and its `vector(D)` expression.
    let space_filter = format!("space_id = {}", space.id);
    let scoped = Scope {
        kinds: None,
        from: None,
        to: None,
        exclude: None,
        ..scope.clone()
    };
    let (where_scope, _) = filters(&scoped, 1, "");
    let count: Count = bind_filters(
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM (SELECT 1 FROM vault.embeddings \
             WHERE {space_filter}{where_scope} LIMIT {}) s",
            config.exact_below + 1
        ))
        .into_boxed(),
        &scoped,
    )
    .get_result(conn)
    .await?;
    let (where_sql, next) = filters(scope, 1, "");
    let vector = Vector::from(vector.to_vec());
    if count.n <= config.exact_below {
        let hits = bind_filters(
            diesel::sql_query(format!(
                "SELECT chunk_id, document_id, 1 - (embedding <=> ${next}) AS score \
                 FROM vault.embeddings WHERE {space_filter}{where_sql} \
                 ORDER BY embedding <=> ${next} LIMIT ${}",
                next + 1
            ))
            .into_boxed(),
            scope,
        )
        .bind::<pgvector::sql_types::Vector, _>(vector)
        .bind::<BigInt, _>(k)
        .load(conn)
        .await?;
        return Ok((hits, Strategy::Exact));
    }
    conn.batch_execute(&format!(
        "SET LOCAL hnsw.ef_search = {}; SET LOCAL hnsw.iterative_scan = relaxed_order; \
         SET LOCAL hnsw.max_scan_tuples = {}",
        config.ef_search.clamp(1, 1000),
        config.max_scan_tuples.max(1)
    ))
    .await?;
    let typed = space.vector_type();
    let hits = bind_filters(
        diesel::sql_query(format!(
            "WITH hits AS MATERIALIZED ( \
               SELECT chunk_id, document_id, (embedding::{typed}) <=> ${next}::{typed} AS distance \
               FROM vault.embeddings WHERE {space_filter}{where_sql} \
               ORDER BY (embedding::{typed}) <=> ${next}::{typed} LIMIT ${}) \
             SELECT chunk_id, document_id, 1 - distance AS score FROM hits ORDER BY distance",
            next + 1
        ))
        .into_boxed(),
        scope,
    )
    .bind::<pgvector::sql_types::Vector, _>(vector)
    .bind::<BigInt, _>(k)
    .load(conn)
    .await?;
    Ok((hits, Strategy::Index))
}

#[derive(QueryableByName)]
struct Centroid {
    #[diesel(sql_type = Nullable<pgvector::sql_types::Vector>)]
    centroid: Option<Vector>,
}

/// The mean of a document's vectors in `space` (what "like this document" searches for);
/// `None` while it has none there.
pub async fn centroid(
    conn: &mut AsyncPgConnection,
    space: SpaceId,
    document_id: Uuid,
) -> Result<Option<Vec<f32>>, diesel::result::Error> {
    let row: Centroid = diesel::sql_query(
        "SELECT avg(embedding) AS centroid FROM vault.embeddings \
         WHERE document_id = $1 AND space_id = $2",
    )
    .bind::<SqlUuid, _>(document_id)
    .bind::<diesel::sql_types::SmallInt, _>(space.id)
    .get_result(conn)
    .await?;
    Ok(row.centroid.map(|v| v.to_vec()))
}

/// The tsquery of a user's words: any of them, as Danish or as English stems; ranking puts
/// chunks with more of them first. A word that is a stop word in either language is left out
/// (the Danish configuration would otherwise match English "the" and "our" as words).
const TSQUERY: &str = "(SELECT websearch_to_tsquery('danish', q) || websearch_to_tsquery('english', q) \
     FROM (SELECT coalesce(string_agg(ltrim(w, '-'), ' or '), '') AS q \
           FROM regexp_split_to_table($1, '\\s+') AS w \
           WHERE to_tsvector('english', w) <> '' AND to_tsvector('danish', w) <> '') AS words)";

/// The `k` chunks whose words best match `text`.
pub async fn full_text(
    conn: &mut AsyncPgConnection,
    scope: &Scope,
    text: &str,
    k: i64,
) -> Result<Vec<Hit>, diesel::result::Error> {
    let (where_sql, next) = filters(scope, 2, "c.");
    bind_filters(
        diesel::sql_query(format!(
            "SELECT c.id AS chunk_id, c.document_id, ts_rank_cd(c.search, q.query)::float8 AS score \
             FROM vault.chunks c, (SELECT {TSQUERY} AS query) q \
             WHERE c.search @@ q.query{where_sql} ORDER BY score DESC, c.id LIMIT ${next}"
        ))
        .into_boxed()
        .bind::<Text, _>(text.to_owned()),
        scope,
    )
    .bind::<BigInt, _>(k)
    .load(conn)
    .await
}

/// Reciprocal rank fusion: each list adds 1 / (60 + rank) to a chunk's score.
pub fn fuse(lists: &[&[Hit]]) -> Vec<Hit> {
    const K: f64 = 60.0;
    let mut fused: HashMap<Uuid, Hit> = HashMap::new();
    for list in lists {
        for (rank, hit) in list.iter().enumerate() {
            let add = 1.0 / (K + rank as f64 + 1.0);
            fused
                .entry(hit.chunk_id)
                .and_modify(|h| h.score += add)
                .or_insert_with(|| Hit {
                    score: add,
                    ..hit.clone()
                });
        }
    }
    let mut hits: Vec<Hit> = fused.into_values().collect();
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.chunk_id.cmp(&b.chunk_id))
    });
    hits
}

/// The best chunk of each document, best first, at most `limit`.
pub fn best_per_document(hits: Vec<Hit>, limit: usize) -> Vec<Hit> {
    let mut seen = std::collections::HashSet::new();
    hits.into_iter()
        .filter(|h| seen.insert(h.document_id))
        .take(limit)
        .collect()
}

/// What a result shows of its chunk and document.
#[derive(Debug, Clone, QueryableByName)]
pub struct Detail {
    #[diesel(sql_type = SqlUuid)]
    pub chunk_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub document_id: Uuid,
    #[diesel(sql_type = Text)]
    pub cvr: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub repository: String,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub url: Option<String>,
    #[diesel(sql_type = Integer)]
    pub version: i32,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub snippet: String,
}

/// Documents and snippets of `chunk_ids`; the snippet marks `text`'s words «like this».
pub async fn details(
    conn: &mut AsyncPgConnection,
    chunk_ids: &[Uuid],
    text: &str,
) -> Result<Vec<Detail>, diesel::result::Error> {
    diesel::sql_query(format!(
        "SELECT c.id AS chunk_id, d.id AS document_id, d.cvr, d.kind, d.name, d.source, \
         d.repository, d.path, d.url, d.version, d.occurred_at, \
         ts_headline('danish', c.content, {TSQUERY}, \
           'MaxWords=40, MinWords=15, MaxFragments=2, StartSel=«, StopSel=»') AS snippet \
         FROM vault.chunks c JOIN vault.documents d ON d.id = c.document_id \
         WHERE c.id = ANY($2)"
    ))
    .bind::<Text, _>(text)
    .bind::<Array<SqlUuid>, _>(chunk_ids)
    .load(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(chunk: u128, document: u128) -> Hit {
        Hit {
            chunk_id: Uuid::from_u128(chunk),
            document_id: Uuid::from_u128(document),
            score: 0.0,
        }
    }

    #[test]
    fn fusion_rewards_agreement_and_keeps_one_chunk_per_document() {
        let semantic = [hit(1, 10), hit(2, 20), hit(3, 10)];
        let text = [hit(2, 20), hit(4, 40)];
        let fused = fuse(&[&semantic, &text]);
        assert_eq!(
            fused[0].chunk_id,
            Uuid::from_u128(2),
            "found by both: first"
        );
        let best = best_per_document(fused, 10);
        let documents: Vec<u128> = best.iter().map(|h| h.document_id.as_u128()).collect();
        assert_eq!(documents, [20, 10, 40]);
        assert_eq!(best_per_document(fuse(&[&semantic]), 1).len(), 1);
    }

    #[test]
    fn filters_number_their_parameters_in_binding_order() {
        let scope = Scope {
            org_id: Uuid::nil(),
            cvrs: Some(vec!["12345678".into()]),
            kinds: None,
            from: Some(Utc::now()),
            to: None,
            exclude: Some(Uuid::nil()),
        };
        let (sql, next) = filters(&scope, 2, "c.");
        assert_eq!(
            sql,
            " AND c.org_id = $2 AND c.cvr = ANY($3) AND c.occurred_at >= $4 AND c.document_id <> $5"
        );
        assert_eq!(next, 6);
    }
}

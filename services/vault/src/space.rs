//! Embedding spaces: the model and dimension a vector was made with. Vectors of two spaces are
//! never compared; each space has a partial HNSW index of its own dimension.

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::{Integer, SmallInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use tekup_db::Pool;
use tekup_embed::Space;

/// `embedding_spaces.id`, with the dimension its vectors have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceId {
    pub id: i16,
    pub dimensions: usize,
}

impl SpaceId {
    /// The name of this space's HNSW index.
    pub fn index_name(&self) -> String {
        format!("embeddings_space_{}_hnsw", self.id)
    }

    /// The vector type of this space, for casts that let PostgreSQL use its index.
    pub fn vector_type(&self) -> String {
        format!("vector({})", self.dimensions)
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SmallInt)]
    id: i16,
}

/// Finds or creates the space of `space`, makes sure its HNSW index exists, and queues every
/// document not yet embedded in it (all of them, when the model just changed: the re-embed job).
pub async fn register(pool: &Pool, space: &Space) -> anyhow::Result<SpaceId> {
    let mut conn = tekup_runtime::http::checkout(pool)
        .await
        .map_err(|p| anyhow::anyhow!("{}", p.detail.unwrap_or_default()))?;
    let dimensions = i32::try_from(space.dimensions).context("dimensions")?;
    let id = conn
        .transaction::<_, anyhow::Error, _>(async |conn| {
            // One replica at a time: CREATE INDEX IF NOT EXISTS races with itself.
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('vault.embedding_spaces'))")
                .execute(conn)
                .await?;
            tekup_db::tenancy::enter(conn, &tekup_db::tenancy::Context::System).await?;
            let row: Row = diesel::sql_query(
                "WITH new AS (INSERT INTO vault.embedding_spaces (model, dimensions) VALUES ($1, $2) \
                 ON CONFLICT (model, dimensions) DO UPDATE SET registered_at = now() \
                 RETURNING id) \
                 SELECT id FROM new",
            )
            .bind::<Text, _>(&space.model)
            .bind::<Integer, _>(dimensions)
            .get_result(conn)
            .await?;
            let id = SpaceId {
                id: row.id,
                dimensions: space.dimensions,
            };
            // The id and dimension are numbers of our own making: safe to format into DDL.
            conn.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {} ON vault.embeddings \
                 USING hnsw ((embedding::{}) vector_cosine_ops) WHERE space_id = {}",
                id.index_name(),
                id.vector_type(),
                id.id
            ))
            .await?;
            let queued = diesel::sql_query(
                "INSERT INTO vault.index_queue (document_id, space_id, org_id, cvr) \
                 SELECT id, $1, org_id, cvr FROM vault.documents \
                 WHERE indexed_space IS DISTINCT FROM $1 OR indexed_version IS DISTINCT FROM version \
                 ON CONFLICT DO NOTHING",
            )
            .bind::<SmallInt, _>(id.id)
            .execute(conn)
            .await?;
            if queued > 0 {
                tracing::info!(
                    model = space.model,
                    dimensions = space.dimensions,
                    documents = queued,
                    "documents queued for embedding in this space"
                );
            }
            Ok(id)
        })
        .await?;
    Ok(id)
}

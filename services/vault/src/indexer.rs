//! The indexer: takes queued documents one at a time, cuts the current version into chunks
//! (when the version changed), embeds the chunks that have no vector in the current space yet,
//! and announces the document as indexed — all in one transaction, so a crash leaves the
//! document queued, never half indexed. Replicas share the queue (SKIP LOCKED).

use std::sync::Arc;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Array, Integer, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use pgvector::Vector;
use tekup_db::Pool;
use tekup_db::tenancy::{self, Context};
use tekup_embed::Embedder;
use uuid::Uuid;

use crate::search::{self, Scope};
use crate::space::SpaceId;
use crate::store::SqlUuid;
use crate::store::documents;
use crate::{ChunkConfig, SearchConfig, State};

/// Starts the indexer on the runtime; it runs as long as the process.
pub fn spawn(pool: Pool, state: &State) {
    let indexer = Indexer {
        pool,
        embedder: state.embedder.clone(),
        space: state.space,
        chunks: state.config.chunks.clone(),
        search: state.config.search.clone(),
        batch_size: state.config.embedder.batch_size.max(1),
        poll: Duration::from_millis(state.config.indexer.poll_interval_ms.max(10)),
        wake: state.wake.clone(),
    };
    tokio::spawn(async move { indexer.run().await });
}

struct Indexer {
    pool: Pool,
    embedder: Arc<dyn Embedder>,
    space: SpaceId,
    chunks: ChunkConfig,
    search: SearchConfig,
    batch_size: usize,
    poll: Duration,
    wake: Arc<tokio::sync::Notify>,
}

#[derive(Debug, thiserror::Error)]
enum IndexError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Embed(#[from] tekup_embed::EmbedError),
    #[error("{0}")]
    Pool(String),
}

#[derive(QueryableByName)]
struct Queued {
    #[diesel(sql_type = SqlUuid)]
    document_id: Uuid,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    content: String,
}

#[derive(QueryableByName)]
struct ChunkCount {
    #[diesel(sql_type = Integer)]
    chunks: i32,
}

#[derive(QueryableByName)]
struct ChunkedVersion {
    #[diesel(sql_type = diesel::sql_types::Nullable<Integer>)]
    version: Option<i32>,
}

impl Indexer {
    async fn run(self) {
        loop {
            match self.index_next().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "indexer: cannot index; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// Indexes the next queued document; false when none is due.
    async fn index_next(&self) -> Result<bool, IndexError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| IndexError::Pool(err.to_string()))?;
        let mut failed = None;
        let result = conn
            .transaction::<_, IndexError, _>(async |conn| {
                tenancy::enter(conn, &Context::System).await?;
                // The document is locked with its queue entry, and skipped while either is held:
                // writers (a new version, a delete, an erasure) lock the document first and the
                // queue entry after it, so an indexer that held the entry and then waited for
                // the document would deadlock with them.
                let queued: Option<Queued> = diesel::sql_query(
                    "SELECT q.document_id, q.attempts FROM vault.index_queue q \
                     JOIN vault.documents d ON d.id = q.document_id \
                     WHERE q.space_id = $1 AND q.not_before <= now() \
                     ORDER BY q.not_before LIMIT 1 FOR UPDATE OF q, d SKIP LOCKED",
                )
                .bind::<SmallInt, _>(self.space.id)
                .get_result(conn)
                .await
                .map(Some)
                .or_else(not_found_is_none)?;
                let Some(queued) = queued else {
                    return Ok(false);
                };
                failed = Some((queued.document_id, queued.attempts));
                self.index(conn, queued.document_id).await?;
                diesel::sql_query(
                    "DELETE FROM vault.index_queue WHERE document_id = $1 AND space_id = $2",
                )
                .bind::<SqlUuid, _>(queued.document_id)
                .bind::<SmallInt, _>(self.space.id)
                .execute(conn)
                .await?;
                Ok(true)
            })
            .await;
        match (result, failed) {
            (Err(err), Some((document_id, attempts))) => {
                // Back off (up to ten minutes) and keep the cause where operators look.
                let delay_secs = 2_i32.saturating_pow(attempts.clamp(0, 9) as u32).min(600);
                tracing::warn!(%document_id, attempts, error = %err, "indexer: document failed");
                conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                    tenancy::enter(conn, &Context::System).await?;
                    diesel::sql_query(
                        "UPDATE vault.index_queue SET attempts = attempts + 1, last_error = $3, \
                         not_before = now() + make_interval(secs => $4) \
                         WHERE document_id = $1 AND space_id = $2",
                    )
                    .bind::<SqlUuid, _>(document_id)
                    .bind::<SmallInt, _>(self.space.id)
                    .bind::<Text, _>(err.to_string())
                    .bind::<Integer, _>(delay_secs)
                    .execute(conn)
                    .await
                })
                .await?;
                Ok(true)
            }
            (result, _) => result,
        }
    }

    async fn index(&self, conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), IndexError> {
        let document = match documents::find(conn, id).await {
            Ok(document) => document,
            Err(diesel::result::Error::NotFound) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        let chunked: ChunkedVersion = diesel::sql_query(
            "SELECT max(version) AS version FROM vault.chunks WHERE document_id = $1",
        )
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await?;
        if chunked.version != Some(document.version) {
            self.rechunk(conn, &document).await?;
        }
        let pending: Vec<Pending> = diesel::sql_query(
            "SELECT c.id, c.content FROM vault.chunks c WHERE c.document_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM vault.embeddings e \
                             WHERE e.chunk_id = c.id AND e.space_id = $2) ORDER BY c.ordinal",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<SmallInt, _>(self.space.id)
        .load(conn)
        .await?;
        for batch in pending.chunks(self.batch_size) {
            let texts: Vec<String> = batch.iter().map(|p| p.content.clone()).collect();
            let vectors = self.embedder.embed(&texts).await?;
            for (chunk, vector) in batch.iter().zip(vectors) {
                diesel::sql_query(
                    "INSERT INTO vault.embeddings (chunk_id, space_id, document_id, org_id, cvr, \
                     kind, occurred_at, embedding) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind::<SqlUuid, _>(chunk.id)
                .bind::<SmallInt, _>(self.space.id)
                .bind::<SqlUuid, _>(id)
                .bind::<SqlUuid, _>(document.org_id)
                .bind::<Text, _>(&document.cvr)
                .bind::<Text, _>(&document.kind)
                .bind::<Timestamptz, _>(document.occurred_at)
                .bind::<pgvector::sql_types::Vector, _>(Vector::from(vector))
                .execute(conn)
                .await?;
            }
        }
        let chunks: ChunkCount = diesel::sql_query(
            "UPDATE vault.documents SET indexed_version = version, indexed_space = $2, \
             indexed_at = now() WHERE id = $1 \
             RETURNING (SELECT count(*)::int FROM vault.chunks WHERE document_id = $1) AS chunks",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<SmallInt, _>(self.space.id)
        .get_result(conn)
        .await?;
        crate::events::publish_indexed(conn, &document, chunks.chunks).await?;
        self.announce_similar(conn, &document).await?;
        Ok(())
    }

    /// Announces the earlier items of the same company that the document is much like, and
    /// announces again each later item it is much like (that item's list now holds it too).
    ///
    /// Indexings of one company's items take turns here (a transaction-long advisory lock), so
    /// of two alike items indexed at once, or in the wrong order, the one indexed second sees
    /// the first: the pair is always announced, whatever the timing.
    async fn announce_similar(
        &self,
        conn: &mut AsyncPgConnection,
        document: &documents::Document,
    ) -> Result<(), IndexError> {
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock(hashtextextended('vault.similar/' || $1 || '/' || $2, 0))",
        )
        .bind::<Text, _>(document.org_id.to_string())
        .bind::<Text, _>(&document.cvr)
        .execute(conn)
        .await?;
        let earlier = self
            .alike(conn, document, None, Some(document.occurred_at))
            .await?;
        if !earlier.is_empty() {
            crate::events::publish_similar(conn, document, &earlier).await?;
        }
        let later = self
            .alike(conn, document, Some(document.occurred_at), None)
            .await?;
        for (other, _) in later {
            if other.occurred_at > document.occurred_at {
                let its = self
                    .alike(conn, &other, None, Some(other.occurred_at))
                    .await?;
                crate::events::publish_similar(conn, &other, &its).await?;
            }
        }
        Ok(())
    }

    /// The other items of the document's company (that occurred between `from` and `to`) it
    /// is much like, best first.
    async fn alike(
        &self,
        conn: &mut AsyncPgConnection,
        document: &documents::Document,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<(documents::Document, f64)>, IndexError> {
        let Some(centroid) = search::centroid(conn, self.space, document.id).await? else {
            return Ok(Vec::new());
        };
        let scope = Scope {
            org_id: document.org_id,
            cvrs: Some(vec![document.cvr.clone()]),
            kinds: None,
            from,
            to,
            exclude: Some(document.id),
        };
        let (hits, _) = search::semantic(
            conn,
            self.space,
            &scope,
            &centroid.to_vec(),
            30,
            &self.search,
        )
        .await?;
        let mut alike = Vec::new();
        for hit in search::best_per_document(hits, 3)
            .into_iter()
            .filter(|h| h.score >= self.search.similar_min_score)
        {
            alike.push((documents::find(conn, hit.document_id).await?, hit.score));
        }
        Ok(alike)
    }

    async fn rechunk(
        &self,
        conn: &mut AsyncPgConnection,
        document: &documents::Document,
    ) -> Result<(), IndexError> {
        let version = documents::version(conn, document.id, document.version).await?;
        let content = version.raw_content.unwrap_or_default();
        let pieces = tekup_embed::chunk(&content, self.chunks.max_chars, self.chunks.overlap_chars);
        diesel::sql_query("DELETE FROM vault.chunks WHERE document_id = $1")
            .bind::<SqlUuid, _>(document.id)
            .execute(conn)
            .await?;
        let ids: Vec<Uuid> = pieces.iter().map(|_| Uuid::now_v7()).collect();
        let ordinals: Vec<i32> = (0..pieces.len() as i32).collect();
        diesel::sql_query(
            "INSERT INTO vault.chunks (id, document_id, org_id, cvr, kind, occurred_at, version, \
             ordinal, content) \
             SELECT id, $1, $2, $3, $4, $5, $6, ordinal, content \
             FROM unnest($7::uuid[], $8::int[], $9::text[]) AS c(id, ordinal, content)",
        )
        .bind::<SqlUuid, _>(document.id)
        .bind::<SqlUuid, _>(document.org_id)
        .bind::<Text, _>(&document.cvr)
        .bind::<Text, _>(&document.kind)
        .bind::<Timestamptz, _>(document.occurred_at)
        .bind::<Integer, _>(document.version)
        .bind::<Array<SqlUuid>, _>(&ids)
        .bind::<Array<Integer>, _>(&ordinals)
        .bind::<Array<Text>, _>(&pieces)
        .execute(conn)
        .await?;
        Ok(())
    }
}

fn not_found_is_none<T>(err: diesel::result::Error) -> Result<Option<T>, diesel::result::Error> {
    match err {
        diesel::result::Error::NotFound => Ok(None),
        err => Err(err),
    }
}

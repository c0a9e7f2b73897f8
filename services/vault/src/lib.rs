//! The knowledge layer: documents, versions and embeddings, searchable by meaning.
//!
//! Owns the `vault` schema; talks to the other services only through Kafka events. Everything
//! written about a company — uploads, chatbot conversations and e-mail threads from renos,
//! activities and e-mails from crm — becomes a document, cut into chunks that the indexer
//! embeds in the background; search combines meaning (pgvector) and words (full-text).

mod events;
mod http;
mod indexer;
mod search;
mod space;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tekup_embed::{Embedder, Local, OpenAi, OpenAiOptions};
use tekup_events::Subscription;
use tekup_events::gdpr::{Erase, Part};
use tekup_runtime::{Service, ServiceApp, Start};

pub use search::QueryCache;

/// The vault service.
pub struct Vault;

/// vault's own settings (`TEKUP__VAULT__APP__...`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub embedder: EmbedderConfig,
    pub chunks: ChunkConfig,
    pub upload: UploadConfig,
    pub search: SearchConfig,
    pub indexer: IndexerConfig,
}

/// Which model turns text into vectors. Changing it starts a new embedding space: the indexer
/// re-embeds every chunk in it, and semantic search answers from the new space only.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedderConfig {
    /// `local` (all-MiniLM-L6-v2, 384 dimensions, no network) or `openai` (any
    /// OpenAI-compatible `/embeddings` endpoint).
    pub kind: EmbedderKind,
    /// The local model's files (model.safetensors, vocab.txt); `make install` puts them in the
    /// platform's cache.
    pub model_dir: PathBuf,
    /// The OpenAI-compatible endpoint, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    pub dimensions: usize,
    #[serde(serialize_with = "tekup_db::redact::secret")]
    pub api_key: SecretString,
    pub timeout_ms: u64,
    /// Chunks sent to the embedder at once.
    pub batch_size: usize,
    /// Seconds the local model's weights (~90 MB) stay in memory with nothing to embed; the next
    /// text loads them again (a fraction of a second). 0 keeps them loaded.
    pub unload_after_idle_secs: u64,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderKind {
    #[default]
    Local,
    Openai,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            kind: EmbedderKind::Local,
            model_dir: PathBuf::from("/usr/share/tekup/all-minilm-l6-v2"),
            base_url: String::new(),
            model: "text-embedding-3-small".into(),
            dimensions: 1536,
            api_key: SecretString::from(""),
            timeout_ms: 30_000,
            batch_size: 16,
            unload_after_idle_secs: 300,
        }
    }
}

/// How text is cut before embedding.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkConfig {
    /// Largest chunk, in characters (the local model reads about 256 word pieces: ~800
    /// characters of English, fewer of Danish).
    pub max_chars: usize,
    /// Characters a chunk repeats from the end of the previous one.
    pub overlap_chars: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            max_chars: 800,
            overlap_chars: 120,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Largest document content accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self { max_bytes: 1 << 20 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Up to this many vectors in the searched scope, semantic search is exact (every vector
    /// compared: recall 1.0); above it, the HNSW index with iterative scans.
    pub exact_below: i64,
    /// HNSW candidate list size (`hnsw.ef_search`): higher is slower and finds more.
    pub ef_search: i32,
    /// Most vectors an iterative index scan visits before it gives up on a selective filter.
    pub max_scan_tuples: i32,
    /// Query embeddings remembered, so a repeated query does not run the model again.
    pub query_cache: usize,
    /// A newly indexed item is announced as like an earlier item of its company (for crm's
    /// next-step recommendations) from this cosine similarity on.
    pub similar_min_score: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            exact_below: 5_000,
            ef_search: 100,
            max_scan_tuples: 20_000,
            query_cache: 1_024,
            similar_min_score: 0.6,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexerConfig {
    /// Whether this process embeds queued chunks (at least one replica must).
    pub enabled: bool,
    /// How often an idle indexer looks for work, in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 500,
        }
    }
}

/// What the handlers and the indexer share.
pub struct State {
    pub config: Config,
    pub embedder: Arc<dyn Embedder>,
    /// The embedding space of `embedder` (`embedding_spaces.id`).
    pub space: space::SpaceId,
    pub queries: QueryCache,
    /// Wakes the indexer when a change queued chunks.
    pub wake: Arc<tokio::sync::Notify>,
}

/// Builds the embedder the settings name.
pub fn embedder(config: &EmbedderConfig) -> anyhow::Result<Arc<dyn Embedder>> {
    Ok(match config.kind {
        EmbedderKind::Local => {
            let local = match config.unload_after_idle_secs {
                0 => Local::load(&config.model_dir).map(Arc::new),
                secs => Local::on_demand(&config.model_dir, Duration::from_secs(secs)),
            };
            local.map_err(|err| {
                anyhow::anyhow!(
                    "cannot load the local embedding model (app.embedder.model_dir): {err}"
                )
            })?
        }
        EmbedderKind::Openai => {
            if config.base_url.is_empty() {
                anyhow::bail!("app.embedder.base_url must be set for the openai embedder");
            }
            Arc::new(
                OpenAi::new(OpenAiOptions {
                    base_url: config.base_url.clone(),
                    model: config.model.clone(),
                    dimensions: config.dimensions,
                    api_key: config.api_key.expose_secret().to_owned(),
                    timeout: Duration::from_millis(config.timeout_ms),
                })
                .map_err(|err| anyhow::anyhow!("app.embedder: {err}"))?,
            )
        }
    })
}

impl ServiceApp for Vault {
    const SERVICE: Service = Service::Vault;
    type Config = Config;
    type State = State;

    async fn state(start: &Start<'_, Config>) -> anyhow::Result<State> {
        let config = start.settings.app.clone();
        let embedder = embedder(&config.embedder)?;
        let space = space::register(start.pool, embedder.space())
            .await
            .context("cannot register the embedding space")?;
        let state = State {
            queries: QueryCache::new(config.search.query_cache),
            config,
            embedder,
            space,
            wake: Arc::new(tokio::sync::Notify::new()),
        };
        if state.config.indexer.enabled {
            indexer::spawn(start.pool.clone(), &state);
        }
        Ok(state)
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        http::routes(cfg);
    }

    fn topics() -> Vec<String> {
        tekup_events::catalog::of("vault")
    }

    fn subscriptions() -> Vec<Subscription> {
        let mut subscriptions = vec![
            tekup_events::projection::organizations(),
            tekup_events::projection::access_grants(),
        ];
        subscriptions.extend(events::subscriptions());
        subscriptions.push(tekup_events::gdpr::subscription_remembering(
            "vault", GDPR, ERASED,
        ));
        subscriptions
    }
}

/// Where vault remembers the people erased on a data-subject request (see [`events`]).
pub const ERASED: &str = "vault.erased_subjects";

/// Where vault keeps personal data, for flow's data-subject requests (erasure and export).
pub const GDPR: &[Part] = &[Part {
    table: "vault.documents",
    // The address as a whole, not inside another one (`ole@firma.dk` is not `nicole@firma.dk`):
    // no address character before it, none after it but a sentence's full stop.
    by_email: Some(
        r"lower(contact_email) = lower($2) OR id IN (SELECT document_id FROM vault.document_versions WHERE strpos(lower(raw_content), lower($2)) > 0 AND lower(raw_content) ~ ('(?<![[:alnum:]._%+-])' || regexp_replace(lower($2), '([^[:alnum:]])', '\\\1', 'g') || '(?![[:alnum:]_-]|\.[[:alnum:]])'))",
    ),
    by_cvr: Some("cvr = $2"),
    erase: Erase::Delete,
}];

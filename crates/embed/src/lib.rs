//! Text to vectors.
//!
//! - [`Embedder`]: what the vault indexes with; its [`Space`] (model and dimension) is part of
//!   every stored vector's identity, so vectors of two models never meet in one search;
//! - [`Local`]: all-MiniLM-L6-v2 (384 dimensions) on the CPU, needing no network: the default;
//! - [`OpenAi`]: any OpenAI-compatible `/embeddings` endpoint, for multilingual production models;
//! - [`chunk`]: text cut into overlapping pieces of bounded size, at word boundaries.

mod chunk;
mod minilm;
mod openai;
mod wordpiece;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

pub use chunk::chunk;
pub use minilm::{DIMENSIONS as MINILM_DIMENSIONS, MAX_TOKENS as MINILM_MAX_TOKENS, MiniLm};
pub use openai::{OpenAi, OpenAiOptions};

/// The name and dimension of the vectors an embedder makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    pub model: String,
    pub dimensions: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The embedder cannot be reached or answered with an error; worth retrying later.
    #[error("the embedder is unavailable: {0}")]
    Unavailable(String),
    /// The embedder answered with something that is not what was asked for.
    #[error("the embedder answered wrongly: {0}")]
    Invalid(String),
}

/// Turns texts into unit vectors of its [`Space`], one per text, in order.
pub trait Embedder: Send + Sync {
    fn space(&self) -> &Space;
    fn embed<'a>(&'a self, texts: &'a [String])
    -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>>;
}

/// The local model, run on the blocking pool so it never stalls the async workers.
///
/// Its weights take ~90 MB. Made with [`Local::load`] they stay in memory; made with
/// [`Local::on_demand`] they are loaded when there is text to embed and let go after a while
/// without any, so that a vault which is not indexing or searching stays small.
pub struct Local {
    dir: PathBuf,
    space: Space,
    /// How long the model may sit unused before its weights are let go; `None`: never.
    unload_after: Option<Duration>,
    resident: Arc<tokio::sync::Mutex<Resident>>,
    /// Loads of the weights begun for text to embed.
    loads: Arc<AtomicU64>,
}

struct Resident {
    model: Option<Arc<MiniLm>>,
    last_used: Instant,
}

impl Local {
    pub const MODEL: &str = "all-MiniLM-L6-v2";

    /// Loads the model from `dir` (`model.safetensors`, `vocab.txt`) and keeps it loaded.
    pub fn load(dir: &Path) -> Result<Self, String> {
        Ok(Self::new(dir, Some(Arc::new(MiniLm::load(dir)?)), None))
    }

    /// Checks the model in `dir` by loading it once, then keeps it in memory only while it is
    /// used: after `idle` with nothing to embed its weights are let go, and the next text loads
    /// them again. Must be called inside a tokio runtime, whose task lets the idle model go; the
    /// task ends with the last handle to the returned embedder.
    pub fn on_demand(dir: &Path, idle: Duration) -> Result<Arc<Self>, String> {
        MiniLm::load(dir)?;
        let local = Arc::new(Self::new(dir, None, Some(idle)));
        let weak = Arc::downgrade(&local);
        let period = (idle / 2).max(Duration::from_millis(50));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let Some(local) = weak.upgrade() else { break };
                local.unload_if_idle().await;
            }
        });
        Ok(local)
    }

    fn new(dir: &Path, model: Option<Arc<MiniLm>>, unload_after: Option<Duration>) -> Self {
        Self {
            dir: dir.to_owned(),
            space: Space {
                model: Self::MODEL.to_owned(),
                dimensions: minilm::DIMENSIONS,
            },
            unload_after,
            resident: Arc::new(tokio::sync::Mutex::new(Resident {
                model,
                last_used: Instant::now(),
            })),
            loads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many loads of the weights began because there was text to embed (the check of
    /// [`Local::on_demand`] and [`Local::load`]'s own load not counted).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Whether the weights are in memory now.
    pub async fn is_loaded(&self) -> bool {
        self.resident.lock().await.model.is_some()
    }

    /// The model, loaded first if it is not in memory. A load runs as its own task: a caller
    /// that goes away mid-load (a client that hung up) neither abandons it nor lets the next
    /// caller start a second one.
    async fn model(&self) -> Result<Arc<MiniLm>, EmbedError> {
        {
            let mut resident = self.resident.lock().await;
            if let Some(model) = &resident.model {
                let model = model.clone();
                resident.last_used = Instant::now();
                return Ok(model);
            }
        }
        let resident = Arc::clone(&self.resident);
        let loads = Arc::clone(&self.loads);
        let dir = self.dir.clone();
        let find_or_load = async move {
            let mut resident = resident.lock().await;
            resident.last_used = Instant::now();
            if let Some(model) = &resident.model {
                return Ok(model.clone());
            }
            let started = Instant::now();
            loads.fetch_add(1, Ordering::Relaxed);
            let model = tokio::task::spawn_blocking(move || MiniLm::load(&dir))
                .await
                .map_err(|err| {
                    EmbedError::Unavailable(format!("loading the model stopped: {err}"))
                })?
                .map_err(EmbedError::Unavailable)?;
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "the local embedding model is loaded"
            );
            let model = Arc::new(model);
            resident.model = Some(model.clone());
            resident.last_used = Instant::now();
            Ok(model)
        };
        tokio::spawn(find_or_load)
            .await
            .map_err(|err| EmbedError::Unavailable(format!("loading the model stopped: {err}")))?
    }

    /// Lets the weights go if nothing has been embedded for `unload_after` and no embedding is
    /// running now.
    async fn unload_if_idle(&self) {
        let Some(idle) = self.unload_after else {
            return;
        };
        let mut resident = self.resident.lock().await;
        let unused = resident.last_used.elapsed() >= idle;
        if unused
            && resident
                .model
                .as_ref()
                .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            resident.model = None;
            tracing::info!(
                idle_s = idle.as_secs(),
                "the local embedding model is unloaded until the next text to embed"
            );
        }
    }
}

impl Embedder for Local {
    fn space(&self) -> &Space {
        &self.space
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        let texts = texts.to_vec();
        Box::pin(async move {
            let model = self.model().await?;
            let (vectors, model) = tokio::task::spawn_blocking(move || {
                let vectors = texts.iter().map(|t| model.embed(t)).collect();
                (vectors, model)
            })
            .await
            .map_err(|err| EmbedError::Unavailable(format!("the model stopped: {err}")))?;
            // The idle time counts from the end of the work: marked before this handle goes,
            // so that a long embedding is not followed at once by an unload.
            self.resident.lock().await.last_used = Instant::now();
            drop(model);
            Ok(vectors)
        })
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

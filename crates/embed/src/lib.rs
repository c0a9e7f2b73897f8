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

use std::path::Path;
use std::sync::Arc;

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
pub struct Local {
    model: Arc<MiniLm>,
    space: Space,
}

impl Local {
    pub const MODEL: &str = "all-MiniLM-L6-v2";

    /// Loads the model from `dir` (`model.safetensors`, `vocab.txt`).
    pub fn load(dir: &Path) -> Result<Self, String> {
        Ok(Self {
            model: Arc::new(MiniLm::load(dir)?),
            space: Space {
                model: Self::MODEL.to_owned(),
                dimensions: minilm::DIMENSIONS,
            },
        })
    }

    /// The model itself, for callers that are already off the async workers.
    pub fn model(&self) -> &Arc<MiniLm> {
        &self.model
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
        let model = self.model.clone();
        let texts = texts.to_vec();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || texts.iter().map(|t| model.embed(t)).collect())
                .await
                .map_err(|err| EmbedError::Unavailable(format!("the model stopped: {err}")))
        })
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

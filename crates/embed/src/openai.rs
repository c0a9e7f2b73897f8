//! An OpenAI-compatible embeddings endpoint: `POST {base_url}/embeddings` with
//! `{"model", "input": [...], "dimensions"}` and a bearer key, answered by
//! `{"data": [{"index", "embedding"}], ...}`.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::{EmbedError, Embedder, Space};

pub struct OpenAiOptions {
    /// e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    pub dimensions: usize,
    pub api_key: String,
    pub timeout: Duration,
}

pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    api_key: String,
    space: Space,
}

impl OpenAi {
    pub fn new(options: OpenAiOptions) -> Result<Self, String> {
        if options.dimensions == 0 {
            return Err("the embedder's dimensions must be set".into());
        }
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|err| err.to_string())?;
        Ok(Self {
            client,
            url: format!("{}/embeddings", options.base_url.trim_end_matches('/')),
            api_key: options.api_key,
            space: Space {
                model: options.model,
                dimensions: options.dimensions,
            },
        })
    }
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [String],
    dimensions: usize,
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

impl Embedder for OpenAi {
    fn space(&self) -> &Space {
        &self.space
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            let response = self
                .client
                .post(&self.url)
                .bearer_auth(&self.api_key)
                .json(&Request {
                    model: &self.space.model,
                    input: texts,
                    dimensions: self.space.dimensions,
                    encoding_format: "float",
                })
                .send()
                .await
                .map_err(|err| EmbedError::Unavailable(err.to_string()))?;
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(300).collect();
                return Err(EmbedError::Unavailable(format!("{status}: {body}")));
            }
            let mut answer: Response = response
                .json()
                .await
                .map_err(|err| EmbedError::Invalid(err.to_string()))?;
            answer.data.sort_by_key(|item| item.index);
            if answer.data.len() != texts.len()
                || answer
                    .data
                    .iter()
                    .enumerate()
                    .any(|(i, item)| item.index != i)
            {
                return Err(EmbedError::Invalid(format!(
                    "{} embeddings for {} texts",
                    answer.data.len(),
                    texts.len()
                )));
            }
            answer
                .data
                .into_iter()
                .map(|item| {
                    if item.embedding.len() != self.space.dimensions {
                        return Err(EmbedError::Invalid(format!(
                            "a vector of {} dimensions, not {}",
                            item.embedding.len(),
                            self.space.dimensions
                        )));
                    }
                    Ok(normalized(item.embedding))
                })
                .collect()
        })
    }
}

/// Unit length, so cosine distance and inner product agree whatever the provider returns.
fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

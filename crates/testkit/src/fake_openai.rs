//! A local stand-in for an OpenAI-compatible embeddings API (`POST /v1/embeddings`), which
//! cannot be reached from tests. It speaks the real request and response shapes, checks the
//! bearer key, answers in shuffled `index` order (clients must sort), and embeds by hashing
//! words into the requested dimensions, so texts sharing words are near.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

pub const API_KEY: &str = "sk-test-key";

/// The running fake; stops with the test's runtime.
pub struct FakeOpenAi {
    /// The base URL to configure: `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    requests: Arc<AtomicUsize>,
}

impl FakeOpenAi {
    pub async fn start() -> anyhow::Result<Self> {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(counter.clone()))
                .route("/v1/embeddings", web::post().to(embeddings))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))?;
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Ok(Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            requests,
        })
    }

    /// Embedding requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn embeddings(
    request: HttpRequest,
    counter: web::Data<Arc<AtomicUsize>>,
    body: web::Json<Value>,
) -> HttpResponse {
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {API_KEY}"));
    if !authorized {
        return HttpResponse::Unauthorized().json(json!({"error": {
            "message": "Incorrect API key provided", "type": "invalid_request_error",
            "code": "invalid_api_key"}}));
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let dimensions = body["dimensions"].as_u64().unwrap_or(1536) as usize;
    if inputs.is_empty() || dimensions == 0 {
        return HttpResponse::BadRequest().json(json!({"error": {
            "message": "'input' must be a non-empty string or array", "type": "invalid_request_error"}}));
    }
    counter.fetch_add(1, Ordering::SeqCst);
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({"object": "embedding", "index": index, "embedding": hashed(text, dimensions)})
        })
        .collect();
    data.reverse();
    let model = body["model"].as_str().unwrap_or_default();
    HttpResponse::Ok().json(json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
}

/// Words hashed (FNV-1a) into `dimensions` buckets: unnormalised, as a provider may send.
fn hashed(text: &str, dimensions: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; dimensions];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.to_lowercase().bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        v[(h % dimensions as u64) as usize] += 3.0;
    }
    v[0] += 0.01;
    v
}

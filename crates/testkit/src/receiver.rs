//! A local HTTP endpoint that records what it receives: the other side of outgoing webhooks
//! and HTTP steps. It answers 200 `{"ok": true}` unless told otherwise, per request, in order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// One request received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// Hold the request this long, then answer 200 (a receiver slower than the sender).
    Stall(Duration),
    Json(Value),
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Reply>,
}

pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    inner: web::Data<Arc<Mutex<Inner>>>,
) -> HttpResponse {
    let reply = {
        let mut state = lock(&inner);
        state.received.push(Received {
            method: req.method().to_string(),
            path: req.uri().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: body.to_vec(),
        });
        state.script.pop_front()
    };
    match reply {
        None => HttpResponse::Ok().json(json!({"ok": true})),
        Some(Reply::Json(value)) => HttpResponse::Ok().json(value),
        Some(Reply::Status(status)) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
        )
        .json(json!({"status": status})),
        Some(Reply::Stall(pause)) => {
            tokio::time::sleep(pause).await;
            HttpResponse::Ok().json(json!({"ok": true, "stalled": true}))
        }
    }
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let data = web::Data::new(Arc::clone(&inner));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))?;
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            inner,
        })
    }

    /// The next requests are answered so, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.inner).script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.inner).received.clone()
    }
}

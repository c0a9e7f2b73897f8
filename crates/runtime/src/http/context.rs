//! The middleware around every request: request id, trace context, access span and log line,
//! metrics, and a last line of defence that turns a panic into a plain 500 problem.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use futures_util::FutureExt;
use opentelemetry::propagation::Extractor;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::request_id;
use crate::Problem;

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Paths polled by machines; logged at debug level so they do not drown the access log.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = request_id::from_header(req.headers().get(request_id::HEADER));
    let span = tracing::info_span!(
        "http.request",
        otel.name = Empty,
        otel.kind = "server",
        http.method = %req.method(),
        http.target = %req.path(),
        http.route = Empty,
        http.status = Empty,
        request_id = %id,
        trace_id = Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(req.headers()))
    });
    let _ = span.set_parent(parent);
    let trace_id = {
        use opentelemetry::trace::TraceContextExt;
        span.context().span().span_context().trace_id().to_string()
    };
    span.record("trace_id", trace_id.as_str());

    let method = req.method().clone();
    // No clone of the request may be held while routing runs (actix needs it unique), so a
    // panic is answered as an error that actix renders with the problem's own response.
    let call = AssertUnwindSafe(next.call(req)).catch_unwind();
    let outcome = request_id::scope(id.clone(), call)
        .instrument(span.clone())
        .await;
    let mut response = match outcome {
        Ok(Ok(response)) => response.map_into_boxed_body(),
        Ok(Err(err)) => return Err(err),
        Err(_) => {
            let problem = request_id::scope(id.clone(), async {
                Problem::internal(&"a request handler panicked")
            })
            .instrument(span.clone())
            .await;
            record(&method, "panicked", 500, started.elapsed().as_secs_f64());
            return Err(problem.into());
        }
    };

    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(request_id::HEADER), value);
    }
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.record("http.route", route.as_str());
    span.record("http.status", status);
    span.record("otel.name", format!("{method} {route}").as_str());

    record(&method, &route, status, elapsed.as_secs_f64());

    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if is_probe(&route) {
            tracing::debug!(status, latency_ms, "request finished");
        } else if status >= 500 {
            tracing::warn!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
    });
    Ok(response)
}

fn record(method: &actix_web::http::Method, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(seconds);
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    async fn boom() -> HttpResponse {
        panic!("secret detail of the failure")
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_a_plain_500_problem() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(middleware))
                .route("/boom", web::get().to(boom)),
        )
        .await;
        let request = test::TestRequest::get().uri("/boom").to_request();
        let Err(err) = test::try_call_service(&app, request).await else {
            panic!("a panicking handler answered normally");
        };
        let response = err.error_response();
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("secret"), "{body}");
        assert!(body.contains("\"status\":500"), "{body}");
        assert!(body.contains("\"request_id\""), "{body}");
    }
}

//! The endpoints every service serves: liveness, readiness, metrics and its OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use tekup_db::Pool;
use utoipa::{OpenApi, ToSchema};

use crate::Problem;

/// The service's OpenAPI document, rendered once at start-up.
pub struct OpenApiJson(pub Arc<String>);

/// Answer of `/healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process serves requests.
    status: &'static str,
    service: &'static str,
    version: &'static str,
}

/// Answer of `/readyz` when every dependency answers.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    status: &'static str,
    /// Each dependency checked and its state.
    checks: Vec<Check>,
}

#[derive(Serialize, ToSchema)]
pub struct Check {
    name: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Clone, Copy)]
pub struct ServiceName(pub &'static str);

/// What `/readyz` checks: the database, and the broker when events are on.
pub struct Readiness {
    pub pool: Pool,
    pub producer: Option<rdkafka::producer::FutureProducer>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz(service: web::Data<ServiceName>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        service: service.0,
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The service can do its work: its database answers, and its broker when events are on.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers", body = Ready),
        (status = 503, description = "A dependency does not answer", body = Problem,
         content_type = "application/problem+json")))]
pub async fn readyz(readiness: web::Data<Readiness>) -> Result<HttpResponse, Problem> {
    let database = tekup_db::pool::ping(&readiness.pool).await;
    let mut checks = vec![Check {
        name: "database",
        ok: database.is_ok(),
        error: database.err().map(|err| err.to_string()),
    }];
    if let Some(producer) = &readiness.producer {
        let broker = tekup_events::kafka::ping(producer, Duration::from_secs(2)).await;
        checks.push(Check {
            name: "broker",
            ok: broker.is_ok(),
            error: broker.err(),
        });
    }
    if checks.iter().all(|c| c.ok) {
        return Ok(HttpResponse::Ok().json(Ready {
            status: "ready",
            checks,
        }));
    }
    let failing: Vec<_> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| {
            format!(
                "{}: {}",
                c.name,
                c.error.as_deref().unwrap_or("unavailable")
            )
        })
        .collect();
    Err(Problem::unavailable(format!(
        "Not ready: {}",
        failing.join("; ")
    )))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
               content_type = "text/plain; version=0.0.4")))]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::handle().render())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this service")))]
pub async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.as_str().to_owned())
}

/// Unknown paths answer with a problem, like every other error.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, Problem> {
    Err(Problem::not_found(format!(
        "No route for {} {}.",
        req.method(),
        req.path()
    )))
}

#[derive(OpenApi)]
#[openapi(
    paths(healthz, readyz, metrics, openapi_json),
    components(schemas(Problem, crate::problem::FieldError)),
    tags((name = "operations", description = "Health, readiness, metrics and this document"))
)]
pub struct OperationsApi;

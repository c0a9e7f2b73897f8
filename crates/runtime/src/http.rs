//! The HTTP server every service runs, built the same way by `main` and by the tests.

mod context;
pub mod endpoints;
pub use tekup_problem::request_id;

/// Declares the `user` security scheme (a bearer JWT from shared) that the services' operations
/// name in `security(("user" = []))`: `#[openapi(modifiers(&UserAuth))]`.
pub struct UserAuth;

impl utoipa::Modify for UserAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "user",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
    }
}

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, error, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use tekup_db::{Pool, Service};
use utoipa::OpenApi;

use crate::background::Background;
use crate::{Problem, ServiceApp, Settings};
use endpoints::{OpenApiJson, Readiness, ServiceName};

/// A service, bound to its port and ready to serve.
pub struct Application {
    service: Service,
    host: String,
    port: u16,
    server: Server,
    pool: Pool,
    background: Background,
    shutdown_timeout: Duration,
}

impl Application {
    /// Migrates the service's schema, then binds the listener. With port 0 a free port is
    /// chosen; [`Application::port`] tells which.
    pub async fn build<S: ServiceApp>(settings: Settings<S::Config>) -> anyhow::Result<Self> {
        let service = S::SERVICE;
        // Install the recorder before the first request is counted.
        crate::metrics::handle();
        let pool = tekup_db::pool::pool(&settings.database, service)?;
        if settings.database.migrate_on_start {
            let url = settings.database.url.expose_secret();
            let applied = migrate_when_reachable(url, service, &settings.database).await?;
            if !applied.is_empty() {
                tracing::info!(versions = ?applied, "migrated schema {}", service.schema());
            }
        }

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
            .with_context(|| {
                format!(
                    "cannot listen on {}:{} (http.host / http.port)",
                    settings.http.host, settings.http.port
                )
            })?;
        let port = listener.local_addr()?.port();

        let own = S::openapi();
        let mut doc = endpoints::OperationsApi::openapi();
        doc.info.description = own.info.description.clone();
        doc.merge(own);
        doc.info.title = format!("tekup {service}");
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let doc = web::Data::new(OpenApiJson(Arc::new(doc.to_pretty_json()?)));
        let background = Background::start::<S>(&settings, &pool)?;
        let readiness = web::Data::new(Readiness {
            pool: pool.clone(),
            producer: background.producer.clone(),
        });
        let name = web::Data::new(ServiceName(service.name()));
        let service_data = web::Data::new(service);
        let app_config = web::Data::new(settings.app.clone());
        let state = web::Data::new(
            S::state(&crate::Start {
                settings: &settings,
                pool: &pool,
            })
            .await
            .context("cannot build the service's state")?,
        );
        let verifier = web::Data::new(S::verifier(&settings, &state));
        let json_limit = settings.http.json_limit_bytes;
        let workers = settings.http.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        let worker_pools = WorkerPools::new(&settings.database, service, workers)?;

        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(context::middleware))
                .app_data(json_config(json_limit))
                .app_data(path_config())
                .app_data(query_config())
                .app_data(doc.clone())
                .app_data(name.clone())
                .app_data(worker_pools.next())
                .app_data(service_data.clone())
                .app_data(readiness.clone())
                .app_data(app_config.clone())
                .app_data(state.clone())
                .app_data(verifier.clone())
                .route("/healthz", web::get().to(endpoints::healthz))
                .route("/readyz", web::get().to(endpoints::readyz))
                .route("/metrics", web::get().to(endpoints::metrics))
                .route("/openapi.json", web::get().to(endpoints::openapi_json))
                .configure(S::routes)
                .default_service(web::to(endpoints::not_found))
        })
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        // A response is written whole; it should leave at once, not wait for the last ACK.
        .tcp_nodelay(true)
        .workers(workers)
        .listen(listener)?;
        Ok(Self {
            service,
            host: settings.http.host,
            port,
            server: server.run(),
            pool,
            background,
            shutdown_timeout: Duration::from_secs(settings.http.shutdown_timeout_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    pub fn service(&self) -> Service {
        self.service
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A handle that stops the server gracefully (what SIGTERM does).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT or [`Application::handle`]`.stop(true)`, then lets in-flight
    /// requests finish (up to `http.shutdown_timeout_secs`).
    /// Background work (relay, consumers) stops after the server, so events written by the
    /// last requests are still relayed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.background.stop(self.shutdown_timeout).await;
        served
    }
}

/// Checks a connection out of the pool; an exhausted or unreachable database is a 503.
pub async fn checkout(pool: &Pool) -> Result<tekup_db::Conn, Problem> {
    pool.get()
        .await
        .map_err(|err| Problem::from(tekup_db::DbError::from(err)))
}

/// At start-up the database may still be coming up (the local platform starts everything at
/// once): retry until `database.startup_wait_ms` has passed, then give up with the cause.
async fn migrate_when_reachable(
    url: &str,
    service: Service,
    config: &tekup_db::DatabaseConfig,
) -> anyhow::Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(config.startup_wait_ms);
    loop {
        match tekup_db::migrate::run(url, service).await {
            Err(tekup_db::DbError::Unavailable(cause))
                if tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %cause, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => {
                return other
                    .with_context(|| format!("cannot migrate schema {}", service.schema()));
            }
        }
    }
}

/// One pool per HTTP worker, handed out as the workers build their app.
///
/// A connection's I/O runs as a task on the runtime that opened it, and each worker has a
/// runtime (a thread) of its own. A pool shared by the workers would have a request's every
/// statement wake another thread and wait for it; with its own pool, opened lazily from the
/// worker, a request's statements stay on the thread that serves it.
struct WorkerPools {
    pools: Vec<web::Data<Pool>>,
    next: std::sync::atomic::AtomicUsize,
}

impl WorkerPools {
    /// `database.pool_size` connections in all, split evenly between the workers.
    fn new(
        config: &tekup_db::DatabaseConfig,
        service: Service,
        workers: usize,
    ) -> anyhow::Result<Arc<Self>> {
        let workers = workers.max(1);
        let size = config.pool_size.div_ceil(workers);
        let pools = (0..workers)
            .map(|_| tekup_db::pool::pool_sized(config, service, size).map(web::Data::new))
            .collect::<Result<_, _>>()?;
        Ok(Arc::new(Self {
            pools,
            next: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// The pool of the worker building its app now (a restarted worker takes the next one).
    fn next(&self) -> web::Data<Pool> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.pools[i % self.pools.len()].clone()
    }
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let problem = match &err {
                error::JsonPayloadError::ContentType => {
                    Problem::unsupported_media_type("Send the body as application/json.")
                }
                error::JsonPayloadError::Overflow { limit }
                | error::JsonPayloadError::OverflowKnownLength { limit, .. } => {
                    Problem::payload_too_large("The body", *limit)
                }
                error::JsonPayloadError::Deserialize(cause) => {
                    Problem::bad_request(format!("Invalid JSON body: {cause}"))
                }
                other => Problem::bad_request(format!("Invalid body: {other}")),
            };
            problem.into()
        })
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req| Problem::not_found(format!("Invalid path: {err}")).into())
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        Problem::bad_request(format!("Invalid query string: {err}")).into()
    })
}

/// Reads a raw request body (an e-mail, a webhook delivery) of at most `limit` bytes; a larger
/// one is a 413 naming the limit, read no further.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<bytes::Bytes, Problem> {
    use futures_util::StreamExt;
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| Problem::bad_request(format!("Invalid body: {err}")))?;
        if body.len() + chunk.len() > limit {
            return Err(Problem::payload_too_large("The body", limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The request's media type (`Content-Type` without parameters, lower-case), empty when absent.
pub fn media_type(req: &actix_web::HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_worker_gets_a_pool_of_its_own_sharing_the_pool_size() {
        let config = tekup_db::DatabaseConfig {
            url: "postgres://tekup_crm:secret@127.0.0.1:1/tekup".into(),
            pool_size: 16,
            ..Default::default()
        };
        let pools = WorkerPools::new(&config, Service::Crm, 3).unwrap();
        let handed: Vec<web::Data<Pool>> = (0..4).map(|_| pools.next()).collect();
        // 16 over 3 workers: 6 each, rounded up so that none is left short.
        assert!(handed.iter().all(|p| p.status().max_size == 6));
        let same =
            |a: usize, b: usize| std::ptr::eq::<Pool>(handed[a].get_ref(), handed[b].get_ref());
        assert!(!same(0, 1) && !same(1, 2) && !same(0, 2));
        // A restarted fourth worker takes the first pool again rather than a new one.
        assert!(same(0, 3));
    }
}

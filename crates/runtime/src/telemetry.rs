//! Tracing to stdout, and OpenTelemetry export when an endpoint is configured.
//!
//! Spans always carry OpenTelemetry trace ids (so a request's `traceparent` can be followed into
//! Kafka headers and logs), whether or not anything is exported.

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How logs look and where traces go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,tekup_db=debug`.
    pub log_filter: String,
    /// OTLP/HTTP endpoint (e.g. `http://127.0.0.1:4318`); no export when unset.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            otlp_endpoint: None,
            service_name: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Keeps the tracer provider alive; dropping it flushes the spans not yet exported.
#[must_use = "telemetry stops when the guard is dropped"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {err}");
        }
    }
}

/// Installs the global subscriber and the W3C trace-context propagator.
pub fn init(service: &str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    let name = if settings.service_name.is_empty() {
        service.to_owned()
    } else {
        settings.service_name.clone()
    };
    let mut provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(name.clone()).build());
    if let Some(endpoint) = &settings.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider.clone());

    let filter = EnvFilter::try_new(&settings.log_filter)
        .map_err(|err| anyhow::anyhow!("invalid telemetry.log_filter: {err}"))?;
    let fmt = match settings.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer(name)))
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

/// For tests: logs to the test output when `TEST_LOG` is set, and always records spans with
/// OpenTelemetry ids and installs the propagator, so trace context crosses HTTP and Kafka as in
/// production. Safe to call many times.
pub fn init_for_tests() {
    use tracing_subscriber::filter::LevelFilter;

    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        global::set_tracer_provider(provider.clone());
        let filter = match std::env::var("TEST_LOG").as_deref() {
            Err(_) => EnvFilter::new("off"),
            Ok("" | "1" | "true") => EnvFilter::new("info"),
            Ok(directive) => EnvFilter::new(directive),
        };
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(filter),
            )
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("test"))
                    .with_filter(LevelFilter::INFO),
            )
            .try_init();
    });
}

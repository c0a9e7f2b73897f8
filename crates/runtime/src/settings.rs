//! Settings, layered: built-in defaults → an optional TOML file → the environment.
//!
//! The file is named by `TEKUP_CONFIG` (or `TEKUP_<SERVICE>_CONFIG`, which wins). Environment
//! variables are `TEKUP__<SERVICE>__<SECTION>__<KEY>`, e.g. `TEKUP__CRM__HTTP__PORT=8084` or
//! `TEKUP__CRM__DATABASE__URL=postgres://...`. Unknown keys are refused, and a value of the
//! wrong type stops start-up with an error naming the key and the variable that set it.

use std::collections::HashMap;
use std::path::PathBuf;

use config::{Config, Environment, File, FileFormat};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tekup_auth::AuthSettings;
use tekup_db::{DatabaseConfig, Service};
use tekup_events::EventsConfig;

use crate::telemetry::TelemetrySettings;

/// Everything a service is configured with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings<A> {
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    #[serde(default)]
    pub events: EventsConfig,
    #[serde(default)]
    pub auth: AuthSettings,
    /// The service's own section.
    #[serde(default)]
    pub app: A,
}

/// The HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to bind; loopback by default.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests). Defaults to the service's own port.
    pub port: u16,
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// How long in-flight requests may run on after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Largest JSON body accepted, in bytes.
    pub json_limit_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            workers: None,
            shutdown_timeout_secs: 30,
            json_limit_bytes: 1 << 20,
        }
    }
}

/// The port a service listens on unless configured otherwise.
pub const fn default_port(service: Service) -> u16 {
    match service {
        Service::Vault => 8081,
        Service::Billy => 8082,
        Service::Renos => 8083,
        Service::Crm => 8084,
        Service::Flow => 8085,
        Service::Shared => 8086,
    }
}

/// A setting that could not be read; names the key and where the value came from.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid value for `{key}` (set by {origin}): {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
    #[error("cannot read configuration: {0}")]
    Source(#[from] config::ConfigError),
}

impl<A: DeserializeOwned + Default> Settings<A> {
    /// Loads the settings of `service` from the process environment.
    pub fn load(service: Service) -> Result<Self, SettingsError> {
        let file = std::env::var_os(format!("TEKUP_{}_CONFIG", upper(service)))
            .or_else(|| std::env::var_os("TEKUP_CONFIG"))
            .map(PathBuf::from);
        Self::load_from(service, file, std::env::vars().collect())
    }

    /// Loads the settings of `service` from an optional file and the given environment.
    pub fn load_from(
        service: Service,
        file: Option<PathBuf>,
        env: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let prefix = format!("TEKUP__{}", upper(service));
        let mut builder = Config::builder()
            .set_default("http.port", default_port(service))?
            .set_default("telemetry.service_name", service.name())?;
        if let Some(path) = &file {
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
        }
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with(&format!("{prefix}__")))
            .collect();
        let config = builder
            .add_source(
                Environment::with_prefix(&prefix)
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(env.clone())),
            )
            .build()?;
        serde_path_to_error::deserialize(config).map_err(|err| {
            let key = err.path().to_string();
            let variable = format!("{prefix}__{}", key.to_uppercase().replace('.', "__"));
            let origin = if env.contains_key(&variable) {
                format!("environment variable {variable}")
            } else if let Some(path) = &file {
                format!("{} or environment variable {variable}", path.display())
            } else {
                format!("environment variable {variable}")
            };
            SettingsError::Invalid {
                key,
                origin,
                message: err.into_inner().to_string(),
            }
        })
    }
}

impl<A: DeserializeOwned + Default + Serialize> Settings<A> {
    /// Every setting of `service` as `(key, default, environment variable)`, straight from the
    /// types the service reads, so the documentation cannot drift from the code. Secrets show
    /// as `<secret>`; unset options as `unset`.
    pub fn reference(service: Service) -> Result<Vec<(String, String, String)>, SettingsError> {
        let defaults = Self::load_from(service, None, HashMap::new())?;
        let value = serde_json::to_value(&defaults).map_err(|err| SettingsError::Invalid {
            key: String::new(),
            origin: "defaults".into(),
            message: err.to_string(),
        })?;
        let mut keys = Vec::new();
        flatten("", &value, &mut keys);
        let prefix = format!("TEKUP__{}", upper(service));
        Ok(keys
            .into_iter()
            .map(|(key, default)| {
                let variable = format!("{prefix}__{}", key.to_uppercase().replace('.', "__"));
                (key, default, variable)
            })
            .collect())
    }
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(fields) if !fields.is_empty() => {
            for (name, field) in fields {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(&key, field, out);
            }
        }
        serde_json::Value::Object(_) => {}
        serde_json::Value::Null => out.push((prefix.to_owned(), "unset".into())),
        serde_json::Value::String(text) if text.is_empty() => {
            out.push((prefix.to_owned(), "empty".into()));
        }
        serde_json::Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn upper(service: Service) -> String {
    service.name().to_uppercase()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::NoConfig;

    fn load(vars: &[(&str, &str)]) -> Result<Settings<NoConfig>, SettingsError> {
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(Service::Crm, None, env)
    }

    #[test]
    fn defaults_give_each_service_its_own_port_on_loopback() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.http.port, 8084);
        assert_eq!(settings.http.host, "127.0.0.1");
        assert_eq!(settings.database.pool_size, 16);
    }

    #[test]
    fn environment_overrides_defaults_with_typed_values() {
        let settings = load(&[
            ("TEKUP__CRM__HTTP__PORT", "9000"),
            (
                "TEKUP__CRM__DATABASE__URL",
                "postgres://crm@localhost/tekup",
            ),
            ("TEKUP__CRM__DATABASE__POOL_SIZE", "4"),
            ("TEKUP__VAULT__HTTP__PORT", "1"),
        ])
        .unwrap();
        assert_eq!(settings.http.port, 9000);
        assert_eq!(settings.database.pool_size, 4);
        assert_eq!(
            settings.database.url.expose_secret(),
            "postgres://crm@localhost/tekup"
        );
    }

    #[test]
    fn a_malformed_value_names_the_key_and_the_variable() {
        let err = load(&[("TEKUP__CRM__HTTP__PORT", "eighty")]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`http.port`"), "{message}");
        assert!(message.contains("TEKUP__CRM__HTTP__PORT"), "{message}");
    }

    #[test]
    fn the_reference_lists_every_key_with_its_default_and_variable() {
        let reference = Settings::<NoConfig>::reference(Service::Crm).unwrap();
        let port = reference
            .iter()
            .find(|(key, ..)| key == "http.port")
            .unwrap();
        assert_eq!(port.1, "8084");
        assert_eq!(port.2, "TEKUP__CRM__HTTP__PORT");
        let url = reference
            .iter()
            .find(|(key, ..)| key == "database.url")
            .unwrap();
        assert_eq!(url.1, "empty");
        assert!(reference.iter().any(|(key, ..)| key == "events.brokers"));
        assert!(reference.iter().any(|(key, ..)| key == "auth.jwks_url"));
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err = load(&[("TEKUP__CRM__HTTP__PROT", "80")]).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn a_file_layer_sits_between_defaults_and_environment() {
        let dir = std::env::temp_dir().join(format!("tekup-settings-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("crm.toml");
        std::fs::write(&path, "[http]\nport = 7000\nhost = \"0.0.0.0\"\n").unwrap();
        let env = HashMap::from([("TEKUP__CRM__HTTP__PORT".to_string(), "7001".to_string())]);
        let settings = Settings::<NoConfig>::load_from(Service::Crm, Some(path), env).unwrap();
        assert_eq!(settings.http.host, "0.0.0.0");
        assert_eq!(settings.http.port, 7001);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

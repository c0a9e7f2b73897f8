use std::fmt;
use std::str::FromStr;

/// The six services of the platform; each owns exactly one schema of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Vault,
    Billy,
    Renos,
    Crm,
    Flow,
    Shared,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::Vault,
        Service::Billy,
        Service::Renos,
        Service::Crm,
        Service::Flow,
        Service::Shared,
    ];

    /// The service's name, which is also the name of the schema it owns.
    pub const fn name(self) -> &'static str {
        match self {
            Service::Vault => "vault",
            Service::Billy => "billy",
            Service::Renos => "renos",
            Service::Crm => "crm",
            Service::Flow => "flow",
            Service::Shared => "shared",
        }
    }

    /// The schema the service owns.
    pub const fn schema(self) -> &'static str {
        self.name()
    }

    /// The login role the service connects as (owner of its schema, nothing else).
    pub fn role(self) -> String {
        format!("tekup_{}", self.name())
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::ALL
            .into_iter()
            .find(|service| service.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Service::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown service `{s}`; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_parses_back_from_its_name() {
        for service in Service::ALL {
            assert_eq!(service.name().parse::<Service>(), Ok(service));
        }
    }

    #[test]
    fn an_unknown_service_name_lists_the_valid_ones() {
        let err = "billing".parse::<Service>().unwrap_err();
        assert!(
            err.contains("billing") && err.contains("vault, billy"),
            "{err}"
        );
    }
}

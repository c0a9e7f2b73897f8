//! Where HTTP and webhook steps may connect. A workflow's urls are written by an organization's
//! admin and may be filled from its inputs; unguarded, a step would reach what only the platform
//! should: flow's own loopback, the other services and the database inside the cluster, the
//! cloud's metadata service (server-side request forgery, OWASP API7:2023). Addresses that are
//! not public ([`tekup_runtime::net::is_internal`]) are refused unless
//! `app.engine.allowed_private_ranges` names their range. Names are judged by what they resolve
//! to, at connect time, so a name that resolves inward (or starts to) is refused as well.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tekup_runtime::net::{Cidr, is_internal};

/// The addresses steps may connect to.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    allowed: Arc<Vec<Cidr>>,
}

/// A connection refused by [`Reach`].
#[derive(Debug, thiserror::Error)]
#[error(
    "{0} is not a public address: a step may reach it only where app.engine.allowed_private_ranges allows"
)]
pub struct Refused(pub String);

impl Reach {
    pub fn new(allowed: Vec<Cidr>) -> Self {
        Self {
            allowed: Arc::new(allowed),
        }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allowed.iter().any(|range| range.contains(ip))
    }

    /// A url whose host is an address is connected to without resolution, so it is judged
    /// here; a name is judged by the resolver.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), Refused> {
        let host = url.host_str().unwrap_or_default();
        let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        else {
            return Ok(());
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(Refused(ip.to_string()))
        }
    }

    /// Whether `error` (from reqwest) is a connection this refused.
    pub fn refused<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if let Some(refused) = e.downcast_ref::<Refused>() {
                return Some(refused);
            }
            cause = e.source();
        }
        None
    }
}

impl Resolve for Reach {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| reach.permits(a.ip()))
                .collect();
            // Which internal address a name has is not told: it would map the network.
            if permitted.is_empty() && !all.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

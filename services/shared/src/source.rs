//! Where a login comes from, for its per-source limit. Behind proxies the connection's peer is
//! the proxy (an ingress, or crm's console logging its users in), and every login would share
//! its address: one source's failures would lock everyone out. A peer among the trusted
//! proxies is therefore looked through, along `X-Forwarded-For`, to the nearest address that
//! is not one of them; an untrusted peer is the source itself, whatever it claims.

use std::net::IpAddr;

use actix_web::HttpRequest;
pub use tekup_runtime::net::{Cidr, parse_ranges};

/// The address a login is counted against.
pub fn of(req: &HttpRequest, trusted: &[Cidr]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip().to_canonical()) else {
        return "unknown".into();
    };
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    through(peer, &forwarded, trusted).to_string()
}

fn through(peer: IpAddr, forwarded: &[&str], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let chain: Vec<Option<IpAddr>> = forwarded
        .iter()
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical()))
        .collect();
    // From the nearest hop outwards; an entry that is no address ends the walk (what lies
    // beyond it was written by someone not trusted), at the last proxy that vouched for it.
    let mut nearest = peer;
    for entry in chain.iter().rev() {
        match entry {
            Some(ip) if is_trusted(*ip) => nearest = *ip,
            Some(ip) => return *ip,
            None => return nearest,
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn a_trusted_peer_is_looked_through_and_an_untrusted_one_is_not() {
        let trusted = parse_ranges("10.0.0.0/8,127.0.0.1").unwrap_or_default();
        let client = ip("203.0.113.7");
        // The console (127.0.0.1) behind an ingress (10.1.1.1) behind the browser.
        assert_eq!(
            through(ip("127.0.0.1"), &["203.0.113.7, 10.1.1.1"], &trusted),
            client
        );
        // What a client claims before the first trusted hop is not believed past it.
        assert_eq!(
            through(ip("10.1.1.1"), &["1.2.3.4, 203.0.113.7"], &trusted),
            client
        );
        // An untrusted peer is the source, whatever it forwards.
        assert_eq!(through(client, &["1.2.3.4"], &trusted), client);
        // No header: the peer.
        assert_eq!(through(ip("127.0.0.1"), &[], &trusted), ip("127.0.0.1"));
        // An entry that is no address ends the walk at the proxy that passed it on.
        assert_eq!(
            through(
                ip("127.0.0.1"),
                &["203.0.113.7, 1.2.3.4:5678, 10.1.1.1"],
                &trusted
            ),
            ip("10.1.1.1")
        );
    }
}

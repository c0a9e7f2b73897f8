//! Where a login comes from, for its per-source limit. Behind proxies the connection's peer is
//! the proxy (an ingress, or crm's console logging its users in), and every login would share
//! its address: one source's failures would lock everyone out. A peer among the trusted
//! proxies is therefore looked through, along `X-Forwarded-For`, to the nearest address that
//! is not one of them; an untrusted peer is the source itself, whatever it claims.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// An address range, e.g. `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `a.b.c.d/n` or `x::y/n` ranges separated by commas; a bare address is a range of one.
pub fn parse_ranges(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|range| {
            let (address, prefix) = range.split_once('/').unwrap_or((range, ""));
            let network: IpAddr = address
                .parse()
                .map_err(|_| format!("{range:?} is not an address range"))?;
            let max = if network.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                "" => max,
                p => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{range:?} has no valid prefix length"))?,
            };
            Ok(Cidr { network, prefix })
        })
        .collect()
}

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
    fn ranges_parse_and_match() {
        let ranges = parse_ranges("10.0.0.0/8, 192.168.1.7, fc00::/7").unwrap_or_default();
        assert_eq!(ranges.len(), 3);
        assert!(ranges[0].contains(ip("10.200.3.4")));
        assert!(!ranges[0].contains(ip("11.0.0.1")));
        assert!(ranges[1].contains(ip("192.168.1.7")) && !ranges[1].contains(ip("192.168.1.8")));
        assert!(ranges[2].contains(ip("fd12::1")) && !ranges[2].contains(ip("2001:db8::1")));
        assert!(
            ranges[0].contains(ip("::ffff:10.1.2.3")),
            "IPv4 mapped into IPv6"
        );
        for bad in ["10.0.0.0/33", "banan", "::1/129"] {
            assert!(parse_ranges(bad).is_err(), "{bad}");
        }
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

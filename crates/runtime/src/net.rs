//! Address ranges: which peers a service trusts (shared's login proxies) and which addresses it
//! refuses to call on a user's behalf (flow's HTTP steps).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address range, e.g. `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the range; an IPv4 address mapped into IPv6 counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
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
            if network.to_canonical() != network {
                return Err(format!("{range:?}: write an IPv4 range as IPv4"));
            }
            let max = if network.is_ipv4() { 32 } else { 128 };
            let prefix = match (range.contains('/'), prefix) {
                (false, _) => max,
                (true, p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{range:?} has no valid prefix length"))?,
            };
            Ok(Cidr { network, prefix })
        })
        .collect()
}

/// An address that is not on the public internet: this host (loopback, unspecified), the
/// local network and the cluster (private, shared, link-local with the cloud's metadata
/// service at 169.254.169.254), multicast, and reserved ranges. IPv4 inside IPv6 (mapped, or
/// NAT64's `64:ff9b::/96`) is judged as the IPv4 address it carries.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match carried_v4(v6) {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 one carries where it may lead to that IPv4 host: IPv4-compatible
/// (`::a.b.c.d`, deprecated but still parsed), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`).
fn carried_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    let compatible = segments[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback();
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if compatible || nat64 {
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    if segments[0] == 0x2002 {
        let [_, _, a, b, c, d, ..] = ip.octets();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a, b, c) == (192, 0, 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.segments()[..3] == [0x64, 0xff9b, 1] // local-use NAT64, to any IPv4 behind it
        || first == 0x0100 && ip.segments()[1..4] == [0, 0, 0] // discard-only
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
        for bad in [
            "10.0.0.0/33",
            "banan",
            "::1/129",
            "10.0.0.0/",
            "::ffff:10.0.0.0/104",
        ] {
            assert!(parse_ranges(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn internal_addresses_are_told_from_public_ones() {
        for internal in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.10",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "fd00::1",
            "fe80::1",
            "::7f00:1",
            "::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "64:ff9b:1::a00:1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "193.0.6.139",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }
}

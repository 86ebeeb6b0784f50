//! The client's IP address: the socket peer, unless that peer is a trusted proxy. Only then are
//! `X-Forwarded-For` (read right to left, skipping trusted hops) and `X-Real-IP` believed, so a
//! client talking to the server directly cannot pick the address its rate limits are keyed on.

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::domain::network::{Cidr, canonical};

/// Resolves the client IP of a request that arrived from `peer`.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return canonical(peer);
    }
    // Each proxy appends the address it received from; walk back from the nearest hop and stop
    // at the first address no trusted proxy vouches for. An entry that does not parse stops the
    // walk too: whoever wrote it is the client as far as we can tell, and the trusted hop that
    // passed it on is the last address we can vouch for. Skipping it instead would let a client
    // behind a proxy that writes something we cannot read forge the entries to its left.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("unreadable"))
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        match parse_hop(entry) {
            Some(ip) if is_trusted(ip) => nearest = ip,
            Some(ip) => return canonical(ip),
            None => return canonical(nearest),
        }
    }
    // Every forwarded hop is a trusted proxy (or there were none): X-Real-IP, if a proxy set it.
    if let Some(real) = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_hop(v.trim()))
    {
        return canonical(real);
    }
    canonical(nearest)
}

/// One hop as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

/// The key a per-client-IP limit counts under: an IPv4 address as it is, an IPv6 address by its
/// network of `ipv6_prefix` bits. One subscriber or host usually holds a whole /64, so keying by
/// the full address would give it 2^64 budgets.
pub fn limit_key(ip: IpAddr, ipv6_prefix: u8) -> String {
    match limit_network(ip, ipv6_prefix) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(network) => format!("{network}/{}", ipv6_prefix.min(128)),
    }
}

/// The address a per-client limit counts: IPv4 as it is, IPv6 as the first address of its
/// network of `ipv6_prefix` bits (one subscriber is usually given a whole /64).
pub fn limit_network(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let prefix = ipv6_prefix.min(128);
            let network = if prefix == 0 {
                0
            } else {
                u128::from(v6) & (u128::MAX << (128 - u32::from(prefix)))
            };
            IpAddr::V6(network.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn headers_only_from_trusted_peers() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            resolve("203.0.113.9".parse().unwrap(), &spoof, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            resolve("10.0.0.1".parse().unwrap(), &chain, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let real = headers(&[("x-real-ip", "198.51.100.8")]);
        assert_eq!(
            resolve("10.0.0.1".parse().unwrap(), &real, &trusted),
            "198.51.100.8".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn hops_with_ports_parse_and_garbage_ends_the_walk() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let with_ports = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7:4711")]);
        assert_eq!(resolve(peer, &with_ports, &trusted), ip("198.51.100.7"));
        let v6 = headers(&[("x-forwarded-for", "6.6.6.6, [2001:db8::7]:4711")]);
        assert_eq!(resolve(peer, &v6, &trusted), ip("2001:db8::7"));
        // A forged entry left of one we cannot read is never believed.
        let garbage = headers(&[("x-forwarded-for", "6.6.6.6, unknown, 10.0.0.9")]);
        assert_eq!(resolve(peer, &garbage, &trusted), ip("10.0.0.9"));
        let garbage_first = headers(&[("x-forwarded-for", "6.6.6.6, nonsense")]);
        assert_eq!(resolve(peer, &garbage_first, &trusted), peer);
    }

    #[test]
    fn ipv6_limits_key_by_network() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(limit_key(ip("203.0.113.9"), 64), "203.0.113.9");
        assert_eq!(limit_key(ip("::ffff:203.0.113.9"), 64), "203.0.113.9");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1"), 64),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1"), 64),
            limit_key(ip("2001:db8:1:2:ffff:1:2:3"), 64)
        );
        assert_eq!(limit_key(ip("2001:db8::1"), 128), "2001:db8::1/128");
        assert_eq!(limit_key(ip("2001:db8::1"), 0), "::/0");
    }

    #[test]
    fn real_ip_is_read_after_trusted_hops_only() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let real = headers(&[
            ("x-forwarded-for", "10.0.0.7"),
            ("x-real-ip", "198.51.100.8"),
        ]);
        assert_eq!(
            resolve("10.0.0.1".parse().unwrap(), &real, &trusted),
            "198.51.100.8".parse::<IpAddr>().unwrap()
        );
    }
}

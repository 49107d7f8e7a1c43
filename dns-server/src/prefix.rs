//! Address prefixes (`192.0.2.0/24`, `2001:db8::/32`): who may recurse, in the
//! configuration, on the command line and in the resolver.

use std::{fmt, net::IpAddr, str::FromStr};

/// An address prefix such as `192.0.2.0/24` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `ip` is inside the prefix (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_eq(&net.octets(), &ip.octets(), self.len),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_eq(&net.octets(), &ip.octets(), self.len),
            _ => false,
        }
    }
}

fn mask_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let full = (len / 8) as usize;
    let rest = len % 8;
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || (a[full] ^ b[full]) & (0xffu8 << (8 - rest)) == 0
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|e| format!("bad prefix {s:?}: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .parse::<u8>()
                .map_err(|e| format!("bad prefix length in {s:?}: {e}"))?,
            None => max,
        };
        if len > max {
            return Err(format!("prefix length {len} too long in {s:?}"));
        }
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl<'de> serde::Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The default recursion ACL: loopback only (not an open resolver).
pub fn loopback() -> Vec<Prefix> {
    vec![
        "127.0.0.0/8".parse().expect("literal"),
        "::1/128".parse().expect("literal"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_by_length() {
        let p: Prefix = "192.0.2.0/25".parse().expect("prefix");
        assert!(p.contains("192.0.2.127".parse().expect("ip")));
        assert!(!p.contains("192.0.2.128".parse().expect("ip")));
        assert!(
            p.contains("::ffff:192.0.2.1".parse().expect("ip")),
            "v4-mapped v6 counts"
        );
        let v6: Prefix = "2001:db8::/33".parse().expect("prefix");
        assert!(v6.contains("2001:db8:7fff::1".parse().expect("ip")));
        assert!(!v6.contains("2001:db8:8000::1".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!(loopback().iter().any(|p| p.contains("127.0.0.1".parse().expect("ip"))));
    }
}

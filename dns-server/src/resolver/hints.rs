//! Root hints: the built-in list of root servers, or a hints file in master format.

use std::{net::IpAddr, path::Path};

use dns_wire::wire::rtype;

use crate::{
    name::Name,
    zone::{ZoneError, parse},
};

/// The IANA root servers (named.root), names and addresses.
pub(crate) const BUILT_IN: &str = "
.                        3600000      NS    A.ROOT-SERVERS.NET.
.                        3600000      NS    B.ROOT-SERVERS.NET.
.                        3600000      NS    C.ROOT-SERVERS.NET.
.                        3600000      NS    D.ROOT-SERVERS.NET.
.                        3600000      NS    E.ROOT-SERVERS.NET.
.                        3600000      NS    F.ROOT-SERVERS.NET.
.                        3600000      NS    G.ROOT-SERVERS.NET.
.                        3600000      NS    H.ROOT-SERVERS.NET.
.                        3600000      NS    I.ROOT-SERVERS.NET.
.                        3600000      NS    J.ROOT-SERVERS.NET.
.                        3600000      NS    K.ROOT-SERVERS.NET.
.                        3600000      NS    L.ROOT-SERVERS.NET.
.                        3600000      NS    M.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
B.ROOT-SERVERS.NET.      3600000      A     170.247.170.2
B.ROOT-SERVERS.NET.      3600000      AAAA  2801:1b8:10::b
C.ROOT-SERVERS.NET.      3600000      A     192.33.4.12
C.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2::c
D.ROOT-SERVERS.NET.      3600000      A     199.7.91.13
D.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2d::d
E.ROOT-SERVERS.NET.      3600000      A     192.203.230.10
E.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:a8::e
F.ROOT-SERVERS.NET.      3600000      A     192.5.5.241
F.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2f::f
G.ROOT-SERVERS.NET.      3600000      A     192.112.36.4
G.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:12::d0d
H.ROOT-SERVERS.NET.      3600000      A     198.97.190.53
H.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:1::53
I.ROOT-SERVERS.NET.      3600000      A     192.36.148.17
I.ROOT-SERVERS.NET.      3600000      AAAA  2001:7fe::53
J.ROOT-SERVERS.NET.      3600000      A     192.58.128.30
J.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:c27::2:30
K.ROOT-SERVERS.NET.      3600000      A     193.0.14.129
K.ROOT-SERVERS.NET.      3600000      AAAA  2001:7fd::1
L.ROOT-SERVERS.NET.      3600000      A     199.7.83.42
L.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:9f::42
M.ROOT-SERVERS.NET.      3600000      A     202.12.27.33
M.ROOT-SERVERS.NET.      3600000      AAAA  2001:dc3::35
";

/// Reads hints text: the addresses of the root's NS names.
pub(crate) fn parse_hints(text: &str, file: &Path) -> Result<Vec<(Name, IpAddr)>, ZoneError> {
    let records = parse::parse_str(text, file, &Name::root())?;
    let ns: Vec<Name> = records
        .iter()
        .filter(|r| r.rtype == rtype::NS && r.owner == Name::root())
        .filter_map(|r| Name::from_wire(&r.rdata).map(|n| n.to_lowercase()))
        .collect();
    let hints: Vec<(Name, IpAddr)> = records
        .iter()
        .filter(|r| ns.contains(&r.owner.to_lowercase()))
        .filter_map(|r| {
            match (r.rtype, r.rdata.len()) {
                (rtype::A, 4) => Some(IpAddr::from(<[u8; 4]>::try_from(&r.rdata[..]).ok()?)),
                (rtype::AAAA, 16) => Some(IpAddr::from(<[u8; 16]>::try_from(&r.rdata[..]).ok()?)),
                _ => None,
            }
            .map(|ip| (r.owner.clone(), ip))
        })
        .collect();
    if hints.is_empty() {
        return Err(ZoneError {
            location: None,
            message: format!("{}: no root server addresses in the hints", file.display()),
        });
    }
    Ok(hints)
}

/// The built-in hints.
pub(crate) fn built_in() -> Vec<(Name, IpAddr)> {
    parse_hints(BUILT_IN, Path::new("<built-in root hints>")).expect("the built-in hints parse")
}

/// Hints from a file.
pub(crate) fn from_file(path: &Path) -> Result<Vec<(Name, IpAddr)>, ZoneError> {
    let text = std::fs::read_to_string(path).map_err(|e| ZoneError {
        location: None,
        message: format!("{}: {e}", path.display()),
    })?;
    parse_hints(&text, path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn built_in_hints_have_26_addresses() {
        assert_eq!(super::built_in().len(), 26);
    }
}

//! The benchmark zone `bench.test.` and the query mix kxdpgun sends.
use std::{fmt::Write as _, fs, path::Path};

use anyhow::{Context as _, Result};

/// The zone's origin.
pub const ORIGIN: &str = "bench.test.";

/// Hosts in the zone, each with A, AAAA and MX records.
const HOSTS: u32 = 1000;

/// One query in this many asks for a name that does not exist.
const NXDOMAIN_EVERY: u32 = 5;

/// A query a server must answer, with its expected answer, to count as up.
pub const PROBE_NAME: &str = "h0.bench.test.";
pub const PROBE_ANSWER: &str = "198.19.0.1";

/// The A record of host `i`: 198.19.0.0/16 is in the benchmarking range.
fn host_v4(i: u32) -> String {
    format!("198.19.{}.{}", i / 250, i % 250 + 1)
}

/// Names under this one exist through a wildcard: unique names for cold
/// resolutions, each answered with [`COLD_ANSWER`].
pub const COLD: &str = "cold.bench.test.";
pub const COLD_ANSWER: &str = "198.19.255.1";

/// The master file: plain RFC 1035 syntax every server reads.
pub fn zone_text() -> String {
    zone_served_by("198.18.0.1", Some("fd00:b0::1"))
}

/// The master file with its name server at `ns_v4` and `ns_v6`, and the
/// wildcard under [`COLD`] (which the query mix never asks for).
pub fn zone_served_by(ns_v4: &str, ns_v6: Option<&str>) -> String {
    let ns_v6 = ns_v6.map(|v6| format!("ns1 IN AAAA {v6}\n")).unwrap_or_default();
    let mut zone = format!(
        "$ORIGIN {ORIGIN}\n$TTL 3600\n\
         @ IN SOA ns1 hostmaster 1 3600 900 604800 300\n\
         @ IN NS ns1\n\
         ns1 IN A {ns_v4}\n\
         {ns_v6}\
         *.cold IN A {COLD_ANSWER}\n\
         mail IN A 198.18.0.25\n\
         mail IN AAAA fd00:b0::25\n"
    );
    for i in 0..HOSTS {
        let _ = writeln!(zone, "h{i} IN A {}", host_v4(i));
        let _ = writeln!(zone, "h{i} IN AAAA fd00:b1::{:x}", i + 1);
        let _ = writeln!(zone, "h{i} IN MX 10 mail");
    }
    zone
}

/// kxdpgun's query file (`name type` per line): A and AAAA for every host,
/// MX (with additional records) for every other one, and some NXDOMAIN names.
pub fn queries_text() -> String {
    let mut queries = String::new();
    for i in 0..HOSTS {
        let _ = writeln!(queries, "h{i}.{ORIGIN} A");
        let _ = writeln!(queries, "h{i}.{ORIGIN} AAAA");
        if i % 2 == 0 {
            let _ = writeln!(queries, "h{i}.{ORIGIN} MX");
        }
        if i % NXDOMAIN_EVERY == 0 {
            let _ = writeln!(queries, "nx{i}.{ORIGIN} A");
        }
    }
    queries
}

/// Writes the zone and the query file into `dir`; returns their paths.
pub fn write(dir: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    write_served_by(dir, &zone_text())
}

/// Writes `zone` (the text of the bench zone) and the query file into `dir`; returns their paths.
pub fn write_served_by(dir: &Path, zone_text: &str) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let zone = dir.join("bench.test.zone");
    let queries = dir.join("queries.txt");
    fs::write(&zone, zone_text).with_context(|| format!("writing {}", zone.display()))?;
    fs::write(&queries, queries_text()).with_context(|| format!("writing {}", queries.display()))?;
    Ok((zone, queries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_name_is_in_the_zone() {
        let line = format!("h0 IN A {PROBE_ANSWER}");
        assert!(zone_text().lines().any(|l| l == line), "zone lacks `{line}`");
    }

    #[test]
    fn host_addresses_are_distinct_and_valid() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..HOSTS {
            let addr: std::net::Ipv4Addr = host_v4(i).parse().expect("a valid IPv4 address");
            assert!(seen.insert(addr), "{addr} given twice");
        }
    }
}

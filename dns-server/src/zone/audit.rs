//! What `ldns-verify-zone` checks in a signed zone, without verifying the
//! cryptography: every authoritative RRset signed, no signature expired (and
//! which expire soon), and an unbroken NSEC or NSEC3 chain.

use dns_wire::wire::rtype;

use super::tree::{Node, Zone};
use crate::name::Name;

/// Names shown per finding in a message.
const SHOWN: usize = 3;

/// What an audit of a signed zone found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Audit {
    /// `NSEC`, `NSEC3`, or `no NSEC or NSEC3`.
    pub denial: &'static str,
    /// Authoritative RRsets without an RRSIG: their owner and type.
    pub unsigned: Vec<(String, u16)>,
    /// Signatures past their expiration: owner and type covered.
    pub expired: Vec<(String, u16)>,
    /// Signatures expiring within the warning window.
    pub expiring: Vec<(String, u16)>,
    /// Links of the denial chain whose next name or hash is not the next owner.
    pub chain_breaks: Vec<String>,
}

impl Audit {
    /// The findings that make the zone unservable to validators, in one line; `None` when clean.
    pub(crate) fn problems(&self) -> Option<String> {
        let mut parts = Vec::new();
        let list = |items: &[(String, u16)]| {
            items
                .iter()
                .take(SHOWN)
                .map(|(n, t)| format!("{n} type {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.unsigned.is_empty() {
            parts.push(format!(
                "{} RRsets unsigned ({})",
                self.unsigned.len(),
                list(&self.unsigned)
            ));
        }
        if !self.expired.is_empty() {
            parts.push(format!(
                "{} signatures expired ({})",
                self.expired.len(),
                list(&self.expired)
            ));
        }
        if !self.chain_breaks.is_empty() {
            let shown: Vec<&str> = self.chain_breaks.iter().take(SHOWN).map(String::as_str).collect();
            parts.push(format!(
                "{} chain breaks after {}",
                self.chain_breaks.len(),
                shown.join(", ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

fn text(node: &Node) -> String {
    Name::from_wire(node.owner()).map_or_else(|| "?".into(), |n| n.to_string())
}

/// Audits `zone` at `now` (seconds since the epoch), calling signatures
/// that expire within `warn_secs` expiring; `None` for an unsigned zone.
pub(crate) fn audit(zone: &Zone, now: u64, warn_secs: u64) -> Option<Audit> {
    if !zone.apex().has(rtype::RRSIG) {
        return None;
    }
    let mut audit = Audit {
        denial: if zone.nsec3().is_some() {
            "NSEC3"
        } else if zone.apex().has(rtype::NSEC) {
            "NSEC"
        } else {
            "no NSEC or NSEC3"
        },
        ..Audit::default()
    };
    let apex = zone.apex().key().to_vec();
    let mut cut: Option<Vec<u8>> = None;
    let mut nsec_owners: Vec<&Node> = Vec::new();
    for node in zone.nodes() {
        if cut.as_ref().is_some_and(|c| node.key().starts_with(c)) {
            continue; // below a zone cut: glue, not authoritative
        }
        let at_cut = node.key() != apex && node.has(rtype::NS);
        if at_cut {
            cut = Some(node.key().to_vec());
        }
        if node.has(rtype::NSEC) {
            nsec_owners.push(node);
        }
        for set in node.rrsets() {
            match set.rtype {
                rtype::RRSIG => {
                    for rdata in set.rdatas() {
                        check_expiry(node, rdata, now, warn_secs, &mut audit);
                    }
                }
                // A delegation's NS set is the child's, not signed here (RFC 4035 2.2).
                rtype::NS if at_cut => {}
                t if node.signatures(t).is_none() => audit.unsigned.push((text(node), t)),
                _ => {}
            }
        }
    }
    match zone.nsec3() {
        Some(chain) => {
            let links: Vec<_> = chain.links().collect();
            for (i, (_, node)) in links.iter().enumerate() {
                let next = links[(i + 1) % links.len()].0;
                let says = node
                    .get(rtype::NSEC3)
                    .and_then(|s| s.first().and_then(next_hash).map(<[u8]>::to_vec));
                if says.as_deref() != Some(&next[..]) {
                    audit.chain_breaks.push(text(node));
                }
            }
        }
        None => {
            for (i, node) in nsec_owners.iter().enumerate() {
                let next = nsec_owners[(i + 1) % nsec_owners.len()].owner();
                let says = node.get(rtype::NSEC).and_then(|s| s.first().map(<[u8]>::to_vec));
                let says_next = says
                    .as_deref()
                    .and_then(|r| Some(&r[..dns_wire::query::question_name_len(r)?]));
                if !says_next.is_some_and(|n| n.eq_ignore_ascii_case(next)) {
                    audit.chain_breaks.push(text(node));
                }
            }
        }
    }
    Some(audit)
}

/// The next hashed owner in an NSEC3 RDATA.
fn next_hash(rdata: &[u8]) -> Option<&[u8]> {
    let at = 5 + usize::from(*rdata.get(4)?);
    rdata.get(at + 1..at + 1 + usize::from(*rdata.get(at)?))
}

/// Files an RRSIG under expired or expiring by its expiration field.
fn check_expiry(node: &Node, rdata: &[u8], now: u64, warn_secs: u64, audit: &mut Audit) {
    let Some(field) = rdata.get(8..12) else { return };
    let covered = u16::from_be_bytes([rdata[0], rdata[1]]);
    // RFC 4034 3.1.5: serial-number arithmetic; the 32-bit value nearest to now.
    let expiration = u64::from(u32::from_be_bytes([field[0], field[1], field[2], field[3]]));
    let era = now & !0xffff_ffff;
    let candidates = [era.wrapping_sub(1 << 32), era, era + (1 << 32)].map(|e| e + expiration);
    let expires = candidates
        .into_iter()
        .min_by_key(|c| c.abs_diff(now))
        .unwrap_or(expiration);
    if expires < now {
        audit.expired.push((text(node), covered));
    } else if expires < now + warn_secs {
        audit.expiring.push((text(node), covered));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::zone::load;

    /// 2030-01-01 and 2020-01-01 as RRSIG times.
    const LATER: &str = "20300101000000 20200101000000";
    const NOW: u64 = 1_800_000_000; // 2027-01-15

    fn zone(text: &str) -> Zone {
        let origin = Name::parse("example.", None).expect("origin");
        load::from_str(&origin, text, Path::new("audit.zone")).expect("loads")
    }

    fn signed(extra: &str) -> String {
        let sig = |t: &str, labels: u8| format!("RRSIG {t} 13 {labels} 3600 {LATER} 1 example. AQID");
        format!(
            "$ORIGIN example.\n$TTL 3600\n@ SOA ns1 host 1 2 3 4 300\n@ NS ns1\n@ NSEC ns1 NS SOA RRSIG NSEC\n\
             ns1 A 192.0.2.1\nns1 NSEC sub A RRSIG NSEC\nsub NS ns.sub\nsub NSEC example. NS RRSIG NSEC\n\
             ns.sub A 192.0.2.2\n@ {}\n@ {}\n@ {}\nns1 {}\nns1 {}\nsub {}\n{extra}",
            sig("SOA", 1),
            sig("NS", 1),
            sig("NSEC", 1),
            sig("A", 2),
            sig("NSEC", 2),
            sig("NSEC", 2)
        )
    }

    #[test]
    fn a_complete_zone_passes() {
        let a = audit(&zone(&signed("")), NOW, 7 * 86_400).expect("signed");
        assert_eq!(a.denial, "NSEC");
        assert_eq!(a.problems(), None, "{a:?}");
        assert!(a.expiring.is_empty());
    }

    #[test]
    fn unsigned_sets_expiry_and_chain_breaks_are_found() {
        let extra = "ns1 TXT \"not signed\"\n";
        let a = audit(&zone(&signed(extra)), NOW, 7 * 86_400).expect("signed");
        assert_eq!(a.unsigned, [("ns1.example.".to_string(), rtype::TXT)]);
        let later = 1_893_456_000; // 2030-01-01: every signature expires then
        let a = audit(&zone(&signed("")), later + 1, 0).expect("signed");
        assert_eq!(a.expired.len(), 6, "every signature expired");
        let a = audit(&zone(&signed("")), later - 86_400, 7 * 86_400).expect("signed");
        assert_eq!((a.expired.len(), a.expiring.len()), (0, 6), "expiring within a week");
        let broken = signed("").replace("ns1 NSEC sub", "ns1 NSEC zzz");
        let a = audit(&zone(&broken), NOW, 0).expect("signed");
        assert_eq!(a.chain_breaks, ["ns1.example."]);
        assert!(a.problems().is_some_and(|p| p.contains("chain breaks")));
        let plain = "$ORIGIN example.\n@ 60 SOA ns1 host 1 2 3 4 300\n@ 60 NS ns1\nns1 60 A 192.0.2.1\n";
        assert!(audit(&zone(plain), NOW, 0).is_none(), "unsigned zones are not audited");
    }
}

//! Trust anchors: the root KSKs' DS records built in, or read from
//! `[resolver] trust_anchor_file` (DS/DNSKEY presentation lines, or RFC 7958
//! XML as IANA publishes the root's, see [`super::anchor_xml`]); and negative
//! trust anchors (RFC 7646, `[resolver] domain_insecure`).

use std::path::Path;

use dns_wire::wire::rtype;

use crate::name::Name;

/// The IANA root KSKs (KSK-2017, tag 20326, and KSK-2024, tag 38696), as
/// published at <https://data.iana.org/root-anchors/root-anchors.xml>.
const ROOT_ANCHORS: &str = "\
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
";

/// The anchors for one zone: DS records, or DNSKEYs trusted as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// The zone, lower case.
    pub zone: Name,
    /// DS RDATA.
    pub ds: Vec<Vec<u8>>,
    /// DNSKEY RDATA.
    pub keys: Vec<Vec<u8>>,
}

/// Every configured anchor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Anchors {
    /// The trust anchors.
    pub anchors: Vec<Anchor>,
    /// Negative trust anchors: names at and below them are not validated.
    pub insecure: Vec<Name>,
}

impl Anchors {
    /// The built-in root anchors.
    pub(crate) fn root() -> Anchors {
        Anchors::parse(ROOT_ANCHORS, Path::new("built-in root anchors")).expect("the built-in anchors parse")
    }

    /// Reads DS and DNSKEY lines (zone file syntax; other types are refused).
    pub(crate) fn parse(text: &str, file: &Path) -> Result<Anchors, String> {
        // Anchor lines often carry no TTL (the `.ds` files of ldns-keygen do).
        let text = format!("$TTL 0\n{text}");
        let records = crate::zone::parse::parse_str(&text, file, &Name::root()).map_err(|e| e.to_string())?;
        let mut anchors: Vec<Anchor> = Vec::new();
        for record in records {
            if !matches!(record.rtype, rtype::DS | rtype::DNSKEY) {
                return Err(format!(
                    "{}: only DS and DNSKEY records are trust anchors",
                    record.owner
                ));
            }
            let zone = record.owner.to_lowercase();
            let at = match anchors.iter().position(|a| a.zone == zone) {
                Some(at) => at,
                None => {
                    anchors.push(Anchor {
                        zone,
                        ds: Vec::new(),
                        keys: Vec::new(),
                    });
                    anchors.len() - 1
                }
            };
            let rdata = record.rdata.to_vec();
            if record.rtype == rtype::DS {
                anchors[at].ds.push(rdata);
            } else {
                anchors[at].keys.push(rdata);
            }
        }
        if anchors.is_empty() {
            return Err(format!("{}: no trust anchor in it", file.display()));
        }
        Ok(Anchors {
            anchors,
            insecure: Vec::new(),
        })
    }

    /// Reads a trust anchor file: RFC 7958 XML when it starts with `<`, else
    /// presentation lines.
    pub(crate) fn read(path: &Path) -> Result<Anchors, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if text.trim_start().starts_with('<') {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let anchor = super::anchor_xml::parse(&text, now).map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(Anchors {
                anchors: vec![anchor],
                insecure: Vec::new(),
            });
        }
        Anchors::parse(&text, path)
    }

    /// The same anchors, with `names` as negative trust anchors (Unbound's
    /// `domain-insecure`): what an operator switches off while a domain's
    /// DNSSEC is broken.
    pub(crate) fn with_insecure(self, names: Vec<Name>) -> Anchors {
        Anchors {
            insecure: names.iter().map(Name::to_lowercase).collect(),
            ..self
        }
    }

    /// The anchor for exactly `zone`.
    pub(crate) fn for_zone(&self, zone: &Name) -> Option<&Anchor> {
        let zone = zone.to_lowercase();
        self.anchors.iter().find(|a| a.zone == zone)
    }

    /// Whether `name` is at or below some anchor (else it is insecure by
    /// definition) and not at or below a negative trust anchor.
    pub(crate) fn covers(&self, name: &Name) -> bool {
        self.anchors.iter().any(|a| name.is_within(&a.zone)) && !self.negative(name)
    }

    /// Whether `name` is at or below a negative trust anchor.
    pub(crate) fn negative(&self, name: &Name) -> bool {
        self.insecure.iter().any(|n| name.is_within(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_anchors_are_built_in() {
        let anchors = Anchors::root();
        let root = anchors.for_zone(&Name::root()).expect("root anchor");
        assert_eq!(root.ds.len(), 2);
        assert_eq!(u16::from_be_bytes([root.ds[0][0], root.ds[0][1]]), 20326);
        assert!(anchors.covers(&Name::parse("www.example.", None).expect("name")));
    }

    #[test]
    fn a_file_of_ds_and_dnskey_lines_reads() {
        let text = "lab. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n\
                    lab. IN DNSKEY 257 3 15 7MTq4qCGa22n+PjOlPQPacaiWCis8+vdbPkjtqWbkjg=\n";
        let anchors = Anchors::parse(text, Path::new("t")).expect("parses");
        let lab = anchors
            .for_zone(&Name::parse("LAB.", None).expect("name"))
            .expect("anchor");
        assert_eq!((lab.ds.len(), lab.keys.len()), (1, 1));
        assert!(!anchors.covers(&Name::parse("example.", None).expect("name")));
        assert!(Anchors::parse("lab. IN A 192.0.2.1\n", Path::new("t")).is_err());
    }

    #[test]
    fn negative_anchors_switch_off_a_domain_and_what_is_below() {
        let name = |text: &str| Name::parse(text, None).expect("name");
        let anchors = Anchors::root().with_insecure(vec![name("Broken.Example.")]);
        assert!(anchors.covers(&name("example.")));
        assert!(!anchors.covers(&name("broken.example.")));
        assert!(!anchors.covers(&name("www.BROKEN.example.")));
        assert!(anchors.covers(&name("notbroken.example.")));
        assert!(anchors.negative(&name("a.b.broken.example.")));
    }
}

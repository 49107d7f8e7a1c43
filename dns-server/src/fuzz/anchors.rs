//! The resolver's trust-anchor readers on arbitrary bytes: the trust anchor
//! file (DS and DNSKEY lines, or RFC 7958 XML) and the RFC 5011 state file.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use data_encoding::HEXUPPER;

use crate::resolver::dnssec::{
    anchor::{Anchor, Anchors},
    anchor_xml, autotrust,
};

/// The moment the XML's validity periods are judged at (2025-01-01): the
/// seeds' digests are valid then, and a fixed time keeps runs repeatable.
const XML_NOW: i64 = 1_735_689_600;

/// Where the anchor file "is": an empty directory of its own, so that an
/// `$INCLUDE` in the input finds nothing (the zone reader confines
/// includes to the including file's directory; the `zone` target checks
/// that).
fn anchor_file() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join("dns-server-fuzz-anchors");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir.join("fuzz.anchors")
    })
}

/// A trust anchor file's bytes, read as `[resolver] trust_anchor_file` is
/// (RFC 7958 XML when it starts with `<`, else DS and DNSKEY lines): the
/// anchors found, or `None` when it does not read.
///
/// Panics when the anchors break what the resolver relies on (at least one
/// anchor; zones lower case and each once; each with a DS or a key; an XML
/// anchor with a DS), or when they, written as DS and DNSKEY lines in the
/// generic RDATA form (RFC 3597), read back otherwise.
pub fn trust_anchors(bytes: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(bytes).ok()?;
    let anchors = if text.trim_start().starts_with('<') {
        let anchor = anchor_xml::parse(text, XML_NOW).ok()?;
        assert!(!anchor.ds.is_empty(), "an XML anchor without a DS: {anchor:?}");
        assert!(anchor.keys.is_empty(), "an XML anchor with keys: {anchor:?}");
        Anchors {
            anchors: vec![anchor],
            insecure: Vec::new(),
        }
    } else {
        Anchors::parse(text, anchor_file()).ok()?
    };
    assert!(!anchors.anchors.is_empty(), "no anchor, yet no error");
    for (i, a) in anchors.anchors.iter().enumerate() {
        assert_eq!(a.zone, a.zone.to_lowercase(), "an anchor's zone is not lower case");
        assert!(
            !a.ds.is_empty() || !a.keys.is_empty(),
            "an anchor with neither DS nor key: {a:?}"
        );
        assert!(
            anchors.anchors[..i].iter().all(|b| b.zone != a.zone),
            "{} has two anchors",
            a.zone
        );
    }
    let written = lines(&anchors.anchors);
    let again = Anchors::parse(&written, anchor_file())
        .unwrap_or_else(|e| panic!("anchors we wrote do not read: {e}\n{written}"));
    assert_eq!(again, anchors, "anchors we wrote read back otherwise:\n{written}");
    Some(anchors.anchors.len())
}

/// `anchors` as DS and DNSKEY lines, their RDATA in the generic form.
fn lines(anchors: &[Anchor]) -> String {
    let mut text = String::new();
    for a in anchors {
        for (rtype, rdata) in
            a.ds.iter()
                .map(|d| ("DS", d))
                .chain(a.keys.iter().map(|k| ("DNSKEY", k)))
        {
            let _ = writeln!(
                text,
                "{} IN {rtype} \\# {} {}",
                a.zone,
                rdata.len(),
                HEXUPPER.encode(rdata)
            );
        }
    }
    text
}

/// An RFC 5011 state file's bytes (`[resolver] auto_trust_anchor_file`),
/// read, written again as the tracker writes it, and read back: the keys
/// and DS records it holds, or `None` when it does not read. Panics when
/// what was written does not read back the same.
pub fn autotrust_state(bytes: &[u8]) -> Option<usize> {
    autotrust::reread(std::str::from_utf8(bytes).ok()?)
}

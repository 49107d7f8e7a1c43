//! Entry points for the fuzz targets (`fuzz/`) and their corpus replay.
//!
//! Each function runs one reader of untrusted bytes exactly as the server
//! does, then checks what must hold of its result, and panics when it does
//! not: a panic is what a fuzzer reports, and what the corpus replay in
//! `cargo test` fails on. Bad input itself must never panic.
//!
//! - [`respond`]: a query's bytes through the responder, over UDP and TCP,
//!   on fixed zones;
//! - [`read_message`]: the reader of other servers' responses;
//! - [`ZoneSandbox::read_zone`]: the zone file reader, its `$INCLUDE`s
//!   confined to a scratch directory.
//!
//! The question parser the XDP program runs is fuzzed against the full one
//! through `dns_wire::differential`, in the `dns-wire` crate.

use std::{
    io,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use dns_wire::{
    query as wire_query,
    wire::{self, FLAG_QR, rtype},
};

use crate::{
    catalog::Catalog,
    fast_path::NoFastPath,
    message::{Writer, read},
    name::Name,
    query::{Identity, Responder, Transport},
    stats::Stats,
    zone::{load, source, tree::Zone},
};

/// The zones [`respond`] answers from: the built-in example, and the zone of
/// the differential test against Knot with its child zone (every answer
/// path: CNAME chains, wildcards, DNAME, delegations, DS at a zone cut).
const FIXED_ZONES: &[(&str, &str)] = &[
    (load::DEFAULT_ORIGIN, load::DEFAULT_ZONE),
    ("diff.example.", include_str!("../../tests/zones/diff.example.zone")),
    (
        "deep.diff.example.",
        include_str!("../../tests/zones/deep.diff.example.zone"),
    ),
];

/// Answers kept per catalog: a few, so that the second answer to the same
/// query comes from the cache.
const CACHE_ENTRIES: usize = 16;

/// Our EDNS payload size, as the server's default.
const OUR_PAYLOAD: u16 = 1232;

fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(|| Identity {
        identity: "fuzz-pop".into(),
        version: Some("dns-server fuzz".into()),
        udp_payload: OUR_PAYLOAD,
    })
}

fn fixed_zones() -> &'static [Arc<Zone>] {
    static ZONES: OnceLock<Vec<Arc<Zone>>> = OnceLock::new();
    ZONES.get_or_init(|| {
        FIXED_ZONES
            .iter()
            .map(|(origin, text)| {
                let origin = Name::parse(origin, None).unwrap_or_else(|e| panic!("fixed origin {origin}: {e}"));
                let zone = load::from_str(&origin, text, Path::new("<fuzz zone>"))
                    .unwrap_or_else(|e| panic!("fixed zone {origin:?}: {e}"));
                Arc::new(zone)
            })
            .collect()
    })
}

/// Answers `query` as the server would over UDP and over TCP, from the
/// built-in example zone and the differential test's zones, each twice
/// (the second from the answer cache, the first having filled it); returns
/// the first UDP response, if there is one.
///
/// Panics when a response does not read back with the message reader, lacks
/// QR, has another ID, does not echo the question byte for byte, is larger
/// than the transport allows, or differs between the fresh and the cached
/// answer.
pub fn respond(query: &[u8]) -> Option<Vec<u8>> {
    let catalog = Catalog::new(fixed_zones().iter().cloned(), CACHE_ENTRIES);
    let udp = answer(&catalog, query, Transport::Udp);
    let tcp = answer(&catalog, query, Transport::Tcp);
    // Every cacheable answer is now cached (UDP's, or TCP's when UDP's was truncated).
    let udp_again = answer(&catalog, query, Transport::Udp);
    let tcp_again = answer(&catalog, query, Transport::Tcp);
    assert_eq!(udp, udp_again, "UDP: the cached answer differs from the fresh one");
    assert_eq!(tcp, tcp_again, "TCP: the cached answer differs from the fresh one");
    udp
}

/// One response from `catalog`, checked.
fn answer(catalog: &Catalog, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let stats = Stats::default();
    let responder = Responder {
        catalog,
        identity: identity(),
        stats: &stats,
        fast_path: &NoFastPath,
        secondaries: None,
    };
    let mut out = Vec::new();
    responder.respond(query, transport, &mut out).ok()?;
    check_response(query, &out, transport);
    Some(out)
}

/// What every response to `query` must be.
fn check_response(query: &[u8], response: &[u8], transport: Transport) {
    let parsed = read::parse(response)
        .unwrap_or_else(|e| panic!("our {transport:?} response does not read back: {e}: {response:02x?}"));
    assert!(parsed.header.has(FLAG_QR), "a response without QR: {response:02x?}");
    assert_eq!(
        parsed.header.id.to_be_bytes(),
        [query[0], query[1]],
        "a response with another ID"
    );
    let q = wire_query::parse(query).ok();
    let limit = match (transport, q.and_then(|q| q.edns)) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, None) => usize::from(wire::CLASSIC_UDP_PAYLOAD),
        (Transport::Udp, Some(e)) => usize::from(e.udp_payload.clamp(wire::CLASSIC_UDP_PAYLOAD, OUR_PAYLOAD)),
    };
    assert!(
        response.len() <= limit,
        "a {transport:?} response of {} bytes, over the limit of {limit}",
        response.len()
    );
    if let (Some(q), Some((name, qtype, qclass))) = (q, &parsed.question) {
        assert_eq!(
            (name.as_wire(), *qtype, *qclass),
            (q.qname, q.qtype, q.qclass),
            "the question is not echoed as asked (case included)"
        );
    }
}

/// Reads `bytes` as another server's response, as the resolver does; on
/// success returns how many records it holds.
///
/// Panics when what was read does not survive being written again (as the
/// resolver writes cached records to its clients) and read back: the same
/// header, question and records, names compared without case (the writer
/// compresses a name into an earlier one that differs only in case).
pub fn read_message(bytes: &[u8]) -> Option<usize> {
    let message = read::parse(bytes).ok()?;
    let _ = message.rcode();
    let mut buf = Vec::new();
    let question = message.question.as_ref().map(|(n, t, c)| (n.as_wire(), *t, *c));
    let mut w = Writer::new(&mut buf, usize::MAX, message.header.id, message.header.flags, question);
    for r in &message.records {
        // Names expanded may not fit in an RDATA again: nothing to compare.
        if w.record(r.section, r.owner.as_wire(), r.rtype, r.class, r.ttl, &r.rdata)
            .is_err()
        {
            return Some(message.records.len());
        }
    }
    w.finish();
    let again = read::parse(&buf).unwrap_or_else(|e| panic!("a message we wrote does not read back: {e}: {buf:02x?}"));
    assert_eq!(
        (again.header, &again.question),
        (message.header, &message.question),
        "the header or question changed"
    );
    let lower = |m: &read::Message| -> Vec<_> {
        m.records
            .iter()
            .map(|r| {
                let owner = r.owner.as_wire().to_ascii_lowercase();
                (r.section, owner, r.rtype, r.class, r.ttl, r.rdata.to_ascii_lowercase())
            })
            .collect()
    };
    assert_eq!(
        lower(&again),
        lower(&message),
        "the records changed when written and read again"
    );
    Some(message.records.len())
}

/// A marker in a file outside the sandbox's zone directory: no zone error
/// may ever quote it.
const OUTSIDE_MARKER: &str = "outside-the-zone-directory-never-quoted";

/// A scratch directory laid out for [`ZoneSandbox::read_zone`]: a zone
/// directory with files to `$INCLUDE` (plain, nested, including itself,
/// binary, in a subdirectory, a symlink leading out), and beside it a
/// directory it must not reach.
#[derive(Debug)]
pub struct ZoneSandbox {
    zones: PathBuf,
}

impl ZoneSandbox {
    /// Lays out the sandbox under `dir` (created if missing; its files are
    /// rewritten whole, so a directory can be reused across runs and by
    /// fuzzing processes side by side). Nothing is removed when it is
    /// dropped: `dir` is the caller's.
    pub fn new(dir: &Path) -> io::Result<ZoneSandbox> {
        let zones = dir.join("zones");
        let outside = dir.join("outside");
        std::fs::create_dir_all(zones.join("sub"))?;
        std::fs::create_dir_all(&outside)?;
        write_whole(
            &outside.join("secret"),
            format!("{OUTSIDE_MARKER} A 192.0.2.1\n").as_bytes(),
        )?;
        let files: &[(&str, &[u8])] = &[
            ("inc.zone", b"www 300 A 192.0.2.1\nmail 300 MX 10 www\n"),
            ("nested.zone", b"$INCLUDE inc.zone sub\n"),
            ("self.zone", b"x 300 TXT \"again\"\n$INCLUDE self.zone\n"),
            ("binary.zone", b"www 300 A 192.0.2.1\n\xff\xfe\x00\n"),
            (
                "sub/a.zone",
                b"$ORIGIN a\n@ 300 AAAA 2001:db8::1\n$INCLUDE ../inc.zone\n",
            ),
        ];
        for (name, content) in files {
            write_whole(&zones.join(name), content)?;
        }
        match std::os::unix::fs::symlink(outside.join("secret"), zones.join("escape.zone")) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        Ok(ZoneSandbox {
            zones: std::fs::canonicalize(zones)?,
        })
    }

    /// Reads `bytes` as the zone file `fuzz.zone` of origin `fuzz.example.`
    /// in the sandbox's zone directory, checks and indexes it, as a load
    /// does; when it loads, answers its apex SOA over UDP and ANY over TCP.
    /// Returns the error's text when it does not load.
    ///
    /// Panics when an error quotes the file outside the zone directory, or
    /// an answer from the zone does not read back.
    pub fn read_zone(&self, bytes: &[u8]) -> Result<(), String> {
        let file = self.zones.join("fuzz.zone");
        let loaded = source::decode_text(bytes.to_vec(), &file).and_then(|text| {
            let origin = Name::parse("fuzz.example.", None).map_err(|e| e.to_string())?;
            load::from_str(&origin, &text, &file).map_err(|e| e.to_string())
        });
        let zone = match loaded {
            Ok(zone) => zone,
            Err(e) => {
                assert!(
                    !e.contains(OUTSIDE_MARKER),
                    "a zone error quotes a file outside the zone's directory: {e}"
                );
                return Err(e);
            }
        };
        let apex = zone.origin.as_wire().to_vec();
        let catalog = Catalog::new([Arc::new(zone)], CACHE_ENTRIES);
        for (qtype, transport) in [(rtype::SOA, Transport::Udp), (rtype::ANY, Transport::Tcp)] {
            let query = plain_query(&apex, qtype);
            answer(&catalog, &query, transport)
                .unwrap_or_else(|| panic!("no answer to {qtype} at the apex of a loaded zone"));
        }
        Ok(())
    }
}

/// Writes `content` to `path` through a rename, so that another process
/// reading it meanwhile sees the old file or the new one, never half of it.
fn write_whole(path: &Path, content: &[u8]) -> io::Result<()> {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, content)?;
    std::fs::rename(&partial, path)
}

/// A query without EDNS for `qname` (wire format) and `qtype`, class IN.
fn plain_query(qname: &[u8], qtype: u16) -> Vec<u8> {
    let mut q = Vec::new();
    Writer::new(&mut q, usize::MAX, 0x1234, 0, Some((qname, qtype, wire::class::IN))).finish();
    q
}

#[cfg(test)]
mod tests;

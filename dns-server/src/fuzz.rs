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
//!   confined to a scratch directory;
//! - [`transfer`]: a primary's AXFR or IXFR answer as a secondary reads,
//!   builds and applies it, its TSIG checks, and the reader of transfer
//!   requests.
//!
//! - [`trust_anchors`], [`autotrust_state`]: the resolver's trust anchor
//!   file (DS and DNSKEY lines, or RFC 7958 XML) and its RFC 5011 state
//!   file, each written again and read back;
//! - [`ixfr_history`]: the IXFR-out history file a start takes back,
//!   written again and taken back.
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
    secondary::{
        catalog_zone,
        client::{Ask, Receiving},
        store,
        stream::{Transfer, XfrRecord},
    },
    stats::Stats,
    transfer::{records, request},
    tsig::{self, Algorithm, Key, KeyRing},
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
    // Names expanded may not fit in an RDATA again: nothing to compare.
    let Some(buf) = write_again(&message) else {
        return Some(message.records.len());
    };
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

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `message` written by our message writer, as the resolver writes
/// cached records; `None` when a record no longer fits (names expanded).
fn write_again(message: &read::Message) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let question = message.question.as_ref().map(|(n, t, c)| (n.as_wire(), *t, *c));
    let mut w = Writer::new(&mut buf, usize::MAX, message.header.id, message.header.flags, question);
    for r in &message.records {
        w.record(r.section, r.owner.as_wire(), r.rtype, r.class, r.ttl, &r.rdata)
            .ok()?;
    }
    w.finish();
    Some(buf)
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
    /// does; when it loads, answers its apex SOA over UDP and ANY over TCP,
    /// and reads it as a catalog zone. The same text is also read as a
    /// secondary's journal of `fuzz.example.`, whose changes are applied to
    /// [`JOURNAL_BASE`].
    /// Returns the error's text when it does not load.
    ///
    /// Panics when an error quotes the file outside the zone directory, or
    /// an answer from the zone does not read back.
    pub fn read_zone(&self, bytes: &[u8]) -> Result<(), String> {
        let file = self.zones.join("fuzz.zone");
        let origin = Name::parse("fuzz.example.", None).map_err(|e| e.to_string())?;
        let text = source::decode_text(bytes.to_vec(), &file);
        let loaded = text
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|text| load::from_str(&origin, text, &file).map_err(|e| e.to_string()));
        // The same text as a secondary's journal of changes.
        let journal: Vec<_> = match &text {
            Ok(text) => store::read_journal(&origin, &file, text),
            Err(_) => Vec::new(),
        };
        // An input that holds the marker itself may be quoted: it is ours.
        let quotes_outside = |e: &str| e.contains(OUTSIDE_MARKER) && !contains(bytes, OUTSIDE_MARKER.as_bytes());
        for e in journal.iter().filter_map(|d| d.as_ref().err()) {
            assert!(
                !quotes_outside(e),
                "a journal error quotes a file outside the zone's directory: {e}"
            );
        }
        let changes: Vec<_> = journal.into_iter().map_while(Result::ok).collect();
        if !changes.is_empty()
            && let Ok(changed) = store::apply_all(journal_base(), &changes)
        {
            answers_apex(changed);
        }
        let zone = match loaded {
            Ok(zone) => zone,
            Err(e) => {
                assert!(
                    !quotes_outside(&e),
                    "a zone error quotes a file outside the zone's directory: {e}"
                );
                return Err(e);
            }
        };
        // A loaded zone read as a catalog zone (RFC 9432), as a secondary reads one.
        let _ = catalog_zone::read_zone(&origin, &zone);
        answers_apex(zone);
        Ok(())
    }
}

/// The version of `fuzz.example.` a fuzzed journal's changes apply to.
pub const JOURNAL_BASE: &str =
    "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n";

fn journal_base() -> &'static Zone {
    static BASE: OnceLock<Zone> = OnceLock::new();
    BASE.get_or_init(|| {
        let origin = Name::parse("fuzz.example.", None).unwrap_or_else(|e| panic!("fuzz.example.: {e}"));
        load::from_str(&origin, JOURNAL_BASE, Path::new("<journal base>"))
            .unwrap_or_else(|e| panic!("the journal's base zone: {e}"))
    })
}

/// Panics unless `zone` answers its apex SOA over UDP and ANY over TCP.
fn answers_apex(zone: Zone) {
    let apex = zone.origin.as_wire().to_vec();
    let catalog = Catalog::new([Arc::new(zone)], CACHE_ENTRIES);
    for (qtype, transport) in [(rtype::SOA, Transport::Udp), (rtype::ANY, Transport::Tcp)] {
        let query = plain_query(&apex, qtype);
        answer(&catalog, &query, transport).unwrap_or_else(|| panic!("no answer to {qtype} at the apex of a zone"));
    }
}

/// Bytes of records a fuzzed transfer may bring, as a secondary's limit.
const TRANSFER_MAX_BYTES: u64 = 1 << 20;

/// Reads `data` as a primary's answer to a transfer request for
/// `diff.example.` (the zone of the differential test), as a secondary
/// does: its first byte chooses AXFR or IXFR from that zone's serial (bit
/// 0) and whether the request was TSIG-signed (bit 1); the rest is the
/// answer's messages as TCP frames them, each after a two-byte length.
/// Each message's ID is set to the request's (a fuzzer cannot guess it).
/// A whole zone that arrives is built and checked; differences are
/// applied to the zone. Then each message is also read as a TSIG-signed
/// request, as a TSIG-signed answer, and as a transfer request.
///
/// Panics when a zone built or changed from the answer does not answer
/// its apex, or when a message that reads, written again and signed by us,
/// does not verify.
pub fn transfer(data: &[u8]) -> TransferOutcome {
    let Some((&mode, mut rest)) = data.split_first() else {
        return TransferOutcome::Refused;
    };
    let mut messages = Vec::new();
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        messages.push(&tail[..len]);
        rest = &tail[len..];
    }
    let base = Arc::clone(&fixed_zones()[1]);
    let ours = (mode & 1 != 0).then(|| soa_record(&base));
    let key = (mode & 2 != 0).then(|| Arc::clone(&transfer_key().0));
    let ask = Ask {
        primary: ([127, 0, 0, 1], 53).into(),
        origin: &base.origin,
        key: key.as_ref(),
        ours: ours.as_ref(),
        previous: Some(Arc::clone(&base)),
    };
    let mut receiving = Receiving::new(ask, TRANSFER_MAX_BYTES, Arc::from(Path::new("<fuzz transfer>")));
    let id = [receiving.request()[0], receiving.request()[1]];
    let now = tsig::now();
    let mut complete = false;
    for msg in &messages {
        let mut msg = msg.to_vec();
        if let Some(head) = msg.get_mut(..2) {
            head.copy_from_slice(&id);
        }
        match receiving.message(&msg, now) {
            Ok(false) => {}
            Ok(true) => {
                complete = true;
                break;
            }
            Err(_) => break,
        }
    }
    let outcome = match receiving.finish() {
        Ok((transfer, _expire)) if complete => match transfer {
            Transfer::UpToDate(_) => TransferOutcome::UpToDate,
            Transfer::Full(whole) => match whole.finish() {
                Ok(zone) => {
                    answers_apex(zone);
                    TransferOutcome::Built
                }
                Err(_) => TransferOutcome::Refused,
            },
            Transfer::Incremental(deltas) => match store::apply_all(&base, &deltas) {
                Ok(zone) => {
                    answers_apex(zone);
                    TransferOutcome::Applied
                }
                Err(_) => TransferOutcome::Refused,
            },
        },
        _ => TransferOutcome::Refused,
    };
    for msg in &messages {
        signed_readers(msg, now);
    }
    outcome
}

/// What [`transfer`] made of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Refused: malformed, incomplete, not a valid zone, or changes that do
    /// not apply.
    Refused,
    /// One SOA, no newer than ours.
    UpToDate,
    /// A whole zone, built and answering.
    Built,
    /// Differences, applied and answering.
    Applied,
}

/// The TSIG key of [`transfer`], and a ring holding it.
fn transfer_key() -> &'static (Arc<Key>, KeyRing) {
    static KEY: OnceLock<(Arc<Key>, KeyRing)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = Key::new("fuzz-key.", Algorithm::HmacSha256, b"fuzz secret, not a secret")
            .map(Arc::new)
            .unwrap_or_else(|e| panic!("the fuzz key: {e}"));
        let ring = KeyRing::new([Arc::clone(&key)]);
        (key, ring)
    })
}

/// `zone`'s SOA, as the IXFR request carries it.
fn soa_record(zone: &Zone) -> XfrRecord {
    let soa = records::soa(zone);
    XfrRecord {
        owner: zone.origin.clone(),
        rtype: soa.rtype,
        class: soa.class,
        ttl: soa.ttl,
        rdata: soa.rdata.into(),
    }
}

/// `msg` through the readers of signed messages and of transfer requests;
/// a message that reads and carries no TSIG record must verify once our
/// writer has written it again and we have signed it.
fn signed_readers(msg: &[u8], now: u64) {
    let (key, ring) = transfer_key();
    let _ = tsig::verify_request(msg, ring, now);
    let _ = tsig::verify_response(msg, key, now, &[0xab; 32]);
    let _ = request::parse(msg);
    let Ok(parsed) = read::parse(msg) else {
        return;
    };
    // The reader lets bytes trail the last record; a message we sign has none.
    let Some(msg) = write_again(&parsed) else {
        return;
    };
    if parsed.records.iter().any(|r| r.rtype == rtype::TSIG) {
        return;
    }
    let mut signed = msg.clone();
    let request_mac = tsig::sign_request(&mut signed, key, now);
    if let Err(e) = tsig::verify_request(&signed, ring, now) {
        panic!("a request we signed does not verify: {e:?}: {signed:02x?}");
    }
    let mut answer = msg;
    tsig::sign_response(&mut answer, key, now, &request_mac);
    if let Err(e) = tsig::verify_response(&answer, key, now, &request_mac) {
        panic!("an answer we signed does not verify: {e}: {answer:02x?}");
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

mod anchors;
mod history;
pub use anchors::{autotrust_state, trust_anchors};
pub use history::ixfr_history;

#[cfg(test)]
mod tests;

//! What the XDP program's parser ([`fast_question`]) must keep with the full
//! one ([`query`]), as a function: the host tests, the fuzz target and its
//! corpus replay all check the same property through [`check`].
//!
//! The fast parser may leave any query to userspace ([`Verdict::Pass`]),
//! but what it does decide must be what userspace would decide:
//! - a drop is a drop for the same reason in [`query::parse`], and the
//!   reverse (a message XDP passes is never one userspace drops);
//! - a query it answers parses in full as a plain QUERY with the same ID,
//!   flags, type, class, question end and EDNS parameters, without NSID or
//!   TSIG, and its map key (name hash, length, lower-cased name in place,
//!   question checksum) is that of the question the full parser saw.
//!
//! Host only: the program never runs it, so it is not built for BPF.

use crate::{
    csum,
    fast_question::{self, KEY_DO, KEY_EDNS, MSG_BUF, Message, NAME_WORDS, Question, Verdict},
    hash,
    query::{self, QueryError},
    wire::{MAX_NAME_LEN, ascii_lower, opcode},
};

/// How the two parsers disagreed on a message: what the fast parser
/// decided and which part of the property broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The fast parser's result.
    pub fast: Result<Question, Verdict>,
    /// The full parser's error, when it refused the message.
    pub full: Option<QueryError>,
    /// What does not hold, in words.
    pub what: &'static str,
}

impl core::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (fast: {:?}, full: {:?})", self.what, self.fast, self.full)
    }
}

/// Runs both parsers on `msg` the way each side gets it (the program copies
/// at most [`MSG_BUF`] bytes and parses the copy) and checks that they agree;
/// returns the fast parser's result when they do.
pub fn check(msg: &[u8]) -> Result<Result<Question, Verdict>, Disagreement> {
    let mut copy = Message::from_bytes(msg);
    let fast = fast_question::parse(&mut copy, msg.len());
    let full = query::parse(msg);
    let fail = |what| {
        Err(Disagreement {
            fast,
            full: full.err(),
            what,
        })
    };
    match (fast, full) {
        (Ok(q), Ok(full)) => match answered(&q, &full, &copy, msg) {
            Some(what) => fail(what),
            None => Ok(fast),
        },
        (Ok(_), Err(_)) => fail("XDP would answer a message the full parser refuses"),
        (Err(Verdict::DropTooShort), Err(QueryError::TooShort))
        | (Err(Verdict::DropResponse), Err(QueryError::NotAQuery))
        | (Err(Verdict::DropQdcount), Err(QueryError::QuestionCount { .. })) => Ok(fast),
        (Err(Verdict::DropTooShort | Verdict::DropResponse | Verdict::DropQdcount), _) => {
            fail("XDP would drop a message for another reason than userspace, or one it answers")
        }
        // Within the program's buffer, the header's drops are the same tests
        // in the same order on both sides; past it the program passes all.
        (Err(Verdict::Pass), Err(QueryError::TooShort | QueryError::NotAQuery | QueryError::QuestionCount { .. }))
            if msg.len() <= MSG_BUF =>
        {
            fail("XDP would pass a message userspace drops or refuses by its header")
        }
        (Err(Verdict::Pass), _) => Ok(fast),
    }
}

/// What breaks the property for a query both parsers accept and XDP would
/// answer (`copy` is the program's buffer after the parse), if anything.
fn answered(q: &Question, full: &query::Query<'_>, copy: &Message, msg: &[u8]) -> Option<&'static str> {
    let key = &q.key;
    let edns = full.edns;
    let checks: [(bool, &'static str); 9] = [
        (
            full.opcode() == opcode::QUERY,
            "XDP would answer an opcode other than QUERY",
        ),
        (q.flags == full.flags, "the flags differ"),
        (
            (key.qtype, key.qclass) == (full.qtype, full.qclass),
            "the type or class differs",
        ),
        (q.end == full.question_end, "the question ends elsewhere"),
        (
            usize::from(key.name_len) == full.qname.len(),
            "the name's length differs",
        ),
        (
            edns.is_some() == (key.flags & KEY_EDNS != 0)
                && edns.is_some_and(|e| e.dnssec_ok) == (key.flags & KEY_DO != 0),
            "the EDNS flags differ",
        ),
        (
            edns.is_none_or(|e| e.version == 0 && !e.nsid && e.udp_payload == q.udp_payload),
            "XDP would answer an EDNS query it must leave to userspace, or its payload size differs",
        ),
        (!full.has_tsig, "XDP would answer a query with TSIG"),
        (
            same_sum(q.csum, csum::add_bytes(0, &msg[12..q.end])),
            "the question's checksum is wrong",
        ),
    ];
    if let Some((_, what)) = checks.iter().find(|(holds, _)| !holds) {
        return Some(what);
    }
    // The key is that of the lower-cased name, which now sits in the buffer.
    let mut lower = [0u8; MAX_NAME_LEN];
    let n = query::lowercase_name(full.qname, &mut lower);
    let lower = &lower[..n];
    if key.name_hash != hash::name_hash(lower) {
        return Some("the name hash is not that of the lower-cased name");
    }
    let in_place = &copy.message()[12..12 + n];
    if in_place != lower || !in_place.iter().zip(full.qname).all(|(&a, &b)| a == ascii_lower(b)) {
        return Some("the name was not lower-cased in place");
    }
    if !fast_question::same_name(&stored(lower), copy, n) {
        return Some("the name does not match itself as a stored map value");
    }
    None
}

/// Ones'-complement sums are equal when they are the same number modulo
/// 0xffff (0 and 0xffff are both zero).
fn same_sum(a: u32, b: u32) -> bool {
    a % 0xffff == b % 0xffff
}

/// A lower-cased name as the response map stores it: in memory order,
/// zero-padded (`xdp_abi::CacheValue::name_words`).
fn stored(lower: &[u8]) -> [u64; NAME_WORDS] {
    let mut words = [0u64; NAME_WORDS];
    for (w, chunk) in words.iter_mut().zip(lower.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_ne_bytes(b);
    }
    words
}

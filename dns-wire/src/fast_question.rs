//! The XDP program's fast parse of a query: header checks, the question
//! lower-cased and hashed in place, and the OPT record.
//!
//! It works on a fixed-size copy of the DNS message (the program copies the
//! UDP payload into a per-CPU [`Message`] first), so every read is a bounds
//! check the verifier can follow, and the host tests feed it the very same
//! bytes. The copy is placed so that the name starts on an 8-byte
//! boundary: the name is then read, lower-cased, hashed and compared a
//! word at a time with single loads (the BPF backend splits every load it
//! cannot prove aligned into byte loads). It decides only what XDP can answer; anything unusual is
//! [`Verdict::Pass`] so that userspace gives the full, careful answer
//! (parsed by [`crate::query`]).

use crate::{
    cookie, hash,
    wire::{self, EDNS_DO, HEADER_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, edns_option, rtype},
};

/// A wire name plus one spare byte, in 8-byte words: how much of the
/// question the word-at-a-time walk covers (a power of two, so a word index
/// can be masked into range).
pub const NAME_WORDS: usize = (MAX_NAME_LEN + 1) / 8;

/// [`QuestionKey::flags`]: the query carried an OPT record.
pub const KEY_EDNS: u8 = 1;
/// [`QuestionKey::flags`]: the OPT record had the DO bit.
pub const KEY_DO: u8 = 2;

/// What of a question changes the bytes of its answer. The XDP program's
/// response maps are keyed by it (`xdp_abi::CacheKey` wraps it), so its
/// layout is part of that ABI: `#[repr(C)]`, explicit padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuestionKey {
    /// [`hash::name_hash`] of the lower-cased wire name.
    pub name_hash: u64,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// [`KEY_EDNS`] | [`KEY_DO`].
    pub flags: u8,
    /// Wire length of the name, root label included.
    pub name_len: u8,
    /// Zero.
    pub _pad: [u8; 2],
}

/// Size of the message buffer; longer queries are passed to userspace.
/// A power of two, so an index can be masked into range.
pub const MSG_BUF: usize = 512;

/// Where the message starts in a [`Message`]: the question (message
/// offset 12) then starts at byte 16, on a word boundary.
pub const MSG_AT: usize = 4;
/// Word index of the question in a [`Message`].
const QUESTION_WORD: usize = (MSG_AT + HEADER_LEN) / 8;
/// Words of a [`Message`]: [`MSG_AT`] spare bytes, then [`MSG_BUF`] bytes of
/// message, then 8 spare bytes so that an 8-byte load at any message offset
/// stays inside, rounded up.
const BUF_WORDS: usize = (MSG_AT + MSG_BUF + 8).div_ceil(8);

/// A DNS message of at most [`MSG_BUF`] bytes, at byte [`MSG_AT`] of a
/// word-aligned buffer (see the module docs).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Message {
    words: [u64; BUF_WORDS],
}

impl Message {
    /// An empty buffer.
    pub const fn zeroed() -> Self {
        Message { words: [0; BUF_WORDS] }
    }

    /// A copy of `msg` (at most [`MSG_BUF`] bytes of it).
    pub fn from_bytes(msg: &[u8]) -> Self {
        let mut m = Message::zeroed();
        let n = msg.len().min(MSG_BUF);
        m.message_mut()[..n].copy_from_slice(&msg[..n]);
        m
    }

    /// Where the message's first byte goes ([`MSG_BUF`] bytes of room).
    pub fn start_mut(&mut self) -> *mut u8 {
        self.message_mut().as_mut_ptr()
    }

    /// The message bytes (and zeroes after them).
    pub fn message(&self) -> &[u8; MSG_BUF] {
        // SAFETY: the words hold MSG_AT + MSG_BUF bytes; u8 has no alignment or invalid values.
        unsafe { &*(self.words.as_ptr().cast::<u8>().add(MSG_AT).cast::<[u8; MSG_BUF]>()) }
    }

    /// The message bytes, writable.
    pub fn message_mut(&mut self) -> &mut [u8; MSG_BUF] {
        // SAFETY: as in `message`.
        unsafe { &mut *(self.words.as_mut_ptr().cast::<u8>().add(MSG_AT).cast::<[u8; MSG_BUF]>()) }
    }

    /// Word `i` of the question (its bytes `8 * i ..`), big-endian.
    #[inline(always)]
    fn question_word(&self, i: usize) -> u64 {
        u64::from_be(self.words[QUESTION_WORD + (i & (NAME_WORDS - 1))])
    }

    /// The 8 bytes from message offset `at` (kept inside the buffer by a
    /// mask), big-endian: byte `at` is the top one. Bytes past the message's
    /// length are whatever the buffer held: callers check the length.
    #[inline(always)]
    fn be64_at(&self, at: usize) -> u64 {
        let i = MSG_AT + (at & (MSG_BUF - 1));
        // SAFETY: i + 8 <= MSG_AT + MSG_BUF - 1 + 8 < BUF_WORDS * 8; a
        // misaligned read is what read_unaligned is for.
        u64::from_be(unsafe { self.words.as_ptr().cast::<u8>().add(i).cast::<u64>().read_unaligned() })
    }

    /// The ones'-complement sum (RFC 1071) of the message's first `len`
    /// bytes (at most [`MSG_BUF`]), the message's part of its UDP checksum,
    /// unfolded and in native word order: [`crate::csum::fold64`] it, and
    /// on a little-endian machine swap its bytes, for the usual big-endian
    /// sum (a sum of byte-swapped words is the byte-swapped sum). The XDP
    /// program adds the pseudo-header's native-order sum and folds once.
    /// Call it before [`name`], which lower-cases the name in place.
    ///
    /// Whole words are summed, as 32-bit halves, without writing to the
    /// buffer (a load that straddles two recent stores stalls the CPU): the
    /// spare bytes before the message are skipped (the message starts at an
    /// even offset, so its 16-bit words keep their places in the halves) and
    /// the bytes after it masked off.
    #[inline(always)]
    pub fn csum_native(&self, len: usize) -> u64 {
        const { assert!(MSG_AT == 4, "the first word's upper half starts the message") };
        let end = MSG_AT + if len < MSG_BUF { len } else { MSG_BUF };
        // SAFETY: BUF_WORDS words are 2 * BUF_WORDS u32 halves, aligned.
        let halves = unsafe { &*self.words.as_ptr().cast::<[u32; 2 * BUF_WORDS]>() };
        let full = end / 8;
        let mut sum = halves[1] as u64;
        for i in 1..full {
            sum += halves[2 * i] as u64 + halves[2 * i + 1] as u64;
        }
        // The word holding the end (if the end is inside one), masked to the
        // message's bytes: in memory order, the first `end % 8`.
        let mut tail = self.words.get(full).copied().unwrap_or(0) & hash::first_bytes(end % 8).to_be();
        if full == 0 {
            // A message shorter than the first word's upper half: not the spare bytes either.
            tail &= !hash::first_bytes(MSG_AT).to_be();
            sum = 0;
        }
        sum + (tail & 0xffff_ffff) + (tail >> 32)
    }

    /// [`Message::csum_native`] folded, as big-endian 16-bit words.
    pub fn csum(&self, len: usize) -> u16 {
        let folded = crate::csum::fold64(self.csum_native(len));
        if cfg!(target_endian = "little") {
            folded.swap_bytes()
        } else {
            folded
        }
    }

    #[inline(always)]
    fn set_question_word(&mut self, i: usize, w: u64) {
        self.words[QUESTION_WORD + (i & (NAME_WORDS - 1))] = w.to_be();
    }
}

/// Most EDNS options looked at; more are passed to userspace.
const MAX_OPTIONS: usize = 4;

/// Why the program does not answer a message itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let userspace answer it (malformed, unusual or out of XDP's scope).
    Pass,
    /// Shorter than a DNS header: drop.
    DropTooShort,
    /// A response aimed at us: drop.
    DropResponse,
    /// A query with more than one question: drop.
    DropQdcount,
}

/// A query XDP may answer, with what the response needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// The map key (name hash, type, class, EDNS flags, name length).
    pub key: QuestionKey,
    /// The query's flags word.
    pub flags: u16,
    /// Offset just past the question (12 + name + 4).
    pub end: usize,
    /// Folded ones'-complement sum of the question bytes as received,
    /// at their offsets in the message.
    pub csum: u32,
    /// The client's UDP payload size: 512 without EDNS.
    pub udp_payload: u16,
    /// Where the data of the query's COOKIE option starts in the message,
    /// or 0 when it has none.
    pub cookie_at: u16,
    /// That option's length: 8 (a client cookie alone) or 24 (with a
    /// server cookie of ours, [`crate::cookie::SERVER_LEN`] bytes); other
    /// lengths are userspace's.
    pub cookie_len: u16,
}

impl Question {
    /// Largest response the client takes: 512 without EDNS, else its
    /// payload size (at least 512) capped at ours (RFC 6891 6.2.5).
    pub fn size_limit(&self, ours: u16) -> usize {
        if self.key.flags & KEY_EDNS == 0 {
            wire::CLASSIC_UDP_PAYLOAD as usize
        } else {
            let p = if self.udp_payload < 512 { 512 } else { self.udp_payload };
            (if p < ours { p } else { ours }) as usize
        }
    }
}

#[inline(always)]
fn byte(msg: &Message, len: usize, at: usize) -> Option<u8> {
    if at < len {
        // The mask keeps the index provably inside the buffer for the verifier.
        Some(msg.message()[at & (MSG_BUF - 1)])
    } else {
        None
    }
}

/// What the header says, for [`rest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The flags word.
    pub flags: u16,
    /// ARCOUNT (0 or 1).
    pub arcount: u16,
}

/// The question's name, walked by [`name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkedName {
    /// Wire length, root label included.
    pub len: usize,
    /// [`hash::name_hash`] of the lower-cased name.
    pub hash: u64,
    /// Unfolded sum of the name's bytes as received, at their offsets.
    pub csum: u32,
}

/// Parses the first `len` bytes of `msg`; lower-cases the question's name in place.
///
/// The three steps are public because the XDP program runs them one by one
/// (it hides each step's result from the verifier's path tracking between them).
pub fn parse(msg: &mut Message, len: usize) -> Result<Question, Verdict> {
    let h = header(msg, len)?;
    let n = name(msg, len).ok_or(Verdict::Pass)?;
    rest(msg, len, h, n)
}

/// Step 1: the header checks.
#[inline(always)]
pub fn header(msg: &Message, len: usize) -> Result<Header, Verdict> {
    if len < HEADER_LEN {
        return Err(Verdict::DropTooShort);
    }
    if len > MSG_BUF {
        return Err(Verdict::Pass);
    }
    let flags = (msg.be64_at(0) >> 32) as u16;
    if flags & wire::FLAG_QR != 0 {
        return Err(Verdict::DropResponse);
    }
    // QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    let counts = msg.be64_at(4);
    match counts >> 48 {
        1 => {}
        // No question: a query for a server cookie (RFC 7873 5.4), or
        // another opcode's message; userspace answers it (NOERROR with the
        // cookie, NOTIMP, or FORMERR).
        0 => return Err(Verdict::Pass),
        _ => return Err(Verdict::DropQdcount),
    }
    let opcode_query = flags & wire::OPCODE_MASK == 0;
    let no_records = (counts >> 16) as u32 == 0;
    let arcount = counts as u16;
    if !opcode_query || !no_records || arcount > 1 {
        return Err(Verdict::Pass);
    }
    Ok(Header { flags, arcount })
}

/// Step 3: QTYPE, QCLASS and the OPT record after the name.
#[inline(always)]
pub fn rest(msg: &Message, len: usize, h: Header, n: WalkedName) -> Result<Question, Verdict> {
    if n.len > MAX_NAME_LEN {
        return Err(Verdict::Pass);
    }
    let at = HEADER_LEN + n.len;
    if at + 4 > len {
        return Err(Verdict::Pass);
    }
    let tail = msg.be64_at(at);
    let (qtype, qclass) = ((tail >> 48) as u16, (tail >> 32) as u16);
    // Offset `at` may be odd: the sum then sees the bytes swapped.
    let tail = u32::from(qtype) + u32::from(qclass);
    let tail = if at & 1 == 0 {
        tail
    } else {
        u32::from(crate::csum::shift_odd(crate::csum::fold(tail)))
    };
    let end = at + 4;

    let mut key = QuestionKey {
        name_hash: n.hash,
        qtype,
        qclass,
        flags: 0,
        name_len: n.len as u8,
        _pad: [0; 2],
    };
    let mut udp_payload = wire::CLASSIC_UDP_PAYLOAD;
    let mut cookie = CookieAt::default();
    if h.arcount == 1 {
        let edns = opt(msg, len, end).ok_or(Verdict::Pass)?;
        udp_payload = edns.payload;
        cookie = edns.cookie;
        key.flags = KEY_EDNS | if edns.dnssec_ok { KEY_DO } else { 0 };
    } else if end != len {
        return Err(Verdict::Pass);
    }
    Ok(Question {
        key,
        flags: h.flags,
        end,
        csum: u32::from(crate::csum::fold(n.csum.wrapping_add(tail))),
        udp_payload,
        cookie_at: cookie.at,
        cookie_len: cookie.len,
    })
}

/// Most labels a name can have (255 bytes of one-byte labels).
const MAX_LABELS: usize = 128;

/// Step 2: finds the question's name by its labels, then lower-cases it in
/// place, hashes it and sums its bytes as received, eight bytes at a time.
/// `None` when the name is malformed, compressed, too long or cut off.
#[inline(always)]
pub fn name(msg: &mut Message, len: usize) -> Option<WalkedName> {
    let mut root = HEADER_LEN;
    let mut found = false;
    for _ in 0..MAX_LABELS {
        let label = byte(msg, len, root)? as usize;
        if label == 0 {
            found = true;
            break;
        }
        if label > MAX_LABEL_LEN {
            return None;
        }
        root += 1 + label;
        if root - HEADER_LEN >= MAX_NAME_LEN {
            return None;
        }
    }
    if !found {
        return None;
    }
    let name_len = root + 1 - HEADER_LEN;
    let mut h = hash::SEED;
    let mut sum = 0u32;
    for i in 0..NAME_WORDS {
        let off = i * 8;
        if off >= name_len {
            break;
        }
        let keep = hash::first_bytes(name_len - off);
        let received = msg.question_word(i);
        let name_part = received & keep;
        let lower = hash::lower_word(name_part);
        // Bytes after the name (QTYPE...) stay as they are.
        msg.set_question_word(i, lower | (received & !keep));
        h = hash::push(h, lower);
        // The name starts at an even offset: the word is four checksum words.
        sum += (name_part >> 48) as u32
            + ((name_part >> 32) & 0xffff) as u32
            + ((name_part >> 16) & 0xffff) as u32
            + (name_part & 0xffff) as u32;
    }
    Some(WalkedName {
        len: name_len,
        hash: h,
        csum: sum,
    })
}

/// Whether the first `len` bytes of `stored` (a lower-cased name in memory
/// order, as in `xdp_abi::CacheValue::name_words`) are the lower-cased
/// name of `len` bytes at the question in `msg` (after [`name`]).
#[inline(always)]
pub fn same_name(stored: &[u64; NAME_WORDS], msg: &Message, len: usize) -> bool {
    for (i, s) in stored.iter().enumerate() {
        let off = i * 8;
        if off >= len {
            return true;
        }
        let keep = hash::first_bytes(len - off);
        if u64::from_be(*s) & keep != msg.question_word(i) & keep {
            return false;
        }
    }
    true
}

/// The client cookie and, when there is one, the server cookie of the
/// query's COOKIE option (as [`rest`] found it), as the words
/// [`cookie::judge`] takes; `None` without one.
#[inline(always)]
pub fn cookie(msg: &Message, q: &Question) -> Option<(u64, Option<cookie::ServerWords>)> {
    if q.cookie_at == 0 {
        return None;
    }
    // Little-endian words of the bytes: the big-endian loads, swapped.
    let at = usize::from(q.cookie_at);
    let client = msg.be64_at(at).swap_bytes();
    if usize::from(q.cookie_len) != cookie::CLIENT_LEN + cookie::SERVER_LEN {
        return Some((client, None));
    }
    let server = cookie::ServerWords {
        head: msg.be64_at(at + 8).swap_bytes(),
        mac: msg.be64_at(at + 16).swap_bytes(),
    };
    Some((client, Some(server)))
}

/// Where a COOKIE option's data lies in the message (all zero: none).
#[derive(Clone, Copy, Default)]
struct CookieAt {
    at: u16,
    len: u16,
}

/// What the OPT record of a query XDP may answer says.
struct Edns {
    payload: u16,
    dnssec_ok: bool,
    cookie: CookieAt,
}

/// Reads the OPT record at `at`, which must end the message.
/// `None` for what userspace must handle: other EDNS versions, NSID and
/// EXPIRE (their values are per server and per moment, never cached), a
/// COOKIE option of a length other than 8 or 24 (malformed, or a server
/// cookie that cannot be ours) or a second one, odd layouts.
#[inline(always)]
fn opt(msg: &Message, len: usize, at: usize) -> Option<Edns> {
    // Owner (root), TYPE, CLASS (payload), TTL (extended RCODE, version,
    // flags), RDLENGTH: 11 bytes, read as two overlapping 8-byte loads.
    if at + 11 > len {
        return None;
    }
    let owner_type = msg.be64_at(at) >> 40;
    let rest = msg.be64_at(at + 3);
    let payload = (rest >> 48) as u16;
    let version = (rest >> 32) as u8;
    let flags = (rest >> 16) as u16;
    let rdlen = (rest & 0xffff) as usize;
    if owner_type != u64::from(rtype::OPT) || version != 0 || at + 11 + rdlen != len {
        return None;
    }
    let mut edns = Edns {
        payload,
        dnssec_ok: flags & EDNS_DO != 0,
        cookie: CookieAt::default(),
    };
    let mut o = at + 11;
    for _ in 0..MAX_OPTIONS {
        if o == len {
            return Some(edns);
        }
        if o + 4 > len {
            return None;
        }
        let option = msg.be64_at(o) >> 32;
        let code = (option >> 16) as u16;
        let option_len = (option & 0xffff) as usize;
        if code == edns_option::NSID || code == edns_option::EXPIRE {
            return None;
        }
        if code == edns_option::COOKIE {
            let ours = option_len == cookie::CLIENT_LEN || option_len == cookie::CLIENT_LEN + cookie::SERVER_LEN;
            if !ours || edns.cookie.at != 0 || o + 4 + option_len > len {
                return None;
            }
            edns.cookie = CookieAt {
                at: (o + 4) as u16,
                len: option_len as u16,
            };
        }
        o += 4 + option_len;
    }
    if o == len { Some(edns) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csum;
    use std::{vec, vec::Vec};

    const WWW: &[u8] = b"\x03WwW\x07ExAmple\x03com\x00";
    const OPT_DO: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0];
    const OPT_NSID: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0];
    const OPT_COOKIE: &[u8] = &[
        0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,
    ];

    /// A query for www A (ID 0xbeef) whose OPT record (payload 1232) holds
    /// `options` (code, data), through test-support's builder.
    fn with_options(options: &[(u16, &[u8])]) -> (Message, usize) {
        let mut q = test_support::Query::new(".", 1).qname_wire(WWW).id(0xbeef).edns(1232);
        for (code, data) in options {
            q = q.option(*code, data);
        }
        let wire = q.to_wire();
        (Message::from_bytes(&wire), wire.len())
    }

    /// A query (ID 0xbeef) from test-support's builder, in the program's buffer.
    fn message(flags: u16, qdcount: u16, name: &[u8], qtype: u16, extra: &[u8], arcount: u16) -> (Message, usize) {
        let wire = test_support::Query::new(".", qtype)
            .qname_wire(name)
            .id(0xbeef)
            .flags(flags)
            .counts([qdcount, 0, 0, arcount])
            .tail(extra)
            .to_wire();
        let mut m = [0u8; MSG_BUF];
        m[..wire.len()].copy_from_slice(&wire);
        (Message::from_bytes(&m), wire.len())
    }

    #[test]
    fn plain_query_is_lowercased_hashed_and_summed() {
        let (mut m, len) = message(0x0100, 1, WWW, 1, &[], 0);
        let original = *m.message();
        let q = parse(&mut m, len).expect("a plain query is answerable");
        let lower = b"\x03www\x07example\x03com\x00";
        assert_eq!(
            &m.message()[12..12 + lower.len()],
            lower,
            "the name is lower-cased in place"
        );
        assert_eq!(q.key.name_hash, hash::name_hash(lower));
        assert_eq!(q.key.name_len as usize, lower.len());
        assert_eq!((q.key.qtype, q.key.qclass, q.key.flags), (1, 1, 0));
        assert_eq!(q.end, len);
        assert_eq!(q.udp_payload, 512);
        // The sum covers the question exactly as received.
        let mut question = [0u8; MSG_BUF];
        question[12..len].copy_from_slice(&original[12..len]);
        assert_eq!(q.csum, csum::add_bytes(0, &question[..len]));
    }

    #[test]
    fn odd_and_even_name_lengths_sum_alike() {
        for name in [&b"\x01a\x00"[..], b"\x02ab\x00", b"\x03Abc\x02DE\x00"] {
            let (mut m, len) = message(0, 1, name, 28, &[], 0);
            let original = *m.message();
            let q = parse(&mut m, len).expect("answerable");
            let mut question = [0u8; MSG_BUF];
            question[12..len].copy_from_slice(&original[12..len]);
            assert_eq!(q.csum, csum::add_bytes(0, &question[..len]), "name {name:?}");
        }
    }

    /// `bytes` as a stored name is kept: in memory order, zero-padded
    /// (as `xdp_abi::CacheValue::name_words` holds it, whose own test
    /// checks the same against a real value).
    fn stored(bytes: &[u8]) -> [u64; NAME_WORDS] {
        let mut words = [0u64; NAME_WORDS];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_ne_bytes(b);
        }
        words
    }

    #[test]
    fn stored_names_are_compared_case_insensitively() {
        let (mut m, len) = message(0, 1, WWW, 1, &[], 0);
        let q = parse(&mut m, len).expect("answerable");
        let n = q.key.name_len as usize;
        let mut data = [0u8; NAME_WORDS * 8];
        let lower = b"\x03www\x07example\x03com\x00";
        data[..lower.len()].copy_from_slice(lower);
        data[lower.len()..lower.len() + 4].copy_from_slice(&[0xc0, 0x0c, 0, 1]);
        assert!(same_name(&stored(&data), &m, n));
        data[5] = b'x';
        assert!(!same_name(&stored(&data), &m, n), "one byte differs");
        let mut longer = data;
        longer[n] = 1;
        longer[5] = b'e';
        assert!(
            same_name(&stored(&longer), &m, n),
            "bytes past the length (the body) are not compared"
        );
        assert_eq!(q.key.name_hash, hash::name_hash(&longer[..n]));
    }

    #[test]
    fn edns_sets_the_key_flags() {
        let (mut m, len) = message(0, 1, WWW, 28, OPT_DO, 1);
        let q = parse(&mut m, len).expect("EDNS with DO is answerable");
        assert_eq!(q.key.flags, KEY_EDNS | KEY_DO);
        assert_eq!(q.udp_payload, 1232);
        assert_eq!(q.size_limit(1232), 1232);
    }

    #[test]
    fn cookies_are_located_for_the_program() {
        let question_end = HEADER_LEN + WWW.len() + 4;
        let (mut m, len) = message(0, 1, WWW, 1, &[], 0);
        let q = parse(&mut m, len).expect("no EDNS");
        assert_eq!((q.cookie_at, q.cookie_len), (0, 0), "no OPT, no cookie");
        let (mut m, len) = message(0, 1, WWW, 1, OPT_COOKIE, 1);
        let q = parse(&mut m, len).expect("a client cookie alone is answerable");
        assert_eq!(usize::from(q.cookie_at), question_end + 11 + 4);
        assert_eq!(q.cookie_len, 8);
        assert_eq!(&m.message()[usize::from(q.cookie_at)..][..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            cookie(&m, &q),
            Some((u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]), None))
        );
        // After another option, with a server cookie of ours.
        let data: Vec<u8> = (0..24).collect();
        let (mut m, len) = with_options(&[(12, &[0, 0]), (10, &data)]);
        let q = parse(&mut m, len).expect("padding then a full cookie");
        assert_eq!(usize::from(q.cookie_at), question_end + 11 + 6 + 4);
        assert_eq!(q.cookie_len, 24);
        assert_eq!(&m.message()[usize::from(q.cookie_at)..][..24], &data[..]);
        let (client, server) = cookie(&m, &q).expect("a cookie");
        assert_eq!(client.to_le_bytes()[..], data[..8]);
        assert_eq!(server.expect("a server cookie").to_bytes()[..], data[8..]);
        assert_eq!(
            q.key.flags, KEY_EDNS,
            "the key is that of the same query without a cookie"
        );
    }

    #[test]
    fn what_xdp_leaves_to_userspace_or_drops() {
        // (what, flags, QDCOUNT, name, after the question, ARCOUNT, verdict)
        type Case<'a> = (&'a str, u16, u16, &'a [u8], &'a [u8], u16, Verdict);
        let cases: &[Case<'_>] = &[
            ("a response", 0x8000, 1, WWW, &[], 0, Verdict::DropResponse),
            ("no question", 0, 0, WWW, &[], 0, Verdict::Pass),
            ("two questions", 0, 2, WWW, &[], 0, Verdict::DropQdcount),
            ("NOTIFY", 4 << 11, 1, WWW, &[], 0, Verdict::Pass),
            ("NSID", 0, 1, WWW, OPT_NSID, 1, Verdict::Pass),
            ("OPT missing", 0, 1, WWW, &[], 1, Verdict::Pass),
            ("trailing byte", 0, 1, WWW, &[0], 0, Verdict::Pass),
            ("compressed name", 0, 1, b"\xc0\x0c", &[], 0, Verdict::Pass),
            ("label too long", 0, 1, b"\x40", &[], 0, Verdict::Pass),
        ];
        for (what, flags, qd, name, extra, ar, verdict) in cases {
            let (mut m, len) = message(*flags, *qd, name, 1, extra, *ar);
            assert_eq!(parse(&mut m, len), Err(*verdict), "{what}");
        }
        // COOKIE options the program cannot answer: malformed (userspace
        // answers FORMERR), a server cookie of a length we never issue, two.
        let cookie = |len: usize| vec![7u8; len];
        let refused = [
            ("COOKIE of 7 bytes", with_options(&[(10, &cookie(7))])),
            ("COOKIE of 16 bytes", with_options(&[(10, &cookie(16))])),
            ("COOKIE of 41 bytes", with_options(&[(10, &cookie(41))])),
            ("two COOKIEs", with_options(&[(10, &cookie(8)), (10, &cookie(8))])),
            ("NSID after a COOKIE", with_options(&[(10, &cookie(8)), (3, &[])])),
            ("EXPIRE (RFC 7314)", with_options(&[(9, &[])])),
            ("EXPIRE after a COOKIE", with_options(&[(10, &cookie(8)), (9, &[])])),
        ];
        for (what, (mut m, len)) in refused {
            assert_eq!(parse(&mut m, len), Err(Verdict::Pass), "{what}");
        }
        let (mut m, _) = message(0, 1, WWW, 1, &[], 0);
        assert_eq!(parse(&mut m, 11), Err(Verdict::DropTooShort));
        assert_eq!(parse(&mut m, MSG_BUF + 1), Err(Verdict::Pass));
    }

    #[test]
    fn every_truncation_is_refused() {
        for (extra, ar) in [(&[][..], 0), (OPT_DO, 1), (OPT_COOKIE, 1)] {
            let (m, len) = message(0, 1, WWW, 1, extra, ar);
            for cut in 0..len {
                let mut copy = m;
                copy.message_mut()[cut..].fill(0);
                assert!(
                    parse(&mut copy, cut).is_err(),
                    "a query cut at {cut} of {len} bytes must not be answered"
                );
            }
        }
    }

    #[test]
    fn longest_names_are_bounded() {
        // 255 bytes: three 63-byte labels and one 61-byte label.
        let mut name = [0u8; 256];
        let mut at = 0;
        for l in [63usize, 63, 63, 61] {
            name[at] = l as u8;
            name[at + 1..at + 1 + l].fill(b'X');
            at += 1 + l;
        }
        name[at] = 0;
        let (mut m, len) = message(0, 1, &name[..at + 1], 1, &[], 0);
        let q = parse(&mut m, len).expect("a 255-byte name is answerable");
        assert_eq!(q.key.name_len, 255);
        // One byte more is refused.
        let mut longer = [0u8; 257];
        longer[..at].copy_from_slice(&name[..at]);
        longer[at - 62] = 62;
        longer[at] = b'y';
        longer[at + 1] = 0;
        let (mut m, len) = message(0, 1, &longer[..at + 2], 1, &[], 0);
        assert_eq!(parse(&mut m, len), Err(Verdict::Pass));
    }

    #[test]
    fn message_sums_match_a_byte_wise_sum_whatever_the_buffer_held() {
        let mut state = 0x0bad_cafe_f00d_1234u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut m = Message::zeroed();
        for len in (0..=MSG_BUF).chain([MSG_BUF + 1, MSG_BUF + 100]) {
            // Garbage everywhere, the spare bytes before the message included.
            for w in m.words.iter_mut() {
                *w = next();
            }
            let n = len.min(MSG_BUF);
            let bytes = *m.message();
            let expect = csum::fold(csum::add_bytes(0, &bytes[..n]));
            assert_eq!(m.csum(len), expect, "{len} bytes");
            assert_eq!(&m.message()[..n], &bytes[..n], "the message itself is untouched");
        }
    }

    #[test]
    fn random_bytes_never_panic_and_agree_with_the_full_parser() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200_000 {
            let (mut m, mut len) = message(0, 1, WWW, 1, OPT_DO, 1);
            // Flip a few bytes of a valid query, or fill with noise.
            if round % 4 == 0 {
                for b in m.message_mut().iter_mut() {
                    *b = next() as u8;
                }
                len = (next() % (MSG_BUF as u64 + 2)) as usize;
            } else {
                for _ in 0..(next() % 4 + 1) {
                    let i = (next() % len as u64) as usize;
                    m.message_mut()[i] = next() as u8;
                }
            }
            // One byte more than the buffer holds tests the length check too.
            let mut buf = [0u8; MSG_BUF + 1];
            buf[..MSG_BUF].copy_from_slice(m.message());
            let bytes = &buf[..len];
            // Whatever XDP decides, userspace must decide alike (see `differential`).
            if let Err(e) = crate::differential::check(bytes) {
                panic!("{e}: {bytes:02x?}");
            }
        }
    }
}

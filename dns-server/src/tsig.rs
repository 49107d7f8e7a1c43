//! TSIG (RFC 8945): signing and verifying DNS messages with shared HMAC keys.
//!
//! The MACs come from `ring`'s HMAC (SHA-1, SHA-256, SHA-384, SHA-512); nothing
//! here is hand-written crypto, only the RFC's digest layout.
//!
//! API (kept stable: the transfers-out side uses it too):
//! - [`Algorithm`]: `hmac-sha1`, `hmac-sha256`, `hmac-sha384`, `hmac-sha512`
//!   ([`Algorithm::from_name`], [`Algorithm::name`]).
//! - [`Key`]: a named key ([`Key::new`]); [`KeyRing`]: the configured keys,
//!   looked up by name and algorithm ([`KeyRing::find`]).
//! - Requests: [`sign_request`] appends a TSIG record and returns its MAC;
//!   [`verify_request`] checks a received request against a key ring:
//!   `Ok(None)` unsigned, `Ok(Some(Verified))` signed and good, or
//!   `Err(Rejection)`, whose [`Rejection::error`] is the RFC 8945 error and
//!   whose [`Rejection::append_to`] adds the TSIG record an error response
//!   carries (unsigned for BADKEY/BADSIG/BADTRUNC, signed for BADTIME).
//! - Responses: [`sign_response`] signs one response with the request's MAC;
//!   [`verify_response`] checks one. Multi-message TCP streams (AXFR/IXFR):
//!   [`StreamSigner`] signs each message (the first with the request's MAC,
//!   each next one with the prior MAC and the timers only);
//!   [`StreamVerifier`] checks each message in turn, allowing up to 99
//!   unsigned messages between signed ones (RFC 8945 5.3.1), and
//!   [`StreamVerifier::finish`] insists the last one was signed.
//! - [`TsigError`]: `FormErr`, `BadSig`, `BadKey`, `BadTime`, `BadTrunc`,
//!   with [`TsigError::code`] (the TSIG error field) and
//!   [`TsigError::rcode`] (the message RCODE).
//!
//! Times are seconds since the Unix epoch, passed in (see [`now`]) so tests
//! can pin them.

use std::sync::Arc;

use dns_wire::wire::{HEADER_LEN, class, rcode, rtype};
use ring::hmac;

use crate::message::read::read_name;
use crate::name::Name;

/// Seconds either side of our clock a signature's time may be (RFC 8945
/// recommends 300).
pub(crate) const FUDGE: u16 = 300;
/// Most unsigned messages allowed between two signed ones in a stream (RFC 8945 5.3.1).
pub(crate) const MAX_UNSIGNED_RUN: usize = 99;

/// TSIG error field values (RFC 8945 3, IANA DNS RCODEs).
pub(crate) mod code {
    /// No error.
    pub(crate) const NOERROR: u16 = 0;
    /// The MAC does not verify.
    pub(crate) const BADSIG: u16 = 16;
    /// The key is not known.
    pub(crate) const BADKEY: u16 = 17;
    /// The time signed is outside the fudge.
    pub(crate) const BADTIME: u16 = 18;
    /// The MAC is truncated below what we accept.
    pub(crate) const BADTRUNC: u16 = 22;
}

/// A TSIG MAC algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Algorithm {
    /// HMAC-SHA1: only for old primaries.
    HmacSha1,
    /// HMAC-SHA256: what to use.
    HmacSha256,
    /// HMAC-SHA384.
    HmacSha384,
    /// HMAC-SHA512.
    HmacSha512,
}

impl Algorithm {
    /// Every algorithm, for error messages and tests.
    pub(crate) const ALL: [Algorithm; 4] = [
        Algorithm::HmacSha1,
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ];

    /// Reads a name as configs and the wire write it (`hmac-sha256`, with or
    /// without a trailing dot, any case).
    pub(crate) fn from_name(text: &str) -> Option<Algorithm> {
        let text = text.strip_suffix('.').unwrap_or(text);
        Algorithm::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(text))
    }

    /// The name, as in configs and on the wire (without the root dot).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The name in wire format.
    fn wire_name(self) -> Vec<u8> {
        let name = self.name();
        let mut wire = Vec::with_capacity(name.len() + 2);
        wire.push(name.len() as u8);
        wire.extend_from_slice(name.as_bytes());
        wire.push(0);
        wire
    }

    fn from_wire(wire: &[u8]) -> Option<Algorithm> {
        let name = Name::from_wire(wire)?.to_lowercase();
        Algorithm::ALL.into_iter().find(|a| a.wire_name() == name.as_wire())
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    /// Length of a full MAC.
    pub(crate) fn mac_len(self) -> usize {
        self.ring().digest_algorithm().output_len()
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A shared secret with its name and algorithm.
pub(crate) struct Key {
    name: Name,
    algorithm: Algorithm,
    hmac: hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        write!(f, "Key({} {})", self.name, self.algorithm)
    }
}

/// Why a key cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyError {
    /// The key name is not a domain name.
    #[error("bad key name {0:?}")]
    Name(String),
    /// The algorithm is not one we have.
    #[error("unknown TSIG algorithm {0:?} (expected hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1)")]
    Algorithm(String),
    /// The secret is not base64.
    #[error("the secret is not base64")]
    Secret,
    /// The secret is empty.
    #[error("the secret is empty")]
    Empty,
}

impl Key {
    /// A key; `name` is a domain name (absolute with or without its dot).
    pub(crate) fn new(name: &str, algorithm: Algorithm, secret: &[u8]) -> Result<Key, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::Empty);
        }
        let absolute = crate::cli::absolute_origin(name);
        let name = Name::parse(&absolute, None)
            .map_err(|_| KeyError::Name(name.to_string()))?
            .to_lowercase();
        Ok(Key {
            name,
            algorithm,
            hmac: hmac::Key::new(algorithm.ring(), secret),
        })
    }

    /// A key from the forms configs use: algorithm by name, secret in base64.
    pub(crate) fn from_text(name: &str, algorithm: &str, secret_base64: &str) -> Result<Key, KeyError> {
        let alg = Algorithm::from_name(algorithm).ok_or_else(|| KeyError::Algorithm(algorithm.to_string()))?;
        let secret = data_encoding::BASE64
            .decode(secret_base64.trim().as_bytes())
            .map_err(|_| KeyError::Secret)?;
        Key::new(name, alg, &secret)
    }

    /// The key's name, lower-cased.
    pub(crate) fn name(&self) -> &Name {
        &self.name
    }

    /// Its algorithm.
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// The configured keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyRing {
    keys: Vec<Arc<Key>>,
}

impl KeyRing {
    /// A ring of these keys.
    pub(crate) fn new(keys: impl IntoIterator<Item = Arc<Key>>) -> KeyRing {
        KeyRing {
            keys: keys.into_iter().collect(),
        }
    }

    /// The key of this name (any case) and algorithm.
    pub(crate) fn find(&self, name: &Name, algorithm: Algorithm) -> Option<&Arc<Key>> {
        let name = name.to_lowercase();
        self.keys.iter().find(|k| k.name == name && k.algorithm == algorithm)
    }

    /// The key of this name (any algorithm), e.g. the one a zone's config names.
    pub(crate) fn by_name(&self, name: &str) -> Option<&Arc<Key>> {
        let name = Name::parse(&crate::cli::absolute_origin(name), None)
            .ok()?
            .to_lowercase();
        self.keys.iter().find(|k| k.name == name)
    }

    /// Whether there are no keys.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Why a signed message was not accepted (RFC 8945 5.2, 5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TsigError {
    /// The TSIG record is malformed or misplaced.
    #[error("malformed TSIG: {0}")]
    FormErr(&'static str),
    /// The MAC does not verify.
    #[error("BADSIG: the MAC does not verify")]
    BadSig,
    /// The key is not known (name or algorithm).
    #[error("BADKEY: unknown key")]
    BadKey,
    /// The time signed is outside the fudge.
    #[error("BADTIME: signed outside the allowed time window")]
    BadTime,
    /// The MAC is truncated below what we accept.
    #[error("BADTRUNC: truncated MAC")]
    BadTrunc,
}

impl TsigError {
    /// The TSIG record's error field for this error.
    pub(crate) fn code(self) -> u16 {
        match self {
            TsigError::FormErr(_) => code::NOERROR,
            TsigError::BadSig => code::BADSIG,
            TsigError::BadKey => code::BADKEY,
            TsigError::BadTime => code::BADTIME,
            TsigError::BadTrunc => code::BADTRUNC,
        }
    }

    /// The response's RCODE: FORMERR, or NOTAUTH for the TSIG errors.
    pub(crate) fn rcode(self) -> u16 {
        match self {
            TsigError::FormErr(_) => rcode::FORMERR,
            _ => rcode::NOTAUTH,
        }
    }

    /// The error a peer put in the TSIG record of its response, if any.
    fn from_code(c: u16) -> Option<TsigError> {
        match c {
            code::BADSIG => Some(TsigError::BadSig),
            code::BADKEY => Some(TsigError::BadKey),
            code::BADTIME => Some(TsigError::BadTime),
            code::BADTRUNC => Some(TsigError::BadTrunc),
            _ => None,
        }
    }
}

/// A TSIG record as read from a message.
#[derive(Debug, Clone)]
struct Record {
    key_name: Name,
    algorithm_wire: Vec<u8>,
    time_signed: u64,
    fudge: u16,
    mac: Vec<u8>,
    original_id: u16,
    error: u16,
    other: Vec<u8>,
}

/// A message split at its TSIG record.
struct Split<'a> {
    /// The message before the TSIG record.
    body: &'a [u8],
    record: Record,
}

/// The current time for TSIG.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn word(msg: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([msg[at], msg[at + 1]])
}

/// Finds the TSIG record: the last record of the additional section.
fn split(msg: &[u8]) -> Result<Option<Split<'_>>, TsigError> {
    let bad = TsigError::FormErr;
    if msg.len() < HEADER_LEN {
        return Err(bad("message shorter than a header"));
    }
    let counts = [word(msg, 4), word(msg, 6), word(msg, 8), word(msg, 10)];
    let records = counts[1] as usize + counts[2] as usize + counts[3] as usize;
    if counts[3] == 0 {
        return Ok(None);
    }
    let mut at = HEADER_LEN;
    for _ in 0..counts[0] {
        at = read_name(msg, at).map_err(|_| bad("bad question"))?.1 + 4;
    }
    let mut last = None;
    for _ in 0..records {
        let start = at;
        let (_, after) = read_name(msg, at).map_err(|_| bad("bad record owner"))?;
        let fixed = msg.get(after..after + 10).ok_or(bad("message truncated"))?;
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        at = after + 10 + len;
        if at > msg.len() {
            return Err(bad("message truncated"));
        }
        if u16::from_be_bytes([fixed[0], fixed[1]]) == rtype::TSIG {
            if last.is_some() {
                return Err(bad("more than one TSIG record"));
            }
            last = Some(start);
        } else if last.is_some() {
            return Err(bad("TSIG is not the last record"));
        }
    }
    if at != msg.len() {
        return Err(bad("bytes after the last record"));
    }
    let Some(start) = last else {
        return Ok(None);
    };
    let (key_name, after) = read_name(msg, start).map_err(|_| bad("bad key name"))?;
    if word(msg, after + 2) != class::ANY {
        return Err(bad("TSIG class is not ANY"));
    }
    let rdata = &msg[after + 10..at];
    Ok(Some(Split {
        body: &msg[..start],
        record: read_rdata(key_name, rdata)?,
    }))
}

fn read_rdata(key_name: Name, rdata: &[u8]) -> Result<Record, TsigError> {
    let short = TsigError::FormErr("TSIG RDATA truncated");
    // The algorithm name is never compressed (RFC 8945 4.2).
    let alg_len = dns_wire::query::question_name_len(rdata).ok_or(TsigError::FormErr("bad algorithm name"))?;
    let algorithm_wire = rdata[..alg_len].to_vec();
    let rest = &rdata[alg_len..];
    let fixed = rest.get(..10).ok_or(short)?;
    let time_signed = u64::from_be_bytes([0, 0, fixed[0], fixed[1], fixed[2], fixed[3], fixed[4], fixed[5]]);
    let fudge = word(fixed, 6);
    let mac_len = word(fixed, 8) as usize;
    let mac = rest.get(10..10 + mac_len).ok_or(short)?.to_vec();
    let tail = rest.get(10 + mac_len..).ok_or(short)?;
    if tail.len() < 6 {
        return Err(short);
    }
    let other_len = word(tail, 4) as usize;
    if tail.len() != 6 + other_len {
        return Err(TsigError::FormErr("TSIG RDATA length mismatch"));
    }
    Ok(Record {
        key_name,
        algorithm_wire,
        time_signed,
        fudge,
        mac,
        original_id: word(tail, 0),
        error: word(tail, 2),
        other: tail[6..].to_vec(),
    })
}

/// Feeds the message as it was before signing: ARCOUNT one less, the original ID.
fn update_unsigned(ctx: &mut Input, body: &[u8], original_id: u16) {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&body[..HEADER_LEN]);
    header[..2].copy_from_slice(&original_id.to_be_bytes());
    let ar = word(&header, 10).wrapping_sub(1);
    header[10..12].copy_from_slice(&ar.to_be_bytes());
    ctx.update(&header);
    ctx.update(&body[HEADER_LEN..]);
}

fn update_prior(ctx: &mut Input, prior: &[u8]) {
    ctx.update(&(prior.len() as u16).to_be_bytes());
    ctx.update(prior);
}

fn time48(t: u64) -> [u8; 6] {
    let b = t.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The TSIG variables (RFC 8945 4.3.3), all of them or the timers only.
fn update_variables(ctx: &mut Input, key: &Key, time: u64, fudge: u16, error: u16, other: &[u8], full: bool) {
    if full {
        ctx.update(key.name.as_wire());
        ctx.update(&class::ANY.to_be_bytes());
        ctx.update(&0u32.to_be_bytes());
        ctx.update(&key.algorithm.wire_name());
    }
    ctx.update(&time48(time));
    ctx.update(&fudge.to_be_bytes());
    if full {
        ctx.update(&error.to_be_bytes());
        ctx.update(&(other.len() as u16).to_be_bytes());
        ctx.update(other);
    }
}

/// Appends a TSIG record to `msg` and bumps ARCOUNT.
fn append_record(msg: &mut Vec<u8>, key_name: &Name, alg_wire: &[u8], time: u64, mac: &[u8], error: u16, other: &[u8]) {
    let original_id = word(msg, 0);
    msg.extend_from_slice(key_name.as_wire());
    msg.extend_from_slice(&rtype::TSIG.to_be_bytes());
    msg.extend_from_slice(&class::ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = alg_wire.len() + 6 + 2 + 2 + mac.len() + 2 + 2 + 2 + other.len();
    msg.extend_from_slice(&(rdlen as u16).to_be_bytes());
    msg.extend_from_slice(alg_wire);
    msg.extend_from_slice(&time48(time));
    msg.extend_from_slice(&FUDGE.to_be_bytes());
    msg.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    msg.extend_from_slice(mac);
    msg.extend_from_slice(&original_id.to_be_bytes());
    msg.extend_from_slice(&error.to_be_bytes());
    msg.extend_from_slice(&(other.len() as u16).to_be_bytes());
    msg.extend_from_slice(other);
    let ar = word(msg, 10).wrapping_add(1);
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// Signs `msg` (a complete message without TSIG) in place with the full
/// variables, after `prior` (the request's MAC, for a response); returns the MAC.
fn sign_full(msg: &mut Vec<u8>, key: &Key, now: u64, prior: Option<&[u8]>, error: u16, other: &[u8]) -> Vec<u8> {
    let mut ctx = Input::new();
    if let Some(prior) = prior {
        update_prior(&mut ctx, prior);
    }
    ctx.update(msg);
    update_variables(&mut ctx, key, now, FUDGE, error, other, true);
    let mac = ctx.sign(key);
    append_record(msg, &key.name, &key.algorithm.wire_name(), now, &mac, error, other);
    mac
}

/// Signs a request (query, NOTIFY, transfer request): appends the TSIG
/// record; returns the MAC, which the response's signature covers.
pub(crate) fn sign_request(msg: &mut Vec<u8>, key: &Key, now: u64) -> Vec<u8> {
    sign_full(msg, key, now, None, code::NOERROR, &[])
}

/// Signs a single response to a request whose MAC was `request_mac`.
pub(crate) fn sign_response(msg: &mut Vec<u8>, key: &Key, now: u64, request_mac: &[u8]) -> Vec<u8> {
    sign_full(msg, key, now, Some(request_mac), code::NOERROR, &[])
}

/// A request that verified.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    /// The key it was signed with.
    pub key: Arc<Key>,
    /// Its MAC, which the response's signature must cover.
    pub mac: Vec<u8>,
    /// Where the TSIG record begins: the request without it is `msg[..body_len]`.
    pub body_len: usize,
}

/// A signed request that was not accepted, with what its error response needs.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    /// The RFC 8945 error.
    pub error: TsigError,
    /// The key, when it was known (BADTIME responses are signed with it).
    key: Option<Arc<Key>>,
    /// The record's key name and algorithm, echoed in the response.
    record: Option<(Name, Vec<u8>, Vec<u8>, u64)>,
}

impl Rejection {
    /// Appends the TSIG record the error response carries (set its RCODE to
    /// [`TsigError::rcode`] first): unsigned with an empty MAC for BADKEY,
    /// BADSIG and BADTRUNC, signed with our time in "other data" for BADTIME
    /// (RFC 8945 5.2.3); nothing for a malformed record (FORMERR).
    pub(crate) fn append_to(&self, response: &mut Vec<u8>, now: u64) {
        let Some((key_name, alg_wire, request_mac, time_signed)) = &self.record else {
            return;
        };
        match (&self.error, &self.key) {
            (TsigError::BadTime, Some(key)) => {
                sign_full(response, key, now, Some(request_mac), code::BADTIME, &time48(now));
            }
            (TsigError::FormErr(_), _) => {}
            (error, _) => append_record(response, key_name, alg_wire, *time_signed, &[], error.code(), &[]),
        }
    }
}

/// Checks the MAC's size, the MAC, then the time (RFC 8945 5.2).
fn check(input: Input, key: &Key, record: &Record, now: u64) -> Result<(), TsigError> {
    let full = key.algorithm.mac_len();
    let len = record.mac.len();
    // RFC 8945 5.2.2.1: longer than the hash, or shorter than both 10 bytes
    // and half the hash, is malformed.
    if len > full || len < (full / 2).max(10).min(full) {
        return Err(TsigError::FormErr("MAC size out of range"));
    }
    // Our policy is full-length MACs only (truncation buys a few bytes and
    // weakens the check). Refused before comparing, so the answer never
    // tells whether a truncated MAC was right.
    if len < full {
        return Err(TsigError::BadTrunc);
    }
    if hmac::verify(&key.hmac, &input.bytes, &record.mac).is_err() {
        return Err(TsigError::BadSig);
    }
    if now.abs_diff(record.time_signed) > u64::from(record.fudge) {
        return Err(TsigError::BadTime);
    }
    Ok(())
}

/// The bytes a MAC covers, gathered before one call to `ring` signs or
/// verifies them (its `verify` compares in constant time).
struct Input {
    bytes: Vec<u8>,
}

impl Input {
    fn new() -> Input {
        Input {
            bytes: Vec::with_capacity(1024),
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
    }

    fn sign(&self, key: &Key) -> Vec<u8> {
        hmac::sign(&key.hmac, &self.bytes).as_ref().to_vec()
    }
}

/// Verifies a received request against the configured keys.
pub(crate) fn verify_request(msg: &[u8], keys: &KeyRing, now: u64) -> Result<Option<Verified>, Rejection> {
    let reject = |error, key, record| Rejection { error, key, record };
    let split = match split(msg) {
        Ok(Some(split)) => split,
        Ok(None) => return Ok(None),
        Err(e) => return Err(reject(e, None, None)),
    };
    let r = &split.record;
    let echo = Some((
        r.key_name.clone(),
        r.algorithm_wire.clone(),
        r.mac.clone(),
        r.time_signed,
    ));
    let key = Algorithm::from_wire(&r.algorithm_wire).and_then(|alg| keys.find(&r.key_name, alg));
    let Some(key) = key else {
        return Err(reject(TsigError::BadKey, None, echo));
    };
    let mut ctx = Input::new();
    update_unsigned(&mut ctx, split.body, r.original_id);
    update_variables(&mut ctx, key, r.time_signed, r.fudge, r.error, &r.other, true);
    match check(ctx, key, r, now) {
        Ok(()) => Ok(Some(Verified {
            key: Arc::clone(key),
            mac: r.mac.clone(),
            body_len: split.body.len(),
        })),
        Err(e) => Err(reject(e, Some(Arc::clone(key)), echo)),
    }
}

/// Checks a response's TSIG record against our request's: same key, no error from the peer.
fn check_response_record(record: &Record, key: &Key) -> Result<(), TsigError> {
    if record.key_name.to_lowercase() != key.name || Algorithm::from_wire(&record.algorithm_wire) != Some(key.algorithm)
    {
        return Err(TsigError::BadKey);
    }
    if let Some(e) = TsigError::from_code(record.error) {
        return Err(e);
    }
    Ok(())
}

/// Verifies a single signed response to our request (whose MAC was
/// `request_mac`); returns its MAC. An unsigned response is BADSIG: a peer
/// that shares a key with us must sign.
pub(crate) fn verify_response(msg: &[u8], key: &Key, now: u64, request_mac: &[u8]) -> Result<Vec<u8>, TsigError> {
    let mut v = StreamVerifier::new(Arc::new(clone_key(key)), request_mac.to_vec());
    v.verify(msg, now)?;
    v.finish()?;
    Ok(v.prior)
}

fn clone_key(key: &Key) -> Key {
    Key {
        name: key.name.clone(),
        algorithm: key.algorithm,
        hmac: key.hmac.clone(),
    }
}

/// Verifies the messages of a TCP response stream (AXFR, IXFR) in order.
pub(crate) struct StreamVerifier {
    key: Arc<Key>,
    /// The MAC the next signed message's digest starts with.
    prior: Vec<u8>,
    /// The digest so far over unsigned messages since the last signed one.
    pending: Option<Input>,
    unsigned_run: usize,
    /// Whether a signed message has been seen (the first must be signed).
    first_done: bool,
}

impl StreamVerifier {
    /// A verifier for the answers to our request signed with `key`, whose MAC was `request_mac`.
    pub(crate) fn new(key: Arc<Key>, request_mac: Vec<u8>) -> StreamVerifier {
        StreamVerifier {
            key,
            prior: request_mac,
            pending: None,
            unsigned_run: 0,
            first_done: false,
        }
    }

    /// Checks the next message of the stream; returns whether it was signed.
    /// The first message must be signed, and no more than 99 in a row may be unsigned.
    pub(crate) fn verify(&mut self, msg: &[u8], now: u64) -> Result<bool, TsigError> {
        let ctx = self.pending.get_or_insert_with(|| {
            let mut ctx = Input::new();
            update_prior(&mut ctx, &self.prior);
            ctx
        });
        let Some(split) = split(msg)? else {
            if !self.first_done {
                return Err(TsigError::BadSig);
            }
            self.unsigned_run += 1;
            if self.unsigned_run > MAX_UNSIGNED_RUN {
                return Err(TsigError::BadSig);
            }
            ctx.update(msg);
            return Ok(false);
        };
        let r = &split.record;
        check_response_record(r, &self.key)?;
        let mut ctx = self.pending.take().expect("set above");
        update_unsigned(&mut ctx, split.body, r.original_id);
        update_variables(
            &mut ctx,
            &self.key,
            r.time_signed,
            r.fudge,
            r.error,
            &r.other,
            !self.first_done,
        );
        check(ctx, &self.key, r, now)?;
        self.prior = r.mac.clone();
        self.first_done = true;
        self.unsigned_run = 0;
        Ok(true)
    }

    /// Ends the stream: its last message must have been signed.
    pub(crate) fn finish(&self) -> Result<(), TsigError> {
        if self.first_done && self.unsigned_run == 0 {
            Ok(())
        } else {
            Err(TsigError::BadSig)
        }
    }
}

/// Signs the messages of a TCP response stream (AXFR, IXFR): every one,
/// or (with [`StreamSigner::pass_unsigned`]) some left unsigned in between.
pub(crate) struct StreamSigner {
    key: Arc<Key>,
    prior: Vec<u8>,
    first_done: bool,
    /// Unsigned messages sent since the last signed one: the next MAC covers them.
    pending: Option<Input>,
}

impl StreamSigner {
    /// A signer for the answers to a request that verified with `key` and had `request_mac`.
    pub(crate) fn new(key: Arc<Key>, request_mac: Vec<u8>) -> StreamSigner {
        StreamSigner {
            key,
            prior: request_mac,
            first_done: false,
            pending: None,
        }
    }

    /// Signs the next message in place (appends its TSIG record).
    pub(crate) fn sign(&mut self, msg: &mut Vec<u8>, now: u64) {
        if !self.first_done {
            self.prior = sign_response(msg, &self.key, now, &self.prior);
            self.first_done = true;
            return;
        }
        let mut ctx = self.pending.take().unwrap_or_else(|| {
            let mut ctx = Input::new();
            update_prior(&mut ctx, &self.prior);
            ctx
        });
        ctx.update(msg);
        update_variables(&mut ctx, &self.key, now, FUDGE, code::NOERROR, &[], false);
        let mac = ctx.sign(&self.key);
        append_record(
            msg,
            &self.key.name,
            &self.key.algorithm.wire_name(),
            now,
            &mac,
            code::NOERROR,
            &[],
        );
        self.prior = mac;
    }

    /// Notes a message sent without a TSIG record (allowed after the first,
    /// at most 99 in a row, RFC 8945 5.3.1): the next signature covers it.
    /// Returns false, and notes nothing, where it must be signed instead.
    pub(crate) fn pass_unsigned(&mut self, msg: &[u8]) -> bool {
        if !self.first_done {
            return false;
        }
        let ctx = self.pending.get_or_insert_with(|| {
            let mut ctx = Input::new();
            update_prior(&mut ctx, &self.prior);
            ctx
        });
        ctx.update(msg);
        true
    }
}

#[cfg(test)]
mod tests;

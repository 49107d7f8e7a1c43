//! DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018.
//!
//! A client sends an 8-byte client cookie in the COOKIE option, and once it
//! has one, the server cookie it last got from us. The server cookie is
//! RFC 9018's version 1: Version (1), Reserved (3 bytes of 0), Timestamp
//! (seconds, RFC 1982 serial arithmetic), and an 8-byte SipHash-2-4 of
//! Client Cookie | Version | Reserved | Timestamp | Client IP under a
//! 16-byte secret. Every PoP of an anycast fleet that shares the secret (and
//! every implementation: BIND, Knot, PowerDNS) computes the same bytes, so a
//! client that moves between PoPs keeps a valid cookie.
//!
//! Everything here takes and returns fixed-size arrays and never allocates,
//! so the XDP program can compute the same cookie as userspace.

use core::hash::Hasher;

use siphasher::sip::SipHasher24;

/// Length of a client cookie.
pub const CLIENT_LEN: usize = 8;
/// Length of the server cookies we issue (RFC 9018).
pub const SERVER_LEN: usize = 16;
/// Shortest server cookie a client may send (RFC 7873 4).
pub const MIN_SERVER_LEN: usize = 8;
/// Longest server cookie a client may send (RFC 7873 4).
pub const MAX_SERVER_LEN: usize = 32;
/// Length of a server secret (the SipHash key).
pub const SECRET_LEN: usize = 16;
/// The server cookie version RFC 9018 defines.
pub const VERSION: u8 = 1;
/// Bytes our COOKIE option adds to a response: code, length, client and server cookie.
pub const RESPONSE_OPTION_LEN: usize = 4 + CLIENT_LEN + SERVER_LEN;

/// A server cookie older than this many seconds is invalid (RFC 9018 4.3:
/// allow "a 1-hour period in the past", for low-volume clients).
pub const MAX_AGE: u32 = 3600;
/// A server cookie dated more than this many seconds ahead is invalid
/// (RFC 9018 4.3: "a 5-minute period into the future", for clock skew
/// between the servers of an anycast set).
pub const MAX_FUTURE: u32 = 300;
/// A valid server cookie older than this many seconds is replaced by a new
/// one (RFC 9018 4.3: a new cookie "at least if the received Server Cookie
/// from the client is more than half an hour old"); a younger one is
/// echoed, so a busy client does not get a new cookie with every answer.
pub const REISSUE_AGE: u32 = 1800;

/// A 16-byte server secret, the SipHash-2-4 key.
pub type Secret = [u8; SECRET_LEN];

/// The client's address, hashed into its server cookie.
///
/// A word-sized tag puts the address at an 8-byte offset: the XDP program
/// builds one on its stack, where the verifier refuses misaligned access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ClientAddr {
    /// An IPv4 client.
    V4([u8; 4]),
    /// An IPv6 client.
    V6([u8; 16]),
}

/// The COOKIE option of a query, as far as the parser is concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieOption {
    /// No COOKIE option (or no OPT record).
    #[default]
    Absent,
    /// A COOKIE option of a length RFC 7873 5.2.2 calls malformed: FORMERR.
    Malformed,
    /// A well-formed COOKIE option.
    Present(Cookie),
}

/// A well-formed COOKIE option: a client cookie and maybe a server cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// The client cookie.
    pub client: [u8; CLIENT_LEN],
    server: [u8; MAX_SERVER_LEN],
    server_len: u8,
}

impl Cookie {
    /// Reads the option's data: 8 bytes (a client cookie alone) or 16 to
    /// 40 (with a server cookie of 8 to 32 bytes); any other length is
    /// malformed (RFC 7873 5.2.2).
    pub fn parse(data: &[u8]) -> Option<Cookie> {
        let server_len = data.len().checked_sub(CLIENT_LEN)?;
        if server_len != 0 && !(MIN_SERVER_LEN..=MAX_SERVER_LEN).contains(&server_len) {
            return None;
        }
        let mut cookie = Cookie {
            client: [0; CLIENT_LEN],
            server: [0; MAX_SERVER_LEN],
            server_len: server_len as u8,
        };
        cookie.client.copy_from_slice(&data[..CLIENT_LEN]);
        cookie.server[..server_len].copy_from_slice(&data[CLIENT_LEN..]);
        Some(cookie)
    }

    /// The server cookie the client sent; empty when it sent none.
    pub fn server(&self) -> &[u8] {
        &self.server[..usize::from(self.server_len)]
    }
}

/// What a query's server cookie is worth (RFC 7873 5.2.3 to 5.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// Only a client cookie: the client has yet to learn a server cookie.
    Missing,
    /// A server cookie that is not ours, or not any more (wrong secret,
    /// client, or version; out of the time window).
    Invalid,
    /// Ours, made with the current secret within the last half hour:
    /// echoed as it is.
    Fresh,
    /// Ours, but older than half an hour or made with the previous secret:
    /// valid, and replaced by a new one in the answer.
    Renew,
}

impl Validity {
    /// Whether the client proved it got an answer from us before.
    pub fn is_valid(self) -> bool {
        matches!(self, Validity::Fresh | Validity::Renew)
    }
}

/// A server cookie as the two little-endian words of its 16 bytes:
/// `head` (Version, Reserved, Timestamp) and `mac` (the hash). The cookie
/// logic works on words, not byte arrays, so that the XDP program keeps
/// them in registers (byte arrays spill byte by byte onto its small stack).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerWords {
    /// Bytes 0..8: Version, Reserved, Timestamp.
    pub head: u64,
    /// Bytes 8..16: SipHash-2-4 of the inputs.
    pub mac: u64,
}

impl ServerWords {
    /// The words of a server cookie's bytes.
    pub fn from_bytes(bytes: &[u8; SERVER_LEN]) -> ServerWords {
        let (mut head, mut mac) = ([0u8; 8], [0u8; 8]);
        head.copy_from_slice(&bytes[..8]);
        mac.copy_from_slice(&bytes[8..]);
        ServerWords {
            head: u64::from_le_bytes(head),
            mac: u64::from_le_bytes(mac),
        }
    }

    /// The cookie's bytes.
    pub fn to_bytes(self) -> [u8; SERVER_LEN] {
        let mut bytes = [0u8; SERVER_LEN];
        bytes[..8].copy_from_slice(&self.head.to_le_bytes());
        bytes[8..].copy_from_slice(&self.mac.to_le_bytes());
        bytes
    }

    /// The head of a version 1 cookie dated `timestamp`: Version, three
    /// zero bytes, the timestamp in network order.
    #[inline(always)]
    fn dated(timestamp: u32) -> u64 {
        u64::from(VERSION) | (u64::from(timestamp.swap_bytes()) << 32)
    }

    /// Byte 0.
    #[inline(always)]
    fn version(self) -> u8 {
        self.head as u8
    }

    /// Bytes 4..8, in network order.
    #[inline(always)]
    fn timestamp(self) -> u32 {
        ((self.head >> 32) as u32).swap_bytes()
    }
}

/// A client cookie as the little-endian word of its 8 bytes.
#[inline(always)]
pub fn client_word(client: &[u8; CLIENT_LEN]) -> u64 {
    u64::from_le_bytes(*client)
}

/// The RFC 9018 version 1 server cookie for `client` at `addr`, dated `timestamp`.
pub fn server_cookie(
    secret: &Secret,
    client: &[u8; CLIENT_LEN],
    timestamp: u32,
    addr: &ClientAddr,
) -> [u8; SERVER_LEN] {
    server_words(secret, client_word(client), timestamp, addr).to_bytes()
}

/// [`server_cookie`] in words.
#[inline(always)]
fn server_words(secret: &Secret, client: u64, timestamp: u32, addr: &ClientAddr) -> ServerWords {
    let head = ServerWords::dated(timestamp);
    ServerWords {
        head,
        mac: hash(secret, client, head, addr),
    }
}

/// SipHash-2-4 of Client Cookie | Version | Reserved | Timestamp | Client IP,
/// as the little-endian word RFC 9018 writes it (the reference
/// implementation's byte order). `head` is the cookie's first 8 bytes as
/// they stand (RFC 9018 A.3 validates a cookie whose Reserved bytes are
/// not zero).
///
/// The input goes in as whole little-endian words (SipHash reads its input
/// eight bytes at a time, little-endian, so the bytes hash the same): no
/// loop over a slice and no copy of variable length, which is what lets the
/// XDP program run this very function. In the program it is a function of
/// its own (a BPF-to-BPF call), so that its state does not crowd its
/// callers' registers.
#[cfg_attr(target_arch = "bpf", inline(never))]
pub fn hash(secret: &Secret, client: u64, head: u64, addr: &ClientAddr) -> u64 {
    let mut hasher = SipHasher24::new_with_key(secret);
    hasher.write_u64(client);
    hasher.write_u64(head);
    match addr {
        ClientAddr::V4(ip) => hasher.write_u32(u32::from_le_bytes(*ip)),
        ClientAddr::V6(ip) => {
            let (mut high, mut low) = ([0u8; 8], [0u8; 8]);
            high.copy_from_slice(&ip[..8]);
            low.copy_from_slice(&ip[8..]);
            hasher.write_u64(u64::from_le_bytes(high));
            hasher.write_u64(u64::from_le_bytes(low));
        }
    }
    hasher.finish()
}

/// Whether a cookie dated `timestamp` is inside the window at `now`, and
/// if so its age in seconds (0 for one dated ahead). Serial arithmetic
/// (RFC 1982, 32 bits): the distance is read as a signed 32-bit number, so
/// the check holds across the wrap of the seconds counter in 2106.
pub fn age(timestamp: u32, now: u32) -> Option<u32> {
    let distance = now.wrapping_sub(timestamp) as i32;
    if distance >= 0 {
        let age = distance as u32;
        (age <= MAX_AGE).then_some(age)
    } else {
        let ahead = distance.unsigned_abs();
        (ahead <= MAX_FUTURE).then_some(0)
    }
}

/// Judges the server cookie of `cookie` from a client at `addr` at time
/// `now`, against the current secret and, during a rollover, the previous
/// one (accepted, never issued: a cookie it made is renewed).
pub fn validate(cookie: &Cookie, addr: &ClientAddr, now: u32, current: &Secret, previous: Option<&Secret>) -> Validity {
    let server = cookie.server();
    if server.is_empty() {
        return Validity::Missing;
    }
    let Ok(ours) = <&[u8; SERVER_LEN]>::try_from(server) else {
        return Validity::Invalid;
    };
    let client = client_word(&cookie.client);
    validate_words(
        client,
        ServerWords::from_bytes(ours),
        addr,
        now,
        current,
        previous,
        &mut hash,
    )
}

/// [`validate`] for a server cookie of our length, in words.
#[inline(always)]
fn validate_words(
    client: u64,
    server: ServerWords,
    addr: &ClientAddr,
    now: u32,
    current: &Secret,
    previous: Option<&Secret>,
    hash: &mut impl FnMut(&Secret, u64, u64, &ClientAddr) -> u64,
) -> Validity {
    if server.version() != VERSION {
        return Validity::Invalid;
    }
    let Some(age) = age(server.timestamp(), now) else {
        return Validity::Invalid;
    };
    // Whole words compare in time independent of where they differ.
    if hash(current, client, server.head, addr) == server.mac {
        return if age > REISSUE_AGE {
            Validity::Renew
        } else {
            Validity::Fresh
        };
    }
    match previous {
        Some(previous) if hash(previous, client, server.head, addr) == server.mac => Validity::Renew,
        _ => Validity::Invalid,
    }
}

/// The COOKIE option's data for a response: the client cookie echoed and
/// `server` (RFC 7873 5.2.3, 5.2.5).
pub fn response_data(client: &[u8; CLIENT_LEN], server: &[u8; SERVER_LEN]) -> [u8; CLIENT_LEN + SERVER_LEN] {
    let mut data = [0u8; CLIENT_LEN + SERVER_LEN];
    data[..CLIENT_LEN].copy_from_slice(client);
    data[CLIENT_LEN..].copy_from_slice(server);
    data
}

/// The server cookie to answer `cookie` with: the presented one when it is
/// [`Validity::Fresh`], else a new one dated `now` under `current`.
pub fn answer_cookie(
    cookie: &Cookie,
    validity: Validity,
    addr: &ClientAddr,
    now: u32,
    current: &Secret,
) -> [u8; SERVER_LEN] {
    let presented = <&[u8; SERVER_LEN]>::try_from(cookie.server()).map(ServerWords::from_bytes);
    let client = client_word(&cookie.client);
    answer_words(
        client,
        presented.unwrap_or_default(),
        validity,
        addr,
        now,
        current,
        &mut hash,
    )
    .to_bytes()
}

/// [`answer_cookie`] in words (`presented` is used only when `Fresh`).
#[inline(always)]
fn answer_words(
    client: u64,
    presented: ServerWords,
    validity: Validity,
    addr: &ClientAddr,
    now: u32,
    current: &Secret,
    hash: &mut impl FnMut(&Secret, u64, u64, &ClientAddr) -> u64,
) -> ServerWords {
    if validity == Validity::Fresh {
        return presented;
    }
    let head = ServerWords::dated(now);
    ServerWords {
        head,
        mac: hash(current, client, head, addr),
    }
}

/// Everything the XDP program does with a well-formed COOKIE option of 8
/// bytes (`server` is `None`) or 24, in words (see [`client_word`] and
/// [`ServerWords`]): what the query's server cookie is worth and the server
/// cookie to answer with. The same functions [`validate`] and
/// [`answer_cookie`] run for userspace, so the bytes agree.
#[inline(always)]
pub fn judge(
    client: u64,
    server: Option<ServerWords>,
    addr: &ClientAddr,
    now: u32,
    current: &Secret,
    previous: Option<&Secret>,
) -> (Validity, ServerWords) {
    judge_with(client, server, addr, now, current, previous, hash)
}

/// [`judge`] with `mac` in place of [`hash`]: the XDP program passes one
/// that remembers the hashes it computed (the inputs compared in full), so
/// a client that keeps presenting its cookie costs a lookup, not SipHash.
/// `mac` must return what [`hash`] returns for the same inputs.
#[inline(always)]
pub fn judge_with(
    client: u64,
    server: Option<ServerWords>,
    addr: &ClientAddr,
    now: u32,
    current: &Secret,
    previous: Option<&Secret>,
    mut mac: impl FnMut(&Secret, u64, u64, &ClientAddr) -> u64,
) -> (Validity, ServerWords) {
    let (validity, presented) = match server {
        None => (Validity::Missing, ServerWords::default()),
        Some(server) => (
            validate_words(client, server, addr, now, current, previous, &mut mac),
            server,
        ),
    };
    (
        validity,
        answer_words(client, presented, validity, addr, now, current, &mut mac),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex<const N: usize>(text: &str) -> [u8; N] {
        let mut out = [0u8; N];
        assert_eq!(text.len(), 2 * N, "{text} is not {N} bytes");
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex digits");
        }
        out
    }

    /// A COOKIE option's data as a client sends it: client cookie, then server cookie.
    fn option<const N: usize>(text: &str) -> Cookie {
        Cookie::parse(&hex::<N>(text)).expect("a well-formed cookie")
    }

    // RFC 9018 Appendix A: the secret, the clients and the cookies.
    const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";
    const CLIENT_1: ClientAddr = ClientAddr::V4([198, 51, 100, 100]);
    const CLIENT_2: ClientAddr = ClientAddr::V4([203, 0, 113, 203]);

    /// A.1: a client learns a new server cookie.
    #[test]
    fn rfc9018_a1_learning_a_new_server_cookie() {
        let secret = hex::<16>(SECRET);
        let query = option::<8>("2464c4abcf10c957");
        assert_eq!(
            validate(&query, &CLIENT_1, 1559731985, &secret, None),
            Validity::Missing
        );
        let server = answer_cookie(&query, Validity::Missing, &CLIENT_1, 1559731985, &secret);
        assert_eq!(
            response_data(&query.client, &server),
            hex::<24>("2464c4abcf10c957010000005cf79f111f8130c3eee29480"),
            "the server cookie of RFC 9018 A.1"
        );
    }

    /// A.2: the same client, 40 minutes later, gets a renewed cookie.
    #[test]
    fn rfc9018_a2_the_same_client_learning_a_renewed_server_cookie() {
        let secret = hex::<16>(SECRET);
        let query = option::<24>("2464c4abcf10c957010000005cf79f111f8130c3eee29480");
        let now = 1559734385;
        let validity = validate(&query, &CLIENT_1, now, &secret, None);
        assert_eq!(validity, Validity::Renew, "valid, and 2400 s old: renewed");
        let server = answer_cookie(&query, validity, &CLIENT_1, now, &secret);
        assert_eq!(
            response_data(&query.client, &server),
            hex::<24>("2464c4abcf10c957010000005cf7a871d4a564a1442aca77")
        );
    }

    /// A.3: another client's cookie, with Reserved bytes that are not zero.
    #[test]
    fn rfc9018_a3_another_client_learning_a_renewed_server_cookie() {
        let secret = hex::<16>(SECRET);
        let query = option::<24>("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
        let issued = 1559727985;
        assert_eq!(
            validate(&query, &CLIENT_2, issued, &secret, None),
            Validity::Fresh,
            "the hash covers the Reserved bytes as sent"
        );
        let now = 1559734700;
        let validity = validate(&query, &CLIENT_2, now, &secret, None);
        assert_eq!(validity, Validity::Invalid, "6715 s old: past the hour");
        let server = answer_cookie(&query, validity, &CLIENT_2, now, &secret);
        assert_eq!(
            response_data(&query.client, &server),
            hex::<24>("fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e")
        );
    }

    /// A.4: an IPv6 client whose cookie was made with the old secret.
    #[test]
    fn rfc9018_a4_ipv6_query_with_rolled_over_secret() {
        let old = hex::<16>("dd3bdf9344b678b185a6f5cb60fca715");
        let new = hex::<16>("445536bcd2513298075a5d379663c962");
        let client = ClientAddr::V6(hex::<16>("20010db80220000159ded0f4876982b8"));
        let query = option::<24>("22681ab97d52c298010000005cf7c57926556bd0934c72f8");
        let now = 1559741961;
        assert_eq!(
            validate(&query, &client, now, &new, None),
            Validity::Invalid,
            "new secret alone"
        );
        let validity = validate(&query, &client, now, &new, Some(&old));
        assert_eq!(
            validity,
            Validity::Renew,
            "the previous secret still validates, and renews"
        );
        let server = answer_cookie(&query, validity, &client, now, &new);
        assert_eq!(
            response_data(&query.client, &server),
            hex::<24>("22681ab97d52c298010000005cf7c609a6bb79d16625507a")
        );
    }

    #[test]
    fn option_lengths() {
        let bytes = [7u8; 41];
        for len in 0..=41 {
            let ok = len == 8 || (16..=40).contains(&len);
            assert_eq!(
                Cookie::parse(&bytes[..len]).is_some(),
                ok,
                "a COOKIE option of {len} bytes"
            );
        }
        let cookie = Cookie::parse(&bytes[..20]).expect("8 + 12 bytes");
        assert_eq!(cookie.server().len(), 12);
        assert_eq!(cookie.client, [7; 8]);
    }

    #[test]
    fn the_time_window_edges() {
        let now = 1_000_000;
        assert_eq!(age(now, now), Some(0));
        assert_eq!(age(now - MAX_AGE, now), Some(MAX_AGE), "exactly an hour old");
        assert_eq!(age(now - MAX_AGE - 1, now), None, "an hour and a second");
        assert_eq!(age(now + MAX_FUTURE, now), Some(0), "five minutes ahead");
        assert_eq!(age(now + MAX_FUTURE + 1, now), None, "five minutes and a second ahead");
        // Across the wrap of the 32-bit seconds counter.
        assert_eq!(age(u32::MAX - 9, 10), Some(20));
        assert_eq!(age(5, u32::MAX - 4), Some(0), "10 s ahead, across the wrap");
        assert_eq!(
            age(now.wrapping_add(1 << 31), now),
            None,
            "undefined distance is refused"
        );
    }

    #[test]
    fn validity_at_the_edges_and_across_secrets() {
        let secret = [1u8; 16];
        let previous = [2u8; 16];
        let unknown = [3u8; 16];
        let client = [9u8; 8];
        let addr = ClientAddr::V4([192, 0, 2, 1]);
        let issued = 2_000_000;
        let made = |secret: &Secret| {
            let server = server_cookie(secret, &client, issued, &addr);
            Cookie::parse(&response_data(&client, &server)).expect("well formed")
        };
        let ours = made(&secret);
        let check = |cookie: &Cookie, now: u32| validate(cookie, &addr, now, &secret, Some(&previous));
        assert_eq!(check(&ours, issued), Validity::Fresh);
        assert_eq!(
            check(&ours, issued + REISSUE_AGE),
            Validity::Fresh,
            "half an hour: still echoed"
        );
        assert_eq!(check(&ours, issued + REISSUE_AGE + 1), Validity::Renew);
        assert_eq!(check(&ours, issued + MAX_AGE), Validity::Renew, "an hour: still valid");
        assert_eq!(check(&ours, issued + MAX_AGE + 1), Validity::Invalid);
        assert_eq!(check(&ours, issued - MAX_FUTURE), Validity::Fresh, "a PoP 5 min ahead");
        assert_eq!(check(&ours, issued - MAX_FUTURE - 1), Validity::Invalid);
        assert_eq!(check(&made(&previous), issued), Validity::Renew, "previous secret");
        assert_eq!(check(&made(&unknown), issued), Validity::Invalid, "unknown secret");
        let elsewhere = ClientAddr::V4([192, 0, 2, 2]);
        assert_eq!(
            validate(&ours, &elsewhere, issued, &secret, None),
            Validity::Invalid,
            "another address"
        );
        let mut other_version = response_data(&client, &server_cookie(&secret, &client, issued, &addr));
        other_version[8] = 2;
        let other_version = Cookie::parse(&other_version).expect("well formed");
        assert_eq!(check(&other_version, issued), Validity::Invalid, "version 2");
    }
}

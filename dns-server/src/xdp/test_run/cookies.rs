//! DNS cookies in the program's answers (RFC 7873, RFC 9018): judged and
//! made by the same `dns_wire::cookie` code as userspace's, with the
//! secrets userspace gives it; counted; and a valid server cookie exempts
//! its client from the rate limit.

use dns_wire::cookie::{self, ClientAddr, Validity};
use xdp_abi::Stat;

use super::{
    CLIENT_V4, Fixture, Frame, XDP_DROP, XDP_PASS, XDP_TX, check_response, cookie_date, fixture, load_program, query,
    run,
};
use crate::{query::CookieSecrets, xdp::cases::cookie_option};

const CLIENT: [u8; 8] = *b"client-1";

fn addr() -> ClientAddr {
    ClientAddr::V4(CLIENT_V4)
}

fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// An IPv4 query for www A with `option` in its OPT record.
fn asking(option: &[u8]) -> Frame {
    Frame::udp(false, query("www.example.com", 1, Some((1232, false)), option))
}

/// Our server cookie for [`CLIENT`] under `secret`, dated `at`.
fn made(secret: &[u8; 16], at: u32) -> [u8; 16] {
    cookie::server_cookie(secret, &CLIENT, at, &addr())
}

/// Runs `frame`, expects an answer, and returns the server cookie it carries.
fn answered_cookie(p: &Fixture, frame: &Frame, what: &str) -> [u8; 16] {
    let (action, out) = run(&p.fast, &frame.bytes());
    assert_eq!(action, XDP_TX, "{what}: answered by XDP");
    let dns = check_response(frame, &out);
    assert!(
        cookie_date(&dns).is_some(),
        "{what}: the answer ends with our COOKIE option"
    );
    assert_eq!(
        &dns[dns.len() - 24..dns.len() - 16],
        &CLIENT,
        "{what}: the client cookie echoed"
    );
    assert_eq!(
        dns.len(),
        p.userspace(&frame.dns).len() + cookie::RESPONSE_OPTION_LEN,
        "{what}: the map's answer plus the option"
    );
    dns[dns.len() - 16..].try_into().expect("16 bytes")
}

fn set_secrets(p: &Fixture, secrets: &CookieSecrets) {
    p.fast
        .maps
        .lock()
        .unwrap()
        .set_cookies(secrets)
        .expect("cookie secrets written");
}

#[test]
fn server_cookies_are_issued_echoed_renewed_and_counted() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let secret = fixture::COOKIE_SECRET;
    let (absent, valid, invalid) = (
        p.count(Stat::CookieAbsent),
        p.count(Stat::CookieValid),
        p.count(Stat::CookieInvalid),
    );
    // A first query: a new cookie, dated now, that userspace validates.
    let first = answered_cookie(&p, &asking(&cookie_option(CLIENT, None)), "a client cookie alone");
    let presented = cookie::Cookie::parse(&cookie::response_data(&CLIENT, &first)).expect("well formed");
    assert_eq!(
        cookie::validate(&presented, &addr(), unix_now(), &secret, None),
        Validity::Fresh,
        "the program's cookie is valid for userspace"
    );
    assert_eq!(p.count(Stat::CookieAbsent), absent + 1);
    // Presented again within half an hour: echoed as it is.
    let echoed = answered_cookie(&p, &asking(&cookie_option(CLIENT, Some(first))), "a fresh cookie");
    assert_eq!(echoed, first, "a fresh server cookie is echoed");
    // Forty minutes old: still valid, and replaced by one dated now.
    let old = made(&secret, unix_now() - 2400);
    let renewed = answered_cookie(&p, &asking(&cookie_option(CLIENT, Some(old))), "a 40-minute-old cookie");
    assert_ne!(renewed, old, "renewed");
    assert!(
        cookie_date(&[&[0, 10, 0, 24][..], &CLIENT, &renewed].concat()).is_some_and(|d| d + 60 > unix_now()),
        "dated now"
    );
    assert_eq!(p.count(Stat::CookieValid), valid + 2);
    // Another secret's, and one from another client: invalid, replaced.
    let stranger = made(b"some other PoP's", unix_now());
    let replaced = answered_cookie(
        &p,
        &asking(&cookie_option(CLIENT, Some(stranger))),
        "a stranger's cookie",
    );
    assert_ne!(replaced, stranger);
    let elsewhere = cookie::server_cookie(&secret, &CLIENT, unix_now(), &ClientAddr::V4([192, 0, 2, 1]));
    answered_cookie(
        &p,
        &asking(&cookie_option(CLIENT, Some(elsewhere))),
        "another address's cookie",
    );
    assert_eq!(p.count(Stat::CookieInvalid), invalid + 2);
}

#[test]
fn a_rolled_over_secret_still_validates_and_is_renewed() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let (old, new) = (*b"the old secret..", *b"the new secret..");
    set_secrets(
        &p,
        &CookieSecrets {
            current: new,
            previous: Some(old),
            require: false,
        },
    );
    let before = p.count(Stat::CookieValid);
    let issued = made(&old, unix_now());
    let renewed = answered_cookie(
        &p,
        &asking(&cookie_option(CLIENT, Some(issued))),
        "the old secret's cookie",
    );
    assert_eq!(p.count(Stat::CookieValid), before + 1, "valid during the rollover");
    let presented = cookie::Cookie::parse(&cookie::response_data(&CLIENT, &renewed)).expect("well formed");
    assert_eq!(
        cookie::validate(&presented, &addr(), unix_now(), &new, None),
        Validity::Fresh,
        "renewed under the new secret"
    );
}

/// The program remembers the hashes it computed (`COOKIE_MEMO`): a cookie
/// presented again is judged from memory, but only with every input the
/// same; after a rollover the remembered hash of the old secret is not
/// the new secret's.
#[test]
fn a_remembered_cookie_hash_answers_only_its_own_inputs() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    let (a, b) = (*b"secret number A.", *b"secret number B.");
    let only = |current| CookieSecrets {
        current,
        previous: None,
        require: false,
    };
    set_secrets(&p, &only(a));
    let ours = made(&a, unix_now());
    let frame = asking(&cookie_option(CLIENT, Some(ours)));
    let valid = p.count(Stat::CookieValid);
    for i in 0..3 {
        let echoed = answered_cookie(&p, &frame, &format!("a fresh cookie, query {i}"));
        assert_eq!(echoed, ours, "query {i}: echoed");
    }
    assert_eq!(p.count(Stat::CookieValid), valid + 3, "valid each time");
    // The secret rolls over with no previous one: the same cookie is now a stranger's.
    set_secrets(&p, &only(b));
    let invalid = p.count(Stat::CookieInvalid);
    let replaced = answered_cookie(&p, &frame, "the old secret's cookie, A forgotten");
    assert_eq!(
        p.count(Stat::CookieInvalid),
        invalid + 1,
        "not judged by A's remembered hash"
    );
    let presented = cookie::Cookie::parse(&cookie::response_data(&CLIENT, &replaced)).expect("well formed");
    assert_eq!(
        cookie::validate(&presented, &addr(), unix_now(), &b, None),
        Validity::Fresh,
        "replaced by B's cookie, as userspace makes it"
    );
    // And B's cookie, presented twice, is valid from memory as computed.
    let again = asking(&cookie_option(CLIENT, Some(replaced)));
    for i in 0..2 {
        assert_eq!(answered_cookie(&p, &again, "B's cookie"), replaced, "query {i}: echoed");
    }
}

#[test]
fn required_cookies_leave_the_turned_away_to_userspace() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    set_secrets(
        &p,
        &CookieSecrets {
            require: true,
            ..fixture::cookie_secrets()
        },
    );
    let alone = asking(&cookie_option(CLIENT, None));
    let (action, out) = run(&p.fast, &alone.bytes());
    assert_eq!(action, XDP_PASS, "userspace answers BADCOOKIE");
    assert_eq!(out, alone.bytes(), "untouched");
    let ours = made(&fixture::COOKIE_SECRET, unix_now());
    answered_cookie(&p, &asking(&cookie_option(CLIENT, Some(ours))), "a valid cookie");
    // No cookie at all: RFC 7873 5.2.1, answered as before.
    let (action, _) = run(&p.fast, &asking(&[]).bytes());
    assert_eq!(action, XDP_TX, "no COOKIE option: not turned away");
}

#[test]
fn a_valid_server_cookie_is_exempt_from_the_rate_limit() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    // One query a second, a burst of one, no slip.
    p.limit_rate(1, 1, 0);
    let ours = asking(&cookie_option(CLIENT, Some(made(&fixture::COOKIE_SECRET, unix_now()))));
    let forged = asking(&cookie_option(CLIENT, Some(made(b"guessed secret..", unix_now()))));
    let alone = asking(&cookie_option(CLIENT, None));
    // The test runs in far less than a second: no token comes back meanwhile.
    assert_eq!(run(&p.fast, &alone.bytes()).0, XDP_TX, "the burst's one token");
    for (frame, what) in [(&alone, "a client cookie alone"), (&forged, "a forged server cookie")] {
        assert_eq!(run(&p.fast, &frame.bytes()).0, XDP_DROP, "{what}: limited");
    }
    let limited = p.count(Stat::RateLimited);
    for i in 0..5 {
        assert_eq!(
            run(&p.fast, &ours.bytes()).0,
            XDP_TX,
            "valid cookie, query {i}: not limited"
        );
    }
    assert_eq!(p.count(Stat::RateLimited), limited, "none of them counted as limited");
}

#[test]
fn an_answer_the_cookie_would_push_past_the_clients_size_is_userspaces() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    // The big TXT answer fits a 1232-byte buffer; find its size, then ask
    // with room for it but not for the cookie as well.
    let plain = Frame::udp(true, query("big.example.com", 16, Some((1232, false)), &[]));
    let size = p.userspace(&plain.dns).len();
    assert!(size > 512, "the big TXT answer is over 512 bytes ({size})");
    let option = cookie_option(CLIENT, None);
    let payload = |extra: usize| (size + extra) as u16;
    let short = Frame::udp(true, query("big.example.com", 16, Some((payload(27), false)), &option));
    let (action, out) = run(&p.fast, &short.bytes());
    assert_eq!(action, XDP_PASS, "one byte short of room for the cookie");
    assert_eq!(out, short.bytes());
    let room = Frame::udp(true, query("big.example.com", 16, Some((payload(28), false)), &option));
    assert_eq!(run(&p.fast, &room.bytes()).0, XDP_TX, "room for the cookie");
}

#[test]
fn with_cookies_off_in_the_program_cookie_queries_are_userspaces() {
    test_support::require_root!("loading the XDP program");
    let p = load_program();
    {
        let mut maps = p.fast.maps.lock().unwrap();
        let cookies = maps.cookies.as_mut().expect("this build has the cookie map");
        let mut config = cookies.get(&0, 0).expect("cookie config");
        config.flags = 0;
        cookies.set(0, config, 0).expect("written");
    }
    let frame = asking(&cookie_option(CLIENT, None));
    assert_eq!(run(&p.fast, &frame.bytes()), (XDP_PASS, frame.bytes()));
}

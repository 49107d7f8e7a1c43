//! DNS cookies (RFC 7873, RFC 9018) over the wire, with `dig +cookie`: a
//! server cookie comes back, a valid one is accepted, a malformed option
//! gets FORMERR, `require_cookies` gives BADCOOKIE over UDP only, and a
//! secret rollover by SIGHUP keeps the old cookies valid.

use std::time::{Duration, Instant};

use crate::{
    harness::{Response, Server},
    packet::{self, Header, Query, code, rcode},
};

/// A client cookie of our choosing (dig's own is random).
const CLIENT: &str = "0123456789abcdef";
/// Two secrets, as a fleet's config holds them.
const SECRET_A: &str = "000102030405060708090a0b0c0d0e0f";
const SECRET_B: &str = "f0e0d0c0b0a090807060504030201000";

fn config(current: &str, previous: Option<&str>, require: bool) -> String {
    let previous = previous.map_or(String::new(), |p| format!("cookie_secret_previous = \"{p}\"\n"));
    format!("[server]\ncookie_secret = \"{current}\"\n{previous}require_cookies = {require}\n")
}

fn start(config: &str) -> Server {
    Server::builder()
        .zones(&crate::harness::diff_zones())
        .config(config)
        .start()
}

/// The COOKIE option of a response, in hex.
fn cookie(r: &Response) -> String {
    r.edns
        .as_ref()
        .and_then(|e| e.cookie.clone())
        .unwrap_or_else(|| panic!("expected a COOKIE option in the response:\n{r}"))
}

/// Asks with `cookie` (hex: a client cookie, maybe with a server cookie),
/// without dig's retry on BADCOOKIE, so what the server said is what we see.
fn ask(server: &Server, cookie: &str, extra: &[&str]) -> Response {
    let option = format!("+cookie={cookie}");
    let mut args = vec!["www.diff.example", "A", &option, "+nobadcookie"];
    args.extend_from_slice(extra);
    server.dig(&args)
}

#[test]
fn dig_gets_a_server_cookie_that_echoes_its_client_cookie() {
    let server = start(&config(SECRET_A, None, false));
    for transport in ["+notcp", "+tcp"] {
        let r = server.dig(&["www.diff.example", "A", "+cookie", transport]);
        assert_eq!(r.rcode, "NOERROR", "expected an answer {transport}:\n{r}");
        let got = cookie(&r);
        assert_eq!(got.len(), 48, "expected 8 + 16 bytes (RFC 9018) {transport}:\n{r}");
        assert!(
            r.text.contains("(good)"),
            "expected dig to find its client cookie echoed {transport}:\n{r}"
        );
        assert!(got[16..].starts_with("01000000"), "version 1, reserved 0:\n{r}");

        let r = ask(&server, CLIENT, &[transport]);
        assert!(
            cookie(&r).starts_with(CLIENT),
            "expected our client cookie echoed {transport}:\n{r}"
        );
    }
    let r = server.dig(&["www.diff.example", "A"]);
    assert_eq!(r.edns.and_then(|e| e.cookie), None, "no cookie asked, none given");
}

#[test]
fn a_server_cookie_from_a_previous_answer_is_accepted() {
    let server = start(&config(SECRET_A, None, true));
    let first = cookie(&ask(&server, CLIENT, &["+tcp"]));
    let r = ask(&server, &first, &[]);
    assert_eq!(r.rcode, "NOERROR", "a valid server cookie is answered over UDP:\n{r}");
    assert_eq!(r.answer.len(), 2, "the normal answer:\n{r}");
    assert_eq!(cookie(&r), first, "a cookie under half an hour old is echoed as it is");
}

#[test]
fn a_malformed_cookie_option_gets_formerr_with_opt() {
    let server = start(&config(SECRET_A, None, false));
    for len in [5, 12, 41] {
        let packet = Query::new("www.diff.example", code::A)
            .id(0x4242)
            .edns(1232)
            .option(10, &[7; 41][..len])
            .to_wire();
        let response = packet::udp_exchange(server.port, &packet).unwrap_or_else(|| {
            panic!(
                "expected FORMERR for a {len}-byte COOKIE, got nothing; stderr:\n{}",
                server.stderr()
            )
        });
        let header = Header::parse(&response).expect("a header");
        assert_eq!(header.id, 0x4242);
        assert_eq!(header.rcode(), rcode::FORMERR, "a {len}-byte COOKIE option: {header:?}");
        assert_eq!(header.counts[3], 1, "FORMERR with OPT (RFC 7873 5.2.2): {header:?}");
    }
    let r = server.dig(&["www.diff.example", "A", "+cookie=0102030405"]);
    assert_eq!(r.rcode, "FORMERR", "dig with a 5-byte cookie:\n{r}");
}

#[test]
fn required_cookies_give_badcookie_over_udp_only() {
    let server = start(&config(SECRET_A, None, true));
    let r = ask(&server, CLIENT, &[]);
    assert_eq!(r.rcode, "BADCOOKIE", "a client cookie alone over UDP:\n{r}");
    assert!(r.answer.is_empty(), "no answer with BADCOOKIE:\n{r}");
    let fresh = cookie(&r);
    assert!(fresh.starts_with(CLIENT), "a cookie to retry with:\n{r}");

    let r = ask(&server, &fresh, &[]);
    assert_eq!(r.rcode, "NOERROR", "the retry with the new cookie:\n{r}");
    assert_eq!(r.answer.len(), 2, "{r}");

    let forged = format!("{CLIENT}010000000000000000000000deadbeef");
    let r = ask(&server, &forged, &[]);
    assert_eq!(r.rcode, "BADCOOKIE", "an invalid server cookie over UDP:\n{r}");
    let r = ask(&server, &forged, &["+tcp"]);
    assert_eq!(r.rcode, "NOERROR", "TCP is answered without a valid cookie:\n{r}");
    assert!(cookie(&r).starts_with(CLIENT), "{r}");

    let r = server.dig(&["www.diff.example", "A"]);
    assert_eq!(r.rcode, "NOERROR", "no COOKIE option: answered as ever:\n{r}");
}

#[test]
fn the_old_cookie_stays_valid_across_a_secret_rollover() {
    let server = start(&config(SECRET_A, None, true));
    let old = cookie(&ask(&server, CLIENT, &["+tcp"]));
    assert_eq!(ask(&server, &old, &[]).rcode, "NOERROR");

    // The operator's rollover: new secret, old one as previous, reload.
    server.rewrite_config(&config(SECRET_B, Some(SECRET_A), true));
    server.sighup();
    let deadline = Instant::now() + Duration::from_secs(10);
    let renewed = loop {
        let r = ask(&server, &old, &[]);
        assert_eq!(
            r.rcode, "NOERROR",
            "the old cookie must stay valid during the rollover:\n{r}"
        );
        let got = cookie(&r);
        if got != old {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "expected the reload to apply the new secret; stderr:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(renewed.starts_with(CLIENT), "{renewed}");
    assert_eq!(
        ask(&server, &renewed, &[]).rcode,
        "NOERROR",
        "the cookie made with the new secret"
    );

    // The previous secret dropped: its cookies are no longer valid.
    server.rewrite_config(&config(SECRET_B, None, true));
    server.sighup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ask(&server, &old, &[]).rcode != "BADCOOKIE" {
        assert!(
            Instant::now() < deadline,
            "expected the old cookie refused once cookie_secret_previous is gone; stderr:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ask(&server, &renewed, &[]).rcode, "NOERROR");
}

#[test]
fn a_query_without_a_question_gets_a_server_cookie() {
    let server = start(&config(SECRET_A, None, false));
    for transport in ["+notcp", "+tcp"] {
        let r = server.dig(&["+header-only", &format!("+cookie={CLIENT}"), transport]);
        assert_eq!(r.rcode, "NOERROR", "RFC 7873 5.4 {transport}:\n{r}");
        assert_eq!(cookie(&r).len(), 48, "client and server cookie {transport}:\n{r}");
        assert!(
            r.text.contains("(good)"),
            "dig finds its cookie echoed {transport}:\n{r}"
        );
    }
    // Without a cookie it is a malformed query, as Knot and NSD answer it.
    let r = server.dig(&["+header-only", "+nocookie"]);
    assert_eq!(r.rcode, "FORMERR", "a bare header:\n{r}");
}

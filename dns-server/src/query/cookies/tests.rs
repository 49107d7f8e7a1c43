//! Cookies through the whole query path: judged, echoed on every kind of
//! response, kept out of the answer cache and the fast path.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
};

use dns_wire::{
    cookie::{self, ClientAddr, Secret, Validity},
    wire::{edns_option, rcode},
};

use super::{Asker, CookieSecrets};
use crate::{
    catalog::Catalog,
    fast_path::FastPathSink,
    message::write::opt_rdlen_at,
    query::{Identity, Pending, Reply, Responder, Transport},
    stats::Stats,
    zone::load,
};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
const CLIENT_COOKIE: [u8; 8] = [0x24, 0x64, 0xc4, 0xab, 0xcf, 0x10, 0xc9, 0x57];
const SECRET: Secret = [0x11; 16];
const PREVIOUS: Secret = [0x22; 16];
const NOW: u32 = 1_700_000_000;

fn secrets(require: bool) -> CookieSecrets {
    CookieSecrets {
        current: SECRET,
        previous: Some(PREVIOUS),
        require,
    }
}

fn identity() -> Identity {
    Identity {
        identity: "pop-test".into(),
        version: None,
        udp_payload: 1232,
    }
}

fn catalog() -> Catalog {
    Catalog::new([Arc::new(load::default_zone().expect("default zone loads"))], 1000)
}

/// A query for `name`/A with EDNS and a COOKIE option holding `cookie`.
fn query(name: &str, cookie: &[u8]) -> Vec<u8> {
    test_support::Query::new(name, 1)
        .id(0x1234)
        .edns(1232)
        .option(edns_option::COOKIE, cookie)
        .to_wire()
}

/// Records the answers the fast path is offered.
#[derive(Default)]
struct Sink(Mutex<Vec<Vec<u8>>>);

impl FastPathSink for Sink {
    fn serve_catalog(&self, _: &Arc<Catalog>) {}

    fn copy_answer(&self, _: &Catalog, _: &dns_wire::query::Query<'_>, response: &[u8]) -> bool {
        self.0.lock().expect("lock").push(response.to_vec());
        true
    }

    fn offer_resolved(&self, _: &Pending) {}

    fn serve_cookies(&self, _: &CookieSecrets) {}
}

struct Rig {
    catalog: Catalog,
    identity: Identity,
    stats: Stats,
    sink: Sink,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            catalog: catalog(),
            identity: identity(),
            stats: Stats::default(),
            sink: Sink::default(),
        }
    }

    fn respond(&self, packet: &[u8], transport: Transport, secrets: &CookieSecrets) -> Vec<u8> {
        let asker = Asker {
            addr: CLIENT,
            secrets,
            now: Some(NOW),
        };
        let responder = Responder {
            catalog: &self.catalog,
            identity: &self.identity,
            stats: &self.stats,
            fast_path: &self.sink,
            secondaries: None,
        };
        let mut out = Vec::new();
        let reply = responder.respond_to(packet, transport, Some(&asker), || false, &mut out);
        assert!(matches!(reply, Ok(Reply::Ready)), "expected a response, got {reply:?}");
        out
    }

    fn count(&self, counter: impl Fn(&Stats) -> &crate::stats::Counter) -> u64 {
        counter(&self.stats).get()
    }
}

/// The data of the response's COOKIE option, if it has one.
fn cookie_of(response: &[u8]) -> Option<Vec<u8>> {
    let rdlen_at = opt_rdlen_at(response)?;
    let rdlen = usize::from(u16::from_be_bytes([response[rdlen_at], response[rdlen_at + 1]]));
    let mut options = &response[rdlen_at + 2..rdlen_at + 2 + rdlen];
    while options.len() >= 4 {
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = usize::from(u16::from_be_bytes([options[2], options[3]]));
        if code == edns_option::COOKIE {
            return Some(options[4..4 + len].to_vec());
        }
        options = &options[4 + len..];
    }
    None
}

/// The full RCODE: header bits and the OPT record's upper bits.
fn rcode_of(response: &[u8]) -> u16 {
    let low = u16::from(response[3] & 0x0f);
    let high = opt_rdlen_at(response).map_or(0, |at| u16::from(response[at - 4]));
    high << 4 | low
}

fn our_cookie(client: &[u8; 8], timestamp: u32, secret: &Secret) -> Vec<u8> {
    let server = cookie::server_cookie(secret, client, timestamp, &ClientAddr::V4([192, 0, 2, 7]));
    cookie::response_data(client, &server).to_vec()
}

#[test]
fn a_client_cookie_gets_a_server_cookie_and_then_is_valid() {
    let rig = Rig::new();
    let first = rig.respond(
        &query("www.example.com.", &CLIENT_COOKIE),
        Transport::Udp,
        &secrets(false),
    );
    assert_eq!(rcode_of(&first), rcode::NOERROR);
    let got = cookie_of(&first).expect("a COOKIE option in the answer");
    assert_eq!(
        got,
        our_cookie(&CLIENT_COOKIE, NOW, &SECRET),
        "client echoed, RFC 9018 server cookie"
    );
    assert_eq!(rig.count(|s| &s.cookies_absent), 1);

    let second = rig.respond(&query("www.example.com.", &got), Transport::Udp, &secrets(false));
    assert_eq!(cookie_of(&second), Some(got), "a fresh cookie is echoed as it is");
    assert_eq!(rig.count(|s| &s.cookies_valid), 1);
}

#[test]
fn a_cookie_made_with_the_previous_secret_is_valid_and_renewed() {
    let rig = Rig::new();
    let old = our_cookie(&CLIENT_COOKIE, NOW - 10, &PREVIOUS);
    let response = rig.respond(&query("www.example.com.", &old), Transport::Udp, &secrets(true));
    assert_eq!(
        rcode_of(&response),
        rcode::NOERROR,
        "valid: answered even when required"
    );
    assert_eq!(
        cookie_of(&response),
        Some(our_cookie(&CLIENT_COOKIE, NOW, &SECRET)),
        "renewed under the current secret"
    );
    assert_eq!(rig.count(|s| &s.cookies_valid), 1);

    let unknown = our_cookie(&CLIENT_COOKIE, NOW - 10, &[0x33; 16]);
    let response = rig.respond(&query("www.example.com.", &unknown), Transport::Udp, &secrets(false));
    assert_eq!(rcode_of(&response), rcode::NOERROR, "not required: answered");
    assert_eq!(cookie_of(&response), Some(our_cookie(&CLIENT_COOKIE, NOW, &SECRET)));
    assert_eq!(rig.count(|s| &s.cookies_invalid), 1);
}

#[test]
fn a_malformed_cookie_gets_formerr_with_opt() {
    let rig = Rig::new();
    for len in [5, 9, 15, 41] {
        let response = rig.respond(
            &query("www.example.com.", &[7; 41][..len]),
            Transport::Udp,
            &secrets(false),
        );
        assert_eq!(rcode_of(&response), rcode::FORMERR, "a COOKIE option of {len} bytes");
        assert!(opt_rdlen_at(&response).is_some(), "FORMERR with OPT (RFC 7873 5.2.2)");
        assert_eq!(cookie_of(&response), None, "no cookie for a malformed one");
    }
    assert_eq!(rig.count(|s| &s.cookies_malformed), 4);
}

#[test]
fn required_cookies_turn_udp_away_with_badcookie_and_not_tcp() {
    let rig = Rig::new();
    let required = secrets(true);
    let packet = query("www.example.com.", &CLIENT_COOKIE);
    let udp = rig.respond(&packet, Transport::Udp, &required);
    assert_eq!(rcode_of(&udp), rcode::BADCOOKIE, "extended RCODE 23");
    assert_eq!(udp[3] & 0x0f, 7, "the lower bits in the header");
    assert_eq!(&udp[6..8], [0, 0], "no answer");
    let fresh = cookie_of(&udp).expect("BADCOOKIE carries a cookie to retry with");
    assert_eq!(fresh, our_cookie(&CLIENT_COOKIE, NOW, &SECRET));

    let tcp = rig.respond(&packet, Transport::Tcp, &required);
    assert_eq!(rcode_of(&tcp), rcode::NOERROR, "TCP is answered");
    assert_eq!(&tcp[6..8], [0, 1]);
    assert_eq!(cookie_of(&tcp).as_deref(), Some(&fresh[..]));

    let retry = rig.respond(&query("www.example.com.", &fresh), Transport::Udp, &required);
    assert_eq!(
        rcode_of(&retry),
        rcode::NOERROR,
        "the retry with the cookie is answered"
    );
    assert_eq!(&retry[6..8], [0, 1]);

    let plain = test_support::Query::new("www.example.com.", 1).edns(1232).to_wire();
    let no_cookie = rig.respond(&plain, Transport::Udp, &required);
    assert_eq!(
        rcode_of(&no_cookie),
        rcode::NOERROR,
        "no COOKIE option: answered as ever"
    );
    assert_eq!(cookie_of(&no_cookie), None);
}

#[test]
fn errors_and_refusals_carry_the_cookie_too() {
    let rig = Rig::new();
    let outside = rig.respond(
        &query("www.example.org.", &CLIENT_COOKIE),
        Transport::Udp,
        &secrets(false),
    );
    assert_eq!(rcode_of(&outside), rcode::REFUSED);
    assert!(cookie_of(&outside).is_some(), "REFUSED (with EDE) carries the cookie");
    let nxdomain = rig.respond(
        &query("nope.example.com.", &CLIENT_COOKIE),
        Transport::Udp,
        &secrets(false),
    );
    assert_eq!(rcode_of(&nxdomain), rcode::NXDOMAIN);
    assert!(cookie_of(&nxdomain).is_some());
    let notimp = test_support::Query::new("www.example.com.", 1)
        .opcode(2)
        .edns(1232)
        .option(edns_option::COOKIE, &CLIENT_COOKIE)
        .to_wire();
    let notimp = rig.respond(&notimp, Transport::Udp, &secrets(false));
    assert_eq!(rcode_of(&notimp), rcode::NOTIMP);
    assert!(cookie_of(&notimp).is_some());
}

#[test]
fn truncated_answers_keep_room_for_the_cookie() {
    let mut text = String::from(load::DEFAULT_ZONE);
    for i in 0..40 {
        text.push_str(&format!(
            "big IN TXT \"record {i} padded to make the whole set long\"\n"
        ));
    }
    let origin = crate::name::Name::parse("example.com.", None).expect("origin");
    let zone = load::from_str(&origin, &text, std::path::Path::new("big.zone")).expect("zone loads");
    let rig = Rig {
        catalog: Catalog::new([Arc::new(zone)], 100),
        ..Rig::new()
    };
    let packet = test_support::Query::new("big.example.com.", 16)
        .edns(512)
        .option(edns_option::COOKIE, &CLIENT_COOKIE)
        .to_wire();
    let udp = rig.respond(&packet, Transport::Udp, &secrets(false));
    assert!(udp[2] & 0x02 != 0, "TC set");
    assert!(udp.len() <= 512, "{} bytes, over the client's 512", udp.len());
    assert!(cookie_of(&udp).is_some(), "the truncated answer carries the cookie");
}

#[test]
fn cached_answers_and_the_fast_path_never_hold_a_cookie() {
    let rig = Rig::new();
    let first = rig.respond(
        &query("www.example.com.", &CLIENT_COOKIE),
        Transport::Udp,
        &secrets(false),
    );
    let copied = rig.sink.0.lock().expect("lock").clone();
    assert_eq!(copied.len(), 1, "the answer was cached and offered to the fast path");
    assert_eq!(cookie_of(&copied[0]), None, "the fast path's copy has no cookie");

    // The same answer to a query without a cookie: what XDP serves.
    let plain = Rig::new();
    let mut without = plain.respond(
        &test_support::Query::new("www.example.com.", 1)
            .id(0x1234)
            .edns(1232)
            .to_wire(),
        Transport::Udp,
        &secrets(false),
    );
    crate::query::encode::clear_per_query_fields(&mut without);
    assert_eq!(copied[0], without, "byte for byte the cookie-less answer");

    // A second client cookie is answered from the cache with its own cookie.
    let other = [9u8; 8];
    let second = rig.respond(&query("www.example.com.", &other), Transport::Udp, &secrets(false));
    assert_eq!(rig.count(|s| &s.cache_hits), 1, "from the cache");
    assert_eq!(cookie_of(&second), Some(our_cookie(&other, NOW, &SECRET)));
    assert_eq!(cookie_of(&first), Some(our_cookie(&CLIENT_COOKIE, NOW, &SECRET)));
    assert_eq!(rig.sink.0.lock().expect("lock").len(), 1, "offered once");
}

#[test]
fn without_an_asker_no_cookie_is_made() {
    let rig = Rig::new();
    let responder = Responder {
        catalog: &rig.catalog,
        identity: &rig.identity,
        stats: &rig.stats,
        fast_path: &rig.sink,
        secondaries: None,
    };
    let mut out = Vec::new();
    responder
        .respond(&query("www.example.com.", &CLIENT_COOKIE), Transport::Udp, &mut out)
        .expect("answered");
    assert_eq!(cookie_of(&out), None, "answers computed ahead carry no cookie");
}

#[test]
fn a_reload_keeps_a_random_secret_and_takes_a_configured_one() {
    let mut server = crate::config::ServerConfig::default();
    let started = CookieSecrets::at_start(&server);
    assert_eq!(
        started.reloaded(&server),
        started,
        "no secret configured: the one in use stays"
    );
    let text = "[server]\ncookie_secret = \"22222222222222222222222222222222\"\n\
                cookie_secret_previous = \"11111111111111111111111111111111\"\nrequire_cookies = true\n";
    server = crate::config::Config::parse(text, std::path::Path::new("c.toml"))
        .expect("valid")
        .server;
    let rolled = started.reloaded(&server);
    assert_eq!(rolled.current, [0x22; 16]);
    assert_eq!(rolled.previous, Some([0x11; 16]));
    assert!(rolled.require);
    assert_eq!(
        Validity::Renew,
        cookie::validate(
            &cookie::Cookie::parse(&our_cookie(&CLIENT_COOKIE, NOW, &[0x11; 16])).expect("well formed"),
            &ClientAddr::V4([192, 0, 2, 7]),
            NOW,
            &rolled.current,
            rolled.previous.as_ref(),
        )
    );
}

/// A query without a question: only an OPT record, with `cookie` when given
/// (RFC 7873 5.4).
fn cookie_query(cookie: Option<&[u8]>) -> Vec<u8> {
    let mut q = test_support::Query::new("www.example.com.", 1).id(0x1234).edns(1232);
    if let Some(cookie) = cookie {
        q = q.option(edns_option::COOKIE, cookie);
    }
    test_support::Query { qname: None, ..q }.to_wire()
}

#[test]
fn a_query_without_a_question_gets_a_server_cookie() {
    let rig = Rig::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        let response = rig.respond(&cookie_query(Some(&CLIENT_COOKIE)), transport, &secrets(false));
        assert_eq!(rcode_of(&response), rcode::NOERROR, "RFC 7873 5.4 over {transport:?}");
        assert_eq!(
            &response[4..12],
            &[0, 0, 0, 0, 0, 0, 0, 1],
            "no question, no records, the OPT"
        );
        assert_eq!(cookie_of(&response), Some(our_cookie(&CLIENT_COOKIE, NOW, &SECRET)));
    }
    assert_eq!(rig.count(|s| &s.cookies_absent), 2);
    // With the server cookie it got: still NOERROR, the cookie confirmed.
    let ours = our_cookie(&CLIENT_COOKIE, NOW, &SECRET);
    let response = rig.respond(&cookie_query(Some(&ours)), Transport::Udp, &secrets(true));
    assert_eq!(rcode_of(&response), rcode::NOERROR);
    assert_eq!(cookie_of(&response), Some(ours));
    // Required and without a valid one: BADCOOKIE over UDP, with a cookie to retry with.
    let response = rig.respond(&cookie_query(Some(&CLIENT_COOKIE)), Transport::Udp, &secrets(true));
    assert_eq!(rcode_of(&response), rcode::BADCOOKIE);
    assert_eq!(cookie_of(&response), Some(our_cookie(&CLIENT_COOKIE, NOW, &SECRET)));
    // No cookie, or a malformed one: FORMERR (with OPT, since the query had one).
    for (what, cookie) in [("no cookie", None), ("a malformed cookie", Some(&[7u8; 5][..]))] {
        let response = rig.respond(&cookie_query(cookie), Transport::Udp, &secrets(false));
        assert_eq!(rcode_of(&response), rcode::FORMERR, "{what}");
        assert!(opt_rdlen_at(&response).is_some(), "{what}: FORMERR with OPT");
        assert_eq!(cookie_of(&response), None, "{what}");
    }
    assert!(
        rig.sink.0.lock().expect("lock").is_empty(),
        "nothing offered to the fast path"
    );
}

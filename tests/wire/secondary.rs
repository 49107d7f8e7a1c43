//! Secondary zones over the wire: Knot DNS as the primary (AXFR, IXFR, NOTIFY, TSIG), restarts
//! from disk, expiry, NOTIFY access control, and a hostile fake primary.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream, UdpSocket},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use test_support::query::encode_name;

use crate::harness::{
    BindPrimary, HiddenPrimary, KnotPrimary, Response, Server, TempDir, TsigKey, free_port, soa_serial, try_dig,
};

const ORIGIN: &str = "xfr.test.";

/// The zone the primaries start with: serial 1, refresh an hour (so only
/// NOTIFY explains a quick update).
fn zone_text(timers: &str) -> String {
    format!("$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns admin 1 {timers}\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.10\n")
}

const HOURLY: &str = "3600 600 86400 300";

/// Polls `ok` every 100 ms for up to `limit`; panics with `what` and the server's log when it never holds.
fn wait_for(server: &Server, limit: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return start.elapsed();
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("expected {what} within {limit:?}; server log:\n{}", server.stderr());
}

fn soa_of(server: &Server) -> Option<u32> {
    try_dig("127.0.0.1", server.port, &[ORIGIN, "SOA"]).and_then(|r| soa_serial(&r))
}

fn secondary_args(primary: &str, data: &Path) -> Vec<String> {
    vec![
        "--secondary".into(),
        format!("{ORIGIN}={primary}"),
        "--data-dir".into(),
        data.display().to_string(),
    ]
}

fn start(port: Option<u16>, args: &[String]) -> Server {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let builder = Server::builder().args(&args);
    match port {
        Some(port) => builder.port(port),
        None => builder,
    }
    .start()
}

/// The refresh report of our one secondary zone, once the state file has one.
fn refresh_report(server: &Server) -> Option<dns_server::zone_state::RefreshReport> {
    let status = server.status();
    let zone = status.zones.iter().find(|z| z.origin == ORIGIN)?;
    zone.secondary.clone()
}

/// Waits until the report satisfies `ok` (the state file's writes are gathered
/// for a moment, so it follows the answers by a little), and returns it.
fn wait_report(
    server: &Server,
    what: &str,
    ok: impl Fn(&dns_server::zone_state::RefreshReport) -> bool,
) -> dns_server::zone_state::RefreshReport {
    wait_for(server, Duration::from_secs(10), what, || {
        refresh_report(server).is_some_and(|r| ok(&r))
    });
    refresh_report(server).expect("a report")
}

/// Transfers, then follows a change made on the primary (knotc, nsupdate):
/// NOTIFY, then IXFR; then, the primary stopped, a restarted server serves
/// its copy from disk.
fn follows<P: HiddenPrimary>(key: Option<TsigKey>, start_primary: impl FnOnce(&str, Option<&TsigKey>, u16) -> P) {
    let data = TempDir::new("secondary-data");
    let port = free_port();
    let mut primary = start_primary(&zone_text(HOURLY), key.as_ref(), port);
    let mut args = secondary_args(&primary.address(), data.path());
    if let Some(key) = &key {
        args.extend(["--tsig".into(), key.flag()]);
    }
    let server = start(Some(port), &args);
    wait_for(&server, Duration::from_secs(15), "the first AXFR (serial 1)", || {
        soa_of(&server) == Some(1)
    });
    let www = server.dig(&["www.xfr.test.", "A"]);
    assert_eq!(www.rcode, "NOERROR");
    assert!(www.flag("aa"), "authoritative for a secondary zone: {}", www.text);
    assert_eq!(www.answer[0].rdata, "192.0.2.10");
    wait_report(&server, "the AXFR in the status", |r| {
        r.last_result.as_deref() == Some("transferred (AXFR)")
    });

    primary.set(&[("new", "60", "TXT", "\"hello\"")]);
    let serial = primary.serial();
    let took = wait_for(&server, Duration::from_secs(10), "the change after NOTIFY", || {
        try_dig("127.0.0.1", server.port, &["new.xfr.test.", "TXT"]).is_some_and(|r| !r.answer.is_empty())
    });
    eprintln!("change on the primary answered by the secondary after {took:?}");
    assert_eq!(soa_of(&server), Some(serial));
    let report = wait_report(&server, "the IXFR in the status", |r| {
        r.last_result.as_deref() == Some("transferred (IXFR)")
    });
    assert_eq!(report.primary.as_deref(), Some(primary.address().as_str()));
    assert!(report.next_refresh.is_some() && report.expires.is_some(), "{report:?}");
    let kept = data.path().join("xfr.test.zone");
    assert!(kept.exists(), "the AXFR copy kept in the data dir");
    assert!(
        Path::new(&format!("{}.journal", kept.display())).exists(),
        "the IXFR change kept in the journal"
    );

    // The primary gone, the server restarted: the latest version at once, from disk.
    drop(server);
    primary.stop();
    let server = start(None, &args);
    assert_eq!(soa_of(&server), Some(serial), "served from disk at once");
    let new = server.dig(&["new.xfr.test.", "TXT"]);
    assert_eq!(new.answer[0].rdata, "\"hello\"", "the journal replayed");
}

fn knot(zone: &str, key: Option<&TsigKey>, notify_port: u16) -> KnotPrimary {
    KnotPrimary::start(ORIGIN, zone, key, notify_port)
}

fn bind(zone: &str, key: Option<&TsigKey>, notify_port: u16) -> BindPrimary {
    BindPrimary::start(ORIGIN, zone, key, notify_port)
}

#[test]
fn follows_knot_by_notify_and_ixfr() {
    follows(None, knot);
}

#[test]
fn follows_knot_with_tsig() {
    follows(Some(TsigKey::test_key()), knot);
}

#[test]
fn follows_bind_by_notify_and_ixfr() {
    follows(None, bind);
}

#[test]
fn follows_bind_with_tsig() {
    follows(Some(TsigKey::test_key()), bind);
}

#[test]
fn a_wrong_tsig_secret_gets_nothing_and_says_why() {
    let data = TempDir::new("secondary-data");
    let key = TsigKey::test_key();
    let knot = KnotPrimary::start(ORIGIN, &zone_text(HOURLY), Some(&key), free_port());
    let wrong = TsigKey {
        secret: "d3Jvbmctc2VjcmV0LWZvci10ZXN0cy0xMjM0NQ==".into(),
        ..key
    };
    let mut args = secondary_args(&knot.address(), data.path());
    args.extend(["--tsig".into(), wrong.flag()]);
    let server = start(None, &args);
    let report = wait_report(&server, "a failed refresh in the status", |r| r.last_error.is_some());
    let error = report.last_error.unwrap_or_default();
    assert!(error.contains("BADSIG") || error.contains("NOTAUTH"), "{error}");
    let r = server.dig(&["www.xfr.test.", "A"]);
    assert_eq!(r.rcode, "SERVFAIL", "nothing transferred: {}", r.text);
}

#[test]
fn a_zone_not_refreshed_within_expire_answers_servfail() {
    let data = TempDir::new("secondary-data");
    // Refresh and retry every second, expire after 4.
    let mut knot = KnotPrimary::start(ORIGIN, &zone_text("1 1 4 300"), None, free_port());
    let server = start(None, &secondary_args(&knot.address(), data.path()));
    wait_for(&server, Duration::from_secs(15), "the first AXFR", || {
        soa_of(&server) == Some(1)
    });
    // RFC 7314 3 in an ordinary SOA answer: Knot (the primary) sends the SOA's
    // expire, we (a secondary) the time left, which is no more than that.
    let knot_says = try_dig("127.0.0.1", knot.port, &[ORIGIN, "SOA", "+expire"]).expect("Knot answers");
    assert_eq!(expire_option(&knot_says.text), Some(4), "{}", knot_says.text);
    let ours = server.dig(&[ORIGIN, "SOA", "+expire"]);
    let left = expire_option(&ours.text).unwrap_or_else(|| panic!("expected EXPIRE in our SOA answer: {}", ours.text));
    assert!(
        left <= 4,
        "expected at most the SOA's 4 s left, got {left}: {}",
        ours.text
    );
    let plain = server.dig(&[ORIGIN, "SOA"]);
    assert_eq!(
        expire_option(&plain.text),
        None,
        "EXPIRE only when asked: {}",
        plain.text
    );
    knot.stop();
    let took = wait_for(&server, Duration::from_secs(10), "SERVFAIL once expired", || {
        try_dig("127.0.0.1", server.port, &["www.xfr.test.", "A"]).is_some_and(|r| r.rcode == "SERVFAIL")
    });
    assert!(took >= Duration::from_secs(2), "not before expire: {took:?}");
    let r = server.dig(&["www.xfr.test.", "A"]);
    assert!(!r.flag("aa"), "{}", r.text);
    assert!(
        r.edns.as_ref().and_then(|e| e.ede).is_some(),
        "an extended error: {}",
        r.text
    );
    // The state file follows within a moment (its writes are gathered).
    wait_for(&server, Duration::from_secs(2), "\"expired\" in the status", || {
        let status = server.status();
        let zone = status.zones.iter().find(|z| z.origin == ORIGIN).expect("zone");
        zone.state == "expired" && zone.secondary.as_ref().is_some_and(|s| s.expired)
    });
}

/// The EXPIRE option's seconds as `dig +expire` prints them (`; EXPIRE: 4 (4 seconds)`).
pub(crate) fn expire_option(dig_text: &str) -> Option<u32> {
    let line = dig_text.lines().find(|l| l.starts_with("; EXPIRE:"))?;
    line["; EXPIRE:".len()..].split_whitespace().next()?.parse().ok()
}

#[test]
fn a_zone_we_are_primary_of_answers_expire_with_its_soa_expire() {
    let server = Server::builder().start();
    let r = server.dig(&["example.com.", "SOA", "+expire"]);
    assert_eq!(
        expire_option(&r.text),
        Some(1_209_600),
        "the built-in SOA's expire: {}",
        r.text
    );
}

fn notify(server: &Server, source: &str, zone: &str, extra: &[&str]) -> Response {
    let mut args = vec!["-b", source, "+opcode=notify", zone, "SOA"];
    args.extend_from_slice(extra);
    server.dig(&args)
}

#[test]
fn notify_only_from_the_primary_and_with_its_key() {
    // The primary is 127.0.0.2 (no one listens there: refreshes just fail).
    let data = TempDir::new("secondary-data");
    let primary = format!("127.0.0.2:{}", free_port());
    let plain = start(None, &secondary_args(&primary, data.path()));
    let r = notify(&plain, "127.0.0.2", ORIGIN, &[]);
    assert_eq!(
        (r.opcode.as_str(), r.rcode.as_str()),
        ("NOTIFY", "NOERROR"),
        "{}",
        r.text
    );
    assert!(r.flag("aa"), "{}", r.text);
    assert_eq!(
        notify(&plain, "127.0.0.1", ORIGIN, &[]).rcode,
        "REFUSED",
        "not the primary"
    );
    assert_eq!(
        notify(&plain, "127.0.0.2", "other.test.", &[]).rcode,
        "REFUSED",
        "not our zone"
    );
    drop(plain);

    let key = TsigKey::test_key();
    let data = TempDir::new("secondary-data");
    let mut args = secondary_args(&primary, data.path());
    args.extend(["--tsig".into(), key.flag()]);
    let signed = start(None, &args);
    let y = format!("-y{}", key.dig_flag());
    let r = notify(&signed, "127.0.0.2", ORIGIN, &[&y]);
    assert_eq!(r.rcode, "NOERROR", "signed with the zone's key: {}", r.text);
    assert!(
        !r.text.contains("tsig verify failure"),
        "our answer's MAC verifies in dig: {}",
        r.text
    );
    assert_eq!(notify(&signed, "127.0.0.2", ORIGIN, &[]).rcode, "REFUSED", "unsigned");
    let wrong = format!("-yhmac-sha256:{}:d3Jvbmctc2VjcmV0LWZvci10ZXN0cy0xMjM0NQ==", key.name);
    let r = notify(&signed, "127.0.0.2", ORIGIN, &[&wrong]);
    assert_eq!(r.rcode, "NOTAUTH", "bad MAC: {}", r.text);
    let unknown = format!("-yhmac-sha256:other-key:{}", key.secret);
    let r = notify(&signed, "127.0.0.2", ORIGIN, &[&unknown]);
    assert_eq!(r.rcode, "NOTAUTH", "unknown key: {}", r.text);
    assert!(signed.stderr().contains("BADKEY"), "the reason logged");
}

/// What the fake primary sends for an AXFR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Good,
    FirstNotSoa,
    OutOfZone,
    /// Zone data a zone file could not have: CNAME beside other data.
    CnameAndOther,
    /// ANCOUNT larger than the records that follow.
    LyingCount,
    /// One byte a second.
    Dribble,
    /// Records for ever.
    Endless,
    /// IXFR refused (AXFR served).
    IxfrRefused,
    /// IXFR answered with a change that removes a record the zone lacks (AXFR served).
    IxfrBadChange,
    /// A good AXFR whose answer carries an EDNS EXPIRE option of this many
    /// seconds (RFC 7314), as a secondary feeding us would send.
    Expire(u32),
}

/// A primary written for the test: answers SOA over UDP and AXFR over TCP as told.
struct FakePrimary {
    port: u16,
    script: Arc<Mutex<(u32, Behaviour)>>,
    stop: Arc<AtomicBool>,
}

fn record(owner: &str, rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = encode_name(owner);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&300u32.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

fn soa_record(serial: u32) -> Vec<u8> {
    let mut rdata = encode_name("ns.xfr.test.");
    rdata.extend(encode_name("admin.xfr.test."));
    for v in [serial, 3600, 600, 86400, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    record(ORIGIN, 6, &rdata)
}

/// A response to `query` (its ID and question echoed) with `records` in the answer.
fn response(query: &[u8], records: &[Vec<u8>], ancount: Option<u16>) -> Vec<u8> {
    response_with(query, 0, records, ancount)
}

fn question_end(query: &[u8]) -> usize {
    (12 + query[12..].iter().position(|&b| b == 0).unwrap_or(0) + 1 + 4).min(query.len())
}

/// [`response`] with an RCODE.
fn response_with(query: &[u8], rcode: u8, records: &[Vec<u8>], ancount: Option<u16>) -> Vec<u8> {
    let question_end = question_end(query);
    let mut out = query[..2].to_vec();
    out.extend_from_slice(&[0x84, rcode, 0, 1]);
    out.extend_from_slice(&ancount.unwrap_or(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question_end]);
    for r in records {
        out.extend_from_slice(r);
    }
    out
}

/// `msg` with an OPT record holding an EXPIRE option of `seconds`.
fn with_expire(mut msg: Vec<u8>, seconds: u32) -> Vec<u8> {
    let arcount = u16::from_be_bytes([msg[10], msg[11]]) + 1;
    msg[10..12].copy_from_slice(&arcount.to_be_bytes());
    msg.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 8, 0, 9, 0, 4]);
    msg.extend_from_slice(&seconds.to_be_bytes());
    msg
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

impl FakePrimary {
    fn start() -> FakePrimary {
        let port = free_port();
        let script = Arc::new(Mutex::new((1u32, Behaviour::Good)));
        let stop = Arc::new(AtomicBool::new(false));
        let udp = UdpSocket::bind(("127.0.0.1", port)).expect("expected to bind the fake primary's UDP");
        udp.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let tcp = TcpListener::bind(("127.0.0.1", port)).expect("expected to bind the fake primary's TCP");
        tcp.set_nonblocking(true).expect("nonblocking");
        let (s, st) = (script.clone(), stop.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st.load(Ordering::Relaxed) {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    let serial = s.lock().unwrap().0;
                    let _ = udp.send_to(&response(&buf[..n], &[soa_record(serial)], None), from);
                }
            }
        });
        let (s, st) = (script.clone(), stop.clone());
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match tcp.accept() {
                    Ok((conn, _)) => {
                        let (s, st) = (s.clone(), st.clone());
                        thread::spawn(move || serve_axfr(conn, *s.lock().unwrap(), &st));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        FakePrimary { port, script, stop }
    }

    fn set(&self, serial: u32, behaviour: Behaviour) {
        *self.script.lock().unwrap() = (serial, behaviour);
    }
}

impl Drop for FakePrimary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_axfr(mut conn: TcpStream, (serial, behaviour): (u32, Behaviour), stop: &AtomicBool) {
    conn.set_nonblocking(false).expect("blocking");
    let mut len = [0u8; 2];
    if conn.read_exact(&mut len).is_err() {
        return;
    }
    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if conn.read_exact(&mut query).is_err() {
        return;
    }
    let end = question_end(&query);
    let ixfr = query.get(end - 4..end - 2) == Some(&251u16.to_be_bytes()[..]);
    let soa = soa_record(serial);
    let ns = record(ORIGIN, 2, &encode_name("ns.xfr.test."));
    let glue = record("ns.xfr.test.", 1, &[192, 0, 2, 1]);
    let www = record("www.xfr.test.", 1, &[192, 0, 2, serial as u8]);
    let zone = vec![soa.clone(), ns.clone(), glue.clone(), www, soa.clone()];
    let send = |conn: &mut TcpStream, records: &[Vec<u8>], count: Option<u16>| {
        conn.write_all(&framed(&response(&query, records, count))).is_ok()
    };
    match behaviour {
        Behaviour::IxfrRefused if ixfr => {
            conn.write_all(&framed(&response_with(&query, 5, &[], None))).ok();
        }
        Behaviour::IxfrBadChange if ixfr => {
            let missing = record("nothere.xfr.test.", 1, &[192, 0, 2, 99]);
            let old = soa_record(serial - 1);
            send(&mut conn, &[soa.clone(), old, missing, soa.clone(), soa], None);
        }
        Behaviour::Good | Behaviour::IxfrRefused | Behaviour::IxfrBadChange => {
            send(&mut conn, &zone, None);
        }
        Behaviour::Expire(seconds) => {
            conn.write_all(&framed(&with_expire(response(&query, &zone, None), seconds)))
                .ok();
        }
        Behaviour::FirstNotSoa => {
            send(&mut conn, &[ns, glue, soa], None);
        }
        Behaviour::OutOfZone => {
            let evil = record("www.elsewhere.test.", 1, &[192, 0, 2, 66]);
            send(&mut conn, &[soa.clone(), ns, glue, evil, soa], None);
        }
        Behaviour::CnameAndOther => {
            let cname = record("ns.xfr.test.", 5, &encode_name("www.xfr.test."));
            send(&mut conn, &[soa.clone(), ns, glue, cname, soa], None);
        }
        Behaviour::LyingCount => {
            send(&mut conn, &zone, Some(40));
        }
        Behaviour::Dribble => {
            for byte in framed(&response(&query, &zone, None)) {
                if stop.load(Ordering::Relaxed) || conn.write_all(&[byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_secs(1));
            }
        }
        Behaviour::Endless => {
            send(&mut conn, &[soa, ns, glue], None);
            for i in 0u32.. {
                let batch: Vec<Vec<u8>> = (0..100u32)
                    .map(|j| record(&format!("h{i}-{j}.xfr.test."), 1, &[192, 0, 2, 1]))
                    .collect();
                if stop.load(Ordering::Relaxed) || !send(&mut conn, &batch, None) {
                    return;
                }
            }
        }
    }
}

#[test]
fn malformed_transfers_are_refused_and_the_old_version_kept() {
    let fake = FakePrimary::start();
    let data = TempDir::new("secondary-data");
    let primary = format!("127.0.0.1:{}", fake.port);
    let args: Vec<String> = secondary_args(&primary, data.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // A small memory bound, so the endless primary is cut off soon.
    let server = Server::builder()
        .args(&args)
        .config("[server]\nzone_max_bytes = 200000\n")
        .start();
    wait_for(&server, Duration::from_secs(15), "the good AXFR (serial 1)", || {
        soa_of(&server) == Some(1)
    });

    let cases = [
        (Behaviour::FirstNotSoa, "first record is not"),
        (Behaviour::OutOfZone, "outside the zone"),
        (Behaviour::CnameAndOther, "CNAME"),
        (Behaviour::LyingCount, "malformed"),
        (Behaviour::Endless, "larger than"),
        (Behaviour::Dribble, "no answer within"),
    ];
    for (serial, (behaviour, reason)) in (2u32..).zip(cases) {
        fake.set(serial, behaviour);
        let r = notify(&server, "127.0.0.1", ORIGIN, &[]);
        assert_eq!(r.rcode, "NOERROR", "{behaviour:?}: {}", r.text);
        wait_for(
            &server,
            Duration::from_secs(20),
            &format!("{behaviour:?} refused: {reason}"),
            || {
                refresh_report(&server).is_some_and(|report| {
                    report.last_result.as_deref() == Some("failed")
                        && report.last_error.as_deref().is_some_and(|e| e.contains(reason))
                })
            },
        );
        assert_eq!(soa_of(&server), Some(1), "{behaviour:?}: the old version keeps serving");
        let www = server.dig(&["www.xfr.test.", "A"]);
        assert_eq!(www.answer[0].rdata, "192.0.2.1", "{behaviour:?}");
    }
    // And a good one after all that.
    fake.set(50, Behaviour::Good);
    notify(&server, "127.0.0.1", ORIGIN, &[]);
    wait_for(&server, Duration::from_secs(10), "the good version 50", || {
        soa_of(&server) == Some(50)
    });

    // IXFR refused, and IXFR changes that do not apply: AXFR instead.
    for (serial, behaviour, logged) in [
        (51, Behaviour::IxfrRefused, "IXFR refused; asking for AXFR"),
        (
            52,
            Behaviour::IxfrBadChange,
            "IXFR changes do not apply; asking for AXFR",
        ),
    ] {
        fake.set(serial, behaviour);
        notify(&server, "127.0.0.1", ORIGIN, &[]);
        wait_for(
            &server,
            Duration::from_secs(10),
            &format!("{behaviour:?}: version {serial}"),
            || soa_of(&server) == Some(serial),
        );
        assert!(server.stderr().contains(logged), "{behaviour:?}: {logged:?} logged");
        wait_report(&server, "the AXFR in the status", |r| {
            r.last_result.as_deref() == Some("transferred (AXFR)")
        });
    }
}

#[test]
fn the_primarys_expire_option_sets_our_expire_timer_and_is_passed_on() {
    // RFC 7314 4: a transfer from a server whose copy has 500 s left leaves
    // ours 500 s (not the SOA's 86400), and we say so to our own secondaries.
    let fake = FakePrimary::start();
    fake.set(1, Behaviour::Expire(500));
    let data = TempDir::new("secondary-expire");
    let primary = format!("127.0.0.1:{}", fake.port);
    let args: Vec<String> = secondary_args(&primary, data.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::builder()
        .args(&args)
        .config("[server]\nallow_transfer = [\"127.0.0.1/32\"]\n")
        .start();
    wait_for(&server, Duration::from_secs(15), "the AXFR (serial 1)", || {
        soa_of(&server) == Some(1)
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let report = wait_report(&server, "an expiry time", |r| r.expires.is_some());
    let left = report.expires.expect("expires").saturating_sub(now);
    assert!(
        (400..=501).contains(&left),
        "expected about 500 s left, got {left}: {report:?}"
    );
    let axfr = crate::harness::dig_axfr("127.0.0.1", server.port, ORIGIN, &["+expire", "+all"]);
    let passed_on = crate::transfer::expire_shown(&axfr.text).expect("an EXPIRE option");
    assert!(
        (400..=500).contains(&passed_on),
        "expected what is left, at most 500 s: {}",
        axfr.text
    );
}

#[test]
fn ctl_refreshes_and_retransfers_and_metrics_count_the_transfers() {
    let fake = FakePrimary::start();
    let data = TempDir::new("secondary-ctl");
    let primary = format!("127.0.0.1:{}", fake.port);
    let args: Vec<String> = secondary_args(&primary, data.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::builder().args(&args).control().metrics().start();
    wait_for(&server, Duration::from_secs(15), "the first AXFR", || {
        soa_of(&server) == Some(1)
    });
    wait_report(&server, "the first transfer's report", |r| {
        r.last_result.as_deref() == Some("transferred (AXFR)")
    });
    // The same serial: a refresh finds it current...
    let out = server.ctl_ok(&["zone-refresh", ORIGIN]);
    assert!(out.contains("refresh of xfr.test. started"), "{out}");
    wait_report(&server, "a refresh finding the zone current", |r| {
        r.last_result.as_deref() == Some("up to date")
    });
    // ...and a retransfer takes the whole zone again all the same.
    let out = server.ctl_ok(&["zone-retransfer", ORIGIN]);
    assert!(out.contains("transfer (AXFR) of xfr.test. started"), "{out}");
    wait_report(&server, "the retransfer", |r| {
        r.last_result.as_deref() == Some("transferred (AXFR)")
    });
    let failed = server.ctl(&["zone-refresh", "not-ours.test."]);
    assert!(!failed.status.success(), "a zone that is not a secondary is an error");
    let text = crate::harness::metrics::scrape(server.metrics_addr());
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert!(value("dns_server_transfers_in_total{result=\"axfr\"}") >= 2.0, "{text}");
    assert!(
        value("dns_server_transfers_in_total{result=\"up_to_date\"}") >= 1.0,
        "{text}"
    );
    assert_eq!(value("dns_server_secondary_serial{zone=\"xfr.test.\"}"), 1.0);
    let left = value("dns_server_secondary_expiry_seconds{zone=\"xfr.test.\"}");
    assert!((86_000.0..=86_400.0).contains(&left), "SOA expire 86400: {left}");
}

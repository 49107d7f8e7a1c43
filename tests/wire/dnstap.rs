//! dnstap query logs read back with the real tools: `dnstap-read` on our
//! file, and `fstrm_capture` on our socket (then `dnstap-read` on its
//! capture); sampling; and a socket reader that never reads.

use std::{
    io::{Read as _, Write as _},
    net::UdpSocket,
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, ResponseCode},
    serialize::binary::BinDecodable as _,
};

use crate::harness::{
    Server, TempDir, diff_zones,
    metrics::{promtool_check_metrics, sample, scrape},
};

/// One record as `dnstap-read -x` prints it.
#[derive(Debug)]
struct Record {
    /// AQ, AR, CQ, CR, RQ, RR.
    kind: String,
    /// The initiator's `address:port` (or `?`).
    initiator: String,
    /// The responder's.
    responder: String,
    /// UDP or TCP.
    transport: String,
    /// `name/CLASS/TYPE`.
    question: String,
    /// The DNS message, decoded by hickory-proto from the logged bytes.
    message: Message,
}

/// Every record of a Frame Streams file, read by `dnstap-read -x`.
fn dnstap_read(path: &Path) -> Vec<Record> {
    let out = Command::new("dnstap-read")
        .arg("-x")
        .arg(path)
        .output()
        .expect("expected to run dnstap-read (bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dnstap-read -x {} failed: {}{text}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|pair| {
            // 05-Dec-2026 01:33:04.348 AQ 127.0.0.1:60248 -> 127.0.0.1:25353 UDP 57b www.diff.example/IN/A
            let f: Vec<&str> = pair[0].split_whitespace().collect();
            assert!(
                f.len() >= 9 && pair.len() == 2,
                "unexpected dnstap-read output:\n{text}"
            );
            let bytes = data_encoding::HEXUPPER
                .decode(pair[1].trim().as_bytes())
                .unwrap_or_else(|e| panic!("not hex: {e}: {}", pair[1]));
            let message = Message::from_bytes(&bytes).unwrap_or_else(|e| panic!("logged bytes must decode: {e}"));
            // AQ/CQ/RQ read `initiator -> responder`; responses `initiator <- responder`.
            Record {
                kind: f[2].to_string(),
                initiator: f[3].to_string(),
                responder: f[5].to_string(),
                transport: f[6].to_string(),
                question: f[8].to_string(),
                message,
            }
        })
        .collect()
}

/// The records about `question`, as `kind transport` pairs.
fn kinds(records: &[&Record]) -> Vec<String> {
    records.iter().map(|r| format!("{} {}", r.kind, r.transport)).collect()
}

fn about<'r>(records: &'r [Record], question: &str) -> Vec<&'r Record> {
    records.iter().filter(|r| r.question == question).collect()
}

fn addresses(m: &Message) -> Vec<String> {
    let mut a: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    a.sort();
    a
}

#[test]
fn a_file_log_reads_back_with_dnstap_read() {
    let dir = TempDir::new("dnstap-file");
    let file = dir.path().join("queries.dnstap");
    let mut server = Server::builder()
        .zones(&diff_zones())
        .args(&["--dnstap", &file.display().to_string()])
        .start();
    assert_eq!(server.dig(&["www.diff.example", "A"]).rcode, "NOERROR");
    assert_eq!(server.dig(&["nope.diff.example", "MX", "+tcp"]).rcode, "NXDOMAIN");
    assert_eq!(server.dig6(&["mail.diff.example", "A"]).rcode, "NOERROR");
    // A clean stop writes STOP, ending the stream.
    server.terminate();
    let records = dnstap_read(&file);

    let www = about(&records, "www.diff.example/IN/A");
    assert_eq!(kinds(&www), ["AQ UDP", "AR UDP"], "{records:#?}");
    let (q, r) = (&www[0].message, &www[1].message);
    assert!(www[0].initiator.starts_with("127.0.0.1:"), "{:?}", www[0]);
    assert_eq!(www[0].responder, format!("127.0.0.1:{}", server.port));
    assert_eq!(q.metadata.id, r.metadata.id, "the response answers the query logged");
    assert_eq!(q.queries[0].name().to_ascii(), "www.diff.example.");
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(addresses(r), ["192.0.2.80", "192.0.2.81"]);

    let nope = about(&records, "nope.diff.example/IN/MX");
    assert_eq!(kinds(&nope), ["AQ TCP", "AR TCP"], "{records:#?}");
    assert_eq!(nope[1].message.metadata.response_code, ResponseCode::NXDomain);

    let mail = about(&records, "mail.diff.example/IN/A");
    assert_eq!(kinds(&mail), ["AQ UDP", "AR UDP"], "{records:#?}");
    assert!(mail[0].initiator.contains("::1"), "over IPv6: {:?}", mail[0]);
}

/// `fstrm_capture` listening on `socket`, writing `output`; stopped (SIGTERM, so
/// that it closes its file) on drop.
struct Capture(Child);

impl Capture {
    fn start(socket: &Path, output: &Path) -> Capture {
        let child = Command::new("fstrm_capture")
            .args(["-t", "protobuf:dnstap.Dnstap", "-u"])
            .arg(socket)
            .arg("-w")
            .arg(output)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("expected to run fstrm_capture (Debian's fstrm-bin; cargo xtask setup)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "fstrm_capture did not listen on {}",
                socket.display()
            );
            thread::sleep(Duration::from_millis(20));
        }
        Capture(child)
    }

    /// Stops it and waits until it has closed its output.
    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.0.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = self.0.kill();
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Waits until the server's log says the writer connected (messages before are dropped).
fn wait_connected(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains("dnstap connected") {
        assert!(
            Instant::now() < deadline,
            "dnstap never connected:\n{}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fstrm_capture_receives_client_and_resolver_messages() {
    let dir = TempDir::new("dnstap-capture");
    let socket = dir.path().join("tap.sock");
    let capture_file = dir.path().join("capture.fstrm");
    let capture = Capture::start(&socket, &capture_file);
    let upstream = Server::diff();
    let mut resolver = Server::builder()
        .identity("tap-pop")
        // The upstream is an unsigned authoritative server: its answers are taken as they are.
        .config("[resolver]\nforward_validation = false\n")
        .args(&[
            "--forward",
            &format!("127.0.0.1:{}", upstream.port),
            "--allow-recursion",
            "127.0.0.0/8",
            "--dnstap",
            &format!("unix:{}", socket.display()),
        ])
        .start();
    wait_connected(&resolver);
    let asked = resolver.dig(&["www.diff.example", "A", "+recurse"]);
    assert_eq!(asked.rcode, "NOERROR", "{}", asked.text);
    // Again, from the resolver's cache; over TCP.
    let again = resolver.dig(&["www.diff.example", "A", "+recurse", "+tcp"]);
    assert_eq!(again.rcode, "NOERROR", "{}", again.text);
    resolver.terminate();
    capture.stop();
    let records = dnstap_read(&capture_file);

    let www = about(&records, "www.diff.example/IN/A");
    assert_eq!(
        kinds(&www),
        ["CQ UDP", "RQ UDP", "RR UDP", "CR UDP", "CQ TCP", "CR TCP"],
        "{records:#?}"
    );
    let upstream_addr = format!("127.0.0.1:{}", upstream.port);
    assert_eq!(www[1].responder, upstream_addr, "the resolver's query went upstream");
    assert_eq!(www[2].responder, upstream_addr);
    assert!(www[1].initiator.starts_with("127.0.0.1:"), "{:?}", www[1]);
    assert!(www[2].message.metadata.authoritative, "the upstream answer, verbatim");
    assert_eq!(www[1].message.metadata.id, www[2].message.metadata.id);
    for client_response in [www[3], www[5]] {
        let m = &client_response.message;
        assert!(m.metadata.recursion_available && !m.metadata.authoritative, "{m:?}");
        assert_eq!(addresses(m), ["192.0.2.80", "192.0.2.81"]);
    }
    assert_eq!(www[0].message.metadata.id, www[3].message.metadata.id);
    assert_eq!(www[0].responder, format!("127.0.0.1:{}", resolver.port));
}

/// Sends `n` queries for `name` A from one socket, each answered before the next.
fn ask_udp(server: &Server, name: &str, n: u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    socket.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    socket.connect(("127.0.0.1", server.port)).expect("connect");
    let mut buf = [0u8; 1500];
    for id in 0..n {
        let query = test_support::Query::new(name, 1).id(id).to_wire();
        socket.send(&query).expect("send");
        let len = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("query {id} got no answer: {e}"));
        assert_eq!(&buf[..2], &id.to_be_bytes(), "the answer to query {id}");
        assert!(len > 12);
    }
}

#[test]
fn one_query_in_four_is_logged() {
    let dir = TempDir::new("dnstap-sample");
    let file = dir.path().join("queries.dnstap");
    let mut server = Server::builder()
        .zones(&diff_zones())
        .config(&format!("[dnstap]\nfile = \"{}\"\nsample = 4\n", file.display()))
        .start();
    ask_udp(&server, "www.diff.example.", 100);
    server.terminate();
    let records = dnstap_read(&file);
    let www = about(&records, "www.diff.example/IN/A");
    let queries = www.iter().filter(|r| r.kind == "AQ").count();
    let responses = www.iter().filter(|r| r.kind == "AR").count();
    // Counted per worker thread: exactly 25 with one, about 25 with more.
    assert!(
        (18..=32).contains(&queries),
        "{queries} of 100 queries logged at 1 in 4"
    );
    assert_eq!(responses, queries, "each sampled query with its response");
}

/// A Frame Streams reader that completes the handshake, then never reads.
struct StuckReader {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl StuckReader {
    fn start(path: &Path) -> StuckReader {
        let listener = UnixListener::bind(path).expect("bind the reader's socket");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking");
                        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                        // READY (escape, length, type 4, content type field).
                        let mut head = [0u8; 8];
                        if stream.read_exact(&mut head).is_ok() {
                            let mut rest = vec![0u8; u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize];
                            let _ = stream.read_exact(&mut rest);
                            let accept = accept_frame();
                            let _ = stream.write_all(&accept);
                        }
                        held.push(stream);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        StuckReader {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StuckReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// ACCEPT with the dnstap content type.
fn accept_frame() -> Vec<u8> {
    let content = b"protobuf:dnstap.Dnstap";
    let mut f = Vec::new();
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&((12 + content.len()) as u32).to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes());
    f.extend_from_slice(&(content.len() as u32).to_be_bytes());
    f.extend_from_slice(content);
    f
}

fn dropped(server: &Server) -> f64 {
    let text = scrape(server.metrics_addr());
    ["queue_full", "not_connected", "write_failed"]
        .iter()
        .map(|reason| sample(&text, "dns_server_dnstap_dropped_total", &[("reason", reason)]).unwrap_or(0.0))
        .sum()
}

#[test]
fn a_reader_that_never_reads_does_not_slow_answers() {
    let dir = TempDir::new("dnstap-stuck");
    let socket: PathBuf = dir.path().join("tap.sock");
    let _reader = StuckReader::start(&socket);
    let server = Server::builder()
        .zones(&diff_zones())
        .metrics()
        .args(&["--dnstap", &format!("unix:{}", socket.display())])
        .start();
    wait_connected(&server);
    let started = Instant::now();
    // Far more than the socket's buffer holds: the writer blocks, then gives up.
    for _ in 0..4 {
        ask_udp(&server, "www.diff.example.", 1000);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "4000 answers took {took:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while dropped(&server) == 0.0 {
        assert!(
            Instant::now() < deadline,
            "no dnstap drops counted:\n{}",
            scrape(server.metrics_addr())
        );
        thread::sleep(Duration::from_millis(100));
    }
    // Still answering.
    assert_eq!(server.dig(&["www.diff.example", "A"]).rcode, "NOERROR");
    let text = scrape(server.metrics_addr());
    if let Err(complaint) = promtool_check_metrics(&text) {
        panic!("promtool rejects the scrape with the dnstap families: {complaint}\n{text}");
    }
}

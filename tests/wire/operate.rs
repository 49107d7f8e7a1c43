//! Operating a running server: Prometheus scraping its metrics, `dns-server ctl`
//! over the control socket, and systemd readiness on a test NOTIFY_SOCKET.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    os::unix::{fs::PermissionsExt as _, net::UnixDatagram, net::UnixStream, process::CommandExt as _},
    process::Command,
    time::{Duration, Instant},
};

use crate::harness::{
    Server, TempDir,
    metrics::{Prometheus, http_get, http_raw, promtool_check_metrics, sample, samples, scrape},
};

/// A zone whose serial the tests change.
fn zone(serial: u32, www: &str) -> String {
    format!(
        "$ORIGIN ops.test.\n$TTL 60\n@ SOA ns1 hostmaster {serial} 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A {www}\n"
    )
}

/// Queries of several kinds: UDP and TCP, IPv4 and IPv6, an answer, NXDOMAIN, REFUSED.
fn send_queries(server: &Server) {
    assert_eq!(server.dig(&["www.diff.example", "A"]).rcode, "NOERROR");
    assert_eq!(server.dig(&["www.diff.example", "AAAA", "+tcp"]).rcode, "NOERROR");
    assert_eq!(server.dig(&["nope.diff.example", "A"]).rcode, "NXDOMAIN");
    assert_eq!(server.dig(&["nope.diff.example", "MX", "+tcp"]).rcode, "NXDOMAIN");
    assert_eq!(server.dig(&["example.org", "A"]).rcode, "REFUSED");
    assert_eq!(server.dig6(&["mail.diff.example", "A"]).rcode, "NOERROR");
}

#[test]
fn prometheus_scrapes_the_families_and_their_values() {
    let server = Server::builder().zones(&crate::harness::diff_zones()).metrics().start();
    send_queries(&server);

    // What the endpoint says, before Prometheus reads it.
    let text = scrape(server.metrics_addr());
    let at_least = |name: &str, labels: &[(&str, &str)], want: f64| {
        let got = sample(&text, name, labels).unwrap_or(0.0);
        assert!(
            got >= want,
            "expected {name}{labels:?} >= {want}, got {got}; scrape:\n{text}"
        );
    };
    at_least(
        "dns_server_queries_total",
        &[("transport", "udp"), ("family", "ipv4"), ("qtype", "A")],
        2.0,
    );
    at_least(
        "dns_server_queries_total",
        &[("transport", "tcp"), ("qtype", "AAAA")],
        1.0,
    );
    at_least(
        "dns_server_queries_total",
        &[("transport", "tcp"), ("qtype", "MX")],
        1.0,
    );
    at_least(
        "dns_server_queries_total",
        &[("transport", "udp"), ("family", "ipv6")],
        1.0,
    );
    at_least(
        "dns_server_responses_total",
        &[("transport", "udp"), ("rcode", "nxdomain")],
        1.0,
    );
    at_least(
        "dns_server_responses_total",
        &[("transport", "tcp"), ("rcode", "nxdomain")],
        1.0,
    );
    at_least(
        "dns_server_responses_total",
        &[("transport", "udp"), ("rcode", "refused")],
        1.0,
    );
    at_least("dns_server_rcode_responses_total", &[("rcode", "refused")], 1.0);
    at_least("dns_server_answer_duration_seconds_count", &[("transport", "udp")], 4.0);
    at_least("dns_server_response_size_bytes_count", &[("transport", "tcp")], 2.0);
    at_least("dns_server_tcp_connections_admitted_total", &[], 2.0);
    at_least("dns_server_tcp_connections_closed_total", &[("reason", "peer")], 2.0);
    assert_eq!(
        sample(&text, "dns_server_zone_serial", &[("zone", "diff.example.")]),
        Some(2_024_010_101.0),
        "the serial served; scrape:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            "dns_server_zone_status",
            &[("zone", "diff.example."), ("status", "loaded")]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "dns_server_zones", &[("state", "failed")]), Some(0.0));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(&text, "dns_server_build_info", &[("version", version)]),
        Some(1.0)
    );
    assert!(
        samples(&text, "dns_server_queries_total")
            .iter()
            .all(|(l, _)| l["transport"] != "xdp"),
        "no XDP series without XDP"
    );

    // A real Prometheus scrapes it and answers for it through its HTTP API.
    let prometheus = Prometheus::scraping(server.metrics_addr());
    let limit = Duration::from_secs(40);
    prometheus.wait_for("up{job=\"dns-server\"} == 1", limit, |r| r.len() == 1);
    let queries = prometheus.wait_for("sum by (transport) (dns_server_queries_total)", limit, |r| r.len() == 2);
    for (labels, value) in &queries {
        assert!(*value >= 3.0, "queries by transport arrived: {queries:?} ({labels:?})");
    }
    let nx = prometheus.wait_for("sum(dns_server_responses_total{rcode=\"nxdomain\"})", limit, |r| {
        !r.is_empty()
    });
    assert!(nx[0].1 >= 2.0, "NXDOMAIN responses over UDP and TCP: {nx:?}");
    let serial = prometheus.wait_for("dns_server_zone_serial{zone=\"deep.diff.example.\"}", limit, |r| {
        !r.is_empty()
    });
    assert!(serial[0].1 > 0.0, "{serial:?}");
    let p99 = prometheus.wait_for(
        "histogram_quantile(0.99, sum by (le) (dns_server_answer_duration_seconds_bucket))",
        limit,
        |r| !r.is_empty(),
    );
    assert!(
        p99[0].1 > 0.0 && p99[0].1 <= 1.0,
        "a userspace answer takes well under a second: {p99:?}"
    );
    for family in [
        "dns_server_build_info",
        "dns_server_start_time_seconds",
        "dns_server_tcp_connections_open",
        "dns_server_zone_load_timestamp_seconds",
        "dns_server_dropped_total",
        "dns_server_answer_cache_lookups_total",
    ] {
        prometheus.wait_for(family, limit, |r| !r.is_empty());
    }
}

#[test]
fn a_scrape_passes_promtool_and_openmetrics_comes_on_request() {
    let server = Server::builder().zones(&crate::harness::diff_zones()).metrics().start();
    send_queries(&server);
    let plain = http_get(server.metrics_addr(), "/metrics", None);
    assert!(plain.headers.contains("text/plain; version=0.0.4"), "{}", plain.headers);
    if let Err(complaint) = promtool_check_metrics(&plain.body) {
        panic!(
            "expected promtool check metrics to accept a scrape: {complaint}\nscrape:\n{}",
            plain.body
        );
    }
    let open = http_get(
        server.metrics_addr(),
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert!(
        open.headers.contains("application/openmetrics-text"),
        "{}",
        open.headers
    );
    assert!(
        open.body.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    assert!(open.body.contains("# TYPE dns_server_queries counter"), "{}", open.body);
    assert!(plain.body.contains("# TYPE dns_server_queries_total counter"));
    assert!(
        !plain.body.contains("# EOF"),
        "the text format has no OpenMetrics terminator"
    );
}

#[test]
fn the_metrics_endpoint_bounds_idle_many_and_malformed_clients() {
    let server = Server::builder().zones(&crate::harness::diff_zones()).metrics().start();
    let addr = server.metrics_addr();
    assert_eq!(http_get(addr, "/", None).status, 404);
    assert_eq!(
        http_raw(
            addr,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .status,
        405
    );
    assert_eq!(
        http_raw(addr, b"GARBAGE \x01\x02\r\n\r\n").status,
        400,
        "malformed HTTP"
    );
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(64 * 1024));
    let too_big = http_raw(addr, huge.as_bytes()).status;
    assert!(
        too_big == 431 || too_big == 400,
        "an oversized request is refused, got {too_big}"
    );

    // Scrapers that connect and never send: the table fills and the rest are
    // closed at once, and DNS answers as before.
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect();
    assert!(!idle.is_empty(), "idle connections were accepted");
    let started = Instant::now();
    assert_eq!(server.dig(&["www.diff.example", "A"]).rcode, "NOERROR");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "DNS answered at once while the metrics endpoint was full: {:?}",
        started.elapsed()
    );
    drop(idle);

    // Many concurrent scrapes: each gets a whole exposition or is closed; none hangs.
    let scrapers: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || {
                let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
                    return false;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut body = String::new();
                let _ = stream.read_to_string(&mut body);
                body.contains("dns_server_build_info")
            })
        })
        .collect();
    let served = scrapers
        .into_iter()
        .filter_map(|s| s.join().ok())
        .filter(|&ok| ok)
        .count();
    assert!(served > 0, "some of the concurrent scrapes were served");
    // Once they are gone, a scrape is served and says how many were turned away.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let response = http_get(addr, "/metrics", None);
        if response.status == 200 || Instant::now() > deadline {
            break response.body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let refused = sample(&text, "dns_server_metrics_connections_refused_total", &[]);
    assert!(
        refused.is_some_and(|n| n > 0.0),
        "connections beyond the limit are counted: {refused:?}"
    );
    assert_eq!(server.dig(&["www.diff.example", "A"]).rcode, "NOERROR");
}

#[test]
fn every_ctl_command_against_a_running_server() {
    let dir = TempDir::new("ctl");
    let file = dir.write("ops.test.zone", &zone(1, "192.0.2.10"));
    let server = Server::builder()
        .zone("ops.test.", &file)
        .control()
        // Recursion on, so that there is a cache to flush; nothing is ever resolved.
        .args(&["--forward", "127.0.0.1:9"])
        .config("[resolver]\nforward_validation = false\n")
        .start();

    let status = server.ctl_ok(&["status"]);
    assert!(status.contains("zones: 1 served, 0 failed"), "{status}");
    assert!(
        status.contains("resolver: on") && status.contains("xdp: off"),
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&server.ctl_ok(&["--json", "status"])).expect("JSON status");
    assert_eq!(json["zones"]["served"], 1, "{json}");
    assert_eq!(json["pid"], server.pid(), "{json}");

    let zones = server.ctl_ok(&["zone-status"]);
    assert!(zones.contains("ops.test.") && zones.contains("serial 1"), "{zones}");
    let one = server.ctl_ok(&["zone-status", "ops.test"]);
    assert!(one.contains("loaded"), "{one}");
    let unknown = server.ctl(&["zone-status", "nowhere.test."]);
    assert!(!unknown.status.success(), "an unknown zone is an error");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not configured"));

    // reload: the changed file is read, as at SIGHUP.
    std::fs::write(&file, zone(2, "192.0.2.20")).expect("zone rewritten");
    let reloaded = server.ctl_ok(&["reload"]);
    assert!(reloaded.contains("serial 2"), "{reloaded}");
    assert_eq!(server.dig(&["www.ops.test", "A"]).answer[0].rdata, "192.0.2.20");

    // reload ZONE: that zone's files, read again.
    std::fs::write(&file, zone(3, "192.0.2.30")).expect("zone rewritten");
    let one = server.ctl_ok(&["reload", "ops.test."]);
    assert!(one.contains("serial 3"), "{one}");
    assert_eq!(server.dig(&["www.ops.test", "A"]).answer[0].rdata, "192.0.2.30");
    std::fs::write(&file, "garbage\n").expect("zone broken");
    let kept = server.ctl_ok(&["reload", "ops.test."]);
    assert!(
        kept.contains("failed-keeping-old") && kept.contains("serial 3"),
        "{kept}"
    );
    let json: serde_json::Value = serde_json::from_str(&server.ctl_ok(&["--json", "zone-status"])).expect("JSON");
    assert!(
        json[0]["error"].as_str().is_some_and(|e| e.contains("ops.test.zone")),
        "{json}"
    );
    assert!(!server.ctl(&["reload", "nowhere.test."]).status.success());

    let flushed = server.ctl_ok(&["cache-flush"]);
    assert!(flushed.contains("flushed the whole cache"), "{flushed}");
    let flushed = server.ctl_ok(&["cache-flush", "example.net"]);
    assert!(flushed.contains("example.net. and below"), "{flushed}");

    let stats = server.ctl_ok(&["stats"]);
    for counter in ["server.udp_queries ", "server.reloads ", "resolver.cache_entries "] {
        assert!(stats.contains(counter), "{counter} in:\n{stats}");
    }

    // Without XDP there is no deny list: a clear error.
    let deny = server.ctl(&["deny", "list"]);
    assert!(!deny.status.success());
    assert!(String::from_utf8_lossy(&deny.stderr).contains("XDP is not attached"));

    // Garbage gets a clear error and the socket keeps working.
    for garbage in [
        &b"hello\n"[..],
        b"{\"command\":\"explode\"}\n",
        &[0xff, 0xfe, b'\n'],
        &[b'x'; 10_000],
    ] {
        let mut stream = UnixStream::connect(server.control_socket()).expect("control socket");
        stream.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
        let _ = stream.write_all(garbage);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("a reply");
        let reply: serde_json::Value =
            serde_json::from_str(&reply).unwrap_or_else(|e| panic!("JSON reply to garbage: {e}: {reply}"));
        assert_eq!(reply["ok"], false, "{reply}");
        assert!(!reply["text"].as_str().unwrap_or_default().is_empty(), "{reply}");
    }
    assert!(server.ctl_ok(&["status"]).contains("served"));
}

#[test]
fn the_control_socket_is_for_its_owner_only() {
    let server = Server::builder().control().start();
    let mode = std::fs::metadata(server.control_socket())
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    // As nobody, connecting is refused by the file's mode.
    let out = Command::new(env!("CARGO_BIN_EXE_dns-server"))
        .arg("ctl")
        .arg("--socket")
        .arg(server.control_socket())
        .arg("status")
        .uid(65534)
        .gid(65534)
        .output()
        .expect("ctl ran as nobody");
    assert!(!out.status.success(), "nobody may not use the socket");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second server refuses to take a socket a running one answers on.
    let second = Command::new(env!("CARGO_BIN_EXE_dns-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-file", "", "--control"])
        .arg(server.control_socket())
        .output()
        .expect("second server ran");
    assert!(!second.status.success(), "the socket is in use");
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use"));
    assert!(server.ctl_ok(&["status"]).contains("served"), "the first still answers");
}

/// Datagrams received on a test NOTIFY_SOCKET until `until` holds for them or `limit` passes.
fn notifications(socket: &UnixDatagram, limit: Duration, until: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + limit;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !until(&seen) {
        if let Ok(n) = socket.recv(&mut buf) {
            seen.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_string));
        }
    }
    seen
}

#[test]
fn readiness_reaches_the_notify_socket() {
    let dir = TempDir::new("notify");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("notify socket");
    let server = Server::builder()
        .zones(&crate::harness::diff_zones())
        .env("NOTIFY_SOCKET", &path.display().to_string())
        .env("WATCHDOG_USEC", "200000")
        .start();
    let seen = notifications(&socket, Duration::from_secs(10), |s| {
        s.iter().any(|l| l == "READY=1") && s.iter().any(|l| l == "WATCHDOG=1")
    });
    let ready = seen.iter().position(|l| l == "READY=1");
    let loading = seen.iter().position(|l| l == "STATUS=loading zones");
    assert!(
        matches!((loading, ready), (Some(l), Some(r)) if l < r),
        "STATUS=loading zones, then READY=1: {seen:?}"
    );
    assert!(
        seen.iter().any(|l| l == "STATUS=serving 2 zones, 0 failed"),
        "a status line with the zones: {seen:?}"
    );
    assert!(seen.iter().any(|l| l == "WATCHDOG=1"), "watchdog pings: {seen:?}");

    server.sighup();
    let seen = notifications(&socket, Duration::from_secs(10), |s| {
        s.iter().any(|l| l == "RELOADING=1") && s.iter().any(|l| l == "READY=1")
    });
    let reloading = seen.iter().position(|l| l == "RELOADING=1");
    let ready = seen.iter().rposition(|l| l == "READY=1");
    assert!(
        matches!((reloading, ready), (Some(a), Some(b)) if a < b),
        "RELOADING=1, then READY=1 again: {seen:?}"
    );
    assert!(seen.iter().any(|l| l.starts_with("MONOTONIC_USEC=")), "{seen:?}");
}

#[test]
fn the_alert_rules_pass_promtool() {
    for path in crate::harness::metrics::alert_rules_paths() {
        let out = Command::new("promtool")
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .expect("expected to run promtool (Debian's prometheus package)");
        assert!(
            out.status.success(),
            "promtool check rules {}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let names = crate::harness::metrics::metric_names(
        "sum by (rcode) (rate(dns_server_responses_total{rcode=\"dns_server_x\",instance=~\"$instance\"}[5m])) / up",
    );
    assert_eq!(
        names,
        ["dns_server_responses_total", "up"],
        "label values are not metric names"
    );
}

#[test]
fn the_sidecar_serves_its_own_metrics() {
    let server = Server::builder().zones(&crate::harness::diff_zones()).start();
    let dir = TempDir::new("sidecar-metrics");
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], crate::harness::free_port()));
    let mut sidecar =
        crate::harness::dry_run_sidecar(&dir, server.port, &format!("[metrics]\nlisten = \"{metrics}\"\n"));
    let log = || std::fs::read_to_string(dir.path().join("sidecar.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let text = TcpStream::connect(metrics)
            .ok()
            .map(|_| scrape(metrics))
            .unwrap_or_default();
        let up = sample(
            &text,
            "dns_server_sidecar_state",
            &[("prefix", "192.0.2.53/32"), ("state", "up")],
        );
        if up == Some(1.0) {
            break text;
        }
        if Instant::now() > deadline {
            let _ = sidecar.kill();
            panic!(
                "expected the sidecar's metrics to show the prefix up; scrape:\n{text}\nlog:\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        sample(&text, "dns_server_sidecar_check_up", &[("check", "dns")]),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "dns_server_sidecar_probes_total",
            &[("check", "dns"), ("result", "ok")]
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    let latency = sample(&text, "dns_server_sidecar_check_latency_seconds", &[("check", "dns")]);
    assert!(latency.is_some_and(|s| s > 0.0 && s < 1.0), "{latency:?}");
    assert_eq!(
        sample(
            &text,
            "dns_server_sidecar_transitions_total",
            &[("from", "down"), ("to", "up")]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "dns_server_sidecar_speaker_errors_total", &[]), Some(0.0));
    if let Err(complaint) = promtool_check_metrics(&text) {
        panic!("promtool rejects the sidecar's scrape: {complaint}\n{text}");
    }
    // The sidecar's alert rules read only what it exports.
    let [_, rules] = crate::harness::metrics::alert_rules_paths();
    crate::harness::metrics::assert_queries_name_only(&crate::harness::metrics::rule_queries(&rules), &text);
    // The DNS server stops answering: the check falls and the prefix is withdrawn.
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = scrape(metrics);
        if sample(&text, "dns_server_sidecar_state", &[("state", "down")]) == Some(1.0) {
            assert!(
                sample(&text, "dns_server_sidecar_probes_total", &[("result", "failed")]).is_some_and(|n| n >= 2.0)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected the prefix down; scrape:\n{text}\nlog:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = sidecar.kill();
    let _ = sidecar.wait();
}

//! The counters as every reader sees them: the metrics endpoint, `ctl stats`
//! and the shutdown summary read the same per-thread sums; `[metrics]
//! per_zone = true` counts by zone (UDP and TCP, names outside every zone
//! left out), and is off by default.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use crate::harness::{
    Server,
    metrics::{promtool_check_metrics, sample, samples, scrape},
};

#[test]
fn per_zone_counts_each_zone_apart() {
    let server = Server::builder()
        .zones(&crate::harness::diff_zones())
        .config("[metrics]\nper_zone = true\n")
        .metrics()
        .control()
        .start();
    assert_eq!(server.dig(&["www.diff.example", "A"]).rcode, "NOERROR");
    assert_eq!(server.dig(&["nope.diff.example", "A", "+tcp"]).rcode, "NXDOMAIN");
    assert_eq!(server.dig(&["host.deep.diff.example", "A"]).rcode, "NOERROR");
    assert_eq!(server.dig(&["HOST.Deep.Diff.Example", "AAAA"]).rcode, "NOERROR");
    assert_eq!(server.dig(&["example.org", "A"]).rcode, "REFUSED");
    let text = scrape(server.metrics_addr());
    let zone = |z: &str| sample(&text, "dns_server_zone_queries_total", &[("zone", z)]);
    assert_eq!(zone("diff.example."), Some(2.0), "{text}");
    assert_eq!(
        zone("deep.diff.example."),
        Some(2.0),
        "the most specific zone, any case: {text}"
    );
    assert_eq!(
        samples(&text, "dns_server_zone_queries_total").len(),
        2,
        "names outside every zone make no series: {text}"
    );
    let responses = |z: &str, rcode: &str| {
        sample(
            &text,
            "dns_server_zone_responses_total",
            &[("zone", z), ("rcode", rcode)],
        )
    };
    assert_eq!(responses("diff.example.", "nxdomain"), Some(1.0), "{text}");
    assert_eq!(responses("diff.example.", "noerror"), Some(1.0), "{text}");
    assert_eq!(responses("deep.diff.example.", "noerror"), Some(2.0), "{text}");
    promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}\n{text}"));
    let stats = server.ctl_ok(&["stats"]);
    assert!(
        stats.contains("zone[deep.diff.example.].queries 2\n"),
        "ctl stats reads the same sums:\n{stats}"
    );
}

#[test]
fn per_zone_is_off_by_default() {
    let server = Server::builder().zones(&crate::harness::diff_zones()).metrics().start();
    assert_eq!(server.dig(&["www.diff.example", "A"]).rcode, "NOERROR");
    let text = scrape(server.metrics_addr());
    assert!(
        samples(&text, "dns_server_zone_queries_total").is_empty(),
        "no per-zone series unless asked: {text}"
    );
    assert!(sample(&text, "dns_server_queries_total", &[("qtype", "A")]).is_some());
}

#[test]
fn metrics_ctl_stats_and_the_shutdown_summary_read_the_same_sums() {
    let server = Server::builder()
        .zones(&crate::harness::diff_zones())
        .metrics()
        .control()
        .start();
    for _ in 0..3 {
        assert_eq!(server.dig(&["nope.diff.example", "A"]).rcode, "NXDOMAIN");
    }
    assert_eq!(server.dig(&["www.diff.example", "A", "+tcp"]).rcode, "NOERROR");
    let text = scrape(server.metrics_addr());
    let udp = sample(&text, "dns_server_messages_received_total", &[("transport", "udp")])
        .unwrap_or_else(|| panic!("{text}"));
    let nxdomain = sample(&text, "dns_server_rcode_responses_total", &[("rcode", "nxdomain")]);
    assert!(udp >= 3.0, "{text}");
    assert_eq!(nxdomain, Some(3.0), "{text}");
    let stats = server.ctl_ok(&["stats"]);
    for line in [
        format!("server.udp_queries {udp}\n"),
        "server.rcode_nxdomain 3\n".to_string(),
    ] {
        assert!(stats.contains(&line), "ctl stats has {line:?}:\n{stats}");
    }
    let term = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let summary = loop {
        let log = server.stderr();
        if let Some(line) = log.lines().find(|l| l.contains("stopped") && l.contains("counters=")) {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "no shutdown summary in:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for pair in [format!("udp_queries={udp} "), "rcode_nxdomain=3".to_string()] {
        assert!(summary.contains(&pair), "the summary has {pair:?}: {summary}");
    }
}

//! `[metrics] per_zone = true`: queries and responses by zone, over UDP and
//! TCP, with names outside every zone left out; off by default.

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

//! The resolver's metrics move as the lab says they should: cache hits and
//! misses, upstream results (answers, a refusal, a dead server), serve-stale,
//! resolution latency, validation outcomes on the signed lab.

use std::{thread, time::Duration};

use super::{
    addresses, ask,
    lab::{Lab, host},
    validation,
};
use crate::harness::{
    Server,
    metrics::{assert_queries_name_only, deploy_queries, promtool_check_metrics, sample, scrape},
};

fn resolver_with_metrics(lab: &Lab, extra: &str) -> Server {
    Server::builder()
        .config(&format!(
            "[resolver]\nenabled = true\nallow = [\"127.0.0.0/8\"]\nroot_hints = \"{}\"\ndo_not_query_localhost = false\n{extra}",
            lab.hints().display()
        ))
        .metrics()
        .control()
        .start()
}

/// The value of `name` with `labels` (0 when absent).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or(0.0)
}

/// How much each `(name, labels)` grew between two scrapes.
fn grew(before: &str, after: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(after, name, labels) - value(before, name, labels)
}

#[test]
fn resolver_metrics_count_cache_upstream_stale_and_latency() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let mut lab = Lab::start();
    let server = resolver_with_metrics(&lab, "validation = false\n");
    let before = scrape(server.metrics_addr());
    let lookups = "dns_server_resolver_cache_lookups_total";
    let upstream = "dns_server_resolver_upstream_queries_total";

    assert_eq!(addresses(&ask(&server, "www.glue.test.", "A")), vec!["192.0.2.1"]);
    assert_eq!(addresses(&ask(&server, "www.glue.test.", "A")), vec!["192.0.2.1"]);
    assert_eq!(ask(&server, "nope.glue.test.", "A").rcode, "NXDOMAIN");
    assert_eq!(addresses(&ask(&server, "www.noglue.test.", "A")), vec!["192.0.2.2"]);
    let after = scrape(server.metrics_addr());
    let moved = |name: &str, labels: &[(&str, &str)]| grew(&before, &after, name, labels);
    assert_eq!(
        moved(lookups, &[("result", "hit")]),
        1.0,
        "the second www.glue.test is a hit:\n{after}"
    );
    assert_eq!(moved(lookups, &[("result", "miss")]), 3.0, "{after}");
    assert!(moved(upstream, &[("result", "noerror")]) >= 3.0, "{after}");
    assert_eq!(moved(upstream, &[("result", "nxdomain")]), 1.0, "{after}");
    assert_eq!(
        moved("dns_server_resolver_resolution_duration_seconds_count", &[]),
        3.0,
        "one resolution per miss:\n{after}"
    );
    assert!(moved("dns_server_resolver_resolution_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(moved("dns_server_resolver_stale_answers_total", &[]), 0.0);
    assert!(value(&after, "dns_server_resolver_cache_entries", &[]) > 0.0);
    assert_eq!(
        value(&after, "dns_server_resolver_validations_total", &[("result", "bogus")]),
        0.0,
        "nothing validated with validation off"
    );
    promtool_check_metrics(&after).unwrap_or_else(|e| panic!("promtool: {e}\n{after}"));
    // The dashboard's resolver panels read only what a resolver exports.
    let resolver_queries: Vec<(String, String)> = deploy_queries()
        .into_iter()
        .filter(|(_, expr)| expr.contains("dns_server_resolver_"))
        .collect();
    assert!(resolver_queries.len() >= 8, "{resolver_queries:?}");
    assert_queries_name_only(&resolver_queries, &after);

    // short.glue.test has TTL 2: let it expire with every server gone.
    assert_eq!(addresses(&ask(&server, "short.glue.test.", "A")), vec!["192.0.2.10"]);
    lab.stop_all();
    thread::sleep(Duration::from_millis(2500));
    assert_eq!(addresses(&ask(&server, "short.glue.test.", "A")), vec!["192.0.2.10"]);
    let stale = scrape(server.metrics_addr());
    assert_eq!(
        grew(&after, &stale, "dns_server_resolver_stale_answers_total", &[]),
        1.0,
        "{stale}"
    );

    let ctl = server.ctl_ok(&["stats"]);
    for line in ["resolver.cache_hits 1\n", "resolver.stale_answers 1\n"] {
        assert!(ctl.contains(line), "ctl stats reads the same sums ({line:?}):\n{ctl}");
    }
}

#[test]
fn resolver_metrics_count_refusals_and_dead_servers() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let lab = Lab::start();
    // Forwarding to the lame server (it refuses what it does not serve)
    // and to an address where nothing listens.
    let server = Server::builder()
        .config(&format!(
            "[resolver]\nenabled = true\nallow = [\"127.0.0.0/8\"]\nforward = [\"{}:53\", \"{}:53\"]\nforward_validation = false\n",
            lab.ip(host::LAME),
            lab.ip(host::DEAD)
        ))
        .metrics()
        .start();
    assert_eq!(ask(&server, "www.glue.test.", "A").rcode, "SERVFAIL");
    let text = scrape(server.metrics_addr());
    let upstream = "dns_server_resolver_upstream_queries_total";
    assert!(value(&text, upstream, &[("result", "refused")]) >= 1.0, "{text}");
    assert!(
        value(&text, upstream, &[("result", "timeout")]) + value(&text, upstream, &[("result", "error")]) >= 1.0,
        "the dead server:\n{text}"
    );
    assert_eq!(value(&text, upstream, &[("result", "noerror")]), 0.0, "{text}");
}

#[test]
fn resolver_metrics_count_validation_outcomes() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = validation::signed_lab();
    let server = resolver_with_metrics(
        &signed.lab,
        &format!("trust_anchor_file = \"{}\"\n", signed.anchors.display()),
    );
    let validations = "dns_server_resolver_validations_total";
    let before = scrape(server.metrics_addr());
    for (name, rcode) in [
        ("www.secure.test.", "NOERROR"),
        ("altered.secure.test.", "SERVFAIL"),
        ("www.expired.test.", "SERVFAIL"),
        ("www.insecure.test.", "NOERROR"),
    ] {
        let r = ask(&server, name, "A");
        assert_eq!(r.rcode, rcode, "{name}: {}", r.text);
    }
    let after = scrape(server.metrics_addr());
    for (result, want) in [("secure", 1.0), ("bogus", 2.0), ("insecure", 1.0)] {
        assert_eq!(
            grew(&before, &after, validations, &[("result", result)]),
            want,
            "{result}:\n{after}"
        );
    }
}

#[test]
fn an_insecure_delegation_proven_by_its_referral_costs_no_ds_query() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let signed = validation::signed_lab();
    let server = resolver_with_metrics(
        &signed.lab,
        &format!("trust_anchor_file = \"{}\"\n", signed.anchors.display()),
    );
    let upstream = "dns_server_resolver_upstream_queries_total";
    // The root's and test.'s keys validated, and test.'s servers known.
    assert_eq!(ask(&server, "www.secure.test.", "A").rcode, "NOERROR");
    let before = scrape(server.metrics_addr());
    let r = ask(&server, "www.insecure.test.", "A");
    assert_eq!((r.rcode.as_str(), r.flag("ad")), ("NOERROR", false), "{}", r.text);
    let after = scrape(server.metrics_addr());
    // test.'s referral to insecure.test. carries the NSEC proving no DS:
    // judged there, it spares the DS query (Unbound asks none either).
    let sent: f64 = ["noerror", "nxdomain"]
        .iter()
        .map(|result| grew(&before, &after, upstream, &[("result", result)]))
        .sum();
    assert_eq!(
        sent, 2.0,
        "the referral (insecure.test. minimised) and the answer, no DS query:\n{after}"
    );
    let validations = "dns_server_resolver_validations_total";
    assert_eq!(
        grew(&before, &after, validations, &[("result", "insecure")]),
        1.0,
        "{after}"
    );
}

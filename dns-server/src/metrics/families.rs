//! Every `dns_server_*` family, read from its source at scrape time.

use std::{fmt, time::UNIX_EPOCH};

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet},
    metrics::MetricType,
};

use super::{Sources, counters::Histogram};
use crate::catalog::ZoneStatus;

/// The prometheus-client collector over [`Sources`].
#[derive(Debug)]
pub(crate) struct Collector(pub std::sync::Arc<Sources>);

/// Labels of one series.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// Where each of the server's [`Stats`](crate::stats::Stats) counters goes:
/// (counter, family, label name and value; no label when the name is empty).
/// A counter missing here is still exported, under `dns_server_events_total`.
const STATS_FAMILIES: &[(&str, &str, &str, &str)] = &[
    ("udp_queries", "dns_server_messages_received", "transport", "udp"),
    ("tcp_queries", "dns_server_messages_received", "transport", "tcp"),
    ("dropped_too_short", "dns_server_dropped", "reason", "too_short"),
    ("dropped_response", "dns_server_dropped", "reason", "response"),
    ("dropped_send_failed", "dns_server_dropped", "reason", "send_failed"),
    ("truncated", "dns_server_truncated", "", ""),
    ("cache_hits", "dns_server_answer_cache_lookups", "result", "hit"),
    ("cache_misses", "dns_server_answer_cache_lookups", "result", "miss"),
    ("tcp_admitted", "dns_server_tcp_connections_admitted", "", ""),
    (
        "tcp_refused_per_source",
        "dns_server_tcp_connections_refused",
        "reason",
        "per_source",
    ),
    (
        "tcp_closed_evicted",
        "dns_server_tcp_connections_closed",
        "reason",
        "evicted",
    ),
    ("tcp_idle_closed", "dns_server_tcp_connections_closed", "reason", "idle"),
    (
        "tcp_closed_slow_query",
        "dns_server_tcp_connections_closed",
        "reason",
        "slow_query",
    ),
    (
        "tcp_closed_slow_reader",
        "dns_server_tcp_connections_closed",
        "reason",
        "slow_reader",
    ),
    (
        "tcp_closed_by_peer",
        "dns_server_tcp_connections_closed",
        "reason",
        "peer",
    ),
    (
        "tcp_closed_not_a_query",
        "dns_server_tcp_connections_closed",
        "reason",
        "not_a_query",
    ),
    (
        "tcp_closed_error",
        "dns_server_tcp_connections_closed",
        "reason",
        "error",
    ),
    ("cookies_valid", "dns_server_cookies", "result", "valid"),
    ("cookies_invalid", "dns_server_cookies", "result", "invalid"),
    ("cookies_absent", "dns_server_cookies", "result", "absent"),
    ("cookies_malformed", "dns_server_cookies", "result", "malformed"),
    ("recursions", "dns_server_recursions", "", ""),
    ("recursion_overloaded", "dns_server_recursion_overloaded", "", ""),
    ("reloads", "dns_server_reloads", "result", "done"),
    ("reload_timeouts", "dns_server_reloads", "result", "timeout"),
    ("zones_loaded", "dns_server_zone_loads", "result", "loaded"),
    ("zones_unchanged", "dns_server_zone_loads", "result", "unchanged"),
    ("zone_load_failures", "dns_server_zone_loads", "result", "failed"),
    ("reload_failures", "dns_server_zone_failures_kept_old", "", ""),
    ("zone_unloaded_servfail", "dns_server_zone_unloaded_servfail", "", ""),
    ("zone_commits", "dns_server_zone_commits", "", ""),
    (
        "zone_file_write_failures",
        "dns_server_zone_file_write_failures",
        "",
        "",
    ),
];

/// Help text of the families above.
fn stats_help(family: &str) -> &'static str {
    match family {
        "dns_server_messages_received" => "Messages received in userspace, before any check, by transport.",
        "dns_server_dropped" => "Messages dropped without an answer, by reason.",
        "dns_server_truncated" => "Responses sent with TC set.",
        "dns_server_answer_cache_lookups" => "Zone answers from the wire-answer cache (hit) or built (miss).",
        "dns_server_tcp_connections_admitted" => "TCP connections admitted into the connection table.",
        "dns_server_tcp_connections_refused" => "TCP connections closed at once, by reason.",
        "dns_server_tcp_connections_closed" => "TCP connections closed, by reason.",
        "dns_server_cookies" => "Queries with a DNS cookie, by what the server cookie was.",
        "dns_server_recursions" => "Queries resolved recursively.",
        "dns_server_recursion_overloaded" => "Recursive queries answered SERVFAIL: too many in flight.",
        "dns_server_reloads" => "Reloads, by result.",
        "dns_server_zone_loads" => "Zone loads at start or reload, by result.",
        "dns_server_zone_failures_kept_old" => "Zone loads that failed while an older version kept serving.",
        "dns_server_zone_unloaded_servfail" => "Queries answered SERVFAIL: their zone has no version loaded.",
        "dns_server_zone_commits" => "Zone transactions committed (ctl zone-commit).",
        "dns_server_zone_file_write_failures" => "Zone files not rewritten after a commit.",
        _ => "A server counter.",
    }
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = &*self.0;
        build_info(&mut encoder, s)?;
        queries(&mut encoder, s)?;
        server_stats(&mut encoder, s)?;
        tcp(&mut encoder, s)?;
        zones(&mut encoder, s)?;
        super::transfers::transfers(&mut encoder, s)?;
        resolver(&mut encoder, s)?;
        if let Some(dnstap) = &s.shared.dnstap {
            dnstap.encode_metrics(&mut encoder)?;
        }
        xdp(&mut encoder, s)
    }
}

fn build_info(e: &mut DescriptorEncoder, s: &Sources) -> fmt::Result {
    version_info(e)?;
    let started = s.started.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    gauge(
        e,
        "dns_server_start_time_seconds",
        "When the server started, in seconds since the Unix epoch.",
        [(Labels::new(), started)],
    )
}

/// `dns_server_build_info`: the version and commit running.
pub(crate) fn version_info(e: &mut DescriptorEncoder) -> fmt::Result {
    let labels: Labels = vec![
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        (
            "commit",
            option_env!("DNS_SERVER_COMMIT").unwrap_or("unknown").to_string(),
        ),
    ];
    gauge(
        e,
        "dns_server_build_info",
        "The version running; always 1.",
        [(labels, 1.0)],
    )
}

fn queries(e: &mut DescriptorEncoder, s: &Sources) -> fmt::Result {
    let totals = s.shared.metrics.as_ref().map(|m| m.totals()).unwrap_or_default();
    let xdp_hits = s.xdp.as_ref().and_then(|x| x.read_counters().ok()).map(|c| {
        c.iter()
            .filter(|(stat, _)| matches!(stat, xdp_abi::Stat::Hit | xdp_abi::Stat::RecursiveHit))
            .map(|(_, n)| n)
            .sum::<u64>()
    });
    let mut series: Vec<(Labels, u64)> = totals
        .queries
        .iter()
        .map(|&(t, f, q, n)| (labels3(("transport", t), ("family", f), ("qtype", q)), n))
        .collect();
    if let Some(hits) = xdp_hits {
        series.push((labels3(("transport", "xdp"), ("family", "any"), ("qtype", "any")), hits));
    }
    counter(
        e,
        "dns_server_queries",
        "Queries answered (or dropped) in userspace by transport, address family and query type; transport=\"xdp\" counts the answers sent from the XDP program (family and qtype \"any\").",
        series,
    )?;
    let responses = totals
        .responses
        .iter()
        .map(|&(t, f, r, n)| (labels3(("transport", t), ("family", f), ("rcode", r)), n));
    counter(
        e,
        "dns_server_responses",
        "Responses sent from userspace by transport, address family and header RCODE.",
        responses.collect::<Vec<_>>(),
    )?;
    if let Some(zones) = s.shared.metrics.as_ref().and_then(|m| m.zone_totals()) {
        per_zone(e, &zones)?;
    }
    histograms(
        e,
        "dns_server_answer_duration_seconds",
        "Time from a query's arrival in userspace to its answer being ready, by transport (over UDP, the answers of a batch read at once are ready, and timed, together).",
        &totals.latency,
    )?;
    histograms(
        e,
        "dns_server_response_size_bytes",
        "Size of the responses sent from userspace, by transport.",
        &totals.size,
    )
}

/// `per_zone = true`: queries and responses by zone.
fn per_zone(e: &mut DescriptorEncoder, zones: &[crate::metrics::zones::ZoneTotals]) -> fmt::Result {
    let zone = |z: &crate::metrics::zones::ZoneTotals| ("zone", z.zone.clone());
    counter(
        e,
        "dns_server_zone_queries",
        "Queries answered in userspace, by the zone they fell in (zone \"other\": zones past the per-zone bound).",
        zones.iter().map(|z| (vec![zone(z)], z.queries)).collect::<Vec<_>>(),
    )?;
    counter(
        e,
        "dns_server_zone_responses",
        "Responses sent from userspace, by zone and header RCODE.",
        zones
            .iter()
            .flat_map(|z| {
                z.responses
                    .iter()
                    .map(move |&(rcode, n)| (vec![zone(z), ("rcode", rcode.to_string())], n))
            })
            .collect::<Vec<_>>(),
    )
}

fn server_stats(e: &mut DescriptorEncoder, s: &Sources) -> fmt::Result {
    let snapshot = s.shared.stats.snapshot();
    let mut families: Vec<(&str, Vec<(Labels, u64)>)> = Vec::new();
    let mut rcodes: Vec<(Labels, u64)> = Vec::new();
    let mut others: Vec<(Labels, u64)> = Vec::new();
    for (name, value) in &snapshot {
        if let Some(rcode) = name.strip_prefix("rcode_") {
            rcodes.push((vec![("rcode", rcode.to_string())], *value));
            continue;
        }
        let Some(&(_, family, label, label_value)) = STATS_FAMILIES.iter().find(|row| row.0 == name) else {
            others.push((vec![("counter", name.clone())], *value));
            continue;
        };
        let labels: Labels = if label.is_empty() {
            Vec::new()
        } else {
            vec![(label, label_value.to_string())]
        };
        match families.iter_mut().find(|(f, _)| *f == family) {
            Some((_, series)) => series.push((labels, *value)),
            None => families.push((family, vec![(labels, *value)])),
        }
    }
    for (family, series) in families {
        counter(e, family, stats_help(family), series)?;
    }
    counter(
        e,
        "dns_server_rcode_responses",
        "Responses by RCODE, extended RCODEs (BADVERS, BADCOOKIE) included, every transport but XDP.",
        rcodes,
    )?;
    if !others.is_empty() {
        counter(e, "dns_server_events", "Other server counters, by name.", others)?;
    }
    Ok(())
}

fn tcp(e: &mut DescriptorEncoder, s: &Sources) -> fmt::Result {
    counter(
        e,
        "dns_server_metrics_connections_refused",
        "Connections to this metrics endpoint closed at once: too many were open.",
        [(Labels::new(), super::http::refused())],
    )?;
    gauge(
        e,
        "dns_server_tcp_connections_open",
        "TCP connections open now.",
        [(Labels::new(), s.tcp.len() as f64)],
    )
}

fn zones(e: &mut DescriptorEncoder, s: &Sources) -> fmt::Result {
    let catalog = s.shared.catalog.load();
    let mut serial = Vec::new();
    let mut loaded_at = Vec::new();
    let mut status = Vec::new();
    let (mut served, mut failed) = (0.0, 0.0);
    for zone in catalog.zones() {
        let origin = zone.origin.to_string();
        if let Some(version) = &zone.version {
            served += 1.0;
            serial.push((vec![("zone", origin.clone())], f64::from(version.zone.serial)));
            let at = version
                .loaded_at
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            loaded_at.push((vec![("zone", origin.clone())], at));
        }
        if zone.status != ZoneStatus::Loaded {
            failed += 1.0;
        }
        status.push((vec![("zone", origin), ("status", zone.status.name().to_string())], 1.0));
    }
    gauge(e, "dns_server_zone_serial", "The SOA serial served, per zone.", serial)?;
    gauge(
        e,
        "dns_server_zone_load_timestamp_seconds",
        "When the version served was loaded, per zone, in seconds since the Unix epoch.",
        loaded_at,
    )?;
    gauge(
        e,
        "dns_server_zone_status",
        "How each zone's last load went (status loaded, failed, failed-keeping-old); always 1.",
        status,
    )?;
    gauge(
        e,
        "dns_server_zones",
        "Zones configured, by state: served (a version loaded) or failed (the last load failed).",
        [
            (vec![("state", "served".to_string())], served),
            (vec![("state", "failed".to_string())], failed),
        ],
    )
}

fn resolver(e: &mut DescriptorEncoder, s: &Sources) -> fmt::Result {
    let Some(recursion) = &s.shared.recursion else {
        return Ok(());
    };
    let cache = &recursion.resolver.cache;
    gauge(
        e,
        "dns_server_resolver_cache_entries",
        "Entries in the resolver's cache.",
        [(Labels::new(), cache.len() as f64)],
    )?;
    gauge(
        e,
        "dns_server_resolver_cache_bytes",
        "Approximate bytes held by the resolver's cache.",
        [(Labels::new(), cache.bytes() as f64)],
    )?;
    let in_flight = crate::resolver::MAX_IN_FLIGHT - recursion.in_flight.available_permits();
    gauge(
        e,
        "dns_server_resolver_in_flight",
        "Client resolutions under way.",
        [(Labels::new(), in_flight as f64)],
    )?;
    let t = recursion.resolver.counters.totals();
    let result = |label: &str| vec![("result", label.to_string())];
    counter(
        e,
        "dns_server_resolver_cache_lookups",
        "Client questions answered whole from the resolver's cache (hit) or sent to the network (miss).",
        [(result("hit"), t.cache_hits), (result("miss"), t.cache_misses)],
    )?;
    counter(
        e,
        "dns_server_resolver_cache_evictions",
        "Entries evicted from the resolver's cache to stay within its memory bound.",
        [(Labels::new(), cache.evictions())],
    )?;
    counter(
        e,
        "dns_server_resolver_prefetches",
        "Popular entries refreshed before they expired.",
        [(Labels::new(), t.prefetches)],
    )?;
    counter(
        e,
        "dns_server_resolver_stale_answers",
        "Expired answers served because every server failed (RFC 8767).",
        [(Labels::new(), t.stale_answers)],
    )?;
    counter(
        e,
        "dns_server_resolver_upstream_queries",
        "Queries sent upstream, by result: the answer's RCODE, timeout, or error (a socket error or an unreadable answer).",
        t.upstream
            .iter()
            .map(|&(label, n)| (result(label), n))
            .collect::<Vec<_>>(),
    )?;
    counter(
        e,
        "dns_server_resolver_validations",
        "Resolutions by what DNSSEC validation said of their answer (while validating).",
        t.validation
            .iter()
            .map(|&(label, n)| (result(label), n))
            .collect::<Vec<_>>(),
    )?;
    histogram(
        e,
        "dns_server_resolver_resolution_duration_seconds",
        "Time the resolutions that went to the network took, prefetches included.",
        &t.latency,
    )
}

fn xdp(e: &mut DescriptorEncoder, s: &Sources) -> fmt::Result {
    let mut attached = Vec::new();
    for iface in &s.xdp_interfaces {
        let mode = s
            .xdp
            .as_ref()
            .and_then(|x| x.attached.iter().find(|(i, _)| i == iface))
            .map(|(_, mode)| *mode);
        attached.push((
            vec![
                ("interface", iface.clone()),
                ("mode", mode.unwrap_or("none").to_string()),
            ],
            if mode.is_some() { 1.0 } else { 0.0 },
        ));
    }
    gauge(
        e,
        "dns_server_xdp_attached",
        "Whether the XDP program is attached to each configured interface (1) or not (0, mode none).",
        attached,
    )?;
    let Some(x) = &s.xdp else {
        return Ok(());
    };
    let counters = match x.read_counters() {
        Ok(counters) => counters,
        Err(error) => {
            tracing::warn!(%error, "XDP counters unreadable for a scrape");
            Vec::new()
        }
    };
    counter(
        e,
        "dns_server_xdp_packets",
        "The XDP program's counters, summed over CPUs: hits, misses, passes and drops by reason, rate limiting, answers without room to grow (no_room), TX errors, cookies.",
        counters
            .iter()
            .map(|(stat, n)| (vec![("counter", stat.name().to_string())], *n))
            .collect::<Vec<_>>(),
    )?;
    let af_xdp = x.af_xdp_counters();
    if !af_xdp.is_empty() {
        counter(
            e,
            "dns_server_xdp_af_xdp_packets",
            "What the AF_XDP threads did with the hits XDP had no room for ([xdp] af_xdp): answered (resolved: answered once the resolver had), or dropped by reason.",
            af_xdp
                .into_iter()
                .map(|(name, n)| (vec![("counter", name.trim_start_matches("af_xdp_").to_string())], n))
                .collect::<Vec<_>>(),
        )?;
    }
    let map = || vec![("map", "responses".to_string())];
    gauge(
        e,
        "dns_server_xdp_map_entries",
        "Zone answers in the live XDP response map.",
        [(map(), x.zone_entries() as f64)],
    )?;
    gauge(
        e,
        "dns_server_xdp_map_capacity",
        "Entries the XDP response map holds at most ([xdp] cache_entries).",
        [(map(), f64::from(x.capacity))],
    )
}

fn labels3(a: (&'static str, &str), b: (&'static str, &str), c: (&'static str, &str)) -> Labels {
    vec![(a.0, a.1.to_string()), (b.0, b.1.to_string()), (c.0, c.1.to_string())]
}

/// One counter family; series without labels are written bare.
pub(crate) fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, u64)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        if labels.is_empty() {
            family.encode_counter::<NoLabelSet, u64, u64>(&value, None)?;
        } else {
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, u64, u64>(&value, None)?;
        }
    }
    Ok(())
}

/// One gauge family.
pub(crate) fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, f64)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        if labels.is_empty() {
            family.encode_gauge(&value)?;
        } else {
            family.encode_family(&labels)?.encode_gauge(&value)?;
        }
    }
    Ok(())
}

/// One histogram family of a single series.
fn histogram(e: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)
}

/// One histogram family, a series per transport.
fn histograms(e: &mut DescriptorEncoder, name: &str, help: &str, series: &[(&str, Histogram)]) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (transport, h) in series {
        let labels: Labels = vec![("transport", transport.to_string())];
        family
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
    }
    Ok(())
}

// `Labels` must encode as a label set.
const _: fn() = || {
    fn is_label_set<T: EncodeLabelSet>() {}
    is_label_set::<Labels>();
};

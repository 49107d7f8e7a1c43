//! The zone-transfer families: transfers in (by result) and out (by kind and result), NOTIFY sent, and each secondary zone's serial and time to expiry.

use std::{fmt, sync::atomic::Ordering::Relaxed, time::SystemTime};

use prometheus_client::encoding::DescriptorEncoder;

use super::{
    Sources,
    families::{Labels, counter, gauge},
};

fn by(label: &'static str, value: &str, count: u64) -> (Labels, u64) {
    (vec![(label, value.to_string())], count)
}

/// Writes the transfer families.
pub(crate) fn transfers(e: &mut DescriptorEncoder, s: &Sources) -> fmt::Result {
    let stats = &s.shared.stats;
    let busy = s.shared.transfers.refused_busy.load(Relaxed);
    let out = [
        (("kind", "axfr"), ("result", "served"), stats.axfr_out.get()),
        (("kind", "ixfr"), ("result", "served"), stats.ixfr_out.get()),
        (("kind", "ixfr"), ("result", "whole_zone"), stats.ixfr_out_full.get()),
        (("kind", "ixfr"), ("result", "current"), stats.ixfr_out_current.get()),
        (("kind", "ixfr_udp"), ("result", "current"), stats.ixfr_out_udp.get()),
        (("kind", "any"), ("result", "refused"), stats.transfers_refused.get()),
        (("kind", "any"), ("result", "refused_busy"), busy),
        (("kind", "any"), ("result", "aborted"), stats.transfers_aborted.get()),
    ];
    counter(
        e,
        "dns_server_transfers_out",
        "Transfer requests from secondaries, by kind and result (refused_busy: past transfers_out_max).",
        out.iter().map(|(k, r, c)| {
            let labels: Labels = vec![(k.0, k.1.to_string()), (r.0, r.1.to_string())];
            (labels, *c)
        }),
    )?;
    let counts = s.shared.secondaries.counts();
    counter(
        e,
        "dns_server_transfers_in",
        "Refreshes of secondary zones, by result: a new version by AXFR or IXFR, up to date, or failed.",
        [
            by("result", "axfr", counts.axfr.load(Relaxed)),
            by("result", "ixfr", counts.ixfr.load(Relaxed)),
            by("result", "up_to_date", counts.up_to_date.load(Relaxed)),
            by("result", "failed", counts.failed.load(Relaxed)),
        ],
    )?;
    counter(
        e,
        "dns_server_notify_sent",
        "NOTIFY messages sent to secondaries, by how they were answered.",
        [
            by("result", "answered", stats.notify_answered.get()),
            by("result", "error", stats.notify_refused.get()),
            by("result", "unanswered", stats.notify_unanswered.get()),
        ],
    )?;
    let now = crate::secondary::epoch(SystemTime::now());
    let reports = s.shared.secondaries.reports();
    let mut expiry = Vec::new();
    for (origin, report) in &reports {
        if let Some(at) = report.expires {
            // Negative once expired, so an alert can say by how much.
            let left = at as f64 - now as f64;
            expiry.push((
                vec![("zone", origin.to_string())],
                if report.expired { left.min(0.0) } else { left },
            ));
        }
    }
    gauge(
        e,
        "dns_server_secondary_expiry_seconds",
        "Seconds until each secondary zone expires unless refreshed (negative: expired).",
        expiry,
    )?;
    let catalog = s.shared.catalog.load();
    let serials = reports.keys().filter_map(|origin| {
        let version = catalog.zone(origin.as_wire())?.version.as_ref()?;
        Some((vec![("zone", origin.to_string())], f64::from(version.zone.serial)))
    });
    gauge(
        e,
        "dns_server_secondary_serial",
        "The SOA serial each secondary zone serves.",
        serials.collect::<Vec<_>>(),
    )
}

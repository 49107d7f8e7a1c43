//! The sidecar's own metrics: state per prefix, each check's status and last
//! latency, transitions, speaker errors; served like the server's (`[metrics] listen`).

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use prometheus_client::encoding::DescriptorEncoder;

use super::state::State;
use crate::metrics::families::{Labels, counter, gauge, version_info};

/// Every state the PoP can be in, for a one-hot gauge.
const STATES: [&str; 5] = ["up", "drain", "down", "maintenance-drain", "maintenance-withdraw"];

/// What the sidecar's loop records and a scrape reads.
#[derive(Debug, Default)]
pub(crate) struct SidecarMetrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    prefixes: Vec<String>,
    state: String,
    /// By check name: up, last probe's latency in seconds, probes ok and failed.
    checks: BTreeMap<String, Check>,
    /// By (from, to).
    transitions: BTreeMap<(String, String), u64>,
    speaker_errors: u64,
    /// By (zone-freshness check, "ours" or "primary"): the serial last seen.
    zone_serials: BTreeMap<(String, &'static str), u32>,
}

#[derive(Debug, Default, Clone)]
struct Check {
    up: bool,
    latency: f64,
    ok: u64,
    failed: u64,
}

impl SidecarMetrics {
    /// Metrics for `prefixes`, in `state`, with `checks` known but not yet probed.
    pub(crate) fn new(prefixes: Vec<String>, checks: &[String], state: State) -> Arc<SidecarMetrics> {
        let inner = Inner {
            prefixes,
            state: state.to_string(),
            checks: checks.iter().map(|c| (c.clone(), Check::default())).collect(),
            ..Inner::default()
        };
        Arc::new(SidecarMetrics {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One probe of `check`: whether it succeeded, how long it took, and the check's settled status.
    pub(crate) fn probe(&self, check: &str, ok: bool, took: Duration, up: bool) {
        let mut inner = self.lock();
        let entry = inner.checks.entry(check.to_string()).or_default();
        entry.latency = took.as_secs_f64();
        entry.up = up;
        if ok {
            entry.ok += 1;
        } else {
            entry.failed += 1;
        }
    }

    /// A state change.
    pub(crate) fn transition(&self, from: State, to: State) {
        let mut inner = self.lock();
        *inner.transitions.entry((from.to_string(), to.to_string())).or_default() += 1;
        inner.state = to.to_string();
    }

    /// A zone-freshness probe's serials; one that did not answer keeps its last value.
    pub(crate) fn zone_serials(&self, check: &str, ours: Option<u32>, primary: Option<u32>) {
        let mut inner = self.lock();
        for (source, serial) in [("ours", ours), ("primary", primary)] {
            if let Some(serial) = serial {
                inner.zone_serials.insert((check.to_string(), source), serial);
            }
        }
    }

    /// The speaker refused a change or could not be reconciled.
    pub(crate) fn speaker_error(&self) {
        self.lock().speaker_errors += 1;
    }
}

/// The prometheus-client collector over [`SidecarMetrics`].
#[derive(Debug)]
pub(crate) struct Collector(pub Arc<SidecarMetrics>);

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), fmt::Error> {
        let inner = self.0.lock();
        version_info(&mut e)?;
        let mut states = Vec::new();
        for prefix in &inner.prefixes {
            for state in STATES {
                let labels: Labels = vec![("prefix", prefix.clone()), ("state", state.to_string())];
                states.push((labels, if inner.state == state { 1.0 } else { 0.0 }));
            }
        }
        gauge(
            &mut e,
            "dns_server_sidecar_state",
            "The state each prefix is announced in (1 for the current one): up, drain, down, maintenance-drain, maintenance-withdraw.",
            states,
        )?;
        let check = |name: &String| -> Labels { vec![("check", name.clone())] };
        gauge(
            &mut e,
            "dns_server_sidecar_check_up",
            "Each check's settled status (after rise and fall): 1 up, 0 down.",
            inner
                .checks
                .iter()
                .map(|(n, c)| (check(n), if c.up { 1.0 } else { 0.0 }))
                .collect::<Vec<_>>(),
        )?;
        gauge(
            &mut e,
            "dns_server_sidecar_check_latency_seconds",
            "How long each check's last probe took.",
            inner
                .checks
                .iter()
                .map(|(n, c)| (check(n), c.latency))
                .collect::<Vec<_>>(),
        )?;
        let mut probes = Vec::new();
        for (name, c) in &inner.checks {
            probes.push((vec![("check", name.clone()), ("result", "ok".to_string())], c.ok));
            probes.push((
                vec![("check", name.clone()), ("result", "failed".to_string())],
                c.failed,
            ));
        }
        counter(
            &mut e,
            "dns_server_sidecar_probes",
            "Probes run, by check and result.",
            probes,
        )?;
        gauge(
            &mut e,
            "dns_server_sidecar_zone_serial",
            "Each zone-freshness check's serials as last seen: ours (what this PoP serves) and the primary's.",
            inner
                .zone_serials
                .iter()
                .map(|((check, source), serial)| {
                    let labels: Labels = vec![("check", check.clone()), ("source", source.to_string())];
                    (labels, f64::from(*serial))
                })
                .collect::<Vec<_>>(),
        )?;
        counter(
            &mut e,
            "dns_server_sidecar_transitions",
            "State changes, by the state left and the state entered.",
            inner
                .transitions
                .iter()
                .map(|((from, to), n)| (vec![("from", from.clone()), ("to", to.clone())], *n))
                .collect::<Vec<_>>(),
        )?;
        counter(
            &mut e,
            "dns_server_sidecar_speaker_errors",
            "Changes the BGP speaker refused, and failed reconciliations.",
            [(Labels::new(), inner.speaker_errors)],
        )
    }
}

//! Printing: a timeline per step, then the summary table and the failover target.
use std::time::Duration;

use super::{
    config::PROBE_NAME,
    probe::{Family, INTERVAL, Probe, TIMEOUT},
    scenario::{Kind, Row},
    timeline::Event,
};

/// The failover target: the client answered by the next PoP within 1 s of the fault.
const TARGET: Duration = Duration::from_secs(1);

/// Prints what happened from the step's t=0 to `end`: the lab's action, the
/// sidecars' and the router's events, and the client's probes in runs.
pub fn timeline(row: &Row, events: &[Event], probes: &[Vec<Probe>; 2], end: Duration) {
    println!(
        "\n== {}: {} (t=0 at {:.3} s CLOCK_MONOTONIC) ==",
        row.name,
        row.action,
        row.t0.as_secs_f64()
    );
    let mut lines: Vec<(Duration, String, String)> = events
        .iter()
        .filter(|e| e.at <= end)
        .map(|e| (e.at, e.source.clone(), e.text.clone()))
        .collect();
    for (family, probes) in [Family::V4, Family::V6].iter().zip(probes) {
        let source = format!("client {}", if *family == Family::V4 { "v4" } else { "v6" });
        for (at, answer, count) in runs(probes.iter().filter(|p| p.at <= end)) {
            let what = answer.map_or("no answer".to_owned(), |pop| format!("answered by {pop}"));
            lines.push((at, source.clone(), format!("{what} (x{count})")));
        }
    }
    lines.sort_by_key(|(at, _, _)| *at);
    for (at, source, text) in lines {
        println!("  {:>+8.3} s  {source:<14} {text}", secs(at.saturating_sub(row.t0)));
    }
    match &row.error {
        None => println!("  -> ended as expected: {} serves the client", row.to),
        Some(error) => println!("  -> NOT as expected: {error}"),
    }
}

/// Consecutive probes with the same outcome: (first probe's time, answer, how many).
fn runs<'a>(probes: impl Iterator<Item = &'a Probe>) -> Vec<(Duration, Option<&'a str>, usize)> {
    let mut runs: Vec<(Duration, Option<&str>, usize)> = Vec::new();
    for probe in probes {
        match runs.last_mut() {
            Some(run) if run.1 == probe.answer.as_deref() => run.2 += 1,
            _ => runs.push((probe.at, probe.answer.as_deref(), 1)),
        }
    }
    runs
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn time(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.3} s", secs(d)))
}

/// The table of every step, and how the faults compare with the target.
pub fn summary(rows: &[Row], xdp: bool) {
    println!(
        "\n== summary (client probes {PROBE_NAME} TXT every {} ms, {} ms timeout; sidecar checks every 100 ms, fall=3, rise=3; XDP {}) ==",
        INTERVAL.as_millis(),
        TIMEOUT.as_millis(),
        if xdp { "on" } else { "skipped" }
    );
    println!(
        "{:<14} {:<9} {:<7} {:>9} {:>10} {:>7} {:>10} {:>7}  result",
        "step", "kind", "to", "route", "v4 answer", "v4 lost", "v6 answer", "v6 lost"
    );
    for row in rows {
        println!(
            "{:<14} {:<9} {:<7} {:>9} {:>10} {:>7} {:>10} {:>7}  {}",
            row.name,
            if row.kind == Kind::Fault { "fault" } else { "recovery" },
            row.to,
            time(row.route),
            time(row.answered[0]),
            row.failed[0],
            time(row.answered[1]),
            row.failed[1],
            if row.error.is_none() { "ok" } else { "FAILED" }
        );
    }
    println!("(times from the step's t=0: router = first anycast route change in the router's kernel;");
    println!(" answer = first client probe answered by the new PoP; lost = probes without an answer)");
    let worst = rows
        .iter()
        .filter(|row| row.kind == Kind::Fault)
        .flat_map(|row| row.answered.map(|a| (row.name, a)))
        .max_by_key(|(_, answered)| answered.unwrap_or(Duration::MAX));
    if let Some((name, answered)) = worst {
        let met = answered.is_some_and(|a| a <= TARGET);
        println!(
            "target: client answered by the next PoP within {} s of a fault; slowest fault: {name} at {} -> {}",
            TARGET.as_secs(),
            time(answered),
            if met { "met" } else { "NOT met" }
        );
    }
}

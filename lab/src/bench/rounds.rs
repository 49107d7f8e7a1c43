//! What every throughput bench shares: the load options, rounds in rotating
//! order, measurements that wait for quiet CPUs, and the table of medians.
use std::{
    collections::BTreeMap,
    fmt::{Display, Write as _},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;

use super::{kxdpgun, process, rig::Rig, servers::Running, veth};
use crate::cmd::note;

/// How the generator loads each server, and how often.
#[derive(clap::Args)]
pub struct Load {
    /// Length of each measurement, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub seconds: u32,
    /// Rounds; in each, every server is measured once (the order rotates).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Queries per second kxdpgun tries to send: more than any server here answers.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1_000..=10_000_000))]
    pub qps: u32,
    /// Measurements to repeat, per server and round, when other work on the machine skewed them.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=5))]
    pub retries: u32,
    /// Query the server's IPv6 address instead of its IPv4 one.
    #[arg(long)]
    pub ipv6: bool,
    /// Queries kxdpgun sends per batch (and answers it reads per batch);
    /// default: kxdpgun's own (10 over UDP). Larger batches cost its core
    /// fewer system calls per query, so it offers and takes in more.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub batch: Option<u32>,
}

/// The machine counts as quiet below this share of busy CPU time, with the
/// server started but idle: other work on the two CPUs skews the numbers.
const QUIET: f64 = 0.10;

/// How long to wait for a busy machine to quieten before measuring anyway.
const QUIET_WAIT: Duration = Duration::from_secs(60);

/// Other work using more than this share of a CPU during a measurement marks it.
const OTHER_WORK: f64 = 0.05;

/// One measurement of one server.
pub struct Sample {
    /// Other work kept the machine busy when the measurement began.
    busy: bool,
    /// CPUs' worth of user time that neither the server nor the generator used
    /// during the measurement: other work on the machine, which skews it.
    other: f64,
    pub answered_per_s: u64,
    pub sent_per_s: u64,
    /// Share of one CPU the server's processes used (1.0 = a whole CPU).
    pub cpu: f64,
    /// Where the packets went (the veth pair's counters), when they could be read.
    pub path: Option<veth::Path>,
}

impl Sample {
    /// Whether other work on the machine may have skewed this measurement.
    fn skewed(&self) -> bool {
        self.busy || self.other > OTHER_WORK
    }
}

/// What one server's turn in a round came to.
pub enum Turn {
    Measured(Sample),
    /// The server could not be measured (and is left out from now on), for this reason.
    Skipped(String),
}

/// Every server's samples, in round order, and why some were skipped.
pub struct Results<S> {
    pub samples: BTreeMap<S, Vec<Sample>>,
    pub skipped: BTreeMap<S, String>,
}

/// The rounds: in each, `turn` measures every server not yet skipped, in an
/// order that rotates from round to round because the VM's speed drifts.
pub fn run<S: Copy + Ord + Display>(
    load: &Load,
    servers: &[S],
    skipped: BTreeMap<S, String>,
    mut turn: impl FnMut(S, u32) -> Result<Turn>,
) -> Result<Results<S>> {
    let mut results = Results {
        samples: BTreeMap::new(),
        skipped,
    };
    for round in 1..=load.rounds {
        let mut order = servers.to_vec();
        let shift = (round as usize - 1) % order.len().max(1);
        order.rotate_left(shift);
        for server in order {
            if results.skipped.contains_key(&server) {
                continue;
            }
            crate::signals::check_interrupt()?;
            note("bench", format!("round {round}/{}: {server}", load.rounds));
            match turn(server, round)? {
                Turn::Measured(sample) => {
                    note(
                        "bench",
                        format!(
                            "{server}: {} answered/s of {} sent/s, server CPU {:.0}%, other work {:.0}%",
                            sample.answered_per_s,
                            sample.sent_per_s,
                            sample.cpu * 100.0,
                            sample.other * 100.0
                        ),
                    );
                    results.samples.entry(server).or_default().push(sample);
                }
                Turn::Skipped(reason) => {
                    note("bench", format!("skipping {server}: {reason}"));
                    results.skipped.insert(server, reason);
                }
            }
        }
    }
    Ok(results)
}

/// Where the generator's queries come from and go to.
pub struct Target<'a> {
    pub queries: &'a Path,
    pub address: &'a str,
    pub work: &'a Path,
}

/// Measures a running server, again (up to `load.retries` times) while other
/// work on the machine skews the measurement.
pub fn measure(rig: &Rig, running: &Running<'_>, load: &Load, target: &Target<'_>) -> Result<Sample> {
    let mut sample = measure_once(rig, running, load, target)?;
    for _ in 0..load.retries {
        if !sample.skewed() {
            break;
        }
        note("bench", "other work skewed this run; measuring again");
        sample = measure_once(rig, running, load, target)?;
    }
    Ok(sample)
}

/// One run of the generator at full rate, with what it cost whom.
fn measure_once(rig: &Rig, running: &Running<'_>, load: &Load, target: &Target<'_>) -> Result<Sample> {
    let busy = !wait_for_quiet()?;
    let server_before = running.cpu_times();
    let machine_before = process::machine_user_seconds();
    let children_before = process::children_user_seconds();
    let out = target.work.join("kxdpgun.txt");
    let rate = kxdpgun::Rate {
        seconds: load.seconds,
        qps: load.qps,
        batch: load.batch,
    };
    let measured = kxdpgun::generate(rig, target.queries, target.address, rate, &out)?;
    let server = running.cpu_times() - server_before;
    // The machine's user time, less the server's and the generator's (a
    // waited-for child by now): what everything else used meanwhile.
    let other_user = process::machine_user_seconds()
        - machine_before
        - server.user
        - (process::children_user_seconds() - children_before);
    let seconds = f64::from(load.seconds);
    Ok(Sample {
        busy,
        other: (other_user / seconds).max(0.0),
        answered_per_s: measured.answered_per_s,
        sent_per_s: measured.sent_per_s,
        cpu: server.total / seconds,
        path: measured.path,
    })
}

/// Waits until the machine is quiet; false if it stayed busy for [`QUIET_WAIT`].
pub fn wait_for_quiet() -> Result<bool> {
    let deadline = Instant::now() + QUIET_WAIT;
    let mut told = false;
    loop {
        let busy = process::machine_busy(Duration::from_secs(1))?;
        if busy < QUIET {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            note(
                "bench",
                format!("warning: still {:.0}% busy; measuring anyway", busy * 100.0),
            );
            return Ok(false);
        }
        if !told {
            note(
                "bench",
                format!(
                    "other work keeps the CPUs {:.0}% busy; waiting up to {QUIET_WAIT:?}",
                    busy * 100.0
                ),
            );
            told = true;
        }
    }
}

/// One server's medians over its rounds.
#[derive(Clone, Copy)]
pub struct Medians {
    pub answered: f64,
    pub sent: f64,
    /// Each of the veth counters' rates, the median over the rounds that had them.
    pub path: Option<veth::Path>,
}

/// The table: per server the median of its rounds, what was sent, the
/// server's CPU and each round. Returns it with the medians, for the ratios.
pub fn table<S: Copy + Ord + Display>(
    load: &Load,
    address: &str,
    servers: &[S],
    results: &Results<S>,
) -> (String, BTreeMap<S, Medians>) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nanswered queries/s, median of {} rounds of {} s; kxdpgun offering {} qps to {address}:53",
        load.rounds, load.seconds, load.qps
    );
    let width = servers.iter().map(|s| s.to_string().len()).max().unwrap_or(0).max(6);
    let _ = write!(
        out,
        "{:<width$} {:>10} {:>10} {:>6} ",
        "server", "median", "sent/s", "cpu"
    );
    for round in 1..=load.rounds {
        let _ = write!(out, " {:>9}", format!("round {round}"));
    }
    out.push('\n');
    let mut medians = BTreeMap::new();
    for server in servers {
        if let Some(reason) = results.skipped.get(server) {
            let first_line = reason.lines().next().unwrap_or_default();
            let _ = writeln!(out, "{:<width$} skipped: {first_line}", server.to_string());
            continue;
        }
        let Some(samples) = results.samples.get(server) else {
            continue;
        };
        // Skewed samples count only when there is nothing better.
        let clean: Vec<&Sample> = samples.iter().filter(|s| !s.skewed()).collect();
        let used = if clean.is_empty() {
            samples.iter().collect()
        } else {
            clean
        };
        let answered = median(used.iter().map(|s| s.answered_per_s as f64));
        let sent = median(used.iter().map(|s| s.sent_per_s as f64));
        let cpu = median(used.iter().map(|s| s.cpu));
        let paths: Vec<veth::Path> = used.iter().filter_map(|s| s.path).collect();
        let path = (!paths.is_empty()).then(|| {
            let m = |f: fn(&veth::Path) -> f64| median(paths.iter().map(f));
            veth::Path {
                server_seen: m(|p| p.server_seen),
                server_tx: m(|p| p.server_tx),
                tx_errors: m(|p| p.tx_errors),
                server_redirect: m(|p| p.server_redirect),
                client_seen: m(|p| p.client_seen),
                to_generator: m(|p| p.to_generator),
                query_drops: m(|p| p.query_drops),
            }
        });
        medians.insert(*server, Medians { answered, sent, path });
        let _ = write!(
            out,
            "{:<width$} {answered:>10.0} {sent:>10.0} {:>5.0}% ",
            server.to_string(),
            cpu * 100.0
        );
        for sample in samples {
            let mark = if sample.skewed() { "*" } else { "" };
            let _ = write!(out, " {:>9}", format!("{}{mark}", sample.answered_per_s));
        }
        out.push('\n');
    }
    if results.samples.values().flatten().any(Sample::skewed) {
        let _ = writeln!(
            out,
            "* other work used the CPUs before or during this run (more than {:.0}% of a CPU); \
             medians leave such runs out unless all of a server's runs are marked",
            OTHER_WORK * 100.0
        );
    }
    (out, medians)
}

/// `a`'s rate over `b`'s, round by round (the two measured in the same
/// round, one after the other, in an order that rotates): the median of
/// those ratios, their lowest and highest, and how many rounds. Robust to
/// the VM's drift, which moves both of a round alike; `None` without a
/// round that measured both.
pub fn paired_ratio<S: Ord>(results: &Results<S>, a: S, b: S) -> Option<(f64, f64, f64, usize)> {
    let (a, b) = (results.samples.get(&a)?, results.samples.get(&b)?);
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, b)| b.answered_per_s > 0)
        .map(|(a, b)| a.answered_per_s as f64 / b.answered_per_s as f64)
        .collect();
    let (lo, hi) = ratios.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
        (lo.min(r), hi.max(r))
    });
    (!ratios.is_empty()).then(|| (median(ratios.iter().copied()), lo, hi, ratios.len()))
}

/// `a/b: r` for the table, or nothing when either median is missing.
pub fn ratio<S: Ord + Display>(medians: &BTreeMap<S, Medians>, a: S, b: S) -> Option<f64> {
    let (a, b) = (medians.get(&a)?, medians.get(&b)?);
    (b.answered > 0.0).then(|| a.answered / b.answered)
}

/// The median; the mean of the middle two for an even count; 0 for none.
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A target that caps a value: "met (value)", "NOT met (value)" or "not
/// measured", the value as `shown` writes it.
pub fn at_most(value: Option<f64>, limit: f64, shown: impl Fn(f64) -> String) -> String {
    match value {
        Some(v) if v <= limit => format!("met ({})", shown(v)),
        Some(v) => format!("NOT met ({})", shown(v)),
        None => "not measured".into(),
    }
}

/// Share of the offered load to answer where the generator, not the server,
/// is the ceiling.
pub const OF_OFFERED: f64 = 0.99;

/// Whether an XDP server met a target of `needed` times a peer: by the
/// ratio, or where the generator is the ceiling, by answering at least
/// [`OF_OFFERED`] of what it offered. The generator's own count is taken
/// first; failing that, the veth counters: the server end answered that
/// share with `XDP_TX` and the rest went missing in the generator's end
/// (its ring full, or taken in but not counted by its busy core).
pub fn xdp_verdict(ratio: f64, needed: f64, m: &Medians) -> String {
    let counted = m.answered / m.sent.max(1.0);
    if ratio >= needed {
        return format!("met ({ratio:.2}x)");
    }
    if counted >= OF_OFFERED {
        return format!(
            "met by the generator's ceiling ({:.1}% of offered answered; ratio {ratio:.2}x)",
            counted * 100.0
        );
    }
    if let Some(p) = m.path {
        let sent_back = (p.server_tx + p.tx_errors) / m.sent.max(1.0);
        if sent_back >= OF_OFFERED {
            return format!(
                "met by the generator's ceiling: the server end answered {:.1}% of the offered queries \
                 with XDP_TX, the generator counted {:.1}% (the rest was lost in the generator's end; \
                 ratio {ratio:.2}x)",
                sent_back * 100.0,
                counted * 100.0
            );
        }
    }
    format!("NOT met ({ratio:.2}x, {:.1}% of offered answered)", counted * 100.0)
}

/// Where an XDP server's packets went, per second, from the veth counters.
pub fn path_line(server: impl Display, m: &Medians) -> Option<String> {
    let p = m.path?;
    let share = |x: f64| x / m.sent.max(1.0) * 100.0;
    // Knot redirects everything to AF_XDP; ours answers with XDP_TX and,
    // with `[xdp] af_xdp`, redirects what the frame has no room for.
    let tx = p.server_tx + p.tx_errors;
    let mut ways = Vec::new();
    if tx > 0.0 || p.server_redirect == 0.0 {
        ways.push(format!(
            "answered there with XDP_TX {tx:.0} ({:.1}%), of which the generator end's full ring refused {:.0}",
            share(tx),
            p.tx_errors
        ));
    }
    if p.server_redirect > 0.0 {
        ways.push(format!(
            "redirected to its AF_XDP socket {:.0} ({:.1}%)",
            p.server_redirect,
            share(p.server_redirect)
        ));
    }
    let answered_there = ways.join("; ");
    Some(format!(
        "{server}, where the packets went (per s, medians): offered {:.0}, reached the server end {:.0} ({:.1}%; \
         {:.0} dropped by veth, the server end's ring full); \
         {answered_there}; the generator end took in {:.0} and handed {:.0} to its socket; \
         the generator counted {:.0} ({:.1}%)\n",
        m.sent,
        p.server_seen,
        share(p.server_seen),
        p.query_drops,
        p.client_seen,
        p.to_generator,
        m.answered,
        share(m.answered),
    ))
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert_eq!(median(std::iter::empty()), 0.0);
    }
}

//! `cargo xtask bench auth`: authoritative answers per second, ours against NSD and Knot.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{
    kxdpgun, process,
    rig::{Rig, SERVER_V4, SERVER_V6},
    servers::{Running, Server},
    xdp_cost, zone,
};
use crate::{
    cmd::{self, note},
    setup,
};

/// The packages the rig runs: the peers, the generator, dig for the probe, ip.
const PACKAGES: &[&str] = &["nsd", "knot", "knot-dnsutils", "bind9-dnsutils", "iproute2"];

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Length of each measurement, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=300))]
    seconds: u32,
    /// Rounds; in each, every server is measured once (the order rotates).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// Queries per second kxdpgun tries to send: more than any server here answers.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1_000..=10_000_000))]
    qps: u32,
    /// Servers to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Server::Nsd, Server::Knot, Server::Ours])]
    servers: Vec<Server>,
    /// Measurements to repeat, per server and round, when other work on the machine skewed them.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=5))]
    retries: u32,
    /// Query the server's IPv6 address instead of its IPv4 one.
    #[arg(long)]
    ipv6: bool,
}

impl Args {
    /// The same options with another set of servers (for `bench xdp`).
    pub fn with_servers(mut self, servers: &[Server]) -> Self {
        self.servers = servers.to_vec();
        self
    }
}

/// The machine counts as quiet below this share of busy CPU time, with the
/// server started but idle: other work on the two CPUs skews the numbers.
const QUIET: f64 = 0.10;

/// How long to wait for a busy machine to quieten before measuring anyway.
const QUIET_WAIT: Duration = Duration::from_secs(60);

/// Other work using more than this share of a CPU during a measurement marks it.
const OTHER_WORK: f64 = 0.05;

/// One measurement of one server.
struct Sample {
    /// Other work kept the machine busy when the measurement began.
    busy: bool,
    /// CPUs' worth of user time that neither the server nor the generator used
    /// during the measurement: other work on the machine, which skews it.
    other: f64,
    answered_per_s: u64,
    sent_per_s: u64,
    /// Share of one CPU the server's processes used (1.0 = a whole CPU).
    cpu: f64,
}

pub fn run(args: &Args) -> Result<()> {
    if !cmd::is_root() {
        bail!("the benchmark creates network namespaces and attaches XDP programs: run it as root");
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        bail!("the benchmark needs two CPUs: one for the server, one for the generator");
    }
    setup::toolchain()?;
    setup::packages(PACKAGES)?;
    process::catch_interrupts();

    let mut servers = args.servers.clone();
    servers.sort();
    servers.dedup();
    if servers.is_empty() {
        bail!("no server to measure");
    }
    let mut skipped: BTreeMap<Server, String> = BTreeMap::new();
    if servers.iter().any(|s| s.is_ours()) {
        let mut build = cmd::cargo();
        build.args(["build", "--release", "--package", "dns-server"]);
        if let Err(err) = cmd::run(&mut build) {
            for server in [Server::Ours, Server::OursXdp] {
                skipped.insert(server, format!("release build failed: {err:#}"));
            }
        }
    }
    process::check_interrupt()?;

    let work = WorkDir::create()?;
    let (zone_file, queries) = zone::write(&work.0)?;
    let ours = cmd::target_dir().join("release/dns-server");
    let target = if args.ipv6 { SERVER_V6 } else { SERVER_V4 };

    let mut results: BTreeMap<Server, Vec<Sample>> = BTreeMap::new();
    let mut program_costs: Vec<f64> = Vec::new();
    {
        let rig = Rig::create()?;
        let argvs = servers
            .iter()
            .map(|&server| Ok((server, server.prepare(&work.0, &zone_file, &ours, &rig.server.name)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        let _stats = servers.contains(&Server::OursXdp).then(xdp_cost::BpfStats::enable);
        for round in 1..=args.rounds {
            let mut order = servers.clone();
            let shift = (round as usize - 1) % order.len();
            order.rotate_left(shift);
            for server in order {
                if skipped.contains_key(&server) {
                    continue;
                }
                process::check_interrupt()?;
                note("bench", format!("round {round}/{}: {server}", args.rounds));
                let log = work.0.join(format!("{server}-{round}.log"));
                let running = match Running::start(&rig, &argvs[&server], log) {
                    Ok(running) => running,
                    Err(err) if server.is_ours() => {
                        note("bench", format!("skipping {server}: {err:#}"));
                        skipped.insert(server, format!("did not answer the probe: {err:#}"));
                        continue;
                    }
                    Err(err) => return Err(err.context(format!("starting {server}"))),
                };
                let mut sample = measure(&rig, &running, args, &queries, target, &work.0)?;
                for _ in 0..args.retries {
                    if !sample.skewed() {
                        break;
                    }
                    note(
                        "bench",
                        format!("{server}: other work skewed this run; measuring again"),
                    );
                    sample = measure(&rig, &running, args, &queries, target, &work.0)?;
                }
                if server == Server::OursXdp
                    && let Some(ns) = xdp_cost::per_packet_ns(&rig)
                {
                    program_costs.push(ns);
                }
                drop(running);
                if server.uses_xdp() {
                    // Knot leaves its program attached after it exits.
                    xdp_cost::detach(&rig);
                }
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
                results.entry(server).or_default().push(sample);
            }
        }
    }
    print!("{}", report(args, target, &servers, &results, &skipped));
    if !program_costs.is_empty() {
        println!(
            "ours-XDP program time per packet (kernel.bpf_stats_enabled, all packets of a run): median {:.0} ns",
            median(program_costs.into_iter())
        );
    }
    Ok(())
}

/// One run of the generator against a running server, with what it cost whom.
fn measure(rig: &Rig, running: &Running<'_>, args: &Args, queries: &Path, target: &str, work: &Path) -> Result<Sample> {
    let busy = !wait_for_quiet()?;
    let server_before = running.cpu_times();
    let machine_before = process::machine_user_seconds();
    let children_before = process::children_user_seconds();
    let out = work.join("kxdpgun.txt");
    let measured = kxdpgun::generate(rig, queries, target, args.seconds, args.qps, &out)?;
    let server = running.cpu_times() - server_before;
    // The machine's user time, less the server's and the generator's (a
    // waited-for child by now): what everything else used meanwhile.
    let other_user = process::machine_user_seconds()
        - machine_before
        - server.user
        - (process::children_user_seconds() - children_before);
    let seconds = f64::from(args.seconds);
    Ok(Sample {
        busy,
        other: (other_user / seconds).max(0.0),
        answered_per_s: measured.answered_per_s,
        sent_per_s: measured.sent_per_s,
        cpu: server.total / seconds,
    })
}

impl Sample {
    /// Whether other work on the machine may have skewed this measurement.
    fn skewed(&self) -> bool {
        self.busy || self.other > OTHER_WORK
    }
}

/// Waits until the machine is quiet; false if it stayed busy for [`QUIET_WAIT`].
fn wait_for_quiet() -> Result<bool> {
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

/// The table: per server the median of its rounds, then how ours compares.
fn report(
    args: &Args,
    target: &str,
    servers: &[Server],
    results: &BTreeMap<Server, Vec<Sample>>,
    skipped: &BTreeMap<Server, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nanswered queries/s, median of {} rounds of {} s; kxdpgun offering {} qps to {target}:53",
        args.rounds, args.seconds, args.qps
    );
    let _ = write!(out, "{:<9} {:>10} {:>10} {:>6} ", "server", "median", "sent/s", "cpu");
    for round in 1..=args.rounds {
        let _ = write!(out, " {:>9}", format!("round {round}"));
    }
    out.push('\n');
    let mut medians = BTreeMap::new();
    let mut sent_medians = BTreeMap::new();
    for server in servers {
        if let Some(reason) = skipped.get(server) {
            let first_line = reason.lines().next().unwrap_or_default();
            let _ = writeln!(out, "{:<9} skipped: {first_line}", server.to_string());
            continue;
        }
        let Some(samples) = results.get(server) else { continue };
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
        medians.insert(*server, answered);
        sent_medians.insert(*server, sent);
        let _ = write!(
            out,
            "{:<9} {answered:>10.0} {sent:>10.0} {:>5.0}% ",
            server.to_string(),
            cpu * 100.0
        );
        for sample in samples {
            let mark = if sample.skewed() { "*" } else { "" };
            let _ = write!(out, " {:>9}", format!("{}{mark}", sample.answered_per_s));
        }
        out.push('\n');
    }
    if results.values().flatten().any(Sample::skewed) {
        let _ = writeln!(
            out,
            "* other work used the CPUs before or during this run (more than {:.0}% of a CPU); \
             medians leave such runs out unless all of a server's runs are marked",
            OTHER_WORK * 100.0
        );
    }
    let comparisons = [
        (
            Server::OursXdp,
            &[Server::KnotXdp, Server::Ours, Server::Nsd, Server::Knot][..],
        ),
        (Server::Ours, &[Server::Nsd, Server::Knot][..]),
    ];
    for (mine, peers) in comparisons {
        let Some(ours) = medians.get(&mine) else { continue };
        for peer in peers {
            if let Some(theirs) = medians.get(peer).filter(|v| **v > 0.0) {
                let _ = writeln!(out, "{mine}/{peer}: {:.2}", ours / theirs);
            }
        }
    }
    if let (Some(ours), Some(sent)) = (medians.get(&Server::OursXdp), sent_medians.get(&Server::OursXdp))
        && *sent > 0.0
    {
        let _ = writeln!(
            out,
            "ours-XDP answered {:.1}% of what the generator sent",
            ours / sent * 100.0
        );
    }
    out
}

/// The median; the mean of the middle two for an even count; 0 for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A per-run directory for configurations, the zone and logs; removed on drop.
struct WorkDir(PathBuf);

/// Work directories are named this, then the process id.
const WORK_DIR_PREFIX: &str = "xtask-bench-";

impl WorkDir {
    fn create() -> Result<Self> {
        let tmp = std::env::temp_dir();
        // Those of runs that were killed outright go first.
        for entry in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix(WORK_DIR_PREFIX));
            if pid
                .and_then(|pid| pid.parse().ok())
                .is_some_and(|pid| !process::is_alive(pid))
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let path = tmp.join(format!("{WORK_DIR_PREFIX}{}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
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

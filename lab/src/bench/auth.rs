//! `cargo xtask bench auth`: authoritative answers per second, ours against NSD and Knot,
//! on the plain bench zone or (`--signed`) on it signed, asked with DO=1.
use std::{collections::BTreeMap, fmt::Write as _};

use anyhow::{Result, bail};

use super::{
    per_answer,
    rig::{Rig, SERVER_V4, SERVER_V6},
    rounds::{self, Load, Medians, Results, Target, Turn},
    servers::{Probe, Running, Server},
    signed::{self, Denial},
    work_dir::WorkDir,
    zone,
};
use crate::cmd;

/// The packages the rig runs: the peers, the generator, dig for the probe, ip.
/// ldnsutils signs the zone of `--signed`.
pub const PACKAGES: &[&str] = &[
    "nsd",
    "knot",
    "knot-dnsutils",
    "bind9-dnsutils",
    "iproute2",
    "ldnsutils",
];

/// The signed mix's targets (issue 14): ours in userspace against NSD and
/// Knot, ours with XDP against Knot with XDP.
const SIGNED_OVER_USERSPACE: f64 = 1.0;
const SIGNED_OVER_KNOT_XDP: f64 = 2.0;
/// Issue 15: metrics on keep at least this share of the rate with them off.
const METRICS_AT_LEAST: f64 = 0.98;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    load: Load,
    /// Servers to measure, comma-separated [default: nsd,knot,ours; with
    /// `--signed`, those and knot-xdp,ours-xdp].
    #[arg(long, value_enum, value_delimiter = ',')]
    servers: Option<Vec<Server>>,
    /// Serve the zone signed (by ldns-signzone, at bench time) with this
    /// denial of existence, and ask with DO=1: 40% NXDOMAIN, 20% NODATA,
    /// 20% positive, 10% wildcard answers, 10% referrals (half to signed children).
    #[arg(long, value_enum)]
    signed: Option<Denial>,
    /// After each measurement, run the generator again for this many seconds
    /// with `perf stat` on the server, and add a table of what each server
    /// spends per answer: bytes, system calls by kind, context switches, CPU.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=60))]
    per_answer: Option<u32>,
}

/// The zone served and the queries asked.
#[derive(Clone, Copy)]
pub enum Mix {
    /// The plain bench zone and its mix (see the `zone` module).
    Plain,
    /// The bench zone signed, asked with DO=1 (see the `signed` module).
    Signed(Denial),
}

pub fn run(args: &Args) -> Result<()> {
    super::prepare_machine()?;
    let mix = args.signed.map_or(Mix::Plain, Mix::Signed);
    let mut servers = args.servers.clone().unwrap_or_else(|| match mix {
        Mix::Plain => vec![Server::Nsd, Server::Knot, Server::Ours],
        Mix::Signed(_) => vec![
            Server::Nsd,
            Server::Knot,
            Server::Ours,
            Server::KnotXdp,
            Server::OursXdp,
        ],
    });
    servers.sort();
    servers.dedup();
    let mut profiles = per_answer::Profiles::default();
    let (results, address) = measure(&args.load, &servers, mix, |server, rig, running, target| {
        match args.per_answer {
            Some(seconds) => profiles.measure(server, rig, running, target, seconds, args.load.qps),
            None => Ok(()),
        }
    })?;
    let (mut table, medians) = rounds::table(&args.load, address, &servers, &results);
    if let Mix::Signed(denial) = mix {
        table.insert_str(
            0,
            &format!("\nsigned zone ({denial:?}, ldns-signzone, ECDSA P-256), every query DO=1"),
        );
        table.push_str(&signed_targets(&medians));
    } else {
        for peer in [Server::Nsd, Server::Knot] {
            if let Some(ratio) = rounds::ratio(&medians, Server::Ours, peer) {
                table.push_str(&format!("ours/{peer}: {ratio:.2}\n"));
            }
        }
    }
    table.push_str(&metrics_cost(&servers, &results));
    table.push_str(&profiles.table());
    print!("{table}");
    Ok(())
}

/// What counting costs (issue 15: with metrics on, within 2% of the rate
/// with them off): for each of ours measured with and without metrics,
/// the median of the rounds' on/off ratios and their spread.
fn metrics_cost(servers: &[Server], results: &rounds::Results<Server>) -> String {
    let mut out = String::new();
    for (on, off) in servers.iter().filter_map(|s| s.metrics_pair()) {
        if !servers.contains(&off) {
            continue;
        }
        if let Some((ratio, lo, hi, n)) = rounds::paired_ratio(results, on, off) {
            let verdict = if ratio >= METRICS_AT_LEAST { "met" } else { "NOT met" };
            let _ = writeln!(
                out,
                "{on}/{off}: {ratio:.3}, median of {n} rounds' ratios (range {lo:.3}..{hi:.3}; \
                 target >= {METRICS_AT_LEAST}: {verdict})"
            );
        }
    }
    out
}

/// The signed mix's ratios against the targets.
fn signed_targets(medians: &BTreeMap<Server, Medians>) -> String {
    let mut out = String::new();
    for peer in [Server::Nsd, Server::Knot] {
        if let Some(ratio) = rounds::ratio(medians, Server::Ours, peer) {
            let verdict = if ratio >= SIGNED_OVER_USERSPACE {
                "met"
            } else {
                "NOT met"
            };
            let _ = writeln!(
                out,
                "ours/{peer}: {ratio:.2} (target >= {SIGNED_OVER_USERSPACE}x: {verdict})"
            );
        }
    }
    if let (Some(ratio), Some(m)) = (
        rounds::ratio(medians, Server::OursXdp, Server::KnotXdp),
        medians.get(&Server::OursXdp).filter(|m| m.sent > 0.0),
    ) {
        let _ = writeln!(
            out,
            "ours-XDP/Knot-XDP: {ratio:.2} (target >= {SIGNED_OVER_KNOT_XDP}x, or >= {:.0}% of offered: {})",
            rounds::OF_OFFERED * 100.0,
            rounds::xdp_verdict(ratio, SIGNED_OVER_KNOT_XDP, m)
        );
    }
    for server in [Server::OursXdp, Server::KnotXdp] {
        if let Some(line) = medians.get(&server).and_then(|m| rounds::path_line(server, m)) {
            out.push_str(&line);
        }
    }
    out
}

/// Builds the rig, serves the bench zone from each of `servers` in turn and
/// measures them, round after round. `loaded` is called after each server's
/// measurement, while it still runs, to measure more. Returns the samples and
/// the address queried.
pub fn measure(
    load: &Load,
    servers: &[Server],
    mix: Mix,
    mut loaded: impl FnMut(Server, &Rig, &Running<'_>, &Target<'_>) -> Result<()>,
) -> Result<(Results<Server>, &'static str)> {
    if servers.is_empty() {
        bail!("no server to measure");
    }
    let mut skipped = BTreeMap::new();
    if servers.iter().any(|s| s.is_ours())
        && let Err(reason) = super::build_ours()
    {
        for server in [
            Server::Ours,
            Server::OursXdp,
            Server::OursMetrics,
            Server::OursXdpMetrics,
            Server::OursXdpStack,
        ] {
            skipped.insert(server, reason.clone());
        }
    }
    let work = WorkDir::create()?;
    let (zone_file, queries) = match mix {
        Mix::Plain => zone::write(&work.0)?,
        Mix::Signed(denial) => signed::write(&work.0, denial)?,
    };
    let ours = cmd::target_dir().join("release/dns-server");
    let address = if load.ipv6 { SERVER_V6 } else { SERVER_V4 };
    let target = Target {
        queries: &queries,
        address,
        work: &work.0,
    };

    let rig = Rig::create()?;
    let argvs = servers
        .iter()
        .map(|&server| Ok((server, server.prepare(&work.0, &zone_file, &ours, &rig.server.name)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let results = rounds::run(load, servers, skipped, |server, round| {
        // XDP programs a server left behind (Knot does) must not answer for the next one.
        rig.server.detach_xdp();
        let log = work.0.join(format!("{server}-{round}.log"));
        let running = match Running::start(&rig, &argvs[&server], log, &Probe::bench_zone()) {
            Ok(running) => running,
            Err(err) if server.is_ours() => {
                return Ok(Turn::Skipped(format!("did not answer the probe: {err:#}")));
            }
            Err(err) => return Err(err.context(format!("starting {server}"))),
        };
        let sample = rounds::measure(&rig, &running, load, &target)?;
        loaded(server, &rig, &running, &target)?;
        drop(running);
        rig.server.detach_xdp();
        Ok(Turn::Measured(sample))
    })?;
    Ok((results, address))
}

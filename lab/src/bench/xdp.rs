//! `cargo xtask bench xdp`: the XDP fast path against Knot DNS in XDP mode,
//! our userspace path and NSD, with the program's own cost per packet, and
//! the XDP servers' share of real queries answered under a flood of junk.
use std::{collections::BTreeMap, fmt::Write as _, process::Command};

use anyhow::Result;

use super::{
    auth, mixed,
    rounds::{self, Load, Medians},
    servers::Server,
    xdp_cost::{self, BpfStats},
};
use crate::cmd::{self, note};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    load: Load,
    #[command(flatten)]
    junk: mixed::JunkArgs,
    /// Do not run the `xdp_bench` example (BPF_PROG_TEST_RUN timings per case) after the rounds.
    #[arg(long)]
    no_prog_test_run: bool,
}

/// The packages the rig runs: those of `bench auth`, and the tools that read XDP's costs.
pub const PACKAGES: [&[&str]; 2] = [auth::PACKAGES, &["bpftool", "ethtool"]];

/// The servers, in the table's order.
const SERVERS: [Server; 4] = [Server::OursXdp, Server::KnotXdp, Server::Ours, Server::Nsd];

/// The XDP path's targets: ours-XDP over Knot-XDP, and over our userspace path.
const OVER_KNOT_XDP: f64 = 1.5;
const OVER_USERSPACE: f64 = 3.0;

pub fn run(args: &Args) -> Result<()> {
    super::prepare_machine()?;
    let mut costs: BTreeMap<Server, Vec<xdp_cost::Cost>> = BTreeMap::new();
    let phase = mixed::Phase::new(
        &args.junk,
        args.load.qps,
        args.load.seconds,
        cmd::target_dir().join("release/dns-server"),
    );
    let mut junk_samples: BTreeMap<Server, Vec<mixed::Sample>> = BTreeMap::new();
    let mut junk_failed: BTreeMap<Server, String> = BTreeMap::new();
    let (results, address) = {
        // On for the whole run, so that both XDP servers pay its small overhead alike.
        let _stats = BpfStats::enable();
        auth::measure(
            &args.load,
            &SERVERS,
            auth::Mix::Plain,
            |server, rig, running, target| {
                if !server.uses_xdp() {
                    return Ok(());
                }
                // Read before the junk phase, which would add its packets.
                if let Some(cost) = xdp_cost::attached(&rig.server) {
                    costs.entry(server).or_default().push(cost);
                }
                if args.junk.no_junk || junk_failed.contains_key(&server) {
                    return Ok(());
                }
                note("bench", format!("{server}: junk phase"));
                match phase.measure(rig, server, running, target) {
                    Ok(sample) => junk_samples.entry(server).or_default().push(sample),
                    Err(err) => {
                        crate::signals::check_interrupt()?;
                        note("bench", format!("{server}: junk phase failed: {err:#}"));
                        junk_failed.insert(server, format!("{err:#}"));
                    }
                }
                Ok(())
            },
        )?
    };
    let (mut out, medians) = rounds::table(&args.load, address, &SERVERS, &results);
    out.push_str(
        "(cpu: the server's processes; XDP answers are made in the server end's NAPI kernel thread, not counted here)\n",
    );
    out.push_str(&ratios(&medians));
    out.push_str(&program_costs(&costs));
    if !args.junk.no_junk {
        out.push_str(&mixed::table(
            &phase,
            address,
            &[Server::OursXdp, Server::KnotXdp],
            &junk_samples,
            &junk_failed,
        ));
    }
    print!("{out}");
    if !args.no_prog_test_run {
        prog_test_run();
    }
    Ok(())
}

/// The ratios, the share of the offered load answered, and the targets.
fn ratios(medians: &BTreeMap<Server, Medians>) -> String {
    let mut out = String::new();
    for peer in [Server::KnotXdp, Server::Ours, Server::Nsd] {
        if let Some(ratio) = rounds::ratio(medians, Server::OursXdp, peer) {
            let _ = writeln!(out, "ours-XDP/{peer}: {ratio:.2}");
        }
    }
    for server in [Server::OursXdp, Server::KnotXdp] {
        if let Some(m) = medians.get(&server).filter(|m| m.sent > 0.0) {
            let _ = writeln!(
                out,
                "{server} answered {:.1}% of the {:.0} queries/s the generator offered",
                m.answered / m.sent * 100.0,
                m.sent
            );
        }
    }
    for server in [Server::OursXdp, Server::KnotXdp] {
        if let Some(line) = medians.get(&server).and_then(|m| rounds::path_line(server, m)) {
            out.push_str(&line);
        }
    }
    let targets = [
        (Server::KnotXdp, OVER_KNOT_XDP, "Knot-XDP"),
        (Server::Ours, OVER_USERSPACE, "ours in userspace"),
    ];
    for (peer, needed, what) in targets {
        if let (Some(ratio), Some(m)) = (
            rounds::ratio(medians, Server::OursXdp, peer),
            medians.get(&Server::OursXdp).filter(|m| m.sent > 0.0),
        ) {
            let _ = writeln!(
                out,
                "target ours-XDP >= {needed}x {what} (or >= {:.0}% of offered): {}",
                rounds::OF_OFFERED * 100.0,
                rounds::xdp_verdict(ratio, needed, m)
            );
        }
    }
    out
}

/// Each XDP server's program time per packet, over all packets of each run.
fn program_costs(costs: &BTreeMap<Server, Vec<xdp_cost::Cost>>) -> String {
    let mut out = String::new();
    if costs.is_empty() {
        out.push_str("program time per packet: no BPF statistics (bpftool or kernel.bpf_stats_enabled missing)\n");
    }
    for (server, runs) in costs {
        let per_run: Vec<String> = runs
            .iter()
            .filter_map(xdp_cost::Cost::per_packet_ns)
            .map(|ns| format!("{ns:.0}"))
            .collect();
        let median = rounds::median(runs.iter().filter_map(xdp_cost::Cost::per_packet_ns));
        let packets = rounds::median(runs.iter().map(|c| c.run_cnt as f64));
        let _ = writeln!(
            out,
            "{server} program time per packet (run_time_ns/run_cnt, kernel.bpf_stats_enabled): \
             median {median:.0} ns over ~{packets:.0} packets per run; runs: {} ns",
            per_run.join(", ")
        );
    }
    out
}

/// The `xdp_bench` example: the program's time per case (hits, miss, drops)
/// through BPF_PROG_TEST_RUN, on the frames the XDP tests use. Built first,
/// so that compiling stays out of the timed runs.
fn prog_test_run() {
    let mut build = cmd::cargo();
    build.args(["build", "--release", "-p", "dns-server", "--example", "xdp_bench"]);
    if let Err(err) = cmd::run(&mut build) {
        println!("\nprogram time per case: skipped (building the xdp_bench example failed: {err:#})");
        return;
    }
    if !rounds::wait_for_quiet().unwrap_or(false) {
        note("bench", "xdp_bench runs on a busy machine");
    }
    let mut command = Command::new(cmd::target_dir().join("release/examples/xdp_bench"));
    command.args(["--calls", "100000", "--rounds", "3"]);
    note("bench", format!("$ {}", cmd::show(&command)));
    match cmd::stdout(&mut command) {
        Ok(text) => println!("\nprogram time per case, the xdp_bench example (BPF_PROG_TEST_RUN):\n{text}"),
        Err(err) => println!("\nprogram time per case: xdp_bench failed: {err:#}"),
    }
}

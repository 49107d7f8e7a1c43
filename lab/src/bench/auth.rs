//! `cargo xtask bench auth`: authoritative answers per second, ours against NSD and Knot.
use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::{
    rig::{Rig, SERVER_V4, SERVER_V6},
    rounds::{self, Load, Results, Target, Turn},
    servers::{Probe, Running, Server},
    work_dir::WorkDir,
    zone,
};
use crate::cmd;

/// The packages the rig runs: the peers, the generator, dig for the probe, ip.
pub const PACKAGES: &[&str] = &["nsd", "knot", "knot-dnsutils", "bind9-dnsutils", "iproute2"];

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    load: Load,
    /// Servers to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Server::Nsd, Server::Knot, Server::Ours])]
    servers: Vec<Server>,
}

pub fn run(args: &Args) -> Result<()> {
    super::prepare_machine()?;
    let mut servers = args.servers.clone();
    servers.sort();
    servers.dedup();
    let (results, address) = measure(&args.load, &servers, |_, _, _, _| Ok(()))?;
    let (mut table, medians) = rounds::table(&args.load, address, &servers, &results);
    for peer in [Server::Nsd, Server::Knot] {
        if let Some(ratio) = rounds::ratio(&medians, Server::Ours, peer) {
            table.push_str(&format!("ours/{peer}: {ratio:.2}\n"));
        }
    }
    print!("{table}");
    Ok(())
}

/// Builds the rig, serves the bench zone from each of `servers` in turn and
/// measures them, round after round. `loaded` is called after each server's
/// measurement, while it still runs, to measure more. Returns the samples and
/// the address queried.
pub fn measure(
    load: &Load,
    servers: &[Server],
    mut loaded: impl FnMut(Server, &Rig, &Running<'_>, &Target<'_>) -> Result<()>,
) -> Result<(Results<Server>, &'static str)> {
    if servers.is_empty() {
        bail!("no server to measure");
    }
    let mut skipped = BTreeMap::new();
    if servers.iter().any(|s| s.is_ours())
        && let Err(reason) = super::build_ours()
    {
        for server in [Server::Ours, Server::OursXdp] {
            skipped.insert(server, reason.clone());
        }
    }
    let work = WorkDir::create()?;
    let (zone_file, queries) = zone::write(&work.0)?;
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

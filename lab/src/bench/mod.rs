//! The benchmarks (`cargo xtask bench`): throughput and latency measurements against other DNS servers.
//!
//! `auth`, `xdp`, `recursive` and `zones` are the benches; `rounds` holds what they
//! share (load options, rounds in rotating order, quiet-CPU checks, the table
//! of medians). `rig` builds the two network namespaces they run in; `zone`
//! writes the zone and the query mix; `servers` starts and stops NSD, Knot and
//! ours; `lab` serves the hierarchy the resolvers iterate through, with
//! `tlds` for names that need the whole walk from the root; `kxdpgun`
//! drives the load generator and `latency` times single queries; `junk`
//! floods the server with what an XDP filter should drop, and `mixed` runs it
//! beside real queries (the XDP bench's junk phase); `xdp_cost` reads the XDP
//! program's run time and `veth` the rig's own counters of where packets
//! went; `process` holds what they share about child processes. `signed`
//! signs the bench zone for `auth --signed` and writes its DO=1 mix;
//! `per_answer` counts bytes, system calls and CPU per answer (`auth
//! --per-answer`). `zones` generates its files with `scale_zones`, waits for answers with `answers`
//! and reads the servers' memory with `memory`; `transfer` pulls the
//! same large zone from a Knot primary into each server as a secondary.
mod answers;
pub mod auth;
mod junk;
mod kxdpgun;
mod lab;
mod latency;
mod memory;
mod mixed;
mod per_answer;
mod process;
pub mod recursive;
mod rig;
mod rounds;
mod scale_zones;
mod servers;
mod signed;
mod tlds;
pub mod transfer;
mod veth;
mod work_dir;
pub mod xdp;
mod xdp_cost;
mod zone;
pub mod zones;

use anyhow::{Result, bail};

use crate::{cmd, signals};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Authoritative answers per second: ours against NSD and Knot DNS on one zone.
    Auth(auth::Args),
    /// The XDP path: ours with XDP, Knot DNS in XDP mode, ours in userspace, NSD; then junk mixed with real queries.
    Xdp(xdp::Args),
    /// The resolver: cache hits per second and cold-resolution latency, ours against Unbound.
    Recursive(recursive::Args),
    /// Zones at scale: a 1M-record zone, 100,000 small zones, a huge RRset, one changed record; ours against Knot DNS and NSD.
    Zones(zones::Args),
    /// Zone transfers: a 1M-record AXFR and IXFRs of 1 and 10,000 changes from a Knot primary into ours, Knot and NSD.
    Transfer(transfer::Args),
}

impl Command {
    /// The Debian packages this bench runs: peers, generators, tools. The
    /// caller installs them (and the toolchain) before [`run`].
    pub fn packages(&self) -> Vec<&'static str> {
        match self {
            Command::Auth(_) => auth::PACKAGES.to_vec(),
            Command::Xdp(_) => xdp::PACKAGES.concat(),
            Command::Recursive(_) => recursive::PACKAGES.to_vec(),
            Command::Zones(_) => zones::PACKAGES.to_vec(),
            Command::Transfer(_) => transfer::PACKAGES.to_vec(),
        }
    }
}

/// Runs one bench and prints its table.
pub fn run(command: &Command) -> Result<()> {
    match command {
        Command::Auth(args) => auth::run(args),
        Command::Xdp(args) => xdp::run(args),
        Command::Recursive(args) => recursive::run(args),
        Command::Zones(args) => zones::run(args),
        Command::Transfer(args) => transfer::run(args),
    }
}

/// Checks what every bench needs (root, two CPUs) and turns Ctrl-C into a
/// clean stop.
fn prepare_machine() -> Result<()> {
    if !cmd::is_root() {
        bail!("the benchmark creates network namespaces and attaches XDP programs: run it as root");
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        bail!("the benchmark needs two CPUs: one for the server, one for the generator");
    }
    signals::catch_interrupts();
    Ok(())
}

/// Builds `dns-server` in release mode; the reason to skip ours if that fails.
fn build_ours() -> Result<(), String> {
    let mut build = cmd::cargo();
    build.args(["build", "--release", "--package", "dns-server"]);
    cmd::run(&mut build).map_err(|err| format!("release build failed: {err:#}"))
}

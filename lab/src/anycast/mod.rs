//! The anycast failover lab, in network namespaces (`cargo xtask lab`, and the
//! `anycast_lab` integration test).
//!
//! Two PoPs (`pop-a` on BIRD with BFD, `pop-b` on GoBGP), each with the server,
//! the sidecar and a BGP speaker, announce 203.0.113.53/32 and 2001:db8::53/128
//! to a router namespace running BIRD, which installs one PoP's route; a client
//! behind the router probes the anycast addresses every 100 ms. Faults are
//! injected one by one and the timeline of each is printed.
//!
//! A hidden primary (Knot, in its own namespace) serves `fleet.lab.example.`,
//! which both PoPs pull as a secondary zone; the `fleet` scenario changes it
//! with `knotc` and prints when each PoP, and the client through the anycast
//! address, first answers the change (and that XDP answers it).
//!
//! `net` builds the namespaces, `config` writes the daemons' files, `procs`
//! runs the daemons, `xdp_pass` loads the router's pass program, `probe` is
//! the client, `timeline` stamps events, `rig` ties them together, `scenario`
//! runs the steps, `fleet` the primary's change, and `report` prints them.
mod config;
mod fleet;
mod net;
pub(crate) mod probe;
mod procs;
mod report;
mod rig;
mod scenario;
mod sys;
mod timeline;
pub(crate) mod xdp_pass;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

pub use rig::Lab;
pub use scenario::{Kind, Row};

use crate::{
    cmd::{self, note},
    signals,
};

/// How the lab runs.
pub struct Options {
    /// The `dns-server` binary under test.
    pub server_bin: PathBuf,
    /// Attach XDP when the server supports it.
    pub xdp: bool,
    /// Keep the run's logs and configuration files instead of removing them.
    pub keep_logs: bool,
}

/// Builds the lab, runs every step and prints the timelines and the summary.
/// Fails when a step did not end with the expected PoP serving the client;
/// otherwise returns the steps, with their timings.
pub fn run(options: &Options) -> Result<Vec<Row>> {
    if !cmd::is_root() {
        bail!("the lab creates network namespaces: run it as root");
    }
    let bin = &options.server_bin;
    let xdp = options.xdp && has_xdp(bin)?;
    if !options.xdp {
        note("lab", "XDP skipped (--no-xdp)");
    } else if !xdp {
        note("lab", "XDP skipped: this build's `dns-server serve` has no --xdp-iface");
    }
    signals::catch_interrupts();
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let result = Lab::start(bin, xdp, options.keep_logs).and_then(|mut lab| {
        note("lab", format!("up after {:.1} s", started.elapsed().as_secs_f64()));
        scenario::run(&mut lab, &mut rows)
        // The lab is dropped here: daemons killed, namespaces and files removed.
    });
    report::summary(&rows, xdp);
    note("lab", format!("finished in {:.1} s", started.elapsed().as_secs_f64()));
    result?;
    let failed: Vec<&str> = rows
        .iter()
        .filter(|row| row.error.is_some())
        .map(|row| row.name)
        .collect();
    if !failed.is_empty() {
        bail!("steps that did not end as expected: {}", failed.join(", "));
    }
    Ok(rows)
}

/// Whether this build's server can attach XDP (`serve --xdp-iface`).
fn has_xdp(bin: &Path) -> Result<bool> {
    let help = cmd::stdout(std::process::Command::new(bin).args(["serve", "--help"]))?;
    Ok(help.contains("--xdp-iface"))
}

//! `cargo xtask lab`: the anycast failover lab of issue 5, in network namespaces.
//!
//! Two PoPs (`pop-a` on BIRD with BFD, `pop-b` on GoBGP), each with the server,
//! the sidecar and a BGP speaker, announce 203.0.113.53/32 and 2001:db8::53/128
//! to a router namespace running BIRD, which installs one PoP's route; a client
//! behind the router probes the anycast addresses every 100 ms. Faults are
//! injected one by one and the timeline of each is printed.
//!
//! `net` builds the namespaces, `config` writes the daemons' files, `procs`
//! runs the daemons, `xdp_pass` loads the router's pass program, `probe` is
//! the client, `timeline` stamps events, `rig` ties them together, `scenario`
//! runs the steps and `report` prints them.
mod config;
mod net;
mod probe;
mod procs;
mod report;
mod rig;
mod scenario;
mod sys;
mod timeline;
mod xdp_pass;

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::cmd::{self, note};

#[derive(clap::Args)]
pub struct Args {
    /// Keep the run's logs and configuration files (in /tmp/xtask-lab-PID) instead of removing them.
    #[arg(long)]
    keep_logs: bool,
    /// Do not attach XDP even when the server supports it.
    #[arg(long)]
    no_xdp: bool,
    /// Use this `dns-server` binary instead of building one in release mode
    /// (the integration tests pass the binary they built).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

pub fn cmd(args: &Args) -> Result<()> {
    if !cmd::is_root() {
        bail!("the lab creates network namespaces: run it as root");
    }
    let bin = match &args.server_bin {
        Some(bin) => bin.clone(),
        None => {
            cmd::run(cmd::cargo().args(["build", "--release", "-p", "dns-server"]))?;
            cmd::target_dir().join("release/dns-server")
        }
    };
    let xdp = !args.no_xdp && has_xdp(&bin)?;
    if args.no_xdp {
        note("lab", "XDP skipped (--no-xdp)");
    } else if !xdp {
        note("lab", "XDP skipped: this build's `dns-server serve` has no --xdp-iface");
    }
    sys::catch_interrupts();
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let result = rig::Lab::start(&bin, xdp, args.keep_logs).and_then(|mut lab| {
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
    Ok(())
}

/// Whether this build's server can attach XDP (`serve --xdp-iface`).
fn has_xdp(bin: &PathBuf) -> Result<bool> {
    let help = cmd::stdout(std::process::Command::new(bin).args(["serve", "--help"]))?;
    Ok(help.contains("--xdp-iface"))
}

//! `cargo xtask lab`: the anycast failover lab from the `dns-lab` library, on a release build.
use std::path::PathBuf;

use anyhow::Result;
use dns_lab::{anycast, cmd};

#[derive(clap::Args)]
pub struct Args {
    /// Keep the run's logs and configuration files (in /tmp/xtask-lab-PID) instead of removing them.
    #[arg(long)]
    keep_logs: bool,
    /// Do not attach XDP even when the server supports it.
    #[arg(long)]
    no_xdp: bool,
    /// Use this `dns-server` binary instead of building one in release mode.
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

pub fn cmd(args: &Args) -> Result<()> {
    let server_bin = match &args.server_bin {
        Some(bin) => bin.clone(),
        None => {
            cmd::run(cmd::cargo().args(["build", "--release", "-p", "dns-server"]))?;
            cmd::target_dir().join("release/dns-server")
        }
    };
    anycast::run(&anycast::Options {
        server_bin,
        xdp: !args.no_xdp,
        keep_logs: args.keep_logs,
    })
    .map(drop)
}

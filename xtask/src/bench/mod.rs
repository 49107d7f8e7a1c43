//! `cargo xtask bench`: throughput measurements against other DNS servers.
//!
//! `auth` runs the round-robin measurement; `rig` builds the two network
//! namespaces it runs in; `zone` writes the zone and the query mix; `servers`
//! starts and stops NSD, Knot and ours; `kxdpgun` drives the load generator;
//! `process` holds what they share about child processes and Ctrl-C.
mod auth;
mod kxdpgun;
mod process;
mod rig;
mod servers;
mod xdp_cost;
mod zone;

use anyhow::Result;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Authoritative answers per second: ours against NSD and Knot DNS on one zone.
    Auth(auth::Args),
    /// The XDP path: ours with XDP, Knot DNS in XDP mode, ours in userspace, NSD.
    Xdp(auth::Args),
}

pub fn cmd(command: &Command) -> Result<()> {
    match command {
        Command::Auth(args) => auth::run(args),
        Command::Xdp(args) => auth::run(&args.clone().with_servers(&[
            servers::Server::OursXdp,
            servers::Server::KnotXdp,
            servers::Server::Ours,
            servers::Server::Nsd,
        ])),
    }
}

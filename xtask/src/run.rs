//! `cargo xtask run`: builds the server in release mode and runs `dns-server serve`.
use std::{os::unix::process::CommandExt as _, process::Command};

use anyhow::{Context as _, Result};

use crate::{cmd, setup};

#[derive(clap::Args)]
pub struct Args {
    /// Arguments for `dns-server serve`, e.g. `-- --listen 127.0.0.1:5300`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    server_args: Vec<String>,
}

pub fn cmd(args: &Args) -> Result<()> {
    setup::toolchain()?;
    // dig is only for querying the server by hand, so its absence is no reason to stop.
    if let Err(err) = setup::packages(&["bind9-dnsutils"]) {
        cmd::note("run", format!("warning: {err:#}"));
    }
    setup::bpffs();
    cmd::run(cmd::cargo().args(["build", "--release", "--package", "dns-server"]))?;

    let server = cmd::target_dir().join("release/dns-server");
    let mut serve = Command::new(&server);
    serve.arg("serve").args(&args.server_args);
    eprintln!("$ {}", cmd::show(&serve));
    // exec: the server takes over this process, so Ctrl-C and exit codes are its own.
    let err = serve.exec();
    Err(err).with_context(|| format!("could not start {}", server.display()))
}

//! `cargo xtask test`: set up, check formatting, build and test the whole workspace.
use anyhow::{Result, bail};

use crate::{cmd, setup};

/// Cargo arguments selecting every package that builds for the host. The XDP
/// program only builds for bpfel-unknown-none, through dns-server's build script.
const HOST_PACKAGES: &[&str] = &["--workspace", "--exclude", "xdp-ebpf"];

pub fn cmd() -> Result<()> {
    setup::toolchain()?;
    setup::packages(setup::ALL_PACKAGES)?;
    setup::bpffs();

    cmd::note("test", "checking formatting");
    if cmd::run(cmd::cargo().args(["fmt", "--all", "--check"])).is_err() {
        bail!("the code is not formatted (diff above): run `cargo fmt --all`");
    }
    cmd::run(cmd::cargo().arg("build").args(HOST_PACKAGES))?;

    // Plain `cargo test`, so that its `test result:` lines reach CI untouched.
    let mut test = cmd::cargo();
    test.arg("test").args(HOST_PACKAGES);
    eprintln!("$ {}", cmd::show(&test));
    let status = test.status()?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

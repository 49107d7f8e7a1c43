//! `cargo xtask test`: set up, check formatting, build and test the whole workspace.
use std::process::Command;

use anyhow::{Context as _, Result, bail};

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
    lints()?;
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

/// Clippy with warnings denied over the host crates and over the XDP program
/// for its own target (the `[workspace.lints]` table says which lints), then
/// rustdoc with warnings denied: a broken doc link fails like a failed test.
fn lints() -> Result<()> {
    cmd::note("test", "clippy (host crates)");
    cmd::run(
        cmd::cargo()
            .args(["clippy", "--all-targets"])
            .args(HOST_PACKAGES)
            .args(["--", "-D", "warnings"]),
    )
    .context("clippy found something in the host crates (above)")?;

    cmd::note("test", "clippy (the XDP program, bpfel-unknown-none)");
    let mut ebpf = Command::new("rustup");
    ebpf.current_dir(cmd::workspace_root())
        .args([
            "run",
            "nightly",
            "cargo",
            "clippy",
            "--package",
            "xdp-ebpf",
            "--release",
        ])
        .args([
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--",
            "-D",
            "warnings",
        ])
        // What the outer cargo set for the stable toolchain must not leak into nightly's.
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO");
    cmd::run(&mut ebpf).context("clippy found something in the XDP program (above)")?;

    cmd::note("test", "rustdoc");
    cmd::run(
        cmd::cargo()
            .args(["doc", "--no-deps"])
            .args(HOST_PACKAGES)
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
    .context("rustdoc found something (above)")?;
    Ok(())
}

//! A health sidecar with the dry-run speaker (no BGP) checking one of our servers.

use std::process::{Child, Command};

use super::TempDir;

/// Starts `dns-server sidecar` checking our server on loopback port
/// `server_port`, with the dry-run speaker, its state file and
/// `maintenance` file in `dir` and its log in `dir`'s `sidecar.log`;
/// `extra` ends its config (a `[control]` or `[metrics]` section).
pub fn dry_run_sidecar(dir: &TempDir, server_port: u16, extra: &str) -> Child {
    dry_run_sidecar_checking(
        dir,
        &format!(
            "[[sidecar.check]]\nname = \"dns\"\nkind = \"dns\"\nservers = [\"127.0.0.1:{server_port}\"]\n\
             qname = \"diff.example.\"\ninterval_ms = 100\nrise = 2\nfall = 2\n{extra}"
        ),
    )
}

/// As [`dry_run_sidecar`], with `checks` (`[[sidecar.check]]` tables, then
/// any other section) in place of the DNS check; the state file is
/// `dir`'s `state.json`.
pub fn dry_run_sidecar_checking(dir: &TempDir, checks: &str) -> Child {
    let config = dir.write(
        "sidecar.toml",
        &format!(
            "[sidecar]\nspeaker = \"dry-run\"\nprefixes = [\"192.0.2.53/32\"]\n\
             state_file = \"{}\"\nmaintenance_file = \"{}\"\nstop_drain_seconds = 0\n{checks}",
            dir.path().join("state.json").display(),
            dir.path().join("maintenance").display(),
        ),
    );
    let log = std::fs::File::create(dir.path().join("sidecar.log")).expect("log");
    Command::new(env!("CARGO_BIN_EXE_dns-server"))
        .args(["sidecar", "--config"])
        .arg(&config)
        .env("NO_COLOR", "1")
        .stderr(log)
        .spawn()
        .expect("the sidecar starts")
}

//! The example configurations in `deploy/` read by the loaders that will read them in production.
//!
//! Ours go through our own loaders (the server's configuration and every zone
//! it names, the sidecar's configuration); BIRD's and GoBGP's through the real
//! `bird -p` and `gobgpd --dry-run`, BIRD's with the include file the sidecar
//! writes, rendered by the sidecar's own code in each of its states. An
//! example that no longer matches the code fails here, not on a PoP.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    check,
    config::Config,
    sidecar::{bird::Bird, config::SidecarConfig, state::Announcement},
};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(file)
}

/// Runs a peer's configuration check; `Ok(())` or its output.
fn check_with(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("expected to run {command:?} (installed by `cargo xtask setup`): {e}"));
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[test]
fn the_server_example_and_its_zones_load() {
    let path = deploy("dns-server.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("expected {} to load: {e}", path.display()));
    assert!(!config.zones.is_empty(), "the example serves at least one zone");
    // What `dns-server check-config` runs: the file, then every zone it names.
    check::config(&path).unwrap_or_else(|e| panic!("expected the example's zones to load: {e:#}"));
}

#[test]
fn the_sidecar_example_loads() {
    let path = deploy("sidecar.toml");
    let config = SidecarConfig::load(&path).unwrap_or_else(|e| panic!("expected {} to load: {e}", path.display()));
    assert!(!config.prefixes.is_empty(), "the example announces prefixes");
}

#[test]
fn bird_accepts_the_example_with_every_include_the_sidecar_writes() {
    let sidecar = SidecarConfig::load(&deploy("sidecar.toml")).expect("the sidecar example loads");
    let bird = sidecar.bird.as_ref().expect("the sidecar example uses BIRD");
    let speaker = Bird::new(&sidecar, bird);
    let dir = std::env::temp_dir().join(format!("deploy-bird-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let include = dir.join("anycast-state.conf");
    let example = std::fs::read_to_string(deploy("bird-pop.conf")).expect("bird-pop.conf");
    let configured = bird.include_file.display().to_string();
    assert!(
        example.contains(&format!("include \"{configured}\";")),
        "bird-pop.conf includes the file sidecar.toml names ({configured})"
    );
    let conf = dir.join("bird.conf");
    std::fs::write(&conf, example.replace(&configured, &include.display().to_string())).expect("write bird.conf");
    for announcement in [Announcement::Withdraw, Announcement::Announce, Announcement::Drain] {
        std::fs::write(&include, speaker.include(announcement)).expect("write the include");
        let checked = check_with(Command::new("bird").arg("-p").arg("-c").arg(&conf));
        if let Err(output) = checked {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("expected BIRD to accept bird-pop.conf with the {announcement:?} include:\n{output}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gobgpd_accepts_the_example() {
    let path = deploy("gobgpd-pop.toml");
    if let Err(output) = check_with(Command::new("gobgpd").arg("--dry-run").arg("-f").arg(&path)) {
        panic!("expected gobgpd to accept {}:\n{output}", path.display());
    }
}

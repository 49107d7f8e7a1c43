//! `cargo xtask fuzz`: runs the libFuzzer targets in `fuzz/` for a while each.
//!
//! Not part of `cargo xtask test`, which replays the seed corpora instead.
//! Each target starts from its seeds (`fuzz/corpus/TARGET`, read only) and
//! from what earlier runs found (`fuzz/target/corpus/TARGET`, where new
//! inputs go, so the tracked seeds stay small); a crash is left by libFuzzer
//! in `fuzz/artifacts/TARGET/` (see `fuzz/README.md` for turning it into a
//! corpus file).
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{cmd, setup};

/// The fuzz targets, in the order they run (`fuzz/fuzz_targets/NAME.rs`).
const TARGETS: &[&str] = &[
    "respond",
    "fast_question",
    "zone",
    "message",
    "transfer",
    "trust_anchor",
    "autotrust",
    "ixfr_history",
];

/// The cargo-fuzz release known to work with these toolchains.
const CARGO_FUZZ: &str = "cargo-fuzz@0.13.2";

#[derive(clap::Args)]
pub struct Args {
    /// Seconds each target runs.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Run only this target (repeatable): respond, fast_question, zone, message,
    /// transfer, trust_anchor, autotrust, ixfr_history.
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Fuzzing processes per target (libFuzzer's fork mode).
    #[arg(long, default_value_t = 1)]
    jobs: u32,
}

pub fn cmd(args: &Args) -> Result<()> {
    let targets = chosen(&args.targets)?;
    // The targets link dns-server, whose build script builds the XDP program.
    setup::toolchain()?;
    // libFuzzer itself is C++, compiled by libfuzzer-sys's build script.
    setup::packages(&["g++"])?;
    cargo_fuzz()?;

    let fuzz_dir = cmd::workspace_root().join("fuzz");
    cmd::run(cargo_fuzz_cmd(&fuzz_dir).args(["build", "--debug-assertions"]))?;

    let mut crashed = Vec::new();
    for target in &targets {
        let seeds = fuzz_dir.join("corpus").join(target);
        let work = fuzz_dir.join("target/corpus").join(target);
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        let artifacts = fuzz_dir.join("artifacts").join(target);
        let before = files(&artifacts);
        cmd::note("fuzz", format!("{target}: {} s, {} job(s)", args.seconds, args.jobs));
        let mut run = cargo_fuzz_cmd(&fuzz_dir);
        run.args(["run", "--debug-assertions", "--jobs", &args.jobs.to_string(), target])
            .arg(&work)
            .arg(&seeds)
            .args([
                "--",
                &format!("-max_total_time={}", args.seconds),
                "-print_final_stats=1",
            ]);
        eprintln!("$ {}", cmd::show(&run));
        let status = run
            .status()
            .with_context(|| format!("could not start `{}`", cmd::show(&run)))?;
        let found: Vec<_> = files(&artifacts).difference(&before).cloned().collect();
        let corpus = files(&work).len();
        if status.success() && found.is_empty() {
            cmd::note(
                "fuzz",
                format!("{target}: no crash in {} s; corpus {corpus} inputs", args.seconds),
            );
        } else {
            cmd::note(
                "fuzz",
                format!(
                    "{target}: FAILED ({status}): a crash, a timeout or a slow input; corpus {corpus} inputs; new artifacts: {found:?}"
                ),
            );
            crashed.push(target.clone());
        }
    }
    if !crashed.is_empty() {
        bail!(
            "fuzzing found crashes in: {} (inputs in fuzz/artifacts/; see fuzz/README.md)",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// The targets asked for, all when none is; an unknown name is an error.
fn chosen(asked: &[String]) -> Result<Vec<String>> {
    if let Some(unknown) = asked.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        bail!("no fuzz target {unknown:?}; the targets are {}", TARGETS.join(", "));
    }
    Ok(if asked.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        asked.to_vec()
    })
}

/// Installs cargo-fuzz when `cargo fuzz` does not answer.
fn cargo_fuzz() -> Result<()> {
    if cmd::succeeds(cmd::cargo().args(["fuzz", "--version"])) {
        cmd::note("setup", "cargo-fuzz: present");
        return Ok(());
    }
    cmd::note("setup", "cargo-fuzz: missing, installing it");
    cmd::run(cmd::cargo().args(["install", CARGO_FUZZ, "--locked"]))
}

/// `cargo fuzz` with the nightly toolchain (libFuzzer's instrumentation
/// needs it), started in `fuzz_dir`'s parent so it finds the project.
fn cargo_fuzz_cmd(fuzz_dir: &Path) -> Command {
    let mut c = Command::new("rustup");
    c.current_dir(fuzz_dir.parent().unwrap_or(fuzz_dir))
        .args(["run", "nightly", "cargo", "fuzz"])
        // What the outer cargo set for the stable toolchain must not leak into nightly's.
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO");
    c
}

/// The files in `dir` (none when it does not exist).
fn files(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_by_name() {
        assert_eq!(chosen(&[]).expect("all").len(), TARGETS.len());
        assert_eq!(chosen(&["zone".into()]).expect("one"), ["zone"]);
        assert!(chosen(&["nope".into()]).is_err());
    }

    #[test]
    fn every_target_has_a_source_and_seeds() {
        let fuzz = cmd::workspace_root().join("fuzz");
        for target in TARGETS {
            assert!(
                fuzz.join("fuzz_targets").join(format!("{target}.rs")).is_file(),
                "fuzz/fuzz_targets/{target}.rs"
            );
            assert!(
                files(&fuzz.join("corpus").join(target)).len() >= 10,
                "fuzz/corpus/{target} holds seeds"
            );
        }
    }
}

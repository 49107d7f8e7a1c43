//! `cargo xtask`: set-up, run, test, benchmark, lab and fuzz commands.
//!
//! Each command lives in its own module. The benches and the lab are the
//! `dns-lab` library's: their modules here parse arguments and call it;
//! `dns_lab::cmd` holds the helpers for running other programs. Every step
//! says what it does and skips what is already in place, so running a
//! command twice is cheap.
mod bench;
mod fuzz;
mod lab;
mod run;
mod setup;
mod test;

use dns_lab::cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Project commands cargo lacks", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what building and testing need: nightly rust-src, bpf-linker, Debian packages.
    Setup(setup::Args),
    /// Build the server in release mode and run it (`cargo xtask run -- --listen ...`).
    Run(run::Args),
    /// Check formatting, then build and test the whole workspace (what `.ci/run` does).
    Test,
    /// Measure throughput against other DNS servers in network namespaces.
    #[command(subcommand)]
    Bench(bench::Command),
    /// Anycast failover lab: two PoPs, a BGP router and a client in namespaces; timelines of faults.
    Lab(lab::Args),
    /// Run the libFuzzer targets in fuzz/ for a while each (not part of `test`).
    Fuzz(fuzz::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Setup(args) => setup::cmd(&args),
        Command::Run(args) => run::cmd(&args),
        Command::Test => test::cmd(),
        Command::Bench(command) => bench::cmd(&command),
        Command::Lab(args) => lab::cmd(&args),
        Command::Fuzz(args) => fuzz::cmd(&args),
    };
    // Printed by hand: the chain of causes is what helps, a backtrace of xtask does not.
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Clap checks a command line's definition only when it is parsed: check
    /// every subcommand's here, so that a clash fails the tests, not a bench run.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    /// xtask sets up the toolchain that builds the XDP program (nightly's
    /// rust-src, bpf-linker), so it must build without it: nothing it
    /// depends on may be dns-server, whose build script builds the program.
    #[test]
    fn xtask_builds_before_the_xdp_toolchain_is_set_up() {
        let tree = super::cmd::stdout(super::cmd::cargo().args([
            "tree",
            "--package",
            "xtask",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--offline",
        ]))
        .expect("cargo tree");
        assert!(tree.lines().any(|line| line.starts_with("dns-lab ")), "{tree}");
        let server: Vec<&str> = tree.lines().filter(|line| line.starts_with("dns-server ")).collect();
        assert!(server.is_empty(), "xtask depends on dns-server: {server:?}");
    }
}

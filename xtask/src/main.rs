//! `cargo xtask`: set-up, run, test and benchmark commands.
//!
//! Each command lives in its own module; `cmd` holds the helpers they share for
//! running other programs. Every step says what it does and skips what is
//! already in place, so running a command twice is cheap.
mod bench;
mod cmd;
mod run;
mod setup;
mod test;

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
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Setup(args) => setup::cmd(&args),
        Command::Run(args) => run::cmd(&args),
        Command::Test => test::cmd(),
        Command::Bench(command) => bench::cmd(&command),
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

//! The `dns-server` binary: a thin command-line front for the library.

use std::{path::Path, process::ExitCode};

use clap::Parser;
use dns_server::{
    check,
    cli::{Cli, Command, ServeArgs, SidecarArgs},
    service::Settings,
};
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::CheckZone {
            origin,
            file,
            strict,
            expiry_warn_days,
        } => check::zone(&origin, &file, strict, expiry_warn_days).map(|line| println!("{line}")),
        Command::CheckConfig { file } => check::config(&file).map(|line| println!("{line}")),
        Command::Sidecar(args) => sidecar(args),
        Command::Stats { pin_dir } => xdp_stats(&pin_dir),
        Command::Status { state_file } => dns_server::zone_state::print(&state_file),
        Command::Ctl(args) => dns_server::control::client::run(&args.socket, args.json, &args.command.request()),
        Command::XdpPassObject { file } => std::fs::write(&file, dns_server::XDP_PASS_OBJECT)
            .map_err(|err| anyhow::anyhow!("writing {}: {err}", file.display())),
        Command::Deny {
            prefix,
            remove,
            pin_dir,
        } => xdp_deny(&prefix, remove, &pin_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    dns_server::serve::run(Settings::load(args.config, args.overrides)?)
}

/// `dns-server stats`: the XDP counters of a running server.
fn xdp_stats(pin_dir: &Path) -> anyhow::Result<()> {
    let counters = dns_server::xdp::stats::read_pinned(pin_dir)?;
    for (stat, value) in counters {
        println!("{:<22} {value}", stat.name());
    }
    Ok(())
}

/// `dns-server deny`: changes a running server's XDP deny list.
fn xdp_deny(prefix: &str, remove: bool, pin_dir: &Path) -> anyhow::Result<()> {
    let (addr, len) = dns_server::xdp::parse_prefix(prefix)
        .ok_or_else(|| anyhow::anyhow!("{prefix:?} is not ADDRESS/LENGTH, e.g. 192.0.2.0/24"))?;
    dns_server::xdp::maps::update_pinned_deny(pin_dir, addr, len, remove)?;
    println!("{prefix}: {}", if remove { "no longer denied" } else { "denied" });
    Ok(())
}

/// Runs the anycast sidecar until SIGTERM or SIGINT (then drains, waits, withdraws),
/// or withdraws everything once with `--withdraw-all`.
fn sidecar(args: SidecarArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let config = dns_server::sidecar::config::SidecarConfig::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the sidecar's runtime")?;
    runtime.block_on(async move {
        if args.withdraw_all {
            return Ok(dns_server::sidecar::withdraw_all(config).await?);
        }
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM: draining, then withdrawing"),
                _ = interrupt.recv() => tracing::info!("SIGINT: draining, then withdrawing"),
            }
        };
        Ok(dns_server::sidecar::run(config, shutdown).await?)
    })
}

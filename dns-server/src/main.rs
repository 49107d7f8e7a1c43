//! The `dns-server` binary: a thin command-line front for the library.

use std::{path::Path, process::ExitCode, sync::Arc};

use clap::Parser;
use dns_server::{
    cli::{Cli, Command, ServeArgs, SidecarArgs},
    config::Config,
    name::Name,
    query::Shared,
    server::{self, Listeners},
    service::{self, Overrides, Settings},
    zone::load,
};
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::CheckZone { origin, file } => check_zone(&origin, &file),
        Command::CheckConfig { file } => check_config(&file),
        Command::Sidecar(args) => sidecar(args),
        Command::Stats { pin_dir } => xdp_stats(&pin_dir),
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

fn check_zone(origin: &str, file: &Path) -> anyhow::Result<()> {
    let origin = Name::parse(origin, None)?;
    let zone = load::from_file(&origin, file)?;
    println!(
        "{}: zone {} OK, serial {}, {} names",
        file.display(),
        zone.origin,
        zone.serial,
        zone.node_count()
    );
    Ok(())
}

fn check_config(file: &Path) -> anyhow::Result<()> {
    let config = Config::load(file)?;
    for zone in &config.zones {
        let origin = Name::parse(&zone.origin, None)?;
        load::from_file(&origin, &zone.file)?;
    }
    println!("{}: OK, {} zones", file.display(), config.zones.len());
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        zones: args.zones,
        listen: args.listen,
        identity: args.identity,
        threads: args.threads,
        allow_recursion: args.allow_recursion,
        forward: args.forward,
        root_hints: args.root_hints,
        upstream_port: args.upstream_port,
        xdp_interfaces: args.xdp_iface,
        xdp_mode: args.xdp_mode,
        no_xdp: args.no_xdp,
    };
    let settings = Settings::load(args.config, overrides)?;
    let threads = settings.threads();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shared = service::start(&settings)?;
        let listeners = Listeners::bind(&settings.config.server.listen, threads)?;
        announce(&shared, &listeners.local_addrs());
        let shutdown = handle_signals(settings.clone(), shared.clone())?;
        let fast_path = dns_server::xdp::start(&settings.config, &shared).map(Arc::new);
        let stats_log = log_xdp_counters(fast_path.clone(), settings.config.xdp.stats_interval);
        server::run(listeners, shared.clone(), settings.tcp_limits(), shutdown).await?;
        if let Some(stats_log) = stats_log {
            stats_log.abort();
        }
        if let Some(fast_path) = &fast_path {
            tracing::info!(counters = fast_path.counters(), "XDP counters at shutdown");
        }
        drop(fast_path);
        let counters: Vec<String> = shared
            .stats
            .snapshot()
            .into_iter()
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        tracing::info!(counters = counters.join(" "), "stopped");
        Ok(())
    })
}

/// Logs the XDP counters every `interval` seconds (never when 0).
fn log_xdp_counters(
    fast_path: Option<Arc<dns_server::xdp::Running>>,
    interval: u64,
) -> Option<tokio::task::JoinHandle<()>> {
    let fast_path = fast_path.filter(|_| interval > 0)?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(interval));
        tick.tick().await;
        loop {
            tick.tick().await;
            tracing::info!(counters = fast_path.counters(), "XDP counters");
        }
    }))
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
    let (addr, len) = dns_server::xdp::run::parse_prefix(prefix)
        .ok_or_else(|| anyhow::anyhow!("{prefix:?} is not ADDRESS/LENGTH, e.g. 192.0.2.0/24"))?;
    dns_server::xdp::maps::update_pinned_deny(pin_dir, addr, len, remove)?;
    println!("{prefix}: {}", if remove { "no longer denied" } else { "denied" });
    Ok(())
}

/// Prints what is served and how to query it.
fn announce(shared: &Shared, addrs: &[std::net::SocketAddr]) {
    let catalog = shared.catalog.load();
    let mut zones: Vec<String> = catalog.zones().map(|z| z.origin.to_string()).collect();
    zones.sort();
    let listen: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    tracing::info!(zones = zones.join(" "), listen = listen.join(" "), identity = %shared.identity.identity, "serving");
    if let (Some(addr), Some(zone)) = (addrs.first(), zones.first()) {
        let host = if zone == "example.com." {
            "www.example.com"
        } else {
            zone.trim_end_matches('.')
        };
        println!("dns-server is serving {} on {}", zones.join(", "), listen.join(", "));
        println!("try: dig @{} -p {} {host} A", addr.ip(), addr.port());
        println!("     dig @{} -p {} id.server CH TXT +nsid", addr.ip(), addr.port());
    }
}

/// SIGHUP reloads; SIGTERM and SIGINT resolve the returned shutdown future.
fn handle_signals(mut settings: Settings, shared: Arc<Shared>) -> anyhow::Result<impl Future<Output = ()>> {
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading configuration and zones");
            let (s, sh) = (settings, shared.clone());
            settings = match tokio::task::spawn_blocking(move || {
                let mut s = s;
                service::reload(&mut s, &sh);
                s
            })
            .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "reload task failed");
                    return;
                }
            };
        }
    });
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
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

//! `dns-server serve`: the start-up order, the signals, and the shutdown.
//!
//! Start-up: zones and recursion are loaded; the shared state is built with
//! a sink that holds nothing yet, and secondary zones' transfers start; the
//! XDP program is loaded, its maps filled from what is served by then, and
//! its sink takes over; the sockets are bound; only then is the program
//! attached, so XDP never answers before userspace can take what it passes.
//! Then the metrics endpoint and the control socket start, and systemd is
//! told READY=1.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Instant, SystemTime},
};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    control,
    fast_path::Deferred,
    metrics::{self, Sources},
    query::Shared,
    readiness,
    server::{self, Listeners, tcp_table::Table},
    service::{self, Settings},
    xdp::run::{self as xdp, Running},
};

/// Serves with `settings` until SIGTERM or SIGINT; SIGHUP reloads.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    service::tune_allocator();
    let threads = settings.threads();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let served = runtime.block_on(async move {
        let started = (Instant::now(), SystemTime::now());
        readiness::status("loading zones");
        let loaded = service::load(&settings)?;
        let counters = (settings.config.metrics.listen.is_some())
            .then(|| metrics::QueryCounters::new(settings.config.metrics.per_zone));
        // Loading the XDP program takes a second or more: secondary zones'
        // transfers start, and userspace serves, while it loads; the
        // program's sink takes over after.
        let deferred = Arc::new(Deferred::default());
        let shared = service::start(loaded, deferred.clone(), counters);
        shared.secondaries.sync(&shared, &settings.config);
        let listeners = Listeners::bind(&settings.config.server.listen, threads)?;
        // After the bind: a secondary that asks at once finds us listening.
        crate::transfer::notify_at_start(&shared);
        let control = match &settings.config.control.socket {
            Some(path) => Some(
                control::server::bind(path)
                    .with_context(|| format!("binding the control socket {}", path.display()))?,
            ),
            None => None,
        };
        announce(&shared, &listeners.local_addrs());
        let settings_in_force = Arc::new(tokio::sync::Mutex::new(settings.clone()));
        let shutdown = handle_signals(settings_in_force.clone(), shared.clone())?;
        let table = Table::new(settings.tcp_limits());
        let serving = async {
            server::run(
                listeners,
                shared.clone(),
                settings.tcp_limits(),
                table.clone(),
                shutdown,
            )
            .await
            .map_err(anyhow::Error::from)
        };
        let up = async {
            let filled = shared.catalog.load_full();
            let prepared = {
                let (config, shared) = (settings.config.clone(), shared.clone());
                tokio::task::spawn_blocking(move || xdp::prepare(&config, &shared))
                    .await
                    .context("loading the XDP program")?
            };
            if let Some(prepared) = &prepared {
                deferred.set(prepared.sink(), &shared, &filled);
            }
            // The sockets are bound: XDP never answers before userspace can
            // take what it passes.
            let fast_path = prepared.and_then(|p| p.attach(&settings.config, &shared)).map(Arc::new);
            let stats_log = log_xdp_counters(fast_path.clone(), settings.config.xdp.stats_interval);
            let cookie_clock = fast_path.clone().map(follow_the_clock);
            let xdp_interfaces = if settings.config.xdp.enabled {
                settings.config.xdp.interfaces.clone()
            } else {
                Vec::new()
            };
            if let Some(addr) = settings.config.metrics.listen {
                let sources = Sources {
                    shared: shared.clone(),
                    xdp: fast_path.clone(),
                    xdp_interfaces: xdp_interfaces.clone(),
                    tcp: table.clone(),
                    started: started.1,
                };
                let sources = Arc::new(sources);
                let render: metrics::http::Render = Arc::new(move |format| metrics::render(&sources, format));
                metrics::http::start(addr, render).with_context(|| format!("serving metrics on {addr}"))?;
            }
            let control = control.map(|listener| {
                let context = control::commands::Context {
                    shared: shared.clone(),
                    settings: settings_in_force,
                    xdp: fast_path.clone(),
                    xdp_interfaces,
                    started: started.0,
                    transactions: Default::default(),
                };
                tokio::spawn(control::server::serve(listener, Arc::new(context)))
            });
            let watchdog = readiness::watchdog();
            // RFC 5011 2.3: the trust points' keys fetched on a timer of their own.
            let trust_refresh = shared
                .recursion
                .as_ref()
                .and_then(|r| crate::resolver::dnssec::refresh::start(r.resolver.clone()));
            readiness::ready(&serving_status(&shared));
            anyhow::Ok((fast_path, [stats_log, cookie_clock, control, watchdog, trust_refresh]))
        };
        let ((), (fast_path, tasks)) = tokio::try_join!(serving, up)?;
        readiness::stopping();
        if let Some(dnstap) = &shared.dnstap {
            // STOP ends the stream, so that readers see it whole.
            dnstap.close();
        }
        for task in tasks.into_iter().flatten() {
            task.abort();
        }
        if let Some(path) = &settings.config.control.socket {
            let _ = std::fs::remove_file(path);
        }
        if let Some(fast_path) = &fast_path {
            tracing::info!(counters = fast_path.counters(), "XDP counters at shutdown");
            fast_path.close_af_xdp();
            fast_path.unpin();
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
    });
    // A reload abandoned at its time limit may still sit in a read: do not
    // wait for it to exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

/// The STATUS= line while serving: how many zones are served and failed.
pub(crate) fn serving_status(shared: &Shared) -> String {
    let catalog = shared.catalog.load();
    let (mut served, mut failed) = (0, 0);
    for zone in catalog.zones() {
        served += usize::from(zone.version.is_some());
        failed += usize::from(zone.status != crate::catalog::ZoneStatus::Loaded);
    }
    format!("serving {served} zones, {failed} failed")
}

/// Logs the XDP counters every `interval` seconds (never when 0).
fn log_xdp_counters(fast_path: Option<Arc<Running>>, interval: u64) -> Option<tokio::task::JoinHandle<()>> {
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

/// Writes the wall clock's second into the XDP program's cookie settings as
/// each second begins (a millisecond after it), so that the program dates
/// its cookies as userspace does within that second without reading a
/// clock per packet. The write takes the maps' lock, which a reload's fill
/// may hold for a while: it runs off the runtime's workers.
fn follow_the_clock(fast_path: Arc<Running>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let to_next = std::time::Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos()));
            tokio::time::sleep(to_next + std::time::Duration::from_millis(1)).await;
            let fast_path = fast_path.clone();
            let _ = tokio::task::spawn_blocking(move || fast_path.refresh_cookie_clock()).await;
        }
    })
}

/// Prints what is served and how to query it.
fn announce(shared: &Shared, addrs: &[SocketAddr]) {
    let catalog = shared.catalog.load();
    // Zones that failed to load are not served; the load logged them.
    let mut zones: Vec<String> = catalog
        .zones()
        .filter(|z| z.version.is_some())
        .map(|z| z.origin.to_string())
        .collect();
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

/// SIGHUP reloads (one at a time with `ctl reload`, through `settings`);
/// SIGTERM and SIGINT resolve the returned shutdown future.
fn handle_signals(
    settings: Arc<tokio::sync::Mutex<Settings>>,
    shared: Arc<Shared>,
) -> anyhow::Result<impl Future<Output = ()>> {
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading configuration and zones");
            readiness::reloading();
            let mut settings = settings.lock().await;
            *settings = service::reload(settings.clone(), shared.clone()).await;
            readiness::reloaded(&serving_status(&shared));
        }
    });
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}

//! The running service: settings from config and flags, catalog loading and reloading.

use std::{path::PathBuf, sync::Arc, time::Duration};

use arc_swap::ArcSwap;

use crate::{
    catalog::Catalog,
    cli::Overrides,
    config::{Config, ResolverSection, ZoneConfig},
    fast_path::FastPathSink,
    name::Name,
    query::{CookieSecrets, Identity, Shared},
    resolver::{Limits, Recursion, ResolverConfig, cache::CacheConfig, hints},
    server::TcpLimits,
    stats::Stats,
    zone::{load, tree::Zone},
};

/// What `serve` runs with: the merged config and where it came from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Configuration file, re-read on reload.
    pub(crate) config_file: Option<PathBuf>,
    /// Command-line overrides, re-applied after every re-read.
    pub(crate) overrides: Overrides,
    /// The merged result.
    pub(crate) config: Config,
}

impl Settings {
    /// Reads the file (if any) and applies the overrides.
    pub fn load(config_file: Option<PathBuf>, overrides: Overrides) -> anyhow::Result<Settings> {
        let mut config = match &config_file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        overrides.apply(&mut config);
        config.check().map_err(|(message, _)| anyhow::anyhow!(message))?;
        Ok(Settings {
            config_file,
            overrides,
            config,
        })
    }

    /// Re-reads the file with the same overrides.
    pub(crate) fn reread(&self) -> anyhow::Result<Settings> {
        Settings::load(self.config_file.clone(), self.overrides.clone())
    }

    /// Identity, version and EDNS size answered with.
    pub(crate) fn identity(&self) -> Identity {
        let s = &self.config.server;
        Identity {
            identity: s.identity.clone().unwrap_or_else(host_name),
            version: (!s.hide_version).then(|| {
                s.version
                    .clone()
                    .unwrap_or_else(|| format!("dns-server {}", env!("CARGO_PKG_VERSION")))
            }),
            udp_payload: s.udp_payload,
        }
    }

    /// TCP limits.
    pub(crate) fn tcp_limits(&self) -> TcpLimits {
        let s = &self.config.server;
        TcpLimits {
            idle_timeout: Duration::from_secs(s.tcp_idle_timeout.max(1)),
            max_connections: s.tcp_max_connections,
            max_per_source: s.tcp_max_per_source,
            message_timeout: Duration::from_secs(s.tcp_message_timeout),
            write_timeout: Duration::from_secs(s.tcp_write_timeout),
        }
    }

    /// Worker threads to run.
    pub(crate) fn threads(&self) -> usize {
        match self.config.server.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Overrides {
    fn apply(&self, config: &mut Config) {
        if !self.listen.is_empty() {
            config.server.listen.clone_from(&self.listen);
        }
        if let Some(identity) = &self.identity {
            config.server.identity = Some(identity.clone());
        }
        if let Some(threads) = self.threads {
            config.server.threads = threads;
        }
        if !self.xdp_interfaces.is_empty() {
            config.xdp.interfaces.clone_from(&self.xdp_interfaces);
        }
        if let Some(mode) = self.xdp_mode {
            config.xdp.mode = mode;
        }
        if self.no_xdp {
            config.xdp.enabled = false;
        }
        let resolver = &mut config.resolver;
        if !self.allow_recursion.is_empty() {
            resolver.allow.clone_from(&self.allow_recursion);
            resolver.enabled = true;
        }
        if !self.forward.is_empty() {
            resolver.forward.clone_from(&self.forward);
            resolver.enabled = true;
        }
        if let Some(hints) = &self.root_hints {
            resolver.root_hints = Some(hints.clone());
            resolver.enabled = true;
        }
        if let Some(port) = self.upstream_port {
            resolver.upstream_port = port;
        }
        for zone in &self.zones {
            let same = |z: &ZoneConfig| same_origin(&z.origin, &zone.origin);
            config.zones.retain(|z| !same(z));
            config.zones.push(zone.clone());
        }
    }
}

fn same_origin(a: &str, b: &str) -> bool {
    match (Name::parse(a, None), Name::parse(b, None)) {
        (Ok(a), Ok(b)) => a.to_lowercase() == b.to_lowercase(),
        _ => a == b,
    }
}

/// The host name, the default identity.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "dns-server".into())
}

/// Loads every configured zone (the built-in one when none is). A zone that
/// fails keeps its version from `previous` when there is one; without one,
/// the error is returned when `strict` (at start-up) and logged otherwise.
pub(crate) fn load_catalog(
    config: &Config,
    previous: Option<&Catalog>,
    stats: &Stats,
    strict: bool,
) -> anyhow::Result<Catalog> {
    let mut zones: Vec<Arc<Zone>> = Vec::new();
    if config.zones.is_empty() {
        zones.push(Arc::new(load::default_zone()?));
    }
    let limits = config.server.read_limits();
    for zone in &config.zones {
        let origin = Name::parse(&zone.origin, None)?;
        match load::from_file(&origin, &zone.file, &limits) {
            Ok(loaded) => {
                tracing::info!(zone = %loaded.origin, serial = loaded.serial, names = loaded.node_count(), "zone loaded");
                zones.push(Arc::new(loaded));
            }
            Err(error) => {
                Stats::bump(&stats.reload_failures);
                let old = previous.and_then(|c| c.zone(origin.to_lowercase().as_wire()));
                match old {
                    Some(old) => {
                        tracing::error!(zone = %origin, %error, serial = old.serial, "zone failed to load; keeping the version already served");
                        zones.push(old.clone());
                    }
                    None if strict => anyhow::bail!("{error}"),
                    None => {
                        tracing::error!(zone = %origin, %error, "zone failed to load and has no previous version; not served")
                    }
                }
            }
        }
    }
    Ok(Catalog::new(zones, config.server.answer_cache_entries))
}

/// What serving starts from, before the XDP fast path (which is filled
/// from it) is prepared: every zone loaded, recursion set up.
pub(crate) struct Loaded {
    /// The first catalog generation.
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) identity: Identity,
    pub(crate) recursion: Option<Recursion>,
    /// The DNS cookie secrets, which the XDP program is given too.
    pub(crate) cookies: CookieSecrets,
    stats: Stats,
}

/// Loads every zone (strictly: a zone that fails stops the start) and sets
/// up recursion.
pub(crate) fn load(settings: &Settings) -> anyhow::Result<Loaded> {
    let stats = Stats::default();
    let catalog = load_catalog(&settings.config, None, &stats, true)?;
    Ok(Loaded {
        catalog: Arc::new(catalog),
        identity: settings.identity(),
        recursion: recursion(&settings.config.resolver)?,
        cookies: CookieSecrets::at_start(&settings.config.server),
        stats,
    })
}

/// The shared state the transports answer from, with `fast_path` told of
/// every answer that may flow back into XDP ([`NoFastPath`] when XDP is off).
///
/// [`NoFastPath`]: crate::fast_path::NoFastPath
pub(crate) fn start(loaded: Loaded, fast_path: Arc<dyn FastPathSink>) -> Arc<Shared> {
    Arc::new(Shared {
        catalog: ArcSwap::new(loaded.catalog),
        identity: loaded.identity,
        cookies: ArcSwap::from_pointee(loaded.cookies),
        stats: loaded.stats,
        recursion: loaded.recursion,
        fast_path,
    })
}

/// Recursion as the `[resolver]` table sets it up, or `None` when it is off.
fn recursion(section: &ResolverSection) -> Result<Option<Recursion>, crate::zone::ZoneError> {
    if !section.enabled {
        return Ok(None);
    }
    let root_hints = match &section.root_hints {
        Some(path) => hints::from_file(path)?,
        None => hints::built_in(),
    };
    let config = ResolverConfig {
        root_hints,
        forwarders: section.forward.clone(),
        port: section.upstream_port,
        limits: Limits::default(),
        cache: CacheConfig {
            max_bytes: section.cache_bytes,
            min_ttl: section.min_ttl,
            max_ttl: section.max_ttl,
            max_negative_ttl: section.max_negative_ttl,
            stale_window: Duration::from_secs(section.serve_stale),
        },
        qname_minimisation: section.qname_minimisation,
        case_randomisation: section.case_randomisation,
    };
    Ok(Some(Recursion::new(config, section.allow.clone())))
}

/// Re-reads configuration and zones and swaps the new catalog in; returns
/// the settings to serve with from now on. Queries in flight finish on the
/// generation they loaded.
///
/// The reading runs on a blocking thread under `[server] reload_timeout`: a
/// reload stuck on a read (a hung file system, say) is abandoned, the
/// previous zones keep serving, and the next SIGHUP starts a fresh load. An
/// abandoned load never swaps anything in: only this function does, after
/// the load has come back in time.
pub(crate) async fn reload(settings: Settings, shared: Arc<Shared>) -> Settings {
    let limit = Duration::from_secs(settings.config.server.reload_timeout.max(1));
    let (current, sh) = (settings.clone(), shared.clone());
    let loaded = run_within(limit, move || {
        let settings = reread(current);
        let previous = sh.catalog.load_full();
        let catalog = load_catalog(&settings.config, Some(&previous), &sh.stats, false);
        (settings, catalog)
    })
    .await;
    if let Ok((settings, _)) = &loaded {
        apply_cookie_settings(&shared, settings);
    }
    match loaded {
        Ok((settings, Ok(catalog))) => {
            // The XDP refill behind the hook is bounded work, but not async work.
            let applied = tokio::task::spawn_blocking(move || swap_in(&shared, catalog)).await;
            if let Err(error) = applied {
                tracing::error!(%error, "reload task failed");
            }
            settings
        }
        Ok((settings, Err(error))) => {
            tracing::error!(%error, "reload failed; still serving the previous zones");
            settings
        }
        Err(RunError::TimedOut) => {
            Stats::bump(&shared.stats.reload_timeouts);
            tracing::error!(
                timeout = ?limit,
                "reload took longer than reload_timeout and was abandoned; still serving the previous zones"
            );
            settings
        }
        Err(RunError::Failed(error)) => {
            tracing::error!(%error, "reload task failed; still serving the previous zones");
            settings
        }
    }
}

/// Puts the re-read cookie secrets and policy in force (a secret rollover
/// needs no restart); an unchanged file changes nothing.
fn apply_cookie_settings(shared: &Shared, settings: &Settings) {
    let current = shared.cookies.load();
    let new = current.reloaded(&settings.config.server);
    if new != **current {
        // The program first: a cookie userspace hands out must validate in XDP.
        shared.fast_path.serve_cookies(&new);
        shared.cookies.store(Arc::new(new));
        tracing::info!("DNS cookie settings reloaded");
    }
}

/// The settings re-read from the file, or the current ones when that fails.
fn reread(current: Settings) -> Settings {
    match current.reread() {
        Ok(new) => {
            if current.config.server.needs_restart(&new.config.server) {
                tracing::warn!("[server] settings changed; they take effect at the next restart");
            }
            new
        }
        Err(error) => {
            tracing::error!(%error, "configuration reload failed; keeping the current configuration");
            current
        }
    }
}

/// Makes `catalog` the one served (after the XDP maps, so XDP never serves
/// a zone that is no longer loaded).
fn swap_in(shared: &Shared, catalog: Catalog) {
    let catalog = Arc::new(catalog);
    shared.fast_path.serve_catalog(&catalog);
    shared.catalog.store(catalog);
    Stats::bump(&shared.stats.reloads);
    tracing::info!("reload complete");
}

/// Why [`run_within`] has no result.
#[derive(Debug)]
enum RunError {
    /// The time limit passed; the work is left to finish (or not) on its own.
    TimedOut,
    /// The work panicked.
    Failed(tokio::task::JoinError),
}

/// Runs blocking `work` on its own thread and waits at most `limit` for it.
async fn run_within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    match tokio::time::timeout(limit, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(RunError::Failed(error)),
        Err(_) => Err(RunError::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AttachMode;

    #[test]
    fn xdp_flags_override_the_file() {
        let text = "[xdp]\ninterfaces = [\"eth0\"]\nmode = \"native\"\n";
        let mut config = Config::parse(text, std::path::Path::new("c.toml")).expect("valid");
        Overrides::default().apply(&mut config);
        assert_eq!(config.xdp.mode, AttachMode::Native, "no flag: the file's mode");
        let flags = Overrides {
            xdp_interfaces: vec!["veth1".into()],
            xdp_mode: Some(AttachMode::Generic),
            ..Overrides::default()
        };
        flags.apply(&mut config);
        assert_eq!(config.xdp.mode, AttachMode::Generic, "--xdp-mode wins");
        assert_eq!(config.xdp.interfaces, ["veth1"], "--xdp-iface replaces the list");
    }

    #[tokio::test]
    async fn a_stuck_load_does_not_hold_up_the_next() {
        let (unblock, blocked) = std::sync::mpsc::channel::<()>();
        let started = std::time::Instant::now();
        let stuck = run_within(Duration::from_millis(200), move || blocked.recv().is_ok()).await;
        assert!(
            matches!(stuck, Err(RunError::TimedOut)),
            "a load that never returns times out, got {stuck:?}"
        );
        let next = run_within(Duration::from_secs(5), || 42).await;
        assert!(
            matches!(next, Ok(42)),
            "the next load runs while the stuck one still waits, got {next:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "both took {:?}",
            started.elapsed()
        );
        drop(unblock);
    }
}

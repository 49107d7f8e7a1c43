//! The running service: settings from config and flags, catalog loading and reloading.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;

use crate::{
    answer_cache::{AnswerCache, CacheBudget},
    catalog::{Catalog, ServedZone, ZoneStatus, ZoneVersion},
    cli::Overrides,
    config::{Config, ResolverSection, ZoneConfig},
    fast_path::FastPathSink,
    name::Name,
    query::{CookieSecrets, Identity, Shared},
    resolver::{Limits, Recursion, ResolverConfig, cache::CacheConfig, hints},
    server::TcpLimits,
    stats::Stats,
    transfer::{self, Outbound},
    zone::{ZoneError, audit, load, source::ReadLimits, tree::Zone},
    zone_files, zone_state,
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
        // Secondary zones without a file are kept in the data directory.
        let data_dir = config.server.data_dir.clone();
        for zone in config.zones.iter_mut().filter(|z| z.is_secondary()) {
            if zone.file.as_os_str().is_empty() {
                zone.file = zone.default_file(&data_dir);
            }
        }
        for catalog in &mut config.catalogs {
            if catalog.file.as_os_str().is_empty() {
                catalog.file = ZoneConfig::from_file(&catalog.origin, PathBuf::new()).default_file(&data_dir);
            }
        }
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
        if self.xdp_af_xdp {
            config.xdp.af_xdp = true;
        }
        if self.strict {
            config.server.strict = true;
        }
        if let Some(addr) = self.metrics {
            config.metrics.listen = Some(addr);
        }
        if let Some(path) = &self.control {
            config.control.socket = Some(path.clone());
        }
        if let Some(sink) = &self.dnstap {
            config.dnstap.set_sink(sink);
        }
        if let Some(path) = &self.state_file {
            // Taken as given (from the working directory, like every path
            // flag); empty turns the file off, as `state_file = ""` does.
            config.server.state_file = Some(path.clone());
        }
        if !self.allow_transfer.is_empty() {
            config.server.allow_transfer.clone_from(&self.allow_transfer);
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
        if let Some(key) = &self.tsig {
            let absolute = crate::cli::absolute_origin;
            config
                .tsig_keys
                .retain(|k| !same_origin(&absolute(&k.name), &absolute(&key.name)));
            config.tsig_keys.push(key.clone());
        }
        for zone in &self.zones {
            let same = |z: &ZoneConfig| same_origin(&z.origin, &zone.origin);
            config.zones.retain(|z| !same(z));
            config.zones.push(zone.clone());
        }
        if let Some(dir) = &self.data_dir {
            config.server.data_dir.clone_from(dir);
        }
        // --secondary: one zone per origin, its primaries in the order given.
        let mut secondaries: Vec<ZoneConfig> = Vec::new();
        for (origin, primary) in &self.secondaries {
            match secondaries.iter_mut().find(|z| same_origin(&z.origin, origin)) {
                Some(zone) => zone.primaries.push(*primary),
                None => secondaries.push(ZoneConfig {
                    primaries: vec![*primary],
                    tsig: self.tsig.as_ref().map(|k| k.name.clone()),
                    ..ZoneConfig::from_file(origin, PathBuf::new())
                }),
            }
        }
        for zone in secondaries {
            config.zones.retain(|z| !same_origin(&z.origin, &zone.origin));
            config.zones.push(zone);
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

/// Builds the catalog the configuration asks for. A zone whose files are
/// the same bytes as when `previous` read them keeps its version as it was
/// (data and cached answers); the others are read. A zone that fails keeps
/// its version from `previous` when there is one; without one, the error is
/// returned when `strict`, and otherwise the zone is kept in the catalog
/// without data, so its names get SERVFAIL while every other zone is served.
pub(crate) fn load_catalog(
    config: &Config,
    previous: Option<&Catalog>,
    stats: &Stats,
    strict: bool,
) -> anyhow::Result<Catalog> {
    let entries = config.server.answer_cache_entries;
    let budget = match previous {
        Some(p) if p.budget().capacity() == entries => p.budget().clone(),
        _ => CacheBudget::new(entries),
    };
    let mut zones: Vec<ServedZone> = Vec::new();
    // A server following catalogs serves their members, not the built-in zone.
    if config.zones.is_empty() && config.catalogs.is_empty() {
        let origin = Name::parse(load::DEFAULT_ORIGIN, None)?.to_lowercase();
        let built_in = previous
            .and_then(|p| p.zone(origin.as_wire()))
            .filter(|z| z.file.is_none())
            .and_then(|z| z.version.clone());
        let version = match built_in {
            Some(version) => version,
            None => ZoneVersion::new(Arc::new(load::default_zone()?), Vec::new(), &budget),
        };
        zones.push(ServedZone::loaded(version, None));
    }
    let limits = config.server.read_limits();
    for zone in &config.zones {
        let origin = Name::parse(&zone.origin, None)?.to_lowercase();
        let old = previous.and_then(|c| c.zone(origin.as_wire()));
        if zone.is_secondary() {
            zones.push(secondary_zone(origin, zone, old, &limits, &budget));
            continue;
        }
        let reading = Reading {
            limits: &limits,
            budget: &budget,
            stats,
            strict,
            force: false,
            signatures: config
                .server
                .check_signatures
                .then_some(config.server.signature_warn_days),
        };
        zones.push(reading.zone(origin, &zone.file, old)?);
    }
    if previous.is_some_and(|p| !Arc::ptr_eq(p.budget(), &budget)) {
        // A new cache size: every zone starts a cache within it.
        for version in zones.iter_mut().filter_map(|z| z.version.as_mut()) {
            version.answers = Arc::new(AnswerCache::within(budget.clone()));
        }
    }
    Ok(Catalog::of(zones, budget))
}

/// A secondary zone as served: what the previous catalog served (its
/// refresh task owns it from then on), or at start its copy on disk, or
/// nothing yet (SERVFAIL until the first transfer).
pub(crate) fn secondary_zone(
    origin: Name,
    zone: &ZoneConfig,
    old: Option<&ServedZone>,
    limits: &ReadLimits,
    budget: &Arc<CacheBudget>,
) -> ServedZone {
    if let Some(old) = old.filter(|o| o.file.as_deref() == Some(zone.file.as_path())) {
        return old.clone();
    }
    let not_served = |status| ServedZone {
        origin: origin.clone(),
        file: Some(zone.file.clone()),
        version: None,
        status,
    };
    match crate::secondary::store::load(&origin, &zone.file, limits) {
        Ok(Some(stored)) => {
            tracing::info!(zone = %origin, serial = stored.zone.serial, journal_changes = stored.replayed, file = %zone.file.display(), "secondary zone served from its copy on disk");
            let version = ZoneVersion::new(Arc::new(stored.zone), Vec::new(), budget);
            ServedZone::loaded(version, Some(zone.file.clone()))
        }
        Ok(None) => not_served(ZoneStatus::Failed(
            "waiting for the first transfer from its primaries".into(),
        )),
        Err(error) => {
            tracing::error!(zone = %origin, %error, "secondary zone's copy on disk is unusable; waiting for a transfer");
            not_served(ZoneStatus::Failed(format!(
                "copy on disk unusable ({error}); waiting for a transfer"
            )))
        }
    }
}

/// What reading one zone for [`load_catalog`] needs.
struct Reading<'a> {
    limits: &'a ReadLimits,
    budget: &'a Arc<CacheBudget>,
    stats: &'a Stats,
    strict: bool,
    /// Read the file even when it looks unchanged (`ctl reload ZONE`).
    force: bool,
    /// Audit signed zones (`check_signatures`), warning of signatures
    /// expiring within this many days.
    signatures: Option<u32>,
}

impl Reading<'_> {
    /// `zone` if it passes the signed-zone audit (when asked for and the
    /// zone is signed); the audit's findings as the load error otherwise.
    fn audit(&self, file: &Path, zone: Zone) -> Result<Zone, ZoneError> {
        let Some(warn_days) = self.signatures else {
            return Ok(zone);
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let Some(found) = audit::audit(&zone, now, u64::from(warn_days) * 86_400) else {
            return Ok(zone);
        };
        if let Some(problems) = found.problems() {
            return Err(ZoneError {
                location: None,
                message: format!("{}: zone {}: {problems}", file.display(), zone.origin),
            });
        }
        if !found.expiring.is_empty() {
            tracing::warn!(zone = %zone.origin, signatures = found.expiring.len(), days = warn_days, "signatures expire soon: the signer must refresh them");
        }
        Ok(zone)
    }

    /// The zone at `origin` from `file`, `old` being what was served before.
    fn zone(&self, origin: Name, file: &Path, old: Option<&ServedZone>) -> anyhow::Result<ServedZone> {
        let same_file = old.filter(|o| o.file.as_deref() == Some(file));
        if let Some(version) = same_file.and_then(|o| o.version.as_ref())
            && !self.force
            && zone_files::unchanged(&version.files)
        {
            Stats::bump(&self.stats.zones_unchanged);
            tracing::debug!(zone = %origin, serial = version.zone.serial, "zone files unchanged; version kept");
            return Ok(ServedZone::loaded(version.clone(), Some(file.to_path_buf())));
        }
        let previous = same_file.and_then(|o| o.version.as_ref()).map(|v| &*v.zone);
        let loaded = load::from_file_read(&origin, file, self.limits, previous)
            .and_then(|(zone, files)| self.audit(file, zone).map(|zone| (zone, files)));
        let error = match loaded {
            Ok((zone, files)) => {
                Stats::bump(&self.stats.zones_loaded);
                tracing::info!(zone = %zone.origin, serial = zone.serial, names = zone.node_count(), "zone loaded");
                // Built sharing the old version's unchanged nodes, so the
                // changed names are found at about the cost of the changes.
                let version = match same_file.and_then(|o| o.version.as_ref()) {
                    Some(previous) => ZoneVersion::replacing(previous, Arc::new(zone), files, self.budget),
                    None => ZoneVersion::new(Arc::new(zone), files, self.budget),
                };
                return Ok(ServedZone::loaded(version, Some(file.to_path_buf())));
            }
            Err(error) => error,
        };
        Stats::bump(&self.stats.zone_load_failures);
        let (version, status) = match old.and_then(|o| o.version.clone()) {
            Some(version) => {
                Stats::bump(&self.stats.reload_failures);
                tracing::error!(zone = %origin, %error, serial = version.zone.serial, "zone failed to load; keeping the version already served");
                (Some(version), ZoneStatus::KeptOld(error.to_string()))
            }
            None if self.strict => anyhow::bail!("{error}"),
            None => {
                tracing::error!(zone = %origin, %error, "zone failed to load and has no previous version; not served (SERVFAIL for its names)");
                (None, ZoneStatus::Failed(error.to_string()))
            }
        };
        Ok(ServedZone {
            origin,
            file: Some(file.to_path_buf()),
            version,
            status,
        })
    }
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
    /// Transfer settings, for the transports.
    transfers: Outbound,
    stats: Stats,
    /// The dnstap query log, when configured.
    pub(crate) dnstap: Option<Arc<crate::dnstap::Dnstap>>,
}

/// Loads every zone and sets up recursion. A zone that fails is not served
/// (SERVFAIL for its names) and the others are; with `[server] strict` (or
/// `--strict`) it stops the start instead.
pub(crate) fn load(settings: &Settings) -> anyhow::Result<Loaded> {
    let stats = Stats::default();
    let catalog = load_catalog(&settings.config, None, &stats, settings.config.server.strict)?;
    report_zones(&settings.config, &catalog, &Default::default());
    let identity = settings.identity();
    let dnstap = dnstap(&settings.config.dnstap, &identity)?;
    let transfers = Outbound::new(&settings.config);
    // Our secondaries may still ask for differences from before the restart.
    transfers.restore(&catalog);
    Ok(Loaded {
        catalog: Arc::new(catalog),
        identity,
        recursion: recursion(&settings.config.resolver, dnstap.clone())?,
        dnstap,
        cookies: CookieSecrets::at_start(&settings.config.server),
        transfers,
        stats,
    })
}

/// The shared state the transports answer from, with `fast_path` told of
/// every answer that may flow back into XDP ([`NoFastPath`] when XDP is off).
///
/// [`NoFastPath`]: crate::fast_path::NoFastPath
///
/// `metrics`: the per-query counters the metrics endpoint reads, when it is served.
pub(crate) fn start(
    loaded: Loaded,
    fast_path: Arc<dyn FastPathSink>,
    metrics: Option<crate::metrics::QueryCounters>,
) -> Arc<Shared> {
    Arc::new(Shared {
        catalog: ArcSwap::new(loaded.catalog),
        identity: loaded.identity,
        cookies: ArcSwap::from_pointee(loaded.cookies),
        stats: loaded.stats,
        recursion: loaded.recursion,
        transfers: loaded.transfers,
        fast_path,
        secondaries: Arc::default(),
        metrics,
        dnstap: loaded.dnstap,
    })
}

/// Starts the dnstap log `[dnstap]` asks for, its identity the server's unless set.
fn dnstap(
    section: &crate::config::DnstapSection,
    identity: &Identity,
) -> anyhow::Result<Option<Arc<crate::dnstap::Dnstap>>> {
    let origin = crate::dnstap::Origin {
        identity: section
            .identity
            .as_ref()
            .unwrap_or(&identity.identity)
            .clone()
            .into_bytes(),
        version: identity.version.clone().map(String::into_bytes),
    };
    crate::dnstap::start(section, origin).map_err(|e| anyhow::anyhow!("starting the dnstap log: {e}"))
}

use crate::resolver::dnssec::anchor::Anchors;

/// Recursion as the `[resolver]` table sets it up, or `None` when it is off.
fn recursion(
    section: &ResolverSection,
    dnstap: Option<Arc<crate::dnstap::Dnstap>>,
) -> Result<Option<Recursion>, crate::zone::ZoneError> {
    if !section.enabled {
        return Ok(None);
    }
    let root_hints = match &section.root_hints {
        Some(path) => hints::from_file(path)?,
        None => hints::built_in(),
    };
    let anchors = anchors(section)?;
    log_forward_validation(section, &anchors);
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
        do_not_query_localhost: section.do_not_query_localhost,
        validation: section.validation,
        validate_forwarded: section.forward_validation,
        dnstap,
        auto_trust: auto_trust(section, &anchors)?,
        anchors,
    };
    Ok(Some(Recursion::new(config, section.allow.clone())))
}

/// Says at start whether forwarded answers are validated: on by default,
/// but only from a trust anchor, and an operator should not have to guess.
fn log_forward_validation(section: &ResolverSection, anchors: &Anchors) {
    if section.forward.is_empty() {
        return;
    }
    let forwarders = section.forward.len();
    if !section.validation {
        tracing::info!(forwarders, "forwarded answers are not validated (validation = false)");
    } else if !section.forward_validation {
        tracing::info!(
            forwarders,
            "forwarded answers are not validated (forward_validation = false)"
        );
    } else if anchors.anchors.is_empty() {
        tracing::warn!(
            forwarders,
            "forwarded answers are not validated: no trust anchor (set trust_anchor_file)"
        );
    } else {
        let zones: Vec<String> = anchors.anchors.iter().map(|a| a.zone.to_string()).collect();
        tracing::info!(
            forwarders,
            anchors = %zones.join(" "),
            "forwarded answers are validated (asked with DO=1 CD=1; forward_validation = false turns it off)"
        );
    }
}

/// RFC 5011 tracking of every anchored zone, when `auto_trust_anchor_file`
/// is set: the root's state in that file, other zones' beside it.
fn auto_trust(
    section: &ResolverSection,
    anchors: &Anchors,
) -> Result<Vec<Arc<crate::resolver::dnssec::autotrust::AutoTrust>>, crate::zone::ZoneError> {
    use crate::resolver::dnssec::autotrust::{AutoTrust, state_path};
    let Some(path) = &section.auto_trust_anchor_file else {
        return Ok(Vec::new());
    };
    let error = |message: String| crate::zone::ZoneError {
        location: None,
        message: format!("auto_trust_anchor_file: {message}"),
    };
    if anchors.anchors.is_empty() {
        return Err(error("no trust anchor to track (set trust_anchor_file)".into()));
    }
    let owner = anchors
        .anchors
        .iter()
        .position(|a| a.zone == crate::name::Name::root())
        .unwrap_or(0);
    let mut tracked = Vec::new();
    for (at, anchor) in anchors.anchors.iter().enumerate() {
        let file = state_path(path, &anchor.zone, at == owner);
        let auto = AutoTrust::open(&file, anchor, section.auto_trust_hold_down).map_err(error)?;
        tracing::info!(zone = %anchor.zone, state = %file.display(), "RFC 5011: tracking the trust anchor");
        tracked.push(Arc::new(auto));
    }
    Ok(tracked)
}

/// The trust anchors and negative trust anchors the `[resolver]` table names.
fn anchors(section: &ResolverSection) -> Result<Anchors, crate::zone::ZoneError> {
    let error = |message: String| crate::zone::ZoneError {
        location: None,
        message,
    };
    let mut insecure = Vec::new();
    for domain in &section.domain_insecure {
        let absolute = if domain.ends_with('.') {
            domain.clone()
        } else {
            format!("{domain}.")
        };
        let name = crate::name::Name::parse(&absolute, None)
            .map_err(|e| error(format!("domain_insecure: {domain:?}: {e}")))?;
        insecure.push(name);
    }
    let anchors = match &section.trust_anchor_file {
        Some(path) => Anchors::read(path).map_err(|message| error(format!("trust_anchor_file: {message}")))?,
        // The IANA anchors belong with the IANA root: a root of one's own
        // (a lab, an alternative root) needs its anchor named, and has
        // none (so nothing validates as secure or bogus) until it is.
        None if section.root_hints.is_none() => Anchors::root(),
        None => {
            tracing::warn!("root_hints set without trust_anchor_file: no DNSSEC trust anchor, answers are insecure");
            Anchors::default()
        }
    };
    Ok(anchors.with_insecure(insecure))
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
        // The catalogs' members are kept: they are secondary zones the file does not list.
        let effective = sh.secondaries.effective(&settings.config);
        let catalog = load_catalog(&effective, Some(&previous), &sh.stats, false);
        (settings, catalog)
    })
    .await;
    if let Ok((settings, _)) = &loaded {
        apply_cookie_settings(&shared, settings);
        shared.transfers.reconfigure(&settings.config);
    }
    match loaded {
        Ok((settings, Ok(catalog))) => {
            // The XDP update behind the hook is bounded work, but not async work.
            let config = settings.config.clone();
            let sh = shared.clone();
            let applied = tokio::task::spawn_blocking(move || swap_in(&sh, catalog, &config)).await;
            if let Err(error) = applied {
                tracing::error!(%error, "reload task failed");
            }
            // Secondary zones added, removed or reconfigured.
            shared.secondaries.sync(&shared, &settings.config);
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

/// Re-reads one zone's files (changed or not) and swaps in a catalog with
/// it, every other zone kept as it is and the configuration not re-read
/// (`ctl reload ZONE`). A zone that fails keeps its old version, as in a reload.
pub(crate) async fn reload_zone(settings: &Settings, shared: Arc<Shared>, origin: Name) -> anyhow::Result<()> {
    let limit = Duration::from_secs(settings.config.server.reload_timeout.max(1));
    let config = settings.config.clone();
    let sh = shared.clone();
    let loaded = run_within(limit, move || -> anyhow::Result<Catalog> {
        let previous = sh.catalog.load_full();
        let Some(file) = config
            .zones
            .iter()
            .find(|z| same_origin(&z.origin, &origin.to_string()))
            .map(|z| z.file.clone())
        else {
            anyhow::bail!("zone {origin} is not configured (or is the built-in zone, which has no file)");
        };
        let limits = config.server.read_limits();
        let reading = Reading {
            limits: &limits,
            budget: previous.budget(),
            stats: &sh.stats,
            strict: false,
            force: true,
            signatures: config
                .server
                .check_signatures
                .then_some(config.server.signature_warn_days),
        };
        let Some(served) = previous.zone(origin.as_wire()) else {
            anyhow::bail!("zone {origin} is not served yet (reload the configuration first)");
        };
        Ok(previous.with_zone(reading.zone(origin.clone(), &file, Some(served))?))
    })
    .await;
    let catalog = match loaded {
        Ok(catalog) => catalog?,
        Err(RunError::TimedOut) => {
            Stats::bump(&shared.stats.reload_timeouts);
            anyhow::bail!("reading the zone took longer than reload_timeout; the old version keeps serving")
        }
        Err(RunError::Failed(error)) => anyhow::bail!("reload task failed: {error}"),
    };
    let config = settings.config.clone();
    tokio::task::spawn_blocking(move || swap_in(&shared, catalog, &config)).await?;
    Ok(())
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
/// a zone version that is no longer loaded).
fn swap_in(shared: &Arc<Shared>, catalog: Catalog, config: &Config) {
    // A transfer that landed while the reload read its files is kept.
    let swapping = shared.secondaries.lock_swaps();
    let catalog = Arc::new(shared.secondaries.carry_over(catalog, &shared.catalog.load()));
    shared.fast_path.serve_catalog(&catalog);
    // The state file first: whoever sees the new answers finds it written.
    report_zones(config, &catalog, &shared.secondaries.reports());
    let previous = shared.catalog.swap(catalog.clone());
    // Under the lock: each zone's differences are recorded in version order.
    transfer::versions_swapped(shared, &previous, &catalog);
    drop(swapping);
    drop(previous);
    Stats::bump(&shared.stats.reloads);
    release_freed_memory();
    tracing::info!("reload complete");
}

/// Makes every allocation of 1 MiB or more a mapping of its own: a zone
/// load's arenas then grow by remapping (no copy beside the old buffer)
/// and go back to the system the moment they are freed. glibc's default
/// threshold adapts upwards to 32 MiB after the first large free, after
/// which a reload's growing buffers are copied within the heap, leaving
/// freed holes that count in RSS: a reload of a 1M-record zone peaked
/// well above twice the zone's size for that alone.
pub(crate) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets glibc's own tunables; it has no preconditions.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Hands the memory the replaced zone versions held back to the system.
/// glibc keeps freed memory in its arenas for reuse, and a reload frees a
/// whole zone's worth at once: without this, a server's RSS after a few
/// reloads of a large zone stays at the high-water mark of the reload
/// (the old and the new version side by side, plus the build's buffers).
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Logs how many zones are served and failed, and writes the state file
/// `dns-server status` reads (a warning when it cannot be written).
fn report_zones(
    config: &Config,
    catalog: &Catalog,
    secondaries: &std::collections::HashMap<Name, zone_state::RefreshReport>,
) {
    let (mut served, mut failed) = (0, Vec::new());
    for zone in catalog.zones() {
        if zone.version.is_some() {
            served += 1;
        }
        if zone.status != ZoneStatus::Loaded {
            failed.push(zone.origin.to_string());
        }
    }
    failed.sort();
    if failed.is_empty() {
        tracing::info!(served, "every zone loaded");
    } else {
        tracing::warn!(
            served,
            failed = failed.join(" "),
            "some zones failed to load (see `dns-server status`)"
        );
    }
    let Some(path) = state_file(config) else {
        return;
    };
    if let Err(error) = zone_state::write(path, catalog, secondaries) {
        tracing::warn!(path = %path.display(), %error, "zone state file not written; `dns-server status` cannot show this server's zones");
    }
}

/// Where the zone state file is written, if anywhere: unset or empty
/// (`state_file = ""`, `--state-file ""`) means nowhere.
pub(crate) fn state_file(config: &Config) -> Option<&Path> {
    config
        .server
        .state_file
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
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
        assert!(!config.xdp.af_xdp, "AF_XDP is off unless asked for");
        let flags = Overrides {
            xdp_af_xdp: true,
            ..Overrides::default()
        };
        flags.apply(&mut config);
        assert!(config.xdp.af_xdp, "--xdp-af-xdp turns it on");
        let on = Config::parse("[xdp]\naf_xdp = true\n", std::path::Path::new("c.toml")).expect("valid");
        assert!(on.xdp.af_xdp, "[xdp] af_xdp = true");
    }

    #[test]
    fn state_file_flag_overrides_the_file_and_empty_turns_it_off() {
        let text = "[server]\nstate_file = \"zones.json\"\n";
        let mut config = Config::parse(text, std::path::Path::new("/etc/dns/c.toml")).expect("valid");
        Overrides::default().apply(&mut config);
        assert_eq!(
            config.server.state_file.as_deref(),
            Some(std::path::Path::new("/etc/dns/zones.json")),
            "no flag: the file's, from its directory"
        );
        let flag = |path: &str| Overrides {
            state_file: Some(PathBuf::from(path)),
            ..Overrides::default()
        };
        flag("/tmp/t/zones.json").apply(&mut config);
        assert_eq!(
            config.server.state_file.as_deref(),
            Some(std::path::Path::new("/tmp/t/zones.json")),
            "--state-file wins"
        );
        let mut default = Config::default();
        assert_eq!(
            default.server.state_file.as_deref(),
            Some(std::path::Path::new(crate::config::DEFAULT_STATE_FILE))
        );
        flag("").apply(&mut default);
        assert_eq!(state_file(&default), None, "--state-file \"\" turns it off");
        let mut off = Config::parse("[server]\nstate_file = \"\"\n", std::path::Path::new("c.toml")).expect("valid");
        assert_eq!(state_file(&off), None, "state_file = \"\" is off");
        flag("here.json").apply(&mut off);
        assert_eq!(
            state_file(&off),
            Some(std::path::Path::new("here.json")),
            "the flag turns it on again"
        );
    }

    fn zone_text(origin: &str, serial: u32, extra: &str) -> String {
        format!("$ORIGIN {origin}\n$TTL 60\n@ SOA ns1 h {serial} 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n{extra}")
    }

    fn config_of(dir: &test_support::TempDir, zones: &[&str]) -> Config {
        let mut text = String::new();
        for origin in zones {
            text.push_str(&format!("[[zone]]\norigin = \"{origin}\"\nfile = \"{origin}zone\"\n"));
        }
        Config::parse(&text, &dir.path().join("c.toml")).expect("valid config")
    }

    fn served<'c>(catalog: &'c Catalog, origin: &str) -> &'c ServedZone {
        let name = Name::parse(origin, None).expect("name").to_lowercase();
        catalog.zone(name.as_wire()).expect("configured")
    }

    #[test]
    fn a_reload_reads_only_the_zones_whose_files_changed() {
        let dir = test_support::TempDir::new("per-zone");
        dir.write("a.test.zone", &zone_text("a.test.", 1, "$INCLUDE a.inc\n"));
        let inc = dir.write("a.inc", "www A 192.0.2.10\n");
        dir.write("b.test.zone", &zone_text("b.test.", 1, ""));
        let config = config_of(&dir, &["a.test.", "b.test."]);
        let stats = Stats::default();
        let first = load_catalog(&config, None, &stats, true).expect("loads");
        let (a1, b1) = (served(&first, "a.test."), served(&first, "b.test."));
        let (va, vb) = (a1.version.clone().expect("a"), b1.version.clone().expect("b"));
        assert_eq!(va.files.len(), 2, "the include is part of the zone's identity");

        let second = load_catalog(&config, Some(&first), &stats, false).expect("loads");
        for (origin, old) in [("a.test.", &va), ("b.test.", &vb)] {
            let new = served(&second, origin).version.as_ref().expect("served");
            assert!(
                Arc::ptr_eq(&new.zone, &old.zone),
                "{origin}: unchanged zone reused as is"
            );
            assert!(
                Arc::ptr_eq(&new.answers, &old.answers),
                "{origin}: its cached answers too"
            );
            assert_eq!(new.id, old.id, "{origin}: same version");
        }
        assert_eq!(stats.zones_unchanged.get(), 2);

        // The include changes, keeping its size and mtime: a.test. is read again, b.test. not.
        let mtime = std::fs::metadata(&inc).and_then(|m| m.modified()).expect("mtime");
        std::fs::write(&inc, "www A 192.0.2.20\n").expect("rewrite");
        std::fs::File::options()
            .write(true)
            .open(&inc)
            .and_then(|f| f.set_modified(mtime))
            .expect("mtime kept");
        let third = load_catalog(&config, Some(&second), &stats, false).expect("loads");
        let a3 = served(&third, "a.test.").version.as_ref().expect("a");
        assert_ne!(a3.id, va.id, "a changed include makes a new version");
        assert!(!Arc::ptr_eq(&a3.zone, &va.zone));
        let b3 = served(&third, "b.test.").version.as_ref().expect("b");
        assert!(Arc::ptr_eq(&b3.zone, &vb.zone), "the other zone is untouched");
    }

    /// With `check_signatures`, a signed zone whose signatures expired fails
    /// its load (and keeps the version served); without it, it is served.
    #[test]
    fn check_signatures_refuses_a_signed_zone_with_expired_signatures() {
        let sig =
            |covered: &str, labels: u8, times: &str| format!("RRSIG {covered} 13 {labels} 60 {times} 1 s.test. AQID");
        let signed = |times: &str| {
            zone_text(
                "s.test.",
                1,
                &format!(
                    "@ NSEC ns1 NS SOA RRSIG NSEC\nns1 NSEC s.test. A RRSIG NSEC\n@ {}\n@ {}\n@ {}\nns1 {}\nns1 {}\n",
                    sig("SOA", 2, times),
                    sig("NS", 2, times),
                    sig("NSEC", 2, times),
                    sig("A", 3, times),
                    sig("NSEC", 3, times)
                ),
            )
        };
        let dir = test_support::TempDir::new("signatures");
        dir.write("s.test.zone", &signed("21000101000000 20200101000000"));
        let mut config = config_of(&dir, &["s.test."]);
        let stats = Stats::default();
        let off = load_catalog(&config, None, &stats, true).expect("loads");
        config.server.check_signatures = true;
        let on = load_catalog(&config, None, &stats, true).expect("valid signatures: loads");
        assert!(served(&on, "s.test.").version.is_some());

        dir.write("s.test.zone", &signed("20210101000000 20200101000000"));
        let kept = load_catalog(&config, Some(&on), &stats, false).expect("a reload never fails");
        let zone = served(&kept, "s.test.");
        assert!(
            matches!(&zone.status, ZoneStatus::KeptOld(e) if e.contains("signatures expired")),
            "expired: the old version kept, {:?}",
            zone.status
        );
        config.server.check_signatures = false;
        let lax = load_catalog(&config, Some(&off), &stats, false).expect("loads");
        assert_eq!(served(&lax, "s.test.").status, ZoneStatus::Loaded, "unchecked: served");
    }

    #[test]
    fn a_zone_that_fails_is_not_served_kept_old_or_stops_a_strict_start() {
        let dir = test_support::TempDir::new("isolation");
        dir.write("good.test.zone", &zone_text("good.test.", 1, ""));
        let bad = dir.write("bad.test.zone", &zone_text("bad.test.", 1, "www A not-an-address\n"));
        let config = config_of(&dir, &["good.test.", "bad.test."]);
        let stats = Stats::default();
        let error = load_catalog(&config, None, &stats, true)
            .err()
            .expect("strict: the start fails");
        assert!(error.to_string().contains("bad.test.zone:6"), "file:line in {error}");

        let start = load_catalog(&config, None, &stats, false).expect("not strict: served");
        assert!(
            served(&start, "good.test.").version.is_some(),
            "the good zone is served"
        );
        let failed = served(&start, "bad.test.");
        assert!(failed.version.is_none(), "the bad zone is not");
        match &failed.status {
            ZoneStatus::Failed(e) => assert!(e.contains("bad.test.zone:6"), "file:line in {e}"),
            other => panic!("expected Failed, got {other:?}"),
        }
        assert_eq!(stats.zone_load_failures.get(), 2);

        std::fs::write(&bad, zone_text("bad.test.", 2, "www A 192.0.2.2\n")).expect("fixed");
        let fixed = load_catalog(&config, Some(&start), &stats, false).expect("loads");
        let loaded = served(&fixed, "bad.test.");
        assert_eq!(
            (loaded.version.as_ref().map(|v| v.zone.serial), &loaded.status),
            (Some(2), &ZoneStatus::Loaded)
        );

        std::fs::write(&bad, zone_text("bad.test.", 3, "www CNAME ns1\nwww A 192.0.2.2\n")).expect("broken");
        let broken = load_catalog(&config, Some(&fixed), &stats, false).expect("a reload never fails");
        let kept = served(&broken, "bad.test.");
        assert_eq!(
            kept.version.as_ref().map(|v| v.zone.serial),
            Some(2),
            "the old version serves"
        );
        assert!(matches!(kept.status, ZoneStatus::KeptOld(_)), "{:?}", kept.status);
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

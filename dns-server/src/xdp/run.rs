//! Starting the fast path for `serve`: load, configure, fill, and attach
//! once the sockets are bound; then keep the maps in step with what
//! userspace answers (the [`FastPathSink`] with XDP on). Any failure leaves
//! the server running without XDP.

use std::{net::IpAddr, sync::Arc};

use dns_wire::query::Query;
use xdp_abi::{CONFIG_RATE_LIMIT, CONFIG_RECURSION, CONFIG_SERVICE_FILTER, XdpConfig};

use super::{
    FastPath, SharedMaps, XdpError,
    af_xdp::AfXdp,
    feed::Feed,
    loader::{ProgramLog, ToGlobalLogger},
    stats, sync,
};
use crate::{
    catalog::Catalog,
    config::Config,
    fast_path::FastPathSink,
    query::{CookieSecrets, Identity, Pending, Shared},
};

/// The program loaded and its maps filled, not attached yet; its
/// [`Prepared::sink`] goes into the service before anything is served.
pub(crate) struct Prepared {
    fast: FastPath,
    writer: Arc<MapWriter>,
}

/// The fast path while the server runs; dropping it closes the AF_XDP
/// sockets, then detaches the program.
pub(crate) struct Running {
    /// First, so that it drops first: its sockets leave the map before the
    /// program goes. Behind a lock so that shutdown closes it while tasks
    /// being aborted may still hold the `Running`.
    af_xdp: std::sync::Mutex<Option<AfXdp>>,
    fast: FastPath,
    writer: Arc<MapWriter>,
    /// Each interface attached to, with the mode it got (`native`, `generic`).
    pub(crate) attached: Vec<(String, &'static str)>,
    /// Responses each response map holds at most (`[xdp] cache_entries`).
    pub(crate) capacity: u32,
}

impl Running {
    /// Writes the wall clock's second for the program's cookie timestamps.
    pub(crate) fn refresh_cookie_clock(&self) {
        let mut maps = self.fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = maps.refresh_cookie_clock() {
            tracing::warn!(%error, "XDP cookie clock not refreshed");
        }
    }

    /// Every counter of the program, summed over CPUs now.
    pub(crate) fn read_counters(&self) -> Result<Vec<(xdp_abi::Stat, u64)>, XdpError> {
        let maps = self.fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        stats::read(&maps.stats)
    }

    /// Closes the AF_XDP sockets (their frames go to the stack again), at shutdown.
    pub(crate) fn close_af_xdp(&self) {
        let af_xdp = self.af_xdp.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(af_xdp);
    }

    /// Removes the pinned maps' names at shutdown, as dropping the program
    /// does: a task still holding the `Running` when the runtime gives up on
    /// it would otherwise leave them behind.
    pub(crate) fn unpin(&self) {
        self.fast.unpin();
    }

    /// Zone answers in the live response map (the resolver's hot answers not included).
    pub(crate) fn zone_entries(&self) -> usize {
        self.writer.inserter.entries()
    }

    /// Adds `addr/prefix_len` to the deny list, or with `remove` lifts it.
    pub(crate) fn deny(&self, addr: IpAddr, prefix_len: u32, remove: bool) -> Result<(), XdpError> {
        let mut maps = self.fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        if remove {
            maps.allow(addr, prefix_len)
        } else {
            maps.deny(addr, prefix_len)
        }
    }

    /// The deny list.
    pub(crate) fn denied(&self) -> Vec<(IpAddr, u32)> {
        let maps = self.fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        maps.denied()
    }

    /// The counters as one `name=value` line, the AF_XDP threads' after the program's.
    pub(crate) fn counters(&self) -> String {
        let maps = self.fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        let mut line = match stats::read(&maps.stats) {
            Ok(c) => stats::format(&c),
            Err(e) => format!("unreadable: {e}"),
        };
        for (name, value) in self.af_xdp_counters() {
            line.push_str(&format!(" {name}={value}"));
        }
        line
    }

    /// What the AF_XDP threads did (nothing when they are off), by name.
    pub(crate) fn af_xdp_counters(&self) -> Vec<(&'static str, u64)> {
        let af_xdp = self.af_xdp.lock().unwrap_or_else(|e| e.into_inner());
        let Some(af_xdp) = af_xdp.as_ref() else {
            return Vec::new();
        };
        let c = af_xdp.counters();
        let get = |v: &std::sync::atomic::AtomicU64| v.load(std::sync::atomic::Ordering::Relaxed);
        vec![
            ("af_xdp_answered", get(&c.answered)),
            ("af_xdp_dropped_tx_full", get(&c.tx_full)),
            ("af_xdp_dropped_unparsable", get(&c.unparsable)),
            ("af_xdp_resolved", get(&c.resolved)),
            ("af_xdp_dropped_unanswered", get(&c.unanswered)),
            ("af_xdp_dropped_too_big", get(&c.too_big)),
            ("af_xdp_dropped_rx", get(&c.rx_dropped)),
            ("af_xdp_dropped_rx_ring_full", get(&c.rx_ring_full)),
            ("af_xdp_dropped_fill_ring_empty", get(&c.fill_ring_empty)),
            ("af_xdp_dropped_invalid_descs", get(&c.invalid_descs)),
        ]
    }
}

/// Loads the program and fills its maps from what `shared` serves as
/// configured, or says in the log why the fast path is off.
pub(crate) fn prepare(config: &Config, shared: &Shared) -> Option<Prepared> {
    let x = &config.xdp;
    if !x.enabled {
        tracing::info!("XDP fast path disabled (--no-xdp or [xdp] enabled = false); all queries go to userspace");
        return None;
    }
    if x.interfaces.is_empty() {
        tracing::info!("XDP fast path off: no interface given (--xdp-iface or [xdp] interfaces)");
        return None;
    }
    try_prepare(config, shared).map_err(unavailable).ok()
}

fn unavailable(error: XdpError) {
    let error = super::error_chain(&error);
    tracing::error!(%error, "XDP fast path unavailable; running without XDP (all queries go to userspace)");
}

fn try_prepare(config: &Config, shared: &Shared) -> Result<Prepared, XdpError> {
    let x = &config.xdp;
    let log = ProgramLog {
        level: x.log_level,
        sink: Box::new(ToGlobalLogger),
    };
    let fast = FastPath::load_with_log(x.cache_entries, Some(x.pin_dir.clone()), log)?;
    // The resolver's hot answers, for the clients allowed to recurse.
    let recursion = shared.recursion.as_ref().filter(|_| x.recursive_entries > 0);
    {
        let mut maps = fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        let mut settings = settings(config);
        if let Some(recursion) = recursion {
            for prefix in &recursion.allow {
                maps.allow_recursion(prefix.addr(), u32::from(prefix.prefix_len()))?;
            }
            settings.flags |= CONFIG_RECURSION;
        }
        maps.set_config(settings)?;
        maps.set_cookies(&shared.cookies.load())?;
        for addr in &x.service_addresses {
            maps.add_service_address(*addr)?;
        }
        for prefix in &x.deny {
            let (addr, len) = parse_prefix(prefix)
                .ok_or_else(|| XdpError::Config(format!("deny: {prefix:?} is not ADDRESS/LENGTH")))?;
            maps.deny(addr, len)?;
        }
    }
    let feed = recursion.map(|recursion| {
        Feed::start(
            fast.maps.clone(),
            recursion.resolver.clone(),
            shared.identity.clone(),
            shared.catalog.load_full(),
            x.recursive_entries as usize,
        )
    });
    let writer = MapWriter {
        maps: fast.maps.clone(),
        inserter: sync::Inserter::start(fast.maps.clone()),
        feed,
        identity: shared.identity.clone(),
        precompute_limit: precompute_limit(x.cache_entries),
    };
    writer.fill(&shared.catalog.load_full())?;
    Ok(Prepared {
        fast,
        writer: Arc::new(writer),
    })
}

impl Prepared {
    /// Where the service tells the maps what it answers.
    pub(crate) fn sink(&self) -> Arc<dyn FastPathSink> {
        self.writer.clone()
    }

    /// Attaches the program to every configured interface, and with
    /// `[xdp] af_xdp` opens the AF_XDP sockets that answer from `shared`;
    /// `None` (and the reason in the log) when it is attached to none.
    pub(crate) fn attach(mut self, config: &Config, shared: &Arc<Shared>) -> Option<Running> {
        let x = &config.xdp;
        let mut attached = Vec::new();
        for iface in &x.interfaces {
            match self.fast.attach(iface, x.mode) {
                Ok(mode) => {
                    attached.push((iface.clone(), super::loader::mode_name(mode)));
                    tracing::info!(iface, mode = %super::loader::mode_name(mode), "XDP fast path attached");
                }
                Err(error) => {
                    let error = super::error_chain(&error);
                    tracing::error!(iface, mode = %x.mode, %error, "XDP program not attached to this interface")
                }
            }
        }
        if attached.is_empty() {
            unavailable(XdpError::Program(aya::programs::ProgramError::NotAttached));
            return None;
        }
        let af_xdp = if x.af_xdp {
            let names: Vec<&str> = attached.iter().map(|(iface, _)| iface.as_str()).collect();
            AfXdp::start(&self.fast.maps, &names, shared)
        } else {
            None
        };
        Some(Running {
            af_xdp: std::sync::Mutex::new(af_xdp),
            fast: self.fast,
            writer: self.writer,
            attached,
            capacity: x.cache_entries,
        })
    }
}

/// Writes what userspace answers into the maps: the [`FastPathSink`] with XDP on.
struct MapWriter {
    maps: SharedMaps,
    /// Copies the zones' answers cached at run time into the live map.
    inserter: sync::Inserter,
    /// Keeps the resolver's hot answers in the live map, when XDP serves them.
    feed: Option<Feed>,
    identity: Identity,
    /// Most responses precomputed from the zones for a fill.
    precompute_limit: usize,
}

/// Zones' precomputed responses fill at most half of a response map: the
/// rest is for the answers copied in as they are asked (negative answers,
/// and the names asked of zones with more answers than the map holds), so
/// the names clients ask reach XDP however large the zones are, and a
/// start with a zone of millions of records does not spend its time
/// building responses the map has no room for.
fn precompute_limit(cache_entries: u32) -> usize {
    (cache_entries as usize / 2).max(1)
}

impl MapWriter {
    /// Empties the resolver's entries, fills the idle map from `catalog`,
    /// flips, and follows its zone versions.
    fn fill(&self, catalog: &Arc<Catalog>) -> Result<(), XdpError> {
        if let Some(feed) = &self.feed {
            feed.follow(catalog.clone(), &self.maps);
        }
        let entries = sync::precompute_zones(catalog, &self.identity, None, self.precompute_limit);
        let filled = self.inserter.refill(catalog, &entries)?;
        if filled.failed > 0 {
            tracing::warn!(
                failed = filled.failed,
                "XDP response map full ([xdp] cache_entries); those answers come from userspace"
            );
        }
        tracing::info!(
            responses = filled.inserted,
            map = filled.active,
            "XDP response map filled and live"
        );
        Ok(())
    }

    /// Rewrites the keys of `catalog`'s changed zones in the live map (the
    /// zones are those followed already), leaving every other zone's keys.
    fn update(&self, catalog: &Arc<Catalog>) -> Result<(), XdpError> {
        self.inserter.retire(catalog)?;
        let mut entries = Vec::new();
        let mut changed = Vec::new();
        for zone in catalog.zones() {
            if self.inserter.follows(zone) {
                continue;
            }
            changed.push(zone.origin.to_string());
            let origin = zone.origin.as_wire();
            match self.inserter.changed_names(zone) {
                Some(names) => entries.extend(sync::precompute_names(catalog, &self.identity, origin, names)),
                None => entries.extend(sync::precompute_zones(
                    catalog,
                    &self.identity,
                    Some(origin),
                    self.precompute_limit,
                )),
            }
        }
        let filled = self.inserter.update(catalog, entries)?;
        if let Some(feed) = &self.feed {
            // Same zones, so the same names are ours: the resolver's entries stay.
            feed.follow_zones(catalog.clone());
        }
        if filled.failed > 0 {
            tracing::warn!(
                failed = filled.failed,
                "XDP response map full ([xdp] cache_entries); those answers come from userspace"
            );
        }
        tracing::info!(
            zones = changed.len(),
            changed = changed.join(" "),
            responses = filled.inserted,
            removed = filled.removed,
            "XDP response map updated for the changed zones"
        );
        Ok(())
    }
}

impl FastPathSink for MapWriter {
    fn serve_catalog(&self, catalog: &Arc<Catalog>) {
        let result = if self.inserter.can_update(catalog) {
            self.update(catalog).or_else(|error| {
                tracing::warn!(%error, "XDP per-zone update failed; refilling the maps whole");
                self.fill(catalog)
            })
        } else {
            self.fill(catalog)
        };
        if let Err(error) = result {
            tracing::error!(%error, "XDP maps not refilled; XDP keeps the previous zones' answers until the next reload");
        }
    }

    fn copy_answer(&self, catalog: &Catalog, query: &Query<'_>, response: &[u8]) -> bool {
        self.inserter.offer(catalog, query, response)
    }

    fn offer_resolved(&self, pending: &Pending) {
        if let Some(feed) = &self.feed {
            feed.offer(pending);
        }
    }

    fn serve_cookies(&self, secrets: &CookieSecrets) {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = maps.set_cookies(secrets) {
            // The program would issue cookies userspace no longer accepts:
            // turn them off there rather than keep the old secret.
            tracing::error!(%error, "XDP cookie secrets not updated; cookie queries go to userspace");
            if let Some(cookies) = &mut maps.cookies {
                let _ = cookies.set(0, xdp_abi::CookieConfig::default(), 0);
            }
        }
    }
}

/// The program's settings from the configuration.
pub(crate) fn settings(config: &Config) -> XdpConfig {
    let x = &config.xdp;
    let default_port = config.server.listen.first().map_or(53, |a| a.port());
    let port = |i: usize| x.ports.get(i).copied();
    let mut flags = 0;
    if !x.service_addresses.is_empty() {
        flags |= CONFIG_SERVICE_FILTER;
    }
    if x.rate_limit > 0 {
        flags |= CONFIG_RATE_LIMIT;
    }
    XdpConfig {
        dns_port: port(0).unwrap_or(default_port),
        dns_port_alt: port(1).unwrap_or(0),
        udp_limit: config.server.udp_payload,
        flags,
        // The program's fixed-point refill needs rate * 1e9ns to fit in 64 bits.
        rrl_rate: x.rate_limit.min(100_000_000),
        rrl_burst: x.rate_limit_burst.max(x.rate_limit),
        rrl_slip: x.slip,
        ..Default::default()
    }
}

/// `192.0.2.0/24` or `2001:db8::/32` (a bare address is a host prefix).
pub fn parse_prefix(text: &str) -> Option<(IpAddr, u32)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u32>().ok()?)),
        None => (text.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_settings() {
        assert_eq!(parse_prefix("192.0.2.0/24"), Some(("192.0.2.0".parse().unwrap(), 24)));
        assert_eq!(parse_prefix("2001:db8::1"), Some(("2001:db8::1".parse().unwrap(), 128)));
        assert_eq!(parse_prefix("192.0.2.0/33"), None);
        assert_eq!(parse_prefix("example.com/8"), None);
        let mut config = Config::default();
        let s = settings(&config);
        assert_eq!(
            (s.dns_port, s.dns_port_alt, s.udp_limit, s.flags),
            (5300, 0, 1232, 0),
            "defaults follow [server]"
        );
        config.xdp.ports = vec![53, 5353];
        config.xdp.rate_limit = u32::MAX;
        config.xdp.service_addresses = vec!["203.0.113.53".parse().unwrap()];
        let s = settings(&config);
        assert_eq!((s.dns_port, s.dns_port_alt), (53, 5353));
        assert_eq!(s.flags, CONFIG_SERVICE_FILTER | CONFIG_RATE_LIMIT);
        assert_eq!(s.rrl_rate, 100_000_000, "capped for the program's arithmetic");
    }
}

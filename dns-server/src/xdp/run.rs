//! Starting the fast path for `serve`: load, configure, fill, attach; and
//! refill on every reload. Any failure leaves the server running without XDP.

use std::{net::IpAddr, sync::Arc};

use xdp_abi::{CONFIG_RATE_LIMIT, CONFIG_RECURSION, CONFIG_SERVICE_FILTER, XdpConfig};

use super::{
    FastPath, SharedMaps, XdpError,
    feed::Feed,
    loader::{ProgramLog, ToGlobalLogger},
    stats, sync,
};
use crate::{
    catalog::Catalog,
    config::Config,
    query::{Identity, Shared},
};

/// The fast path while the server runs; dropping it detaches the program.
pub struct Running {
    fast: FastPath,
}

impl Running {
    /// The counters as one `name=value` line.
    pub fn counters(&self) -> String {
        let maps = self.fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        match stats::read(&maps.stats) {
            Ok(c) => stats::format(&c),
            Err(e) => format!("unreadable: {e}"),
        }
    }
}

/// Starts the fast path as configured, or says in the log why it is off.
pub fn start(config: &Config, shared: &Arc<Shared>) -> Option<Running> {
    let x = &config.xdp;
    if !x.enabled {
        tracing::info!("XDP fast path disabled (--no-xdp or [xdp] enabled = false); all queries go to userspace");
        return None;
    }
    if x.interfaces.is_empty() {
        tracing::info!("XDP fast path off: no interface given (--xdp-iface or [xdp] interfaces)");
        return None;
    }
    match try_start(config, shared) {
        Ok(running) => Some(running),
        Err(error) => {
            let error = super::error_chain(&error);
            tracing::error!(%error, "XDP fast path unavailable; running without XDP (all queries go to userspace)");
            None
        }
    }
}

fn try_start(config: &Config, shared: &Arc<Shared>) -> Result<Running, XdpError> {
    let x = &config.xdp;
    let log = ProgramLog {
        level: x.log_level,
        sink: Box::new(ToGlobalLogger),
    };
    let mut fast = FastPath::load_with_log(x.cache_entries, Some(x.pin_dir.clone()), log)?;
    let catalog = shared.catalog.load_full();
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
        Arc::new(Feed::start(
            fast.maps.clone(),
            recursion.resolver.clone(),
            shared.identity.clone(),
            catalog.clone(),
            x.recursive_entries as usize,
        ))
    });
    let inserter = Arc::new(sync::Inserter::start(fast.maps.clone()));
    let fill = Refill {
        maps: fast.maps.clone(),
        inserter,
        feed: feed.clone(),
        identity: shared.identity.clone(),
    };
    fill.run(&catalog)?;
    let _ = shared.on_reload.set(Box::new(move |catalog: &Arc<Catalog>| {
        if let Err(error) = fill.run(catalog) {
            tracing::error!(%error, "XDP maps not refilled; XDP keeps the previous zones' answers until the next reload");
        }
    }));
    if let Some(feed) = feed {
        let _ = shared
            .on_recursive_hit
            .set(Box::new(move |pending| feed.offer(pending)));
    }

    let mut attached = 0;
    for iface in &x.interfaces {
        match fast.attach(iface, x.mode) {
            Ok(mode) => {
                attached += 1;
                tracing::info!(iface, mode = %super::loader::mode_name(mode), "XDP fast path attached");
            }
            Err(error) => {
                let error = super::error_chain(&error);
                tracing::error!(iface, mode = %x.mode, %error, "XDP program not attached to this interface")
            }
        }
    }
    if attached == 0 {
        return Err(XdpError::Program(aya::programs::ProgramError::NotAttached));
    }
    Ok(Running { fast })
}

/// What a (re)fill of the maps needs.
struct Refill {
    maps: SharedMaps,
    inserter: Arc<sync::Inserter>,
    feed: Option<Arc<Feed>>,
    identity: Identity,
}

impl Refill {
    /// Empties the resolver's entries, fills the idle map from `catalog`,
    /// flips, and follows its answer cache.
    fn run(&self, catalog: &Arc<Catalog>) -> Result<(), XdpError> {
        if let Some(feed) = &self.feed {
            feed.follow(catalog.clone(), &self.maps);
        }
        let entries = sync::precompute(catalog, &self.identity);
        let filled = sync::install(&self.maps, &entries)?;
        self.inserter.follow(catalog);
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
}

/// The program's settings from the configuration.
pub fn settings(config: &Config) -> XdpConfig {
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

//! Server selection by smoothed RTT with a little exploration (as Unbound and
//! BIND do), and lameness remembered per zone and type.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::name::Name;

/// RTT assumed for a server never asked: low, so that new servers get tried.
const UNKNOWN_RTT_MS: u32 = 50;
/// RTT charged for a timeout, and the ceiling.
const TIMEOUT_RTT_MS: u32 = 5_000;
/// One query in this many goes to a random server, to keep estimates fresh.
const EXPLORE_ONE_IN: u32 = 20;
/// How long a server stays lame for a zone and type (Unbound's
/// `infra-lame-ttl` is 900 s; shorter, as a SERVFAIL may be passing).
const LAME_FOR: Duration = Duration::from_secs(300);
/// Lameness entries kept; past this the expired ones are dropped, then all.
const MAX_LAME: usize = 4096;

/// Smoothed RTTs per server address, and servers found lame.
#[derive(Default)]
pub(crate) struct ServerStats {
    srtt_ms: Mutex<HashMap<IpAddr, u32>>,
    /// Until when a server is lame for a zone (lower-case) and a type: a
    /// server may refuse or fail AAAA questions and answer A ones, so one
    /// type's failures say nothing of another's.
    lame: Mutex<HashMap<(IpAddr, Name, u16), Instant>>,
}

impl ServerStats {
    /// Orders `servers` best first (mostly by SRTT; sometimes a random one first).
    pub(crate) fn order(&self, servers: &mut [IpAddr]) {
        let table = self.srtt_ms.lock().unwrap_or_else(|e| e.into_inner());
        servers.sort_by_key(|ip| table.get(ip).copied().unwrap_or(UNKNOWN_RTT_MS));
        drop(table);
        if servers.len() > 1 && rand::random::<u32>().is_multiple_of(EXPLORE_ONE_IN) {
            let pick = rand::random::<u32>() as usize % servers.len();
            servers.swap(0, pick);
        }
    }

    /// Records an answer after `rtt` (SRTT = 7/8 old + 1/8 new).
    pub(crate) fn answered(&self, ip: IpAddr, rtt: Duration) {
        let sample = rtt.as_millis().min(u128::from(TIMEOUT_RTT_MS)) as u32;
        let mut table = self.srtt_ms.lock().unwrap_or_else(|e| e.into_inner());
        let srtt = table.entry(ip).or_insert(sample);
        *srtt = (*srtt * 7 + sample) / 8;
    }

    /// Records a timeout or error: the estimate doubles, up to the ceiling.
    pub(crate) fn failed(&self, ip: IpAddr) {
        let mut table = self.srtt_ms.lock().unwrap_or_else(|e| e.into_inner());
        let srtt = table.entry(ip).or_insert(UNKNOWN_RTT_MS);
        *srtt = (srtt.saturating_mul(2)).clamp(UNKNOWN_RTT_MS, TIMEOUT_RTT_MS);
    }
}

impl ServerStats {
    /// Records that `ip` gave no usable answer for `zone`/`qtype`.
    pub(crate) fn lame(&self, ip: IpAddr, zone: &Name, qtype: u16) {
        let now = Instant::now();
        let mut table = self.lame.lock().unwrap_or_else(|e| e.into_inner());
        if table.len() >= MAX_LAME {
            table.retain(|_, until| *until > now);
            if table.len() >= MAX_LAME {
                table.clear();
            }
        }
        table.insert((ip, zone.to_lowercase(), qtype), now + LAME_FOR);
    }

    /// Whether `ip` was found lame for `zone`/`qtype` lately.
    pub(crate) fn is_lame(&self, ip: IpAddr, zone: &Name, qtype: u16) -> bool {
        let table = self.lame.lock().unwrap_or_else(|e| e.into_inner());
        table
            .get(&(ip, zone.to_lowercase(), qtype))
            .is_some_and(|until| *until > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_servers_come_first_and_failures_sink() {
        let stats = ServerStats::default();
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "192.0.2.1".parse().expect("ip"),
            "192.0.2.2".parse().expect("ip"),
            "192.0.2.3".parse().expect("ip"),
        );
        stats.answered(a, Duration::from_millis(80));
        stats.answered(b, Duration::from_millis(5));
        stats.failed(c);
        let mut firsts = HashMap::new();
        for _ in 0..200 {
            let mut servers = [a, b, c];
            stats.order(&mut servers);
            *firsts.entry(servers[0]).or_insert(0) += 1;
        }
        assert!(
            firsts[&b] > 150,
            "the fastest server is asked first most of the time: {firsts:?}"
        );
    }

    #[test]
    fn lameness_is_per_zone_and_type() {
        let stats = ServerStats::default();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let zone = Name::parse("Example.TEST.", None).expect("name");
        let other = Name::parse("other.test.", None).expect("name");
        stats.lame(ip, &zone, 28);
        assert!(stats.is_lame(ip, &zone.to_lowercase(), 28));
        assert!(!stats.is_lame(ip, &zone, 1), "lame for AAAA only");
        assert!(!stats.is_lame(ip, &other, 28), "lame for that zone only");
    }
}

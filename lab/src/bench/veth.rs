//! Where a run's packets went, from the veth pair's own XDP counters
//! (`ethtool -S`): what reached the server end, what its XDP program sent
//! back, what the generator's end received and handed to its socket. The
//! generator's figures alone cannot tell a server that answers too little
//! from a generator whose core cannot take in every answer.
use std::collections::BTreeMap;

use super::rig::{End, Rig};
use crate::cmd;

/// The key [`Counters::read`] keeps the device's transmit drops under.
const TX_DROPPED: &str = "dev_tx_dropped";

/// One end's counters, summed over its queues: `rx_queue_N_xdp_packets` ->
/// `xdp_packets`.
#[derive(Default)]
struct Counters(BTreeMap<String, u64>);

impl Counters {
    fn read(end: &End) -> Option<Counters> {
        let out = cmd::stdout(end.exec().args(["ethtool", "-S", &end.name])).ok()?;
        let mut counters = Counters::parse(&out);
        // The device's own drops: on the generator's end, queries its
        // transmit found no room for in the server end's ring (veth_xmit).
        let path = format!("/sys/class/net/{}/statistics/tx_dropped", end.name);
        if let Some(n) = cmd::stdout(end.exec().args(["cat", &path]))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            counters.0.insert(TX_DROPPED.to_string(), n);
        }
        Some(counters)
    }

    fn parse(ethtool: &str) -> Counters {
        let mut sums = BTreeMap::new();
        for line in ethtool.lines() {
            let Some((name, value)) = line.trim().split_once(':') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<u64>() else {
                continue;
            };
            // rx_queue_<n>_<counter>: summed over n.
            let Some(rest) = name.strip_prefix("rx_queue_") else {
                continue;
            };
            let Some((queue, counter)) = rest.split_once('_') else {
                continue;
            };
            if queue.bytes().all(|b| b.is_ascii_digit()) {
                *sums.entry(counter.to_string()).or_default() += value;
            }
        }
        Counters(sums)
    }

    fn get(&self, counter: &str) -> u64 {
        self.0.get(counter).copied().unwrap_or(0)
    }
}

/// Both ends' counters at one moment.
pub struct Snapshot {
    server: Counters,
    client: Counters,
}

impl Snapshot {
    /// `None` without ethtool (the bench then reports the generator's view alone).
    pub fn take(rig: &Rig) -> Option<Snapshot> {
        Some(Snapshot {
            server: Counters::read(&rig.server)?,
            client: Counters::read(&rig.client)?,
        })
    }
}

/// Packets per second over a run, by where they were seen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Path {
    /// Queries the server end's XDP program saw.
    pub server_seen: f64,
    /// Frames it sent back with `XDP_TX` (its answers) that the generator's end took.
    pub server_tx: f64,
    /// Answers sent back with `XDP_TX` that the generator's end had no room
    /// for (its receive ring full: its CPU is behind).
    pub tx_errors: f64,
    /// Queries it redirected to an AF_XDP socket (Knot's XDP mode answers
    /// from userspace through one; ours never redirects).
    pub server_redirect: f64,
    /// Frames the generator's end took in.
    pub client_seen: f64,
    /// Frames it handed to the generator's AF_XDP socket.
    pub to_generator: f64,
    /// Queries the generator's end sent that the server end's ring had no
    /// room for (dropped by veth on the way in: the server end's receive
    /// thread is behind).
    pub query_drops: f64,
}

impl Path {
    /// The rates between two snapshots taken `seconds` apart.
    pub fn between(before: &Snapshot, after: &Snapshot, seconds: f64) -> Path {
        let rate = |a: &Counters, b: &Counters, counter: &str| {
            b.get(counter).saturating_sub(a.get(counter)) as f64 / seconds.max(f64::MIN_POSITIVE)
        };
        Path {
            server_seen: rate(&before.server, &after.server, "xdp_packets"),
            server_tx: rate(&before.server, &after.server, "xdp_tx"),
            tx_errors: rate(&before.server, &after.server, "xdp_tx_errors"),
            server_redirect: rate(&before.server, &after.server, "xdp_redirect"),
            client_seen: rate(&before.client, &after.client, "xdp_packets"),
            to_generator: rate(&before.client, &after.client, "xdp_redirect"),
            query_drops: rate(&before.client, &after.client, TX_DROPPED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_summed_and_rates_taken() {
        let before = Snapshot {
            server: Counters::parse(
                "NIC statistics:\n     peer_ifindex: 7\n     rx_queue_0_xdp_packets: 100\n     \
                 rx_queue_1_xdp_packets: 50\n     rx_queue_0_xdp_tx: 90\n     rx_queue_0_xdp_tx_errors: 0\n",
            ),
            client: Counters::parse("     rx_queue_0_xdp_packets: 0\n     rx_queue_0_xdp_redirect: 0\n"),
        };
        let after = Snapshot {
            server: Counters::parse(
                "     rx_queue_0_xdp_packets: 1100\n     rx_queue_1_xdp_packets: 1050\n     \
                 rx_queue_0_xdp_tx: 2090\n     rx_queue_0_xdp_tx_errors: 20\n",
            ),
            client: Counters::parse("     rx_queue_0_xdp_packets: 1980\n     rx_queue_0_xdp_redirect: 1970\n"),
        };
        let path = Path::between(&before, &after, 2.0);
        assert_eq!(
            path,
            Path {
                server_seen: 1000.0,
                server_tx: 1000.0,
                tx_errors: 10.0,
                server_redirect: 0.0,
                client_seen: 990.0,
                to_generator: 985.0,
                query_drops: 0.0,
            }
        );
    }
}

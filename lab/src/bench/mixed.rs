//! The junk phase of `cargo xtask bench xdp`: real queries at a fixed rate,
//! alone and then under a flood of junk at full rate, the share of them
//! answered each time, and what the server's XDP program dropped.
use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf, process::Command, sync::Arc, time::Duration};

use anyhow::{Context as _, Result};

use super::{
    junk::{
        self,
        flood::{Flood, Plan, Sent},
    },
    kxdpgun::{self, Measured},
    rig::{Rig, SERVER_V4, SERVER_V6},
    rounds::{self, Target},
    servers::{Running, Server},
};
use crate::cmd;

/// The phase's options (a name of its own: clap names an argument group after the struct).
#[derive(clap::Args)]
pub struct JunkArgs {
    /// Skip the junk phase.
    #[arg(long)]
    pub no_junk: bool,
    /// Real queries/s kxdpgun offers in the junk phase [default: half of --qps].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1_000..=10_000_000))]
    pub mixed_qps: Option<u32>,
    /// Most junk frames sent in one run; the run's length bounds the flood too.
    #[arg(long, default_value_t = 50_000_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub junk_packets: u64,
}

/// Distinct junk frames, sent round and round: every source address many
/// times over, and small enough to stay in the CPU's caches.
const POOL: usize = 4096;

/// How long a flood may outlast the run's seconds (kxdpgun's start-up and
/// wind-down) before it stops by itself.
const FLOOD_SLACK: Duration = Duration::from_secs(20);

/// Where our server pins its maps by default (`[xdp] pin_dir`).
const OUR_PIN_DIR: &str = "/sys/fs/bpf/dns-server";

/// The phase, set up once per bench run.
pub struct Phase {
    qps: u32,
    seconds: u32,
    max_packets: u64,
    /// Our release build, to read our program's counters with `dns-server stats`.
    ours: PathBuf,
}

/// One server's junk phase in one round.
pub struct Sample {
    /// Other work kept the machine busy before a run began.
    pub busy: bool,
    /// Real queries alone.
    pub plain: Measured,
    /// Real queries under the flood.
    pub mixed: Measured,
    pub junk: Sent,
    /// How much each of the program's counters rose during the flood run,
    /// when the server has counters we can read (ours).
    pub counters: Option<BTreeMap<String, u64>>,
}

impl Phase {
    /// The phase as `args` say, for a bench whose full load is `load_qps` for `seconds`.
    pub fn new(args: &JunkArgs, load_qps: u32, seconds: u32, ours: PathBuf) -> Phase {
        Phase {
            qps: args.mixed_qps.unwrap_or(load_qps / 2),
            seconds,
            max_packets: args.junk_packets,
            ours,
        }
    }

    /// Runs the phase against a running server: real queries alone, then under the flood.
    pub fn measure(&self, rig: &Rig, server: Server, running: &Running<'_>, target: &Target<'_>) -> Result<Sample> {
        let out = target.work.join("kxdpgun-mixed.txt");
        let mut busy = !rounds::wait_for_quiet()?;
        let plain = kxdpgun::generate(
            rig,
            target.queries,
            target.address,
            kxdpgun::Rate::new(self.seconds, self.qps),
            &out,
        )?;
        busy |= !rounds::wait_for_quiet()?;
        let counters = |running: &Running<'_>| (server == Server::OursXdp).then(|| self.our_counters(running));
        let before = counters(running).transpose()?;
        let plan = Plan {
            netns: rig.client.name.clone(),
            iface: rig.client.name.clone(),
            cpu: rig.client.cpu,
            max_packets: self.max_packets,
            max_time: Duration::from_secs(self.seconds.into()) + FLOOD_SLACK,
        };
        let (client, to) = (parse_mac(&rig.client.mac)?, parse_mac(&rig.server.mac)?);
        let frames = Arc::new(junk::pool(
            client,
            to,
            (SERVER_V4.parse()?, SERVER_V6.parse()?),
            53,
            POOL,
        ));
        let mut flood = Flood::start(plan, frames).context("starting the junk flood")?;
        let mixed = kxdpgun::generate(
            rig,
            target.queries,
            target.address,
            kxdpgun::Rate::new(self.seconds, self.qps),
            &out,
        );
        let junk = flood.finish()?;
        let mixed = mixed?;
        let after = counters(running).transpose()?;
        let counters = before.zip(after).map(|(before, after)| {
            after
                .into_iter()
                .map(|(name, value)| {
                    let rise = value.saturating_sub(before.get(&name).copied().unwrap_or(0));
                    (name, rise)
                })
                .collect()
        });
        Ok(Sample {
            busy,
            plain,
            mixed,
            junk,
            counters,
        })
    }

    /// Our program's counters, read by `dns-server stats` inside the server's
    /// mount namespace: `ip netns exec` gave the server a /sys of its own,
    /// and the bpffs it pinned its maps on is mounted there.
    fn our_counters(&self, running: &Running<'_>) -> Result<BTreeMap<String, u64>> {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &running.pid().to_string(), "-m", "--"])
            .arg(&self.ours)
            .args(["stats", "--pin-dir", OUR_PIN_DIR]);
        let text = cmd::stdout(&mut command).context("reading our XDP counters")?;
        Ok(parse_counters(&text))
    }

    /// What the table says the phase did.
    fn description(&self, address: &str) -> String {
        let mix: Vec<String> = junk::shares()
            .iter()
            .map(|(kind, share)| format!("{:.1}% {kind}", share * 100.0))
            .collect();
        format!(
            "junk at full rate mixed with real queries: kxdpgun offering {} real queries/s to {address}:53 \
             for {} s, alone and then while a flood from the client's CPU (AF_PACKET, niced) sends junk, \
             IPv4 and IPv6 in turn, to {SERVER_V4}:53 and [{SERVER_V6}]:53 from 252 source addresses \
             each in 198.18.0.0/24 and fd00:b0::/64: {}",
            self.qps,
            self.seconds,
            mix.join(", ")
        )
    }
}

/// `name value` lines of `dns-server stats`.
fn parse_counters(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let value = words.next()?.parse().ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// `aa:bb:cc:dd:ee:ff`.
fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("MAC address {text:?}"))?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("MAC address {text:?}"))
}

/// The phase's table: per server (in `order`), medians over its rounds.
pub fn table(
    phase: &Phase,
    address: &str,
    order: &[Server],
    samples: &BTreeMap<Server, Vec<Sample>>,
    failed: &BTreeMap<Server, String>,
) -> String {
    let rounds = samples.values().map(Vec::len).max().unwrap_or(0);
    let mut out = format!("\n{}; medians of {rounds} rounds\n", phase.description(address));
    let _ = writeln!(
        out,
        "{:<9} {:^19} | {:^28}  | {:^28}",
        "", "flood", "real queries with the flood", "real queries alone"
    );
    let _ = writeln!(
        out,
        "{:<9} {:>9} {:>9} | {:>10} {:>10} {:>6}  | {:>10} {:>10} {:>6}",
        "server", "junk/s", "refused/s", "sent/s", "answered/s", "share", "sent/s", "answered/s", "share"
    );
    let share = |m: &Measured| m.answered_per_s as f64 / (m.sent_per_s as f64).max(1.0);
    for server in order {
        if let Some(reason) = failed.get(server) {
            let first_line = reason.lines().next().unwrap_or("");
            let _ = writeln!(out, "{:<9} not measured: {first_line}", server.to_string());
            continue;
        }
        let Some(samples) = samples.get(server) else { continue };
        let m = |f: &dyn Fn(&Sample) -> f64| rounds::median(samples.iter().map(f));
        let busy = if samples.iter().any(|s| s.busy) { " *" } else { "" };
        let _ = writeln!(
            out,
            "{:<9} {:>9.0} {:>9.0} | {:>10.0} {:>10.0} {:>5.1}%  | {:>10.0} {:>10.0} {:>5.1}%{busy}",
            server.to_string(),
            m(&|s| s.junk.per_second()),
            m(&|s| s.junk.refused as f64 / s.junk.elapsed.as_secs_f64().max(1e-9)),
            m(&|s| s.mixed.sent_per_s as f64),
            m(&|s| s.mixed.answered_per_s as f64),
            m(&|s| share(&s.mixed)) * 100.0,
            m(&|s| s.plain.sent_per_s as f64),
            m(&|s| s.plain.answered_per_s as f64),
            m(&|s| share(&s.plain)) * 100.0,
        );
    }
    out.push_str(
        "(junk/s: frames the flood sent; refused/s: frames the kernel turned away because the server \
         end's queue was full; share: real queries answered / sent)\n",
    );
    if samples.values().flatten().any(|s| s.busy) {
        out.push_str("* other work kept the machine busy before one of these runs\n");
    }
    for server in order {
        if let Some(samples) = samples.get(server) {
            let _ = writeln!(out, "{}", counters_line(*server, samples));
        }
    }
    out
}

/// How much the program's counters rose over the flood (medians), and the
/// share of the junk sent that it dropped.
fn counters_line(server: Server, samples: &[Sample]) -> String {
    let with: Vec<(&Sample, &BTreeMap<String, u64>)> = samples
        .iter()
        .filter_map(|s| s.counters.as_ref().map(|c| (s, c)))
        .collect();
    if with.is_empty() {
        return format!("{server}: no drop counters (its XDP program keeps none we can read)");
    }
    let names: Vec<&String> = with[0].1.keys().collect();
    let rises: Vec<String> = names
        .iter()
        .filter_map(|name| {
            let rise = rounds::median(with.iter().map(|(_, c)| c.get(*name).copied().unwrap_or(0) as f64));
            (rise > 0.0).then(|| format!("{name} +{rise:.0}"))
        })
        .collect();
    let seconds = rounds::median(with.iter().map(|(s, _)| s.junk.elapsed.as_secs_f64()));
    let sent = rounds::median(with.iter().map(|(s, _)| s.junk.packets as f64));
    let dropped = rounds::median(with.iter().map(|(s, c)| {
        let drops: u64 = c.iter().filter(|(n, _)| n.starts_with("drop_")).map(|(_, v)| v).sum();
        drops as f64 / (s.junk.packets as f64).max(1.0)
    }));
    format!(
        "{server} program counters over the flood's {seconds:.1} s ({sent:.0} junk frames sent): {}; \
         the drops are {:.1}% of the junk frames sent",
        rises.join(", "),
        dropped * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dns_server_stats() {
        let text = "hit                    12\nmiss                   0\ndrop_response          7\n";
        let counters = parse_counters(text);
        assert_eq!(counters.get("hit"), Some(&12));
        assert_eq!(counters.get("drop_response"), Some(&7));
        assert_eq!(counters.len(), 3);
    }

    #[test]
    fn the_table_shows_shares_and_drops() {
        let args = JunkArgs {
            no_junk: false,
            mixed_qps: None,
            junk_packets: 10,
        };
        let phase = Phase::new(&args, 1_000_000, 5, PathBuf::from("dns-server"));
        let measured = |sent_per_s, answered_per_s| Measured {
            sent_per_s,
            answered_per_s,
            path: None,
            reply_bytes: None,
        };
        let counters = [
            ("hit", 900),
            ("drop_response", 500),
            ("drop_too_short", 250),
            ("miss", 0),
        ];
        let sample = Sample {
            busy: false,
            plain: measured(500_000, 499_000),
            mixed: measured(500_000, 400_000),
            junk: Sent {
                packets: 1000,
                refused: 40,
                elapsed: Duration::from_secs(4),
            },
            counters: Some(counters.iter().map(|&(n, v)| (n.to_owned(), v)).collect()),
        };
        let samples = BTreeMap::from([(Server::OursXdp, vec![sample])]);
        let failed = BTreeMap::from([(Server::KnotXdp, "no flood\nmore".to_owned())]);
        let table = table(
            &phase,
            "198.18.0.1",
            &[Server::OursXdp, Server::KnotXdp],
            &samples,
            &failed,
        );
        assert!(
            table.contains("offering 500000 real queries/s"),
            "half of --qps:\n{table}"
        );
        let row = table
            .lines()
            .find(|l| l.starts_with("ours-XDP "))
            .expect("a row for ours");
        let words: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            words,
            [
                "ours-XDP", "250", "10", "|", "500000", "400000", "80.0%", "|", "500000", "499000", "99.8%"
            ],
            "junk/s, refused/s, then with and without the flood"
        );
        assert!(table.contains("Knot-XDP  not measured: no flood\n"), "{table}");
        assert!(
            table.contains("drop_response +500, drop_too_short +250, hit +900; the drops are 75.0% of"),
            "counters that rose, and drops per junk frame sent:\n{table}"
        );
    }

    #[test]
    fn reads_mac_addresses() {
        assert_eq!(parse_mac("02:0a:ff:00:10:01").unwrap(), [2, 10, 255, 0, 16, 1]);
        assert!(parse_mac("02:0a:ff:00:10").is_err());
        assert!(parse_mac("zz:0a:ff:00:10:01").is_err());
    }
}

//! `cargo xtask bench recursive`: our resolver against Unbound, both
//! iterating through a lab hierarchy in the rig: answers per second from a
//! warm cache (ours also with its hot answers served from XDP), and the
//! latency of cold resolutions, one hop below cached delegations and through
//! the whole hierarchy from the root. With `--validate` the lab is signed and
//! both resolvers validate from its root anchor: validated cache hits (asked
//! with DO=1) and validated cold resolutions.
use std::{collections::BTreeMap, fmt, fmt::Write as _, fs, net::SocketAddr, path::Path};

use anyhow::{Context as _, Result, bail};

use super::{
    kxdpgun,
    lab::Lab,
    latency::{self, Latencies},
    rig::{Rig, SERVER_V4, SERVER_V6},
    rounds::{self, Load, Target, Turn},
    servers::{Probe, Running},
    signed::Denial,
    tlds,
    work_dir::WorkDir,
    zone,
};
use crate::cmd::{self, note};

/// The packages the bench runs: Unbound, the generator, dig for the probe,
/// ip, and ldnsutils to sign the lab for `--validate`.
pub const PACKAGES: &[&str] = &[
    "unbound",
    "knot-dnsutils",
    "bind9-dnsutils",
    "iproute2",
    "ethtool",
    "ldnsutils",
];

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    load: Load,
    /// Cold resolutions timed per resolver and round (unique names, so none is cached).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(10..=60_000))]
    cold_queries: u32,
    /// Cold resolutions per second: modest, so that latency, not throughput, is measured.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    cold_qps: u32,
    /// Cold resolutions through the whole hierarchy timed per resolver and
    /// round, each name under a lab TLD of its own (root, TLD and leaf asked).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=10_000))]
    walk_queries: u32,
    /// Their rate per second.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    walk_qps: u32,
    /// Sign the lab's root, `test.` and `bench.test.` (NSEC unless given)
    /// and have both resolvers validate from the lab's root anchor; the
    /// cache-hit queries ask with DO=1. The walk's TLDs are signed too
    /// (each resolution proves a TLD's keys from the root's DS); their
    /// leaves are unsigned, proven insecure by the TLD's denial.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "nsec")]
    validate: Option<Denial>,
    /// Resolvers to measure, comma-separated [default: ours-xdp,ours,unbound;
    /// ours-xdp-stack only when named].
    #[arg(long, value_enum, value_delimiter = ',')]
    resolvers: Option<Vec<Resolver>>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Resolver {
    /// This project's `dns-server serve` with recursion on, one thread, no XDP.
    Ours,
    /// Unbound 1.17, one thread, iterator only (validator too with `--validate`).
    Unbound,
    /// Ours with the XDP fast path on the rig's server end: cache hits
    /// answered by the program from the resolver's entries, and through
    /// AF_XDP (`--xdp-af-xdp`) those whose answer the frame has no room
    /// for (on veth the signed NXDOMAINs).
    OursXdp,
    /// Ours-XDP without AF_XDP: the hits without room go up the stack.
    OursXdpStack,
}

impl fmt::Display for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ours => "ours",
            Self::Unbound => "Unbound",
            Self::OursXdp => "ours-XDP",
            Self::OursXdpStack => "ours-XDP-stack",
        })
    }
}

const RESOLVERS: [Resolver; 3] = [Resolver::OursXdp, Resolver::Ours, Resolver::Unbound];

/// The target for hits from XDP: this many times Unbound's rate, or
/// (where the generator is the ceiling) [`rounds::OF_OFFERED`] of what it offers.
const XDP_OVER_UNBOUND: f64 = 3.0;

/// Warming the cache: kxdpgun at this rate for these seconds, twice; the
/// query set is ~2,700 questions, so each pass asks every one at least twice.
const WARM_QPS: u32 = 3000;
const WARM_SECONDS: [u32; 2] = [3, 2];

/// Below this share answered on the second warm-up pass the cache counts as not warm.
const WARM_ENOUGH: f64 = 0.99;

impl Resolver {
    /// Writes the resolver's configuration under `dir`; returns its command
    /// line. `iface` is the server's end of the rig's veth; with `anchors`
    /// (the lab's root DS) the resolver validates.
    fn prepare(self, dir: &Path, ours: &Path, lab: &Lab, iface: &str) -> Result<Vec<String>> {
        let dir = dir.join(self.to_string().to_lowercase());
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let hints = lab.hints.display();
        // Ours validates by default, but from no anchor under another root than IANA's.
        let ours_config = match &lab.anchors {
            Some(anchors) => {
                let conf = dir.join("resolver.toml");
                let text = format!("[resolver]\ntrust_anchor_file = \"{}\"\n", anchors.display());
                fs::write(&conf, text).with_context(|| format!("writing {}", conf.display()))?;
                vec!["--config".to_string(), conf.display().to_string()]
            }
            None => Vec::new(),
        };
        let (modules, unbound_anchor) = match &lab.anchors {
            Some(anchors) => (
                "validator iterator",
                format!(
                    "\x20 trust-anchor-file: \"{}\"\n\x20 aggressive-nsec: yes\n",
                    anchors.display()
                ),
            ),
            None => ("iterator", String::new()),
        };
        Ok(match self {
            Self::Ours | Self::OursXdp | Self::OursXdpStack => [
                &ours.display().to_string(),
                "serve",
                "--listen",
                &format!("{SERVER_V4}:53"),
                "--listen",
                &format!("[{SERVER_V6}]:53"),
                "--threads",
                "1",
                "--root-hints",
                &hints.to_string(),
                "--allow-recursion",
                "198.18.0.0/15",
                "--allow-recursion",
                "fd00::/8",
                // In the work dir: not the host's /run/dns-server/zones.json.
                "--state-file",
                &dir.join("zones.json").display().to_string(),
            ]
            .map(String::from)
            .into_iter()
            .chain(
                match self {
                    Self::OursXdp => vec!["--xdp-iface", iface, "--xdp-af-xdp"],
                    Self::OursXdpStack => vec!["--xdp-iface", iface],
                    _ => vec!["--no-xdp"],
                }
                .into_iter()
                .map(String::from),
            )
            .chain(ours_config)
            .collect(),
            Self::Unbound => {
                let conf = dir.join("unbound.conf");
                let dir_s = dir.display();
                let text = format!(
                    "server:\n\
                     \x20 interface: {SERVER_V4}\n\
                     \x20 interface: {SERVER_V6}\n\
                     \x20 port: 53\n\
                     \x20 num-threads: 1\n\
                     \x20 so-reuseport: no\n\
                     \x20 module-config: \"{modules}\"\n\
                     {unbound_anchor}\
                     \x20 root-hints: \"{hints}\"\n\
                     \x20 do-not-query-localhost: no\n\
                     \x20 local-zone: \"test.\" nodefault\n\
                     \x20 access-control: 198.18.0.0/15 allow\n\
                     \x20 access-control: fd00::/8 allow\n\
                     \x20 qname-minimisation: yes\n\
                     \x20 username: \"\"\n\
                     \x20 chroot: \"\"\n\
                     \x20 directory: \"{dir_s}\"\n\
                     \x20 pidfile: \"{dir_s}/unbound.pid\"\n\
                     \x20 use-syslog: no\n\
                     \x20 logfile: \"\"\n\
                     \x20 verbosity: 1\n\
                     remote-control:\n\
                     \x20 control-enable: no\n"
                );
                fs::write(&conf, text)?;
                vec!["unbound".into(), "-d".into(), "-c".into(), conf.display().to_string()]
            }
        })
    }
}

pub fn run(args: &Args) -> Result<()> {
    let mut resolvers: Vec<Resolver> = args.resolvers.clone().unwrap_or_else(|| RESOLVERS.to_vec());
    resolvers.sort();
    resolvers.dedup();
    if resolvers.is_empty() {
        bail!("--resolvers names none");
    }
    // A TLD for every name asked through the whole walk, in every turn.
    let tld_count = args.walk_queries * resolvers.len() as u32 * args.load.rounds;
    if tld_count > tlds::MAX_TLDS {
        bail!(
            "--walk-queries x {} resolvers x --rounds needs {tld_count} lab TLDs; at most {} are served",
            resolvers.len(),
            tlds::MAX_TLDS
        );
    }
    super::prepare_machine()?;
    let skipped: BTreeMap<Resolver, String> = BTreeMap::new();
    if let Err(reason) = super::build_ours() {
        // The lab itself is served by ours.
        bail!("{reason}");
    }
    let work = WorkDir::create()?;
    let ours = cmd::target_dir().join("release/dns-server");
    let address = if args.load.ipv6 { SERVER_V6 } else { SERVER_V4 };
    let (_, queries) = zone::write(&work.0)?;
    if args.validate.is_some() {
        // DO=1 (kxdpgun's `D`): a validating client's questions, answered with AD and RRSIGs.
        let text = fs::read_to_string(&queries).with_context(|| format!("reading {}", queries.display()))?;
        let with_do: String = text.lines().map(|l| format!("{l} D\n")).collect();
        fs::write(&queries, with_do).with_context(|| format!("writing {}", queries.display()))?;
    }
    let target = Target {
        queries: &queries,
        address,
        work: &work.0,
    };

    let rig = Rig::create()?;
    let lab = Lab::start(&rig, &work.0, &ours, tld_count, args.validate)?;
    let argvs = resolvers
        .iter()
        .map(|&r| Ok((r, r.prepare(&work.0, &ours, &lab, &rig.server.name)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let mut cold: BTreeMap<Resolver, Vec<Latencies>> = BTreeMap::new();
    let mut walk: BTreeMap<Resolver, Vec<Latencies>> = BTreeMap::new();
    let mut next_tld = 0;
    let mut warm: BTreeMap<Resolver, Vec<f64>> = BTreeMap::new();
    let results = rounds::run(&args.load, &resolvers, skipped, |resolver, round| {
        let log = work.0.join(format!("{resolver}-{round}.log"));
        // The probe resolves through the lab, so the delegations are cached from here on.
        let probe = Probe::bench_zone();
        let running = match Running::start(&rig, &argvs[&resolver], log, &probe) {
            Ok(running) => running,
            Err(err) if resolver != Resolver::Unbound => {
                return Ok(Turn::Skipped(format!("did not answer the probe: {err:#}")));
            }
            Err(err) => return Err(err.context(format!("starting {resolver}"))),
        };
        if args.validate.is_some() && !validates(&rig)? {
            let reason = "answered the probe without AD: not validating".to_string();
            if resolver == Resolver::Unbound {
                bail!("Unbound {reason}");
            }
            return Ok(Turn::Skipped(reason));
        }

        let names: Vec<String> = (0..args.cold_queries)
            .map(|i| format!("q{i}-{}{round}.{}", resolver.to_string().to_lowercase(), zone::COLD))
            .collect();
        let latencies = time_cold(&rig, resolver, "cold resolutions", &names, args.cold_qps)?;
        cold.entry(resolver).or_default().push(latencies);
        // Fresh TLDs for every turn: neither resolver has seen a delegation of these names.
        let names: Vec<String> = (next_tld..next_tld + args.walk_queries).map(tlds::name).collect();
        next_tld += args.walk_queries;
        let latencies = time_cold(&rig, resolver, "whole walks", &names, args.walk_qps)?;
        walk.entry(resolver).or_default().push(latencies);

        let mut share = 0.0;
        for seconds in WARM_SECONDS {
            let out = work.0.join("warm-up.txt");
            let warmed = kxdpgun::generate(&rig, &queries, address, kxdpgun::Rate::new(seconds, WARM_QPS), &out)?;
            share = warmed.answered_per_s as f64 / warmed.sent_per_s.max(1) as f64;
        }
        if share < WARM_ENOUGH {
            note(
                "bench",
                format!("warning: {resolver} answered {:.1}% of the last warm-up", share * 100.0),
            );
        }
        warm.entry(resolver).or_default().push(share);

        let sample = rounds::measure(&rig, &running, &args.load, &target)?;
        Ok(Turn::Measured(sample))
    })?;
    drop(lab);
    drop(rig);

    let (mut out, medians) = rounds::table(&args.load, address, &resolvers, &results);
    let validated = match args.validate {
        Some(denial) => format!("validated ({denial:?}-signed lab, both resolvers from its root anchor; DO=1) "),
        None => String::new(),
    };
    out.insert_str(
        0,
        &format!("\n{validated}cache hits (the query set asked twice before each run):"),
    );
    if let Some(ratio) = rounds::ratio(&medians, Resolver::Ours, Resolver::Unbound) {
        let verdict = if ratio >= 1.0 { "met" } else { "NOT met" };
        let _ = writeln!(out, "ours/Unbound: {ratio:.2} (target >= 1.00: {verdict})");
    }
    out.push_str(&xdp_verdict(&medians));
    out.push_str(&stack_line(&medians));
    for (resolver, shares) in &warm {
        let least = shares.iter().copied().fold(f64::INFINITY, f64::min);
        let _ = writeln!(
            out,
            "{resolver}: at least {:.1}% of the last warm-up pass answered before each run",
            least * 100.0
        );
    }
    out.push_str(&cold_table(
        &format!(
            "{validated}cold resolutions: {} unique names per resolver and round at {}/s (`*.{}`, a wildcard \
             in the leaf zone; root and `test.` delegations already cached)",
            args.cold_queries,
            args.cold_qps,
            zone::COLD
        ),
        &cold,
    ));
    out.push_str(&cold_table(
        &format!(
            "cold resolutions through the whole hierarchy: {} names per resolver and round at {}/s \
             (`{}`, each under a TLD of its own: root, TLD and leaf asked for every name{})",
            args.walk_queries,
            args.walk_qps,
            tlds::NAMES,
            match args.validate {
                Some(_) =>
                    "; each TLD signed, its keys proven from the root's DS, its leaf unsigned, proven \
                            insecure by the TLD's denial",
                None => "",
            }
        ),
        &walk,
    ));
    print!("{out}");
    Ok(())
}

/// Whether the resolver on the rig's server validates: AD on the probe
/// name asked with DO=1 (a secure answer in the signed lab).
fn validates(rig: &Rig) -> Result<bool> {
    let out = cmd::stdout(rig.client.exec().args([
        "dig",
        "+dnssec",
        "+time=2",
        "+tries=2",
        &format!("@{SERVER_V4}"),
        zone::PROBE_NAME,
        "A",
    ]))?;
    Ok(out
        .lines()
        .find_map(|l| l.split(";; flags:").nth(1))
        .and_then(|f| f.split(';').next())
        .is_some_and(|flags| flags.split_whitespace().any(|f| f == "ad")))
}

/// Asks the resolver for `names` at `qps` once the machine is quiet; logs and returns the latencies.
fn time_cold(rig: &Rig, resolver: Resolver, what: &str, names: &[String], qps: u32) -> Result<Latencies> {
    rounds::wait_for_quiet()?;
    let server: SocketAddr = format!("{SERVER_V4}:53").parse()?;
    let latencies = latency::measure(&rig.client, server, names, qps)?;
    note(
        "bench",
        format!(
            "{resolver}: {what}: {} of {} answered, median {:.2} ms, p99 {:.2} ms",
            latencies.answered,
            latencies.sent,
            rounds::median(latencies.ms.iter().copied()),
            latencies.percentile(99.0).unwrap_or(f64::NAN)
        ),
    );
    Ok(latencies)
}

/// Hits served from XDP against Unbound: the ratio, the share of the offered load, the target.
fn xdp_verdict(medians: &BTreeMap<Resolver, rounds::Medians>) -> String {
    let Some(m) = medians.get(&Resolver::OursXdp).filter(|m| m.sent > 0.0) else {
        return String::new();
    };
    let Some(ratio) = rounds::ratio(medians, Resolver::OursXdp, Resolver::Unbound) else {
        // Measured alone (`--resolvers`): where its packets went, still.
        return rounds::path_line(Resolver::OursXdp, m).unwrap_or_default();
    };
    format!(
        "ours-XDP/Unbound: {ratio:.2}; ours-XDP answered {:.1}% of the {:.0} queries/s offered\n{}\
         target ours-XDP >= {XDP_OVER_UNBOUND}x Unbound (or >= {:.0}% of offered): {}\n",
        m.answered / m.sent * 100.0,
        m.sent,
        rounds::path_line(Resolver::OursXdp, m).unwrap_or_default(),
        rounds::OF_OFFERED * 100.0,
        rounds::xdp_verdict(ratio, XDP_OVER_UNBOUND, m)
    )
}

/// Ours-XDP without AF_XDP, when measured: its ratio and where its packets went.
fn stack_line(medians: &BTreeMap<Resolver, rounds::Medians>) -> String {
    let Some(m) = medians.get(&Resolver::OursXdpStack).filter(|m| m.sent > 0.0) else {
        return String::new();
    };
    let ratio = rounds::ratio(medians, Resolver::OursXdpStack, Resolver::Unbound)
        .map_or(String::new(), |r| format!("ours-XDP-stack/Unbound: {r:.2}\n"));
    ratio + &rounds::path_line(Resolver::OursXdpStack, m).unwrap_or_default()
}

/// Median and p99 of one kind of cold resolution, per resolver: the median
/// over rounds of each, under `title`.
fn cold_table(title: &str, cold: &BTreeMap<Resolver, Vec<Latencies>>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{title}, ms, median over rounds");
    let _ = writeln!(
        out,
        "{:<8} {:>8} {:>8} {:>9} {:>7}   per round (median/p99)",
        "resolver", "median", "p99", "answered", "failed"
    );
    let mut summary = BTreeMap::new();
    for (resolver, series) in cold {
        let median = rounds::median(series.iter().map(|l| rounds::median(l.ms.iter().copied())));
        let p99 = rounds::median(series.iter().filter_map(|l| l.percentile(99.0)));
        let answered: usize = series.iter().map(|l| l.answered).sum();
        let sent: usize = series.iter().map(|l| l.sent).sum();
        let failed: usize = series.iter().map(|l| l.failed).sum();
        let rounds: Vec<String> = series
            .iter()
            .map(|l| {
                format!(
                    "{:.2}/{:.2}",
                    rounds::median(l.ms.iter().copied()),
                    l.percentile(99.0).unwrap_or(f64::NAN)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<8} {median:>8.3} {p99:>8.3} {:>9} {failed:>7}   {}",
            resolver.to_string(),
            format!("{answered}/{sent}"),
            rounds.join("  ")
        );
        summary.insert(*resolver, (median, p99));
    }
    if let (Some(ours), Some(theirs)) = (summary.get(&Resolver::Ours), summary.get(&Resolver::Unbound))
        && theirs.0 > 0.0
        && theirs.1 > 0.0
    {
        let _ = writeln!(
            out,
            "ours/Unbound latency (lower is better): median {:.2}, p99 {:.2}",
            ours.0 / theirs.0,
            ours.1 / theirs.1
        );
    }
    out
}

//! `cargo xtask bench zones`: zones at scale, ours against Knot and NSD on
//! the same generated files: (a) one large zone (load, reloads, memory),
//! (b) many small zones (start, memory), (c) one huge RRset (load), (d) one
//! record changed in the large zone (time until answered; ours also from XDP).
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use super::{
    answers::{Expect, Question, Waiting},
    memory::{self, Peak},
    rig::{Rig, SERVER_V4},
    rounds,
    scale_zones::{self, LargeZone},
    servers::{Running, Server, Zone},
    veth,
    work_dir::WorkDir,
};
use crate::{
    cmd::{self, note},
    signals,
};

/// The packages the bench runs: the peers and their control tools, ip, and
/// ethtool for the veth counters that tell an XDP answer.
pub const PACKAGES: &[&str] = &["nsd", "knot", "iproute2", "ethtool"];

#[derive(clap::Args)]
pub struct Args {
    /// Records in the large zone, (a) and (d).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(100..=50_000_000))]
    records: u64,
    /// Small zones of ten records each, (b).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    zones: u32,
    /// Records in the one huge RRset, (c).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    rrset: u32,
    /// Reloads of the large zone, each with a new serial.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    reloads: u32,
    /// Servers to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Server::Nsd, Server::Knot, Server::Ours])]
    servers: Vec<Server>,
    /// Seconds any one start or reload may take before it counts as failed.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// Seconds the huge RRset's load (c) may take (Knot and NSD may refuse such an RRset outright).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=3600))]
    rrset_timeout: u64,
    /// Leave out (d) from XDP (ours with XDP on the rig's veth).
    #[arg(long)]
    no_xdp: bool,
}

/// How often memory is sampled during a reload, and a dying server noticed.
const SAMPLE: Duration = Duration::from_millis(10);

/// Time given to a server after a load or reload before its memory is read:
/// old versions are freed, NSD's old processes exit.
const SETTLE: Duration = Duration::from_secs(2);

/// Small zones asked, besides the last one, before (b) counts as started.
const SMALL_SAMPLE: u32 = 100;

/// The targets of issue 12.
const LOAD_OVER_KNOT: f64 = 1.0;
const MEMORY_OVER_NSD: f64 = 1.0;
const GROWTH: f64 = 1.05;
const PEAK_OVER_STEADY: f64 = 2.0;
const RRSET_SECONDS: f64 = 2.0;
pub(super) const CHANGE_MS: f64 = 10.0;

/// One server's numbers; a part that failed has its reason instead.
#[derive(Default)]
struct Measured {
    load: Option<Duration>,
    reloads: Vec<Duration>,
    after_load: Option<u64>,
    after_reloads: Option<u64>,
    peak: Option<u64>,
    many_start: Option<Duration>,
    many_memory: Option<u64>,
    rrset_load: Option<Duration>,
    change: Option<Duration>,
    /// (d) through a zone transaction (`ctl`, `knotc`), from the commit sent.
    transaction: Option<Duration>,
    failed: Vec<String>,
}

/// What every part shares: the rig, the files, where ours is.
struct Bench<'a> {
    args: &'a Args,
    rig: Rig,
    work: PathBuf,
    ours: PathBuf,
    large: LargeZone,
    small: Vec<Zone>,
    rrset: Zone,
}

/// Ours-XDP's (d): the change's time until answered from userspace and on
/// the path XDP answers, and whether XDP did answer it.
#[derive(Default)]
struct XdpChange {
    userspace: Option<Duration>,
    xdp_path: Option<Duration>,
    from_xdp: Option<bool>,
    /// The host whose A record was changed.
    host: u32,
    note: Option<String>,
    /// The same through `ctl zone-commit` (the record changed back), from the commit sent.
    transaction_userspace: Option<Duration>,
    transaction_xdp_path: Option<Duration>,
    transaction_from_xdp: Option<bool>,
}

pub fn run(args: &Args) -> Result<()> {
    super::prepare_machine()?;
    let mut servers = args.servers.clone();
    servers.retain(|s| !s.uses_xdp());
    servers.sort();
    servers.dedup();
    let mut results: BTreeMap<Server, Measured> = BTreeMap::new();
    if servers.contains(&Server::Ours)
        && let Err(reason) = super::build_ours()
    {
        servers.retain(|&s| s != Server::Ours);
        results.entry(Server::Ours).or_default().failed.push(reason);
    }
    // In memory where there is a tmpfs: writing, and above all removing,
    // 100,000 files on this disk takes minutes (ext4 discards each one).
    let shm = Path::new("/dev/shm");
    let work = if shm.is_dir() {
        WorkDir::create_in(shm)?
    } else {
        WorkDir::create()?
    };
    note("bench", format!("writing the zones into {}", work.0.display()));
    let bench = Bench {
        args,
        rig: Rig::create()?,
        work: work.0.clone(),
        ours: cmd::target_dir().join("release/dns-server"),
        large: LargeZone::write(&work.0, args.records)?,
        small: scale_zones::write_small(&work.0, args.zones)?,
        rrset: scale_zones::write_rrset(&work.0, args.rrset)?,
    };
    for &server in &servers {
        let measured = results.entry(server).or_default();
        bench.measure(server, measured)?;
    }
    let xdp = (servers.contains(&Server::Ours) && !args.no_xdp).then(|| bench.xdp_change());
    let xdp = xdp.transpose()?;
    print!("{}", table(args, bench.large.records, &results, xdp.as_ref()));
    Ok(())
}

/// `result`'s value; its failure is noted in `failed` (an interruption ends the bench).
pub(super) fn record<T>(failed: &mut Vec<String>, what: &str, result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) => {
            signals::check_interrupt()?;
            note("bench", format!("{what} failed: {err:#}"));
            failed.push(format!("{what}: {}", first_line(&format!("{err:#}"))));
            Ok(None)
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

pub(super) fn server_address() -> SocketAddr {
    SocketAddr::new(SERVER_V4.parse().expect("an address"), 53)
}

impl Bench<'_> {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.args.timeout)
    }

    /// (a), (d), (b) and (c) for one server, each from a fresh start.
    fn measure(&self, server: Server, m: &mut Measured) -> Result<()> {
        note(
            "bench",
            format!("{server}: (a) the large zone, {} records", self.large.records),
        );
        let large = self.large_zone(server, m);
        record(&mut m.failed, "(a)", large)?;
        note("bench", format!("{server}: (b) {} small zones", self.small.len()));
        if let Some((start, memory)) = record(&mut m.failed, "(b)", self.many_zones(server))? {
            m.many_start = Some(start);
            m.many_memory = Some(memory);
        }
        note(
            "bench",
            format!("{server}: (c) one RRset of {} records", self.args.rrset),
        );
        m.rrset_load = record(&mut m.failed, "(c)", self.huge_rrset(server))?;
        Ok(())
    }

    /// Starts `server` on `zones` (configured under `dir`), unpinned: a
    /// loading server may use both CPUs.
    fn spawn(&self, server: Server, dir: &str, zones: &[Zone]) -> Result<(Running<'_>, PathBuf, Instant)> {
        let dir = self.work.join(dir);
        let argv = server.configure(&dir, zones, &self.ours, &self.rig.server.name)?;
        let log = dir.join(format!("{}.log", server.to_string().to_lowercase()));
        let since = Instant::now();
        let running = Running::spawn(&self.rig, &argv, log, false)?;
        Ok((running, server.config_dir(&dir), since))
    }

    /// Waits until `running` answers `questions`, sampling its memory into
    /// `peak` meanwhile; fails as soon as the server exits.
    fn wait(
        &self,
        running: &mut Running<'_>,
        questions: Vec<Question>,
        since: Instant,
        timeout: Duration,
        mut peak: Option<&mut Peak>,
    ) -> Result<Duration> {
        let waiting = Waiting::start(&self.rig.client.name, server_address(), questions, since, timeout)?;
        while !waiting.is_finished() {
            running.check_alive()?;
            if let Some(peak) = peak.as_deref_mut() {
                peak.sample(&running.pids());
            }
            thread::sleep(SAMPLE);
        }
        waiting.join().map_err(|err| {
            // The server's last error, if it logged one, says why (an RRset
            // too large, a record refused); the whole tail follows.
            let tail = running.log_tail();
            let error = tail.lines().rev().find(|l| l.to_lowercase().contains("error"));
            match error {
                Some(line) => anyhow::anyhow!("{err:#}; the server's log: {}\n{tail}", line.trim()),
                None => anyhow::anyhow!("{err:#}\n{tail}"),
            }
        })
    }

    /// (a) and (d): load at start, `reloads` reloads with a new serial each,
    /// memory after load and after the reloads, the peak during them; then
    /// one record changed.
    fn large_zone(&self, server: Server, m: &mut Measured) -> Result<()> {
        let large = &self.large;
        large.reset()?;
        let origin = scale_zones::LARGE_ORIGIN;
        let (mut running, conf, since) = self.spawn(server, "large", std::slice::from_ref(&large.zone))?;
        let loaded = vec![
            Question::new(
                format!("{}.{origin}", scale_zones::LATE_NAME),
                Expect::A(scale_zones::LATE_ANSWER),
            ),
            Question::new(origin, Expect::Serial(scale_zones::FIRST_SERIAL)),
        ];
        m.load = Some(self.wait(&mut running, loaded, since, self.timeout(), None)?);
        signals::sleep(SETTLE)?;
        m.after_load = Some(memory::held(&running.pids()));
        let mut peak = 0;
        for n in 1..=self.args.reloads {
            let serial = scale_zones::FIRST_SERIAL + n;
            large.set_serial(serial)?;
            let mut watch = Peak::start(&running.pids());
            let since = Instant::now();
            reload(server, &running, &conf, origin)?;
            let new = vec![Question::new(origin, Expect::Serial(serial))];
            let took = self.wait(&mut running, new, since, self.timeout(), Some(&mut watch))?;
            watch.finish(&running.pids());
            note(
                "bench",
                format!("{server}: reload {n}: {took:.2?}, peak {} MiB", watch.bytes() / MIB),
            );
            m.reloads.push(took);
            peak = peak.max(watch.bytes());
            signals::sleep(SETTLE / 2)?;
        }
        signals::sleep(SETTLE)?;
        m.after_reloads = Some(memory::held(&running.pids()));
        m.peak = Some(peak);

        note("bench", format!("{server}: (d) one record changed"));
        let host = 0;
        large.set_host(host, true)?;
        large.set_serial(scale_zones::FIRST_SERIAL + self.args.reloads + 1)?;
        let since = Instant::now();
        reload(server, &running, &conf, origin)?;
        let changed = Question::new(format!("h{host}.{origin}"), Expect::A(scale_zones::changed_v4(host)));
        let changed = if server.is_ours() { changed.with_nsid() } else { changed };
        let change = self.wait(&mut running, vec![changed], since, self.timeout(), None);
        m.change = record(&mut m.failed, "(d)", change)?;
        if matches!(server, Server::Ours | Server::Knot) {
            note(
                "bench",
                format!("{server}: (d) the record changed back by a zone transaction"),
            );
            // Ours rewrites the file after a commit: the patches at byte offsets need it as written.
            let kept = KeptFile::keep(&large.zone.file)?;
            let back = Question::new(format!("h{host}.{origin}"), Expect::A(scale_zones::host_v4(host)));
            let back = if server.is_ours() { back.with_nsid() } else { back };
            let since = transaction(server, &conf, &self.ours, host)?;
            let took = self.wait(&mut running, vec![back], since, self.timeout(), None);
            m.transaction = record(&mut m.failed, "(d) by a transaction", took)?;
            drop(running);
            kept.restore()?;
        } else {
            drop(running);
        }
        large.reset()
    }

    /// (b): the time until the last zone, and a sample of the others,
    /// answer; the memory then.
    fn many_zones(&self, server: Server) -> Result<(Duration, u64)> {
        let (mut running, _, since) = self.spawn(server, "small", &self.small)?;
        let count = self.small.len() as u32;
        let last = count - 1;
        let step = (count / SMALL_SAMPLE).max(1);
        let questions = std::iter::once(last)
            .chain((0..count).step_by(step as usize))
            .map(|i| {
                Question::new(
                    format!("www.{}", scale_zones::small_origin(i)),
                    Expect::A(scale_zones::small_www(i)),
                )
            })
            .collect();
        let start = self.wait(&mut running, questions, since, self.timeout(), None)?;
        signals::sleep(SETTLE)?;
        Ok((start, memory::held(&running.pids())))
    }

    /// (c): the time until the zone with the huge RRset answers.
    fn huge_rrset(&self, server: Server) -> Result<Duration> {
        let (mut running, _, since) = self.spawn(server, "rrset", std::slice::from_ref(&self.rrset))?;
        let origin = scale_zones::RRSET_ORIGIN;
        let loaded = vec![
            Question::new(
                format!("{}.{origin}", scale_zones::LATE_NAME),
                Expect::A(scale_zones::LATE_ANSWER),
            ),
            Question::new(origin, Expect::Serial(scale_zones::FIRST_SERIAL)),
        ];
        let timeout = Duration::from_secs(self.args.rrset_timeout);
        self.wait(&mut running, loaded, since, timeout, None)
    }

    /// (d) for ours with XDP on the rig's veth: the first candidate host
    /// that XDP answers is changed; the time until the new address is
    /// answered from userspace (NSID queries, which XDP passes up) and on
    /// the path XDP answers (plain queries), and whether XDP answered.
    fn xdp_change(&self) -> Result<XdpChange> {
        note("bench", "ours-XDP: (d) one record changed, answered from XDP");
        let mut out = XdpChange::default();
        let large = &self.large;
        large.reset()?;
        let rig = &self.rig;
        rig.server.detach_xdp();
        // XDP_TX frames reach a veth end only if it has an XDP program.
        let _pass = crate::anycast::xdp_pass::attach(&self.ours, &rig.client.name, &[&rig.client.name])?;
        let origin = scale_zones::LARGE_ORIGIN;
        let server = Server::OursXdp;
        let (mut running, conf, since) = self.spawn(server, "large-xdp", std::slice::from_ref(&large.zone))?;
        let loaded = vec![
            Question::new(
                format!("{}.{origin}", scale_zones::LATE_NAME),
                Expect::A(scale_zones::LATE_ANSWER),
            )
            .with_nsid(),
            Question::new(origin, Expect::Serial(scale_zones::FIRST_SERIAL)).with_nsid(),
        ];
        self.wait(&mut running, loaded, since, self.timeout(), None)?;
        let host_a = |i: u32, expect| Question::new(format!("h{i}.{origin}"), Expect::A(expect));
        let chosen = host_xdp_answers(&self.rig, &self.large)?;
        let host = chosen.unwrap_or_else(|| {
            out.note = Some(format!(
                "none of the first {} hosts was answered by XDP (its maps hold part of the zone): \
                 the XDP-path time is userspace's",
                large.candidates()
            ));
            0
        });
        out.host = host;
        note("bench", format!("ours-XDP: changing h{host}'s A record"));
        large.set_host(host, true)?;
        large.set_serial(scale_zones::FIRST_SERIAL + 1)?;
        let new = scale_zones::changed_v4(host);
        let since = Instant::now();
        signals::signal(running.pid(), libc::SIGHUP);
        let timeout = self.timeout();
        let userspace = Waiting::start(
            &rig.client.name,
            server_address(),
            vec![host_a(host, new).with_nsid()],
            since,
            timeout,
        )?;
        let xdp_path = self.wait(&mut running, vec![host_a(host, new)], since, timeout, None);
        let mut failed = Vec::new();
        out.xdp_path = record(&mut failed, "(d) on the XDP path", xdp_path)?;
        if let Some(failure) = failed.pop() {
            out.note = Some(failure);
        }
        out.userspace = Some(userspace.join()?);
        if out.xdp_path.is_some() {
            out.from_xdp = Some(answered_by_xdp(&self.rig, host_a(host, new))?);
        }
        note(
            "bench",
            format!("ours-XDP: h{host}'s A record changed back by ctl zone-commit"),
        );
        let kept = KeptFile::keep(&large.zone.file)?;
        let old = scale_zones::host_v4(host);
        let since = transaction(server, &conf, &self.ours, host)?;
        let userspace = Waiting::start(
            &rig.client.name,
            server_address(),
            vec![host_a(host, old).with_nsid()],
            since,
            timeout,
        )?;
        let xdp_path = self.wait(&mut running, vec![host_a(host, old)], since, timeout, None);
        out.transaction_xdp_path = record(&mut failed, "(d) by ctl, on the XDP path", xdp_path)?;
        out.transaction_userspace = Some(userspace.join()?);
        if out.transaction_xdp_path.is_some() {
            out.transaction_from_xdp = Some(answered_by_xdp(&self.rig, host_a(host, old))?);
        }
        if let Some(failure) = failed.pop() {
            out.note = Some(failure);
        }
        drop(running);
        kept.restore()?;
        rig.server.detach_xdp();
        large.reset()?;
        Ok(out)
    }
}

/// The first candidate host of the large zone whose A record XDP
/// answers (ours's maps may hold only part of a large zone). Hosts are
/// asked in groups between two readings of the veth counters, and a
/// group XDP answered for is halved until one host is left: reading the
/// counters costs two `ethtool` runs, a query a fraction of a millisecond.
pub(super) fn host_xdp_answers(rig: &Rig, large: &LargeZone) -> Result<Option<u32>> {
    const GROUP: usize = 64;
    let question = |i: u32| {
        let name = format!("h{i}.{}", scale_zones::LARGE_ORIGIN);
        Question::new(name, Expect::A(scale_zones::host_v4(i)))
    };
    let xdp_answers_one_of = |hosts: &[u32]| -> Result<bool> {
        let before = veth::Snapshot::take(rig).context("reading the veth counters (ethtool)")?;
        for &i in hosts {
            answers_now(rig, question(i))?;
        }
        let after = veth::Snapshot::take(rig).context("reading the veth counters (ethtool)")?;
        Ok(veth::Path::between(&before, &after, 1.0).server_tx >= 1.0)
    };
    let hosts: Vec<u32> = (0..large.candidates()).collect();
    for group in hosts.chunks(GROUP) {
        // Asked once first: an answer userspace gives may then be copied into XDP's map.
        for &i in group {
            answers_now(rig, question(i))?;
        }
        let mut group = group;
        if !xdp_answers_one_of(group)? {
            continue;
        }
        while group.len() > 1 {
            let (first, second) = group.split_at(group.len() / 2);
            group = if xdp_answers_one_of(first)? { first } else { second };
        }
        if xdp_answers_one_of(group)? {
            return Ok(Some(group[0]));
        }
    }
    Ok(None)
}

/// Whether XDP answers `question` (as expected): the server end's veth
/// counted a frame sent back with XDP_TX while it was asked.
pub(super) fn answered_by_xdp(rig: &Rig, question: Question) -> Result<bool> {
    let before = veth::Snapshot::take(rig).context("reading the veth counters (ethtool)")?;
    answers_now(rig, question)?;
    let after = veth::Snapshot::take(rig).context("reading the veth counters (ethtool)")?;
    Ok(veth::Path::between(&before, &after, 1.0).server_tx >= 1.0)
}

/// Asks `question` until answered as expected, for up to a few seconds.
pub(super) fn answers_now(rig: &Rig, question: Question) -> Result<Duration> {
    super::answers::wait_here(
        &rig.client.name,
        server_address(),
        vec![question],
        Instant::now(),
        Duration::from_secs(5),
    )
}

/// Changes host `host`'s A record of the large zone back from
/// [`scale_zones::changed_v4`] to [`scale_zones::host_v4`] in one zone
/// transaction (`dns-server ctl`, `knotc`): begin, set, unset, then
/// commit; returns when the commit was sent (the time runs from there).
fn transaction(server: Server, conf: &Path, ours: &Path, host: u32) -> Result<Instant> {
    let origin = scale_zones::LARGE_ORIGIN;
    let owner = format!("h{host}");
    let (old, new) = (
        scale_zones::changed_v4(host).to_string(),
        scale_zones::host_v4(host).to_string(),
    );
    let tool = |args: &[&str]| -> Result<()> {
        let mut command = match server {
            Server::Knot => {
                let mut c = std::process::Command::new("knotc");
                c.arg("-s").arg(conf.join("knot.sock"));
                c
            }
            _ => {
                let mut c = std::process::Command::new(ours);
                c.arg("ctl")
                    .arg("--socket")
                    .arg(conf.join(super::servers::CONTROL_SOCKET));
                c
            }
        };
        cmd::stdout(command.args(args)).map(drop)
    };
    tool(&["zone-begin", origin])?;
    tool(&["zone-set", origin, &owner, "A", &new])?;
    tool(&["zone-unset", origin, &owner, "A", &old])?;
    let since = Instant::now();
    tool(&["zone-commit", origin])?;
    Ok(since)
}

/// A copy of a zone file, put back when a server that rewrote it is gone.
struct KeptFile {
    file: PathBuf,
    copy: PathBuf,
}

impl KeptFile {
    fn keep(file: &Path) -> Result<KeptFile> {
        let mut copy = file.as_os_str().to_owned();
        copy.push(".kept");
        let copy = PathBuf::from(copy);
        std::fs::copy(file, &copy).with_context(|| format!("copying {}", file.display()))?;
        Ok(KeptFile {
            file: file.to_path_buf(),
            copy,
        })
    }

    fn restore(self) -> Result<()> {
        std::fs::rename(&self.copy, &self.file).with_context(|| format!("putting back {}", self.file.display()))
    }
}

/// Asks `server` to reload `origin`: SIGHUP for ours, `knotc zone-reload`,
/// `nsd-control reload`. The control tools return once asked; the time runs
/// until the new serial is answered.
fn reload(server: Server, running: &Running<'_>, conf: &Path, origin: &str) -> Result<()> {
    match server {
        Server::Ours | Server::OursXdp | Server::OursMetrics | Server::OursXdpMetrics | Server::OursXdpStack => {
            signals::signal(running.pid(), libc::SIGHUP);
            Ok(())
        }
        Server::Knot | Server::KnotXdp => {
            let socket = conf.join("knot.sock");
            cmd::stdout(
                std::process::Command::new("knotc")
                    .arg("-s")
                    .arg(&socket)
                    .args(["zone-reload", origin]),
            )
            .map(drop)
        }
        Server::Nsd => {
            let file = conf.join("nsd.conf");
            cmd::stdout(
                std::process::Command::new("nsd-control")
                    .arg("-c")
                    .arg(&file)
                    .args(["reload", origin]),
            )
            .map(drop)
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// One row's value for a server, as a number for the ratios.
type Cell = Option<f64>;

/// The table of absolute numbers, the ratios and the targets.
fn table(args: &Args, records: u64, results: &BTreeMap<Server, Measured>, xdp: Option<&XdpChange>) -> String {
    let secs = |d: &Option<Duration>| d.map(|d| d.as_secs_f64());
    let mib = |b: &Option<u64>| b.map(|b| b as f64 / MIB as f64);
    let median =
        |m: &Measured| (!m.reloads.is_empty()).then(|| rounds::median(m.reloads.iter().map(Duration::as_secs_f64)));
    let worst = |m: &Measured| m.reloads.iter().map(Duration::as_secs_f64).reduce(f64::max);
    type Row<'a> = (String, &'a str, Box<dyn Fn(&Measured) -> Cell + 'a>);
    let rows: Vec<Row<'_>> = vec![
        (
            format!("(a) load at start, {records} records"),
            "s",
            Box::new(move |m| secs(&m.load)),
        ),
        (format!("(a) reload, median of {}", args.reloads), "s", Box::new(median)),
        ("(a) reload, slowest".into(), "s", Box::new(worst)),
        (
            "(a) memory after load".into(),
            "MiB",
            Box::new(move |m| mib(&m.after_load)),
        ),
        (
            format!("(a) memory after {} reloads", args.reloads),
            "MiB",
            Box::new(move |m| mib(&m.after_reloads)),
        ),
        (
            "(a) peak during a reload".into(),
            "MiB",
            Box::new(move |m| mib(&m.peak)),
        ),
        (
            format!("(b) start, {} zones of 10", args.zones),
            "s",
            Box::new(move |m| secs(&m.many_start)),
        ),
        ("(b) memory".into(), "MiB", Box::new(move |m| mib(&m.many_memory))),
        (
            format!("(c) load, one RRset of {}", args.rrset),
            "s",
            Box::new(move |m| secs(&m.rrset_load)),
        ),
        (
            "(d) one record changed: answered".into(),
            "ms",
            Box::new(move |m| secs(&m.change).map(|s| s * 1e3)),
        ),
        (
            "(d) ... by a transaction (ctl, knotc)".into(),
            "ms",
            Box::new(move |m| secs(&m.transaction).map(|s| s * 1e3)),
        ),
    ];
    let peers = [Server::Ours, Server::Knot, Server::Nsd];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nzones at scale: ours, Knot, NSD on the same generated files (memory: PSS of all the server's processes)"
    );
    let _ = writeln!(
        out,
        "{:<40} {:>4} {:>9} {:>9} {:>9} {:>10} {:>9}",
        "", "unit", "ours", "Knot", "NSD", "ours/Knot", "ours/NSD"
    );
    let value = |server: Server, f: &dyn Fn(&Measured) -> Cell| results.get(&server).and_then(f);
    let show = |v: Cell| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let show_ratio = |v: Cell| v.map_or("-".to_string(), |v| format!("{v:.2}x"));
    let ratio = |a: Cell, b: Cell| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    for (label, unit, f) in &rows {
        let [ours, knot, nsd] = peers.map(|s| value(s, f.as_ref()));
        let _ = writeln!(
            out,
            "{label:<40} {unit:>4} {:>9} {:>9} {:>9} {:>10} {:>9}",
            show(ours),
            show(knot),
            show(nsd),
            show_ratio(ratio(ours, knot)),
            show_ratio(ratio(ours, nsd)),
        );
    }
    if let Some(x) = xdp {
        let ms = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3));
        let _ = writeln!(
            out,
            "{:<40} {:>4} {:>9}",
            "(d) ours-XDP: answered from userspace",
            "ms",
            ms(x.userspace)
        );
        let by = match x.from_xdp {
            Some(true) => "(XDP answered it)",
            Some(false) => "(userspace answered it, not XDP)",
            None => "",
        };
        let by = format!("{by} (h{}'s A record)", x.host);
        let _ = writeln!(
            out,
            "{:<40} {:>4} {:>9} {by}",
            "(d) ours-XDP: answered on the XDP path",
            "ms",
            ms(x.xdp_path)
        );
        let _ = writeln!(
            out,
            "{:<40} {:>4} {:>9}",
            "(d) ours-XDP, by ctl: from userspace",
            "ms",
            ms(x.transaction_userspace)
        );
        let by = match x.transaction_from_xdp {
            Some(true) => "(XDP answered it)",
            Some(false) => "(userspace answered it, not XDP)",
            None => "",
        };
        let _ = writeln!(
            out,
            "{:<40} {:>4} {:>9} {by}",
            "(d) ours-XDP, by ctl: on the XDP path",
            "ms",
            ms(x.transaction_xdp_path)
        );
        if let Some(note) = &x.note {
            let _ = writeln!(out, "    {note}");
        }
    }
    for (server, m) in results {
        for failure in &m.failed {
            let _ = writeln!(out, "{server} {failure}");
        }
    }
    out.push_str(&targets(results, xdp));
    out
}

/// Each target of issue 12 and whether ours met it.
fn targets(results: &BTreeMap<Server, Measured>, xdp: Option<&XdpChange>) -> String {
    let get = |server: Server, f: &dyn Fn(&Measured) -> Option<f64>| results.get(&server).and_then(f);
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let load = |m: &Measured| secs(m.load);
    let reload =
        |m: &Measured| (!m.reloads.is_empty()).then(|| rounds::median(m.reloads.iter().map(Duration::as_secs_f64)));
    let after_load = |m: &Measured| m.after_load.map(|b| b as f64);
    let many_start = |m: &Measured| secs(m.many_start);
    let many_memory = |m: &Measured| m.many_memory.map(|b| b as f64);
    let mut out = String::from("targets (issue 12):\n");
    let mut line = |what: &str, value: Option<f64>, limit: f64, unit: &str| {
        let verdict = rounds::at_most(value, limit, |v| format!("{v:.2}{unit}"));
        let _ = writeln!(out, "  {what:<52} {verdict}");
    };
    let over = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    line(
        "(a) load <= 1.0x Knot's",
        over(get(Server::Ours, &load), get(Server::Knot, &load)),
        LOAD_OVER_KNOT,
        "x",
    );
    line(
        "(a) reload <= 1.0x Knot's",
        over(get(Server::Ours, &reload), get(Server::Knot, &reload)),
        LOAD_OVER_KNOT,
        "x",
    );
    line(
        "(a) memory after load <= 1.0x NSD's",
        over(get(Server::Ours, &after_load), get(Server::Nsd, &after_load)),
        MEMORY_OVER_NSD,
        "x",
    );
    let ours = results.get(&Server::Ours);
    line(
        "(a) no growth over the reloads (after/before <= 1.05)",
        ours.and_then(|m| over(m.after_reloads.map(|b| b as f64), after_load(m))),
        GROWTH,
        "x",
    );
    line(
        "(a) reload peak <= 2x steady (after load)",
        ours.and_then(|m| over(m.peak.map(|b| b as f64), after_load(m))),
        PEAK_OVER_STEADY,
        "x",
    );
    line(
        "(b) start <= 1.0x Knot's",
        over(get(Server::Ours, &many_start), get(Server::Knot, &many_start)),
        LOAD_OVER_KNOT,
        "x",
    );
    line(
        "(b) memory <= 1.0x NSD's",
        over(get(Server::Ours, &many_memory), get(Server::Nsd, &many_memory)),
        MEMORY_OVER_NSD,
        "x",
    );
    line(
        "(c) huge RRset load <= 2 s",
        ours.and_then(|m| secs(m.rrset_load)),
        RRSET_SECONDS,
        " s",
    );
    line(
        "(d) change answered, ours without XDP <= 10 ms",
        ours.and_then(|m| secs(m.change)).map(|s| s * 1e3),
        CHANGE_MS,
        " ms",
    );
    line(
        "(d) change answered from userspace, ours-XDP <= 10 ms",
        xdp.and_then(|x| secs(x.userspace)).map(|s| s * 1e3),
        CHANGE_MS,
        " ms",
    );
    line(
        "(d) change answered from XDP <= 10 ms",
        xdp.filter(|x| x.from_xdp == Some(true))
            .and_then(|x| secs(x.xdp_path))
            .map(|s| s * 1e3),
        CHANGE_MS,
        " ms",
    );
    line(
        "(d) by ctl zone-commit, ours without XDP <= 10 ms",
        ours.and_then(|m| secs(m.transaction)).map(|s| s * 1e3),
        CHANGE_MS,
        " ms",
    );
    line(
        "(d) by ctl zone-commit, from XDP <= 10 ms",
        xdp.filter(|x| x.transaction_from_xdp == Some(true))
            .and_then(|x| secs(x.transaction_xdp_path))
            .map(|s| s * 1e3),
        CHANGE_MS,
        " ms",
    );
    out
}

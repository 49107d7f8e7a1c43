//! `cargo xtask bench transfer`: one Knot as the hidden primary of the
//! zones bench's large zone, and ours, Knot and NSD in turn as its
//! secondaries: (a) the AXFR (time until the secondary serves the serial,
//! its peak memory), (b) IXFR of one change and of many, committed with
//! `knotc` (time from the commit to the first new answer; ours also from XDP).
//!
//! The secondaries run one after the other against the same primary, not at
//! once: on two CPUs, three transfers at a time would time the contention.
//! The IXFR times run from `knotc zone-commit`'s return; Knot sends its
//! NOTIFY while committing, so the commit's own time is printed beside them,
//! and the one change is also timed from the moment the primary first
//! answers it (both asked from the moment `zone-commit` is called): that is
//! the secondary's own delay, NOTIFY to answer.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    io::Write as _,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{
    answers::{Expect, Question, Waiting},
    memory::{self, Peak},
    rig::{Rig, SERVER_V4},
    rounds,
    scale_zones::{self, LARGE_ORIGIN, LargeZone},
    servers::{Running, Server, Zone},
    work_dir::WorkDir,
    zones::{self, answered_by_xdp, answers_now, host_xdp_answers, record, server_address},
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
    /// Records in the zone transferred (the zones bench's large zone).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(100..=50_000_000))]
    records: u64,
    /// Records added on the primary in the large IXFR, one transaction.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    changes: u32,
    /// Secondaries to measure, comma-separated (ours-xdp: ours with XDP on the rig's veth).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Server::Nsd, Server::Knot, Server::OursXdp])]
    servers: Vec<Server>,
    /// Seconds the primary's start, an AXFR or an IXFR may take before it counts as failed.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
}

/// The hidden primary's port, on the server's address in the rig.
const PRIMARY_PORT: u16 = 5300;

/// How often memory is sampled during an AXFR, and a dying server noticed.
const SAMPLE: Duration = Duration::from_millis(10);

/// Time given to a secondary after its AXFR before its memory is read and
/// the IXFRs start.
const SETTLE: Duration = Duration::from_secs(2);

/// `knotc zone-set` lines given to one `knotc` session: its interactive mode
/// slows down as a session grows, so a long transaction is fed in parts.
const KNOTC_BATCH: usize = 500;

/// The targets of issue 13.
const AXFR_OVER_KNOT: f64 = 1.0;
const PEAK_OVER_NSD: f64 = 1.0;
const XDP_CHANGE_MS: f64 = 50.0;

/// One secondary's numbers; a part that failed has its reason instead.
#[derive(Default)]
struct Measured {
    axfr: Option<Duration>,
    axfr_peak: Option<u64>,
    after_axfr: Option<u64>,
    one: Option<Duration>,
    many: Option<Duration>,
    /// How long the primary's `knotc zone-commit` took, one change and many.
    one_commit: Option<Duration>,
    many_commit: Option<Duration>,
    /// Ours-XDP: the one change answered from userspace (NSID queries).
    one_userspace: Option<Duration>,
    /// The one change answered by the secondary after the primary first
    /// answered it: the secondary's own delay. Ours-XDP: also from userspace.
    one_after_primary: Option<Duration>,
    one_userspace_after_primary: Option<Duration>,
    /// Ours-XDP: whether XDP answered the one change.
    one_from_xdp: Option<bool>,
    /// The host whose A record the one change changed.
    host: Option<u32>,
    failed: Vec<String>,
}

/// Knot as the hidden primary, in the rig's server namespace.
struct Primary<'rig> {
    running: Running<'rig>,
    socket: PathBuf,
    /// Transactions committed so far: names the large IXFR's records.
    commits: u32,
}

pub fn run(args: &Args) -> Result<()> {
    super::prepare_machine()?;
    let mut servers = args.servers.clone();
    servers.retain(|s| matches!(s, Server::Nsd | Server::Knot | Server::Ours | Server::OursXdp));
    // Ours-XDP first: it picks a host XDP answers from hosts no earlier run changed.
    servers.sort_by_key(|&s| (s != Server::OursXdp, s));
    servers.dedup();
    if servers.is_empty() {
        bail!("no secondary to measure: --servers takes nsd, knot, ours, ours-xdp");
    }
    let mut results: BTreeMap<Server, Measured> = BTreeMap::new();
    if servers.iter().any(|s| s.is_ours())
        && let Err(reason) = super::build_ours()
    {
        for s in servers.iter().filter(|s| s.is_ours()) {
            results.entry(*s).or_default().failed.push(reason.clone());
        }
        servers.retain(|s| !s.is_ours());
    }
    let shm = Path::new("/dev/shm");
    let work = if shm.is_dir() {
        WorkDir::create_in(shm)?
    } else {
        WorkDir::create()?
    };
    note("bench", format!("writing the zone into {}", work.0.display()));
    let large = LargeZone::write(&work.0, args.records)?;
    let rig = Rig::create()?;
    let timeout = Duration::from_secs(args.timeout);
    let mut primary = Primary::start(&rig, &work.0, &large.zone, timeout)?;
    let ours = cmd::target_dir().join("release/dns-server");
    for (run, &server) in servers.iter().enumerate() {
        let m = results.entry(server).or_default();
        let measured = measure(&rig, &mut primary, &work.0, &ours, &large, server, run as u32, args, m);
        record(&mut m.failed, "run", measured)?;
        rig.server.detach_xdp();
    }
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    print!("{}", table(args, large.records, &results, load.trim()));
    Ok(())
}

impl<'rig> Primary<'rig> {
    /// Starts Knot on `zone` and waits until it serves it.
    fn start(rig: &'rig Rig, work: &Path, zone: &Zone, timeout: Duration) -> Result<Self> {
        let dir = work.join("primary");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let conf = dir.join("knot.conf");
        let server: IpAddr = SERVER_V4.parse()?;
        fs::write(&conf, primary_config(&dir, zone, server, PRIMARY_PORT))?;
        note("bench", format!("primary: Knot on {SERVER_V4}:{PRIMARY_PORT}"));
        let since = Instant::now();
        let mut running = Running::spawn(
            rig,
            &["knotd".into(), "-c".into(), conf.display().to_string()],
            dir.join("knot.log"),
            false,
        )?;
        let address = SocketAddr::new(server, PRIMARY_PORT);
        let serving = vec![Question::new(LARGE_ORIGIN, Expect::Serial(scale_zones::FIRST_SERIAL))];
        let waiting = Waiting::start(&rig.client.name, address, serving, since, timeout)?;
        while !waiting.is_finished() {
            running.check_alive().context("the primary (Knot)")?;
            thread::sleep(SAMPLE);
        }
        let took = waiting
            .join()
            .with_context(|| format!("the primary (Knot) serving the zone\n{}", running.log_tail()))?;
        note("bench", format!("primary: serving after {took:.2?}"));
        Ok(Primary {
            running,
            socket: dir.join("knot.sock"),
            commits: 0,
        })
    }

    fn address() -> SocketAddr {
        SocketAddr::new(SERVER_V4.parse().expect("an address"), PRIMARY_PORT)
    }

    /// `knotc ARGS` on the primary's control socket; its output.
    fn knotc(&self, args: &[&str]) -> Result<String> {
        cmd::stdout(Command::new("knotc").arg("-s").arg(&self.socket).args(args))
    }

    /// The serial the primary serves.
    fn serial(&self) -> Result<u32> {
        let out = self.knotc(&["zone-read", LARGE_ORIGIN, "@", "SOA"])?;
        soa_serial(&out).with_context(|| format!("no SOA serial in `knotc zone-read`: {out}"))
    }

    /// One transaction of `lines` (`zone-set`/`zone-unset` commands), fed
    /// to `knotc` sessions through stdin; returns once `zone-commit` has,
    /// with the time `zone-commit` took (Knot may send its NOTIFY before
    /// that returns, so a secondary may have the change by then).
    fn commit(&mut self, lines: &[String]) -> Result<Duration> {
        self.stage(lines)?;
        self.commit_staged()
    }

    /// Opens a transaction of `lines`, to be committed by [`Primary::commit_staged`].
    fn stage(&mut self, lines: &[String]) -> Result<()> {
        self.knotc(&["zone-begin", LARGE_ORIGIN])?;
        let staged = lines.chunks(KNOTC_BATCH).try_for_each(|chunk| self.session(chunk));
        if let Err(err) = staged {
            let _ = self.knotc(&["zone-abort", LARGE_ORIGIN]);
            return Err(err);
        }
        Ok(())
    }

    /// Commits the staged transaction; the time `zone-commit` took.
    fn commit_staged(&mut self) -> Result<Duration> {
        let called = Instant::now();
        self.knotc(&["zone-commit", LARGE_ORIGIN])?;
        let took = called.elapsed();
        self.commits += 1;
        Ok(took)
    }

    fn session(&self, lines: &[String]) -> Result<()> {
        let mut child = Command::new("knotc")
            .arg("-s")
            .arg(&self.socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting knotc")?;
        let mut stdin = child.stdin.take().context("knotc's stdin")?;
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        // Written from a thread: knotc answers each line, and a full pipe
        // back would stall it while this one still writes.
        let writer = thread::spawn(move || stdin.write_all(text.as_bytes()));
        let out = child.wait_with_output().context("running knotc")?;
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("writing to knotc panicked"))??;
        let stdout = String::from_utf8_lossy(&out.stdout);
        all_ok(&stdout, lines.len()).with_context(|| {
            format!(
                "knotc in the transaction: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
    }
}

/// The primary's Knot configuration: `zone` served on `server@port`, IXFR
/// history kept, NOTIFY sent to port 53 on the same address (where each
/// secondary listens in turn), transfers allowed to that address.
fn primary_config(dir: &Path, zone: &Zone, server: IpAddr, port: u16) -> String {
    let dir = dir.display();
    format!(
        "server:\n\
         \x20 rundir: \"{dir}\"\n\
         \x20 user: root\n\
         \x20 listen: {server}@{port}\n\
         control:\n\
         \x20 listen: \"{dir}/knot.sock\"\n\
         remote:\n\
         \x20 - id: secondary\n\
         \x20   address: {server}@53\n\
         acl:\n\
         \x20 - id: transfer\n\
         \x20   address: {server}\n\
         \x20   action: transfer\n\
         database:\n\
         \x20 storage: \"{dir}\"\n\
         log:\n\
         \x20 - target: stderr\n\
         \x20   any: notice\n\
         zone:\n\
         \x20 - domain: {origin}\n\
         \x20   file: \"{file}\"\n\
         \x20   storage: \"{dir}\"\n\
         \x20   notify: secondary\n\
         \x20   acl: transfer\n\
         \x20   zonefile-sync: -1\n\
         \x20   journal-content: changes\n\
         \x20   journal-max-usage: 1G\n",
        origin = zone.origin,
        file = zone.file.display(),
    )
}

/// A ratio with two decimals, or two significant digits in exponent form when that would show 0.00.
fn show_times(ratio: f64) -> String {
    if ratio >= 0.1 {
        format!("{ratio:.2}x")
    } else {
        format!("{ratio:.1e}x")
    }
}

/// The serial of the SOA in `knotc zone-read` output
/// (`[zone] owner TTL SOA mname rname SERIAL refresh retry expire minimum`).
fn soa_serial(out: &str) -> Option<u32> {
    out.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "SOA")?;
        words.get(at + 3)?.parse().ok()
    })
}

/// Checks that a `knotc` session answered `OK` to each of its `count` commands.
fn all_ok(out: &str, count: usize) -> Result<()> {
    let lines: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if let Some(bad) = lines.iter().find(|l| **l != "OK") {
        bail!("knotc answered `{bad}`");
    }
    if lines.len() != count {
        bail!("knotc answered {} of {count} commands", lines.len());
    }
    Ok(())
}

/// The name and address of the `j`th record the large IXFR of transaction `commit` adds.
fn added(commit: u32, j: u32) -> (String, Ipv4Addr) {
    let [_, _, c, d] = j.to_be_bytes();
    (format!("x{commit}-{j}.{LARGE_ORIGIN}"), Ipv4Addr::new(10, 200, c, d))
}

/// The secondary's run: AXFR, then the one change and the many.
#[allow(clippy::too_many_arguments)]
fn measure(
    rig: &Rig,
    primary: &mut Primary<'_>,
    work: &Path,
    ours: &Path,
    large: &LargeZone,
    server: Server,
    run: u32,
    args: &Args,
    m: &mut Measured,
) -> Result<()> {
    let timeout = Duration::from_secs(args.timeout);
    let xdp = server == Server::OursXdp;
    // XDP_TX frames reach a veth end only if it has an XDP program.
    let _pass = if xdp {
        Some(crate::anycast::xdp_pass::attach(
            ours,
            &rig.client.name,
            &[&rig.client.name],
        )?)
    } else {
        None
    };
    let dir = work.join(format!("secondary-{}", server.to_string().to_lowercase()));
    let zone = Zone {
        origin: LARGE_ORIGIN.into(),
        file: server.config_dir(&dir).join("large.test.zone"),
        primary: Some(Primary::address()),
    };
    let argv = server.configure(&dir, std::slice::from_ref(&zone), ours, &rig.server.name)?;
    let serial = primary.serial()?;
    note(
        "bench",
        format!("{server}: (a) AXFR of {} records, serial {serial}", large.records),
    );
    let log = dir.join("server.log");
    let since = Instant::now();
    let mut running = Running::spawn(rig, &argv, log, false)?;
    let mut peak = Peak::default();
    let mut served = Question::new(LARGE_ORIGIN, Expect::Serial(serial));
    if xdp {
        served = served.with_nsid();
    }
    let took = wait(
        rig,
        &mut running,
        primary,
        vec![served],
        since,
        timeout,
        Some(&mut peak),
    )?;
    peak.finish(&running.pids());
    note(
        "bench",
        format!(
            "{server}: AXFR served after {took:.2?}, peak {} MiB",
            peak.bytes() / MIB
        ),
    );
    m.axfr = Some(took);
    m.axfr_peak = Some(peak.bytes());
    signals::sleep(SETTLE)?;
    m.after_axfr = Some(memory::held(&running.pids()));

    // (b) one change: a host's A record replaced.
    let host = if xdp {
        let chosen = host_xdp_answers(rig, large)?;
        if chosen.is_none() {
            m.failed.push(format!(
                "(b) none of the first {} hosts was answered by XDP: the XDP-path time is userspace's",
                large.candidates()
            ));
        }
        chosen.unwrap_or(0)
    } else {
        // A host no earlier run changed, asked once as ours-XDP's was.
        let host = large.candidates().saturating_sub(1 + run);
        answers_now(rig, host_a(host, scale_zones::host_v4(host)))?;
        host
    };
    m.host = Some(host);
    let new = scale_zones::changed_v4(host);
    let name = format!("h{host}.{LARGE_ORIGIN}");
    note("bench", format!("{server}: (b) one change, {name} A -> {new}"));
    primary.stage(&[
        format!("zone-unset {LARGE_ORIGIN} {name} A"),
        format!("zone-set {LARGE_ORIGIN} {name} 3600 A {new}"),
    ])?;
    // Every clock starts as `zone-commit` is called, with the primary asked
    // too: the time from the primary serving the change to the secondary
    // serving it is the secondary's own (NOTIFY, SOA query, IXFR, applying),
    // whatever the commit costs Knot.
    let since = Instant::now();
    let by_primary = Waiting::start(
        &rig.client.name,
        Primary::address(),
        vec![host_a(host, new)],
        since,
        timeout,
    )?;
    let userspace = xdp
        .then(|| {
            Waiting::start(
                &rig.client.name,
                server_address(),
                vec![host_a(host, new).with_nsid()],
                since,
                timeout,
            )
        })
        .transpose()?;
    let secondary = Waiting::start(
        &rig.client.name,
        server_address(),
        vec![host_a(host, new)],
        since,
        timeout,
    )?;
    let commit = primary.commit_staged()?;
    m.one_commit = Some(commit);
    let one = watch(&mut running, primary, secondary, None);
    let after_commit = |took: Duration| took.saturating_sub(commit);
    m.one = record(&mut m.failed, "(b) one change", one)?.map(after_commit);
    let served_by_primary = record(&mut m.failed, "(b) one change on the primary", by_primary.join())?;
    if let Some(userspace) = userspace {
        let took = record(&mut m.failed, "(b) one change from userspace", userspace.join())?;
        m.one_userspace = took.map(after_commit);
        m.one_userspace_after_primary = took.zip(served_by_primary).map(|(s, p)| s.saturating_sub(p));
        if m.one.is_some() {
            m.one_from_xdp = Some(answered_by_xdp(rig, host_a(host, new))?);
        }
    }
    m.one_after_primary = m
        .one
        .map(|t| t + commit)
        .zip(served_by_primary)
        .map(|(s, p)| s.saturating_sub(p));

    // (b) many changes: records added in one transaction.
    note(
        "bench",
        format!("{server}: (b) {} records added in one transaction", args.changes),
    );
    let commit = primary.commits;
    let lines: Vec<String> = (0..args.changes)
        .map(|j| {
            let (name, addr) = added(commit, j);
            format!("zone-set {LARGE_ORIGIN} {name} 3600 A {addr}")
        })
        .collect();
    m.many_commit = Some(primary.commit(&lines)?);
    let since = Instant::now();
    let (last, addr) = added(commit, args.changes - 1);
    let many = wait(
        rig,
        &mut running,
        primary,
        vec![Question::new(last, Expect::A(addr))],
        since,
        timeout,
        None,
    );
    m.many = record(&mut m.failed, "(b) many changes", many)?;
    note(
        "bench",
        format!(
            "{server}: one change {:.2?}, {} changes {:.2?}",
            m.one.unwrap_or_default(),
            args.changes,
            m.many.unwrap_or_default()
        ),
    );
    Ok(())
}

fn host_a(host: u32, addr: Ipv4Addr) -> Question {
    Question::new(format!("h{host}.{LARGE_ORIGIN}"), Expect::A(addr))
}

/// Waits until the secondary answers `questions`, sampling its memory into
/// `peak` meanwhile; fails as soon as it or the primary exits.
fn wait(
    rig: &Rig,
    running: &mut Running<'_>,
    primary: &mut Primary<'_>,
    questions: Vec<Question>,
    since: Instant,
    timeout: Duration,
    peak: Option<&mut Peak>,
) -> Result<Duration> {
    let waiting = Waiting::start(&rig.client.name, server_address(), questions, since, timeout)?;
    watch(running, primary, waiting, peak)
}

/// [`wait`] for a wait already started.
fn watch(
    running: &mut Running<'_>,
    primary: &mut Primary<'_>,
    waiting: Waiting,
    mut peak: Option<&mut Peak>,
) -> Result<Duration> {
    while !waiting.is_finished() {
        running.check_alive()?;
        primary.running.check_alive().context("the primary (Knot)")?;
        if let Some(peak) = peak.as_deref_mut() {
            peak.sample(&running.pids());
        }
        thread::sleep(SAMPLE);
    }
    waiting
        .join()
        .map_err(|err| anyhow::anyhow!("{err:#}\n{}", running.log_tail()))
}

const MIB: u64 = 1024 * 1024;

/// The table of absolute numbers, the ratios and the targets.
fn table(args: &Args, records: u64, results: &BTreeMap<Server, Measured>, load: &str) -> String {
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let mib = |b: Option<u64>| b.map(|b| b as f64 / MIB as f64);
    type Row<'a> = (String, &'a str, Box<dyn Fn(&Measured) -> Option<f64> + 'a>);
    let rows: Vec<Row<'_>> = vec![
        (
            format!("(a) AXFR, {records} records: serving"),
            "s",
            Box::new(move |m| secs(m.axfr)),
        ),
        (
            "(a) peak memory during the AXFR".into(),
            "MiB",
            Box::new(move |m| mib(m.axfr_peak)),
        ),
        (
            "(a) memory after the AXFR".into(),
            "MiB",
            Box::new(move |m| mib(m.after_axfr)),
        ),
        (
            "(b) IXFR, 1 change: first new answer".into(),
            "ms",
            Box::new(move |m| ms(m.one)),
        ),
        (
            "(b) 1 change: after the primary answered it".into(),
            "ms",
            Box::new(move |m| ms(m.one_after_primary)),
        ),
        (
            format!("(b) IXFR, {} changes: first new answer", args.changes),
            "ms",
            Box::new(move |m| ms(m.many)),
        ),
        (
            "(b) the primary's zone-commit took, 1 change".into(),
            "ms",
            Box::new(move |m| ms(m.one_commit)),
        ),
        (
            format!("(b) the primary's zone-commit took, {}", args.changes),
            "ms",
            Box::new(move |m| ms(m.many_commit)),
        ),
    ];
    // Ours is ours-XDP when measured, else ours in userspace.
    let ours_server = [Server::OursXdp, Server::Ours]
        .into_iter()
        .find(|s| results.get(s).is_some_and(|m| m.axfr.is_some()))
        .unwrap_or(Server::OursXdp);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nzone transfers: one Knot as hidden primary; {ours_server}, Knot, NSD as its secondaries in turn \
         (memory: PSS of all the server's processes)"
    );
    let _ = writeln!(
        out,
        "{:<46} {:>4} {:>9} {:>9} {:>9} {:>10} {:>9}",
        "", "unit", "ours", "Knot", "NSD", "ours/Knot", "ours/NSD"
    );
    let value = |server: Server, f: &dyn Fn(&Measured) -> Option<f64>| results.get(&server).and_then(f);
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let show_ratio = |v: Option<f64>| v.map_or("-".to_string(), show_times);
    for (label, unit, f) in &rows {
        let [ours, knot, nsd] = [ours_server, Server::Knot, Server::Nsd].map(|s| value(s, f.as_ref()));
        let _ = writeln!(
            out,
            "{label:<46} {unit:>4} {:>9} {:>9} {:>9} {:>10} {:>9}",
            show(ours),
            show(knot),
            show(nsd),
            show_ratio(ratio(ours, knot)),
            show_ratio(ratio(ours, nsd)),
        );
    }
    let ours = results.get(&ours_server);
    if let Some(m) = ours.filter(|_| ours_server == Server::OursXdp) {
        let by = match m.one_from_xdp {
            Some(true) => "XDP answered it",
            Some(false) => "userspace answered it, not XDP",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "{:<46} {:>4} {:>9}",
            "(b) ours-XDP, 1 change: from userspace (NSID)",
            "ms",
            show(ms(m.one_userspace))
        );
        let _ = writeln!(
            out,
            "{:<46} {:>4} {:>9}",
            "(b) same, after the primary answered it",
            "ms",
            show(ms(m.one_userspace_after_primary))
        );
        let _ = writeln!(
            out,
            "{:<46} {:>4} {:>9} ({by}; h{}'s A record)",
            "(b) ours-XDP, 1 change: on the XDP path",
            "ms",
            show(ms(m.one)),
            m.host.unwrap_or_default()
        );
    }
    let one = ours.and_then(|m| ms(m.one_after_primary));
    let _ = writeln!(
        out,
        "issue 12 (d) through IXFR: one record changed in the {records}-record zone answered by ours {} ms \
         after the primary first answered it (from userspace: {} ms)",
        show(one),
        show(ours.and_then(|m| ms(m.one_userspace_after_primary)))
    );
    for (server, m) in results {
        for failure in &m.failed {
            let _ = writeln!(out, "{server}: {failure}");
        }
    }
    let _ = writeln!(out, "machine load average at the end: {load}");
    let get = |s: Server, f: &dyn Fn(&Measured) -> Option<f64>| results.get(&s).and_then(f);
    let axfr = |m: &Measured| secs(m.axfr);
    let axfr_peak = |m: &Measured| mib(m.axfr_peak);
    let one_ms = |m: &Measured| ms(m.one);
    let xdp_one = ours
        .filter(|m| ours_server == Server::OursXdp && m.one_from_xdp == Some(true))
        .and_then(one_ms);
    out.push_str("targets (issue 13):\n");
    let line = |what: &str, value: Option<f64>, limit: f64, unit: &str| {
        let shown = |v: f64| {
            if unit == "x" {
                show_times(v)
            } else {
                format!("{v:.2}{unit}")
            }
        };
        format!("  {what:<56} {}\n", rounds::at_most(value, limit, shown))
    };
    out.push_str(&line(
        "(a) AXFR time <= 1.0x Knot's",
        ratio(get(ours_server, &axfr), get(Server::Knot, &axfr)),
        AXFR_OVER_KNOT,
        "x",
    ));
    out.push_str(&line(
        "(a) AXFR peak memory <= 1.0x NSD's",
        ratio(get(ours_server, &axfr_peak), get(Server::Nsd, &axfr_peak)),
        PEAK_OVER_NSD,
        "x",
    ));
    out.push_str(&line(
        "(b) one change answered from XDP <= 50 ms",
        xdp_one,
        XDP_CHANGE_MS,
        " ms",
    ));
    out.push_str(&line(
        "(b) one change answered no slower than Knot",
        ratio(get(ours_server, &one_ms), get(Server::Knot, &one_ms)),
        1.0,
        "x",
    ));
    let xdp_after_primary = ours
        .filter(|m| ours_server == Server::OursXdp && m.one_from_xdp == Some(true))
        .and_then(|m| ms(m.one_after_primary));
    let userspace_after_primary = ours.and_then(|m| ms(m.one_userspace_after_primary.or(m.one_after_primary)));
    out.push_str("targets (issue 12 (d), a change reaching ours by IXFR, timed from the primary answering it):\n");
    out.push_str(&line(
        "(d) answered from XDP <= 10 ms",
        xdp_after_primary,
        zones::CHANGE_MS,
        " ms",
    ));
    out.push_str(&line(
        "(d) answered from userspace <= 10 ms",
        userspace_after_primary,
        zones::CHANGE_MS,
        " ms",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_serial_from_zone_read() {
        let out = "[large.test.] large.test. 3600 SOA ns1.large.test. hostmaster.large.test. 1000000002 3600 900 604800 300\n";
        assert_eq!(soa_serial(out), Some(1_000_000_002));
        assert_eq!(soa_serial("error: (no such zone found)"), None);
        assert_eq!(soa_serial("[x.] x. 60 SOA a. b."), None);
    }

    #[test]
    fn small_ratios_stay_visible() {
        assert_eq!(show_times(2.523), "2.52x");
        assert_eq!(show_times(0.0033), "3.3e-3x");
    }

    #[test]
    fn every_command_must_answer_ok() {
        assert!(all_ok("OK\nOK\n", 2).is_ok());
        assert!(all_ok("OK\n", 2).is_err(), "a command unanswered");
        let err = all_ok("OK\nerror: (invalid parameter)\n", 2).expect_err("an error line");
        assert!(format!("{err}").contains("invalid parameter"));
    }

    #[test]
    fn added_records_are_distinct_per_commit() {
        assert_eq!(added(3, 0), ("x3-0.large.test.".into(), Ipv4Addr::new(10, 200, 0, 0)));
        assert_eq!(added(3, 9_999).1, Ipv4Addr::new(10, 200, 39, 15));
        assert_ne!(added(3, 1).0, added(4, 1).0);
    }

    #[test]
    fn primary_config_notifies_and_keeps_changes() {
        let zone = Zone {
            origin: LARGE_ORIGIN.into(),
            file: PathBuf::from("/w/large.test.zone"),
            primary: None,
        };
        let text = primary_config(Path::new("/w/p"), &zone, "198.18.0.1".parse().unwrap(), 5300);
        assert!(text.contains("listen: 198.18.0.1@5300"));
        assert!(text.contains("address: 198.18.0.1@53"));
        assert!(text.contains("journal-content: changes"));
        assert!(text.contains("file: \"/w/large.test.zone\""));
    }
}

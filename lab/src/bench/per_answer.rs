//! `bench auth --per-answer`: what each server spends per answer, beside its
//! rate: bytes on the wire (kxdpgun's average reply size), system calls by
//! kind and context switches (`perf stat` on the server's processes during a
//! second, shorter run of the generator), its threads and UDP sockets, and
//! how its CPU spent the run (user, system, softirq, idle).
//! When two servers send the same answers, equal kernel work per answer is
//! expected; what differs here is where a gap in their rates comes from.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result};

use super::{
    kxdpgun,
    rig::Rig,
    rounds::{Target, median},
    servers::{Running, Server},
};
use crate::cmd;

/// The events counted on the server's processes, and their column names.
const EVENTS: &[(&str, &str)] = &[
    ("raw_syscalls:sys_enter", "syscalls"),
    ("syscalls:sys_enter_recvmmsg", "recvmmsg"),
    ("syscalls:sys_enter_sendmmsg", "sendmmsg"),
    ("syscalls:sys_enter_recvmsg", "recvmsg"),
    ("syscalls:sys_enter_sendmsg", "sendmsg"),
    ("syscalls:sys_enter_recvfrom", "recvfrom"),
    ("syscalls:sys_enter_sendto", "sendto"),
    ("syscalls:sys_enter_epoll_wait", "epoll_wait"),
    ("syscalls:sys_enter_epoll_pwait", "epoll_pwait"),
    ("syscalls:sys_enter_futex", "futex"),
    ("context-switches", "cswitch"),
    ("task-clock", "task-ms"),
];

/// One server's run under `perf stat`.
#[derive(Clone, Default)]
pub struct Profile {
    /// Answers the generator counted.
    answers: f64,
    /// kxdpgun's average reply size, in bytes.
    reply_bytes: Option<f64>,
    /// Each event's count over the run, by column name.
    counts: BTreeMap<&'static str, f64>,
    /// Threads of the server's processes.
    threads: usize,
    /// The server's processes.
    processes: usize,
    /// Its UDP sockets on port 53: how many, and the first one's receive
    /// and send buffer sizes (`ss -uam`: rb, tb), in KiB.
    sockets: (usize, u64, u64),
    /// How the server's CPU spent the run, in shares: user, system,
    /// softirq (and irq), idle (with I/O wait); from /proc/stat.
    cpu: [f64; 4],
    /// The server namespace's UDP counters over the run (/proc/net/snmp):
    /// datagrams read, dropped for a full receive buffer, sent, and sends
    /// refused for a full send buffer.
    udp: [f64; 4],
    /// The run's length.
    seconds: u32,
    /// Answers the server end's veth dropped (`tx_dropped`: the generator
    /// end's ring was full), and frames the generator's end took in.
    lost: (f64, f64),
}

/// Every profiled server's runs, in round order.
#[derive(Default)]
pub struct Profiles(BTreeMap<Server, Vec<Profile>>);

impl Profiles {
    /// Runs the generator again on `running` for `seconds` with `perf stat`
    /// attached to the server's processes, and keeps what it counted.
    pub fn measure(
        &mut self,
        server: Server,
        rig: &Rig,
        running: &Running<'_>,
        target: &Target<'_>,
        seconds: u32,
        qps: u32,
    ) -> Result<()> {
        let pids = running.pids();
        let list = pids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let threads = pids
            .iter()
            .map(|pid| fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count()))
            .sum();
        let sockets = udp_sockets(rig);
        let out = target.work.join(format!("{server}-perf.csv"));
        let events = EVENTS.iter().map(|(e, _)| *e).collect::<Vec<_>>().join(",");
        let mut perf = Command::new("perf");
        perf.args(["stat", "-x", ",", "-o"])
            .arg(&out)
            .args(["-e", &events, "-p", &list])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd::note("bench", format!("$ {}", cmd::show(&perf)));
        let mut child = perf.spawn().context("starting perf (is linux-perf installed?)")?;
        // perf needs a moment to attach to every thread.
        crate::signals::sleep(Duration::from_millis(300))?;
        let log = target.work.join(format!("{server}-per-answer-kxdpgun.txt"));
        let dropped_before = tx_dropped(rig);
        let before = (cpu_ticks(rig.server.cpu), udp_counters(rig));
        let measured = kxdpgun::generate(
            rig,
            target.queries,
            target.address,
            kxdpgun::Rate::new(seconds, qps),
            &log,
        );
        let after = (cpu_ticks(rig.server.cpu), udp_counters(rig));
        let dropped = tx_dropped(rig)
            .zip(dropped_before)
            .map_or(0, |(a, b)| a.saturating_sub(b));
        let mut udp = [0.0; 4];
        if let (Some(b), Some(a)) = (before.1, after.1) {
            for i in 0..4 {
                udp[i] = a[i].saturating_sub(b[i]) as f64;
            }
        }
        let (before, after) = (before.0, after.0);
        // SIGINT makes perf stat print its counts and exit.
        crate::signals::signal(child.id(), libc::SIGINT);
        let _ = child.wait();
        let mut cpu = [0.0; 4];
        if let (Some(before), Some(after)) = (before, after) {
            let delta: Vec<f64> = after
                .iter()
                .zip(&before)
                .map(|(a, b)| a.saturating_sub(*b) as f64)
                .collect();
            let total: f64 = delta.iter().sum::<f64>().max(1.0);
            // user+nice, system, irq+softirq, idle+iowait
            cpu = [
                (delta[0] + delta[1]) / total,
                delta[2] / total,
                (delta[5] + delta[6]) / total,
                (delta[3] + delta[4]) / total,
            ];
        }
        let measured = measured?;
        let taken_in = measured.path.map_or(0.0, |p| p.client_seen);
        let text = fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
        let profile = Profile {
            answers: measured.answered_per_s as f64 * f64::from(seconds),
            reply_bytes: measured.reply_bytes,
            counts: parse(&text),
            threads,
            processes: pids.len(),
            sockets,
            cpu,
            udp,
            seconds,
            lost: (dropped as f64 / f64::from(seconds), taken_in),
        };
        self.0.entry(server).or_default().push(profile);
        Ok(())
    }

    /// The table: per server, the medians over its rounds of each count per answer.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if self.0.is_empty() {
            return out;
        }
        let _ = writeln!(
            out,
            "\nper answer (medians over rounds; perf stat on the server's processes during a second run): \
             bytes = kxdpgun's average reply size; task-ms = CPU ms per 1000 answers"
        );
        let _ = write!(
            out,
            "{:<10} {:>7} {:>16} {:>19} {:>36} {:>16} {:>7} {:>8}",
            "server",
            "threads",
            "udp53 n/rb/tb KiB",
            "cpu usr/sys/si/idle",
            "udp in/rcvbuf-drop/out/sndbuf-full/s",
            "veth drop/took/s",
            "bytes",
            "answer/s"
        );
        for (_, name) in EVENTS {
            let _ = write!(out, " {name:>10}");
        }
        out.push('\n');
        for (server, profiles) in &self.0 {
            let m = |f: &dyn Fn(&Profile) -> Option<f64>| median(profiles.iter().filter_map(f));
            let threads = m(&|p| Some(p.threads as f64));
            let processes = m(&|p| Some(p.processes as f64));
            let bytes = m(&|p| p.reply_bytes);
            let answers = m(&|p| Some(p.answers / f64::from(p.seconds)));
            let lost = |i: usize| m(&|p| Some(if i == 0 { p.lost.0 } else { p.lost.1 } / 1000.0));
            let (n, rb, tb) = profiles.last().map_or((0, 0, 0), |p| p.sockets);
            let share = |i: usize| m(&|p| Some(p.cpu[i] * 100.0));
            let udp = |i: usize| m(&|p| Some(p.udp[i] / f64::from(p.seconds) / 1000.0));
            let _ = write!(
                out,
                "{:<10} {:>7} {:>16} {:>19} {:>36} {:>16} {bytes:>7.1} {answers:>8.0}",
                server.to_string(),
                format!("{threads:.0}/{processes:.0}p"),
                format!("{n}/{rb}/{tb}"),
                format!("{:.0}/{:.0}/{:.0}/{:.0}%", share(0), share(1), share(2), share(3)),
                format!("{:.0}k/{:.0}k/{:.0}k/{:.0}k", udp(0), udp(1), udp(2), udp(3)),
                format!("{:.0}k/{:.0}k", lost(0), lost(1)),
            );
            for (_, name) in EVENTS {
                // task-clock is in ms: per 1000 answers it reads as µs per answer.
                let scale = if *name == "task-ms" { 1000.0 } else { 1.0 };
                let v = m(&|p| {
                    let count = p.counts.get(name)?;
                    (p.answers > 0.0).then(|| count / p.answers * scale)
                });
                let _ = write!(out, " {v:>10.4}");
            }
            out.push('\n');
        }
        out.push_str(
            "(a mmsg call's batch is 1 / its count per answer; task-ms per 1000 answers = CPU µs per answer)\n",
        );
        out
    }
}

/// The server's UDP sockets on port 53, as `ss -uam` shows them in its
/// namespace: how many, and the first one's rb and tb in KiB.
fn udp_sockets(rig: &Rig) -> (usize, u64, u64) {
    let text = cmd::stdout(rig.server.exec().args(["ss", "-uamnH", "sport = :53"])).unwrap_or_default();
    let sizes = |field: &str| -> Vec<u64> {
        text.split([',', '(', ')'])
            .filter_map(|w| w.strip_prefix(field)?.parse().ok())
            .collect()
    };
    let (rb, tb) = (sizes("rb"), sizes("tb"));
    (
        rb.len(),
        rb.first().map_or(0, |b| b / 1024),
        tb.first().map_or(0, |b| b / 1024),
    )
}

/// The ticks of /proc/stat's line for `cpu`: user, nice, system, idle,
/// iowait, irq, softirq.
fn cpu_ticks(cpu: u32) -> Option<[u64; 7]> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let tag = format!("cpu{cpu} ");
    let line = stat.lines().find(|line| line.starts_with(&tag))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    ticks.get(..7)?.try_into().ok()
}

/// The server end's `tx_dropped`: frames its peer had no room for.
fn tx_dropped(rig: &Rig) -> Option<u64> {
    let path = format!("/sys/class/net/{}/statistics/tx_dropped", rig.server.name);
    cmd::stdout(rig.server.exec().args(["cat", &path]))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The server namespace's `Udp:` InDatagrams, RcvbufErrors, OutDatagrams and SndbufErrors.
fn udp_counters(rig: &Rig) -> Option<[u64; 4]> {
    let text = cmd::stdout(rig.server.exec().args(["cat", "/proc/net/snmp"])).ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let pairs: Vec<(&str, u64)> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter_map(|(n, v)| Some((n, v.parse().ok()?)))
        .collect();
    let get = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    Some([
        get("InDatagrams")?,
        get("RcvbufErrors")?,
        get("OutDatagrams")?,
        get("SndbufErrors")?,
    ])
}

/// Reads `perf stat -x,` output: `value,unit,event,...` per line.
fn parse(text: &str) -> BTreeMap<&'static str, f64> {
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(value), Some(event)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        let Some((_, name)) = EVENTS.iter().find(|(e, _)| e == event) else {
            continue;
        };
        if let Ok(value) = value.parse::<f64>() {
            *counts.entry(*name).or_default() += value;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_perf_stat_csv() {
        let text = "# started on Sat Dec  5\n\n\
                    1200,,raw_syscalls:sys_enter,5000,100.00,,\n\
                    40,,syscalls:sys_enter_sendmmsg,5000,100.00,,\n\
                    <not counted>,,syscalls:sys_enter_futex,0,0.00,,\n\
                    812.5,msec,task-clock,812500000,100.00,0.162,CPUs utilized\n";
        let counts = parse(text);
        assert_eq!(counts["syscalls"], 1200.0);
        assert_eq!(counts["sendmmsg"], 40.0);
        assert_eq!(counts["task-ms"], 812.5);
        assert!(!counts.contains_key("futex"));
    }
}

//! The servers under test: their configurations, and starting and stopping them in the rig.
use std::{
    collections::BTreeSet,
    fmt, fs,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{
    process,
    rig::{End, Rig, SERVER_V4, SERVER_V6},
    zone,
};
use crate::cmd;

/// How long a server may take to load the zone and answer the probe.
const START_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Server {
    /// NSD 4, one server process, rate limiting off.
    Nsd,
    /// Knot DNS 3 in plain UDP mode (no XDP), one UDP worker.
    Knot,
    /// This project's `dns-server serve`, one thread.
    Ours,
    /// Knot DNS 3 in XDP mode on the server's veth.
    KnotXdp,
    /// Ours with the XDP fast path attached to the server's veth.
    OursXdp,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nsd => "NSD",
            Self::Knot => "Knot",
            Self::Ours => "ours",
            Self::KnotXdp => "Knot-XDP",
            Self::OursXdp => "ours-XDP",
        })
    }
}

impl Server {
    /// Whether the server answers from XDP (the rig then detaches its program after each run).
    pub fn uses_xdp(self) -> bool {
        matches!(self, Self::KnotXdp | Self::OursXdp)
    }

    /// Whether it is this project's server.
    pub fn is_ours(self) -> bool {
        matches!(self, Self::Ours | Self::OursXdp)
    }

    /// Writes the server's configuration under `dir`; returns its command line.
    /// `iface` is the server's end of the rig's veth, for the XDP modes.
    pub fn prepare(self, dir: &Path, zone_file: &Path, ours: &Path, iface: &str) -> Result<Vec<String>> {
        let dir = dir.join(self.to_string().to_lowercase());
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (dir_s, zone_s) = (dir.display(), zone_file.display());
        let argv = match self {
            Self::Nsd => {
                let conf = dir.join("nsd.conf");
                let text = format!(
                    "server:\n\
                     \x20 ip-address: {SERVER_V4}\n\
                     \x20 ip-address: {SERVER_V6}\n\
                     \x20 port: 53\n\
                     \x20 server-count: 1\n\
                     \x20 rrl-ratelimit: 0\n\
                     \x20 rrl-whitelist-ratelimit: 0\n\
                     \x20 zonesdir: \"{dir_s}\"\n\
                     \x20 pidfile: \"{dir_s}/nsd.pid\"\n\
                     \x20 xfrdfile: \"{dir_s}/xfrd.state\"\n\
                     \x20 zonelistfile: \"{dir_s}/zone.list\"\n\
                     \x20 database: \"\"\n\
                     \x20 chroot: \"\"\n\
                     \x20 username: \"\"\n\
                     \x20 verbosity: 1\n\
                     remote-control:\n\
                     \x20 control-enable: no\n\
                     zone:\n\
                     \x20 name: {origin}\n\
                     \x20 zonefile: \"{zone_s}\"\n",
                    origin = zone::ORIGIN,
                );
                fs::write(&conf, text)?;
                vec!["nsd".into(), "-d".into(), "-c".into(), conf.display().to_string()]
            }
            Self::Knot | Self::KnotXdp => {
                let conf = dir.join("knot.conf");
                // Knot 3.2: XDP workers on the interface's queues answer UDP there.
                let xdp = if self == Self::KnotXdp {
                    format!("xdp:\n\x20 listen: [ {iface}@53 ]\n\x20 udp: on\n")
                } else {
                    String::new()
                };
                let text = format!(
                    "server:\n\
                     \x20 rundir: \"{dir_s}\"\n\
                     \x20 user: root\n\
                     \x20 listen: [ {SERVER_V4}@53, {SERVER_V6}@53 ]\n\
                     \x20 udp-workers: 1\n\
                     \x20 tcp-workers: 1\n\
                     \x20 background-workers: 1\n\
                     {xdp}\
                     database:\n\
                     \x20 storage: \"{dir_s}\"\n\
                     log:\n\
                     \x20 - target: stderr\n\
                     \x20   any: notice\n\
                     zone:\n\
                     \x20 - domain: {origin}\n\
                     \x20   file: \"{zone_s}\"\n\
                     \x20   storage: \"{dir_s}\"\n\
                     \x20   zonefile-sync: -1\n\
                     \x20   journal-content: none\n",
                    origin = zone::ORIGIN,
                );
                fs::write(&conf, text)?;
                vec!["knotd".into(), "-c".into(), conf.display().to_string()]
            }
            Self::Ours | Self::OursXdp => vec![
                ours.display().to_string(),
                "serve".into(),
                "--listen".into(),
                format!("{SERVER_V4}:53"),
                "--listen".into(),
                format!("[{SERVER_V6}]:53"),
                "--zone".into(),
                format!("{}={}", zone::ORIGIN, zone_file.display()),
                "--threads".into(),
                "1".into(),
            ]
            .into_iter()
            .chain(match self {
                Self::OursXdp => vec!["--xdp-iface".to_string(), iface.to_string()],
                _ => vec!["--no-xdp".to_string()],
            })
            .collect(),
        };
        Ok(argv)
    }
}

/// A query a starting server must answer, and the answer, before it counts as up.
pub struct Probe {
    pub server: String,
    pub name: String,
    pub answer: String,
}

impl Probe {
    /// `h0.bench.test. A` at the server's IPv4 address.
    pub fn bench_zone() -> Probe {
        Probe {
            server: SERVER_V4.into(),
            name: zone::PROBE_NAME.into(),
            answer: zone::PROBE_ANSWER.into(),
        }
    }
}

/// A server running in the rig's server namespace; dropping it stops it.
pub struct Running<'rig> {
    child: Child,
    end: &'rig End,
    log: PathBuf,
    /// Processes in the namespace before this one started (lab servers that
    /// outlive it): neither counted nor stopped with it.
    others: BTreeSet<u32>,
}

impl<'rig> Running<'rig> {
    /// Starts `argv` pinned to the server CPU and waits until it answers `probe`.
    pub fn start(rig: &'rig Rig, argv: &[String], log: PathBuf, probe: &Probe) -> Result<Self> {
        let end = &rig.server;
        let others = end.pids();
        let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = end.exec();
        command
            .args(["taskset", "-c", &end.cpu.to_string()])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Its own process group: the terminal's Ctrl-C goes to xtask alone,
            // which then stops the server through this guard.
            .process_group(0);
        cmd::note("bench", format!("$ {}", cmd::show(&command)));
        let child = command.spawn().with_context(|| format!("starting {}", argv[0]))?;
        let mut running = Self {
            child,
            end,
            log,
            others,
        };
        running.wait_until_answering(rig, probe)?;
        // Servers pin their own threads (Knot does): all of them go to the server CPU.
        for pid in running.pids() {
            let _ = std::process::Command::new("taskset")
                .args(["-a", "-p", "-c", &end.cpu.to_string(), &pid.to_string()])
                .stdout(Stdio::null())
                .status();
        }
        Ok(running)
    }

    /// The process started (`ip netns exec` and `taskset` exec the server, so it is the server's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's processes: those in the namespace that were not there before it.
    fn pids(&self) -> BTreeSet<u32> {
        &self.end.pids() - &self.others
    }

    fn wait_until_answering(&mut self, rig: &Rig, probe: &Probe) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("exited ({status}) before answering:\n{}", self.log_tail());
            }
            // +nsid: our XDP program passes NSID queries to userspace, so the
            // probe's answer takes the normal path to a client end that has
            // no XDP program of its own to receive XDP_TX frames.
            let answer = cmd::stdout(rig.client.exec().args([
                "dig",
                "+nsid",
                "+short",
                "+time=1",
                "+tries=1",
                &format!("@{}", probe.server),
                &probe.name,
                "A",
            ]));
            if answer.is_ok_and(|a| a.trim() == probe.answer) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "no answer to `{} A` at {} within {START_TIMEOUT:?}:\n{}",
                    probe.name,
                    probe.server,
                    self.log_tail()
                );
            }
            crate::signals::sleep(Duration::from_millis(200))?;
        }
    }

    /// CPU time used so far by the server's processes.
    pub fn cpu_times(&self) -> process::CpuTimes {
        let times = self.pids().into_iter().filter_map(process::process_times);
        times.fold(process::CpuTimes::default(), |sum, t| sum + t)
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("{tail}\n(log: {})", self.log.display())
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        process::stop(&mut self.child);
        // Forked helpers (NSD's server and xfrd processes) must not outlive it:
        // the next server needs port 53.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() >= deadline {
                break;
            }
            for pid in pids {
                crate::signals::signal(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

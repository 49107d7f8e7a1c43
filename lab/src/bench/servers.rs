//! The servers under test: their configurations, and starting and stopping them in the rig.
use std::{
    collections::BTreeSet,
    fmt::{self, Write as _},
    fs,
    net::SocketAddr,
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
    /// Ours as `ours`, with the metrics endpoint on (`--metrics`): run beside
    /// `ours` (`bench auth --servers ours,ours-metrics`) to see what counting costs.
    OursMetrics,
    /// Ours as `ours-xdp`, with the metrics endpoint on: run beside `ours-xdp`
    /// (`bench auth --servers ours-xdp,ours-xdp-metrics`).
    OursXdpMetrics,
    /// Ours as `ours-xdp` without AF_XDP: hits whose answer the frame has no
    /// room for go up the kernel's stack to the UDP server, as before issue
    /// 14's AF_XDP path (`bench auth --signed nsec3 --servers ours-xdp,ours-xdp-stack`).
    OursXdpStack,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nsd => "NSD",
            Self::Knot => "Knot",
            Self::Ours => "ours",
            Self::KnotXdp => "Knot-XDP",
            Self::OursXdp => "ours-XDP",
            Self::OursMetrics => "ours-metrics",
            Self::OursXdpMetrics => "ours-XDP-metrics",
            Self::OursXdpStack => "ours-XDP-stack",
        })
    }
}

impl Server {
    /// Whether the server answers from XDP (the rig then detaches its program after each run).
    pub fn uses_xdp(self) -> bool {
        matches!(
            self,
            Self::KnotXdp | Self::OursXdp | Self::OursXdpMetrics | Self::OursXdpStack
        )
    }

    /// Whether it is this project's server.
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            Self::Ours | Self::OursXdp | Self::OursMetrics | Self::OursXdpMetrics | Self::OursXdpStack
        )
    }

    /// Ours with the metrics endpoint on, and the same server with it off.
    pub fn metrics_pair(self) -> Option<(Server, Server)> {
        match self {
            Self::OursMetrics => Some((self, Self::Ours)),
            Self::OursXdpMetrics => Some((self, Self::OursXdp)),
            _ => None,
        }
    }

    /// Writes the server's configuration under `dir` for the bench zone in
    /// `zone_file`; returns its command line. `iface` is the server's end of
    /// the rig's veth, for the XDP modes.
    pub fn prepare(self, dir: &Path, zone_file: &Path, ours: &Path, iface: &str) -> Result<Vec<String>> {
        let zone = Zone {
            origin: zone::ORIGIN.into(),
            file: zone_file.to_path_buf(),
            primary: None,
        };
        self.configure(dir, std::slice::from_ref(&zone), ours, iface)
    }

    /// The directory under `dir` that holds the server's configuration,
    /// state and control socket (`nsd.ctl`, `knot.sock`).
    pub fn config_dir(self, dir: &Path) -> PathBuf {
        dir.join(self.to_string().to_lowercase())
    }

    /// Writes the server's configuration under `dir` for `zones`; returns its command line.
    pub fn configure(self, dir: &Path, zones: &[Zone], ours: &Path, iface: &str) -> Result<Vec<String>> {
        let dir = self.config_dir(dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir_s = dir.display();
        let argv = match self {
            Self::Nsd => {
                let conf = dir.join("nsd.conf");
                // The control socket is a Unix one: nsd-control needs no keys for it.
                let mut text = format!(
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
                     \x20 control-enable: yes\n\
                     \x20 control-interface: \"{dir_s}/nsd.ctl\"\n"
                );
                for zone in zones {
                    let _ = write!(
                        text,
                        "zone:\n\x20 name: {}\n\x20 zonefile: \"{}\"\n",
                        zone.origin,
                        zone.file.display()
                    );
                    if let Some(primary) = zone.primary {
                        let _ = write!(
                            text,
                            "\x20 request-xfr: {}@{} NOKEY\n\x20 allow-notify: {} NOKEY\n",
                            primary.ip(),
                            primary.port(),
                            primary.ip()
                        );
                    }
                }
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
                // Secondary zones: each primary a remote, its NOTIFYs let in
                // by an ACL (referenced ids must be defined before the zones).
                let mut secondary = String::new();
                for (i, zone) in zones.iter().enumerate() {
                    if let Some(primary) = zone.primary {
                        let _ = write!(
                            secondary,
                            "remote:\n\x20 - id: primary{i}\n\x20   address: {}@{}\n\
                             acl:\n\x20 - id: notify{i}\n\x20   address: {}\n\x20   action: notify\n",
                            primary.ip(),
                            primary.port(),
                            primary.ip()
                        );
                    }
                }
                let mut text = format!(
                    "server:\n\
                     \x20 rundir: \"{dir_s}\"\n\
                     \x20 user: root\n\
                     \x20 listen: [ {SERVER_V4}@53, {SERVER_V6}@53 ]\n\
                     \x20 udp-workers: 1\n\
                     \x20 tcp-workers: 1\n\
                     \x20 background-workers: 1\n\
                     {xdp}\
                     {secondary}\
                     control:\n\
                     \x20 listen: \"{dir_s}/knot.sock\"\n\
                     database:\n\
                     \x20 storage: \"{dir_s}\"\n\
                     log:\n\
                     \x20 - target: stderr\n\
                     \x20   any: notice\n\
                     template:\n\
                     \x20 - id: default\n\
                     \x20   storage: \"{dir_s}\"\n\
                     \x20   zonefile-sync: -1\n\
                     \x20   journal-content: none\n\
                     zone:\n"
                );
                for (i, zone) in zones.iter().enumerate() {
                    let _ = write!(
                        text,
                        "\x20 - domain: {}\n\x20   file: \"{}\"\n",
                        zone.origin,
                        zone.file.display()
                    );
                    if zone.primary.is_some() {
                        let _ = write!(text, "\x20   master: primary{i}\n\x20   acl: notify{i}\n");
                    }
                }
                fs::write(&conf, text)?;
                vec!["knotd".into(), "-c".into(), conf.display().to_string()]
            }
            Self::Ours | Self::OursXdp | Self::OursMetrics | Self::OursXdpMetrics | Self::OursXdpStack => {
                // The zones go in a file: 100,000 `--zone` flags would pass
                // the kernel's limit on the length of a command line.
                let conf = dir.join("dns-server.toml");
                let mut text = String::new();
                for zone in zones {
                    let _ = writeln!(
                        text,
                        "[[zone]]\norigin = \"{}\"\nfile = \"{}\"",
                        zone.origin,
                        zone.file.display()
                    );
                    if let Some(primary) = zone.primary {
                        let _ = writeln!(text, "primaries = [\"{primary}\"]");
                    }
                }
                fs::write(&conf, text)?;
                // Transferred zones' journals go in the work dir, not the host's /var/lib.
                let data_dir = zones
                    .iter()
                    .any(|z| z.primary.is_some())
                    .then(|| ["--data-dir".to_string(), dir.join("data").display().to_string()]);
                let metrics = format!("{SERVER_V4}:9153");
                // With XDP, answers the frame has no room to grow to go out
                // through AF_XDP, as Knot's XDP mode answers (issue 14).
                let xdp = match self {
                    Self::OursXdp => ["--xdp-iface", iface, "--xdp-af-xdp", ""],
                    Self::OursXdpMetrics => ["--xdp-iface", iface, "--xdp-af-xdp", "--metrics"],
                    Self::OursXdpStack => ["--xdp-iface", iface, "", ""],
                    Self::OursMetrics => ["--no-xdp", "--metrics", "", ""],
                    _ => ["--no-xdp", "", "", ""],
                };
                let scrape_addr = self.metrics_pair().map(|_| metrics.as_str());
                [
                    &ours.display().to_string(),
                    "serve",
                    "--config",
                    &conf.display().to_string(),
                    "--listen",
                    &format!("{SERVER_V4}:53"),
                    "--listen",
                    &format!("[{SERVER_V6}]:53"),
                    "--threads",
                    "1",
                    // In the work dir: not the host's /run/dns-server/zones.json.
                    "--state-file",
                    &dir.join("zones.json").display().to_string(),
                    // For `ctl zone-begin` ... `zone-commit` (bench zones (d)).
                    "--control",
                    &dir.join(CONTROL_SOCKET).display().to_string(),
                ]
                .into_iter()
                .chain(xdp.into_iter().filter(|arg| !arg.is_empty()))
                .chain(scrape_addr)
                .map(String::from)
                .chain(data_dir.into_iter().flatten())
                .collect()
            }
        };
        Ok(argv)
    }
}

/// Ours's control socket, in its [`Server::config_dir`].
pub const CONTROL_SOCKET: &str = "control.sock";

/// A zone a server is given: its origin (with the trailing dot) and master
/// file; with a primary, a secondary zone transferred from it (the file is
/// then where the copy is kept, if the server keeps one).
#[derive(Clone)]
pub struct Zone {
    pub origin: String,
    pub file: PathBuf,
    pub primary: Option<SocketAddr>,
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
        let mut running = Self::spawn(rig, argv, log, true)?;
        running.wait_until_answering(rig, probe)?;
        // Servers pin their own threads (Knot does): all of them go to the server CPU.
        running.pin_all();
        Ok(running)
    }

    /// Starts `argv` in the server's namespace and returns at once; `pinned`:
    /// on the server CPU (benches that let a server use both CPUs, as a
    /// loading server may, say false).
    pub fn spawn(rig: &'rig Rig, argv: &[String], log: PathBuf, pinned: bool) -> Result<Self> {
        let end = &rig.server;
        let others = end.pids();
        let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = end.exec();
        if pinned {
            command.args(["taskset", "-c", &end.cpu.to_string()]);
        }
        command
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Its own process group: the terminal's Ctrl-C goes to xtask alone,
            // which then stops the server through this guard.
            .process_group(0);
        cmd::note("bench", format!("$ {}", cmd::show(&command)));
        let child = command.spawn().with_context(|| format!("starting {}", argv[0]))?;
        Ok(Self {
            child,
            end,
            log,
            others,
        })
    }

    /// Pins every thread of the server's processes to the server CPU.
    fn pin_all(&self) {
        for pid in self.pids() {
            let _ = std::process::Command::new("taskset")
                .args(["-a", "-p", "-c", &self.end.cpu.to_string(), &pid.to_string()])
                .stdout(Stdio::null())
                .status();
        }
    }

    /// Fails, with the end of the server's log, if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }

    /// The process started (`ip netns exec` and `taskset` exec the server, so it is the server's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's processes: those in the namespace that were not there before it.
    pub fn pids(&self) -> BTreeSet<u32> {
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

    /// The last lines of the server's log, and where the log is.
    pub fn log_tail(&self) -> String {
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

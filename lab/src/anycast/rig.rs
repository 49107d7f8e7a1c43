//! The running lab: namespaces, daemons, the client's prober and the timeline, torn down on drop.
use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result, anyhow};

use super::{
    config,
    net::{ANYCAST_V4, ANYCAST_V6, Net, Pop, Speaker},
    probe::{Family, Prober},
    procs::Procs,
    sys::{in_netns, wait_until},
    timeline::{self, Timeline},
    xdp_pass::{self, PassProgram},
};
use crate::cmd::{self, note};

/// How long the lab may take to come up (BGP sessions, then `rise` checks).
const START_LIMIT: Duration = Duration::from_secs(60);

/// Everything the lab made. Fields drop in order: the prober stops, the
/// daemons are killed, the namespaces go, then the files.
pub struct Lab {
    prober: Option<Prober>,
    pub procs: Procs,
    /// The router's pass program, detached before the namespaces go.
    pass: Option<PassProgram>,
    pub net: Net,
    files: Files,
    pub timeline: Timeline,
    /// The dns-server binary under test.
    pub bin: PathBuf,
    /// Whether the servers attach XDP to their router-facing veth.
    pub xdp: bool,
}

/// The run's directory and bpffs pins; removed on drop (the directory unless kept).
struct Files {
    dir: PathBuf,
    keep: bool,
}

/// What the lab pins in bpffs: each server's maps.
const PINS: [&str; 2] = ["a", "b"];

impl Files {
    /// `/sys/fs/bpf/xtask-lab-PID-WHAT`.
    fn pin(&self, what: &str) -> PathBuf {
        PathBuf::from(format!("/sys/fs/bpf/xtask-lab-{}-{what}", std::process::id()))
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        for pin in PINS.map(|what| self.pin(what)) {
            let _ = fs::remove_dir_all(&pin);
            let _ = fs::remove_file(&pin);
        }
        if self.keep {
            note("lab", format!("logs and configs kept in {}", self.dir.display()));
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Lab {
    /// Builds the network and starts every daemon; returns once the client is answered by PoP A.
    pub fn start(bin: &Path, xdp: bool, keep_logs: bool) -> Result<Lab> {
        let dir = std::env::temp_dir().join(format!("xtask-lab-{}", std::process::id()));
        let files = Files {
            dir: dir.clone(),
            keep: keep_logs,
        };
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let net = Net::create()?;
        let timeline = Timeline::default();
        let mut lab = Lab {
            prober: None,
            procs: Procs::new(&dir, timeline.clone()),
            pass: None,
            net,
            files,
            timeline,
            bin: bin.to_owned(),
            xdp,
        };
        lab.start_daemons()?;
        let targets = [
            (Family::V4, SocketAddr::new(ANYCAST_V4.parse()?, 53)),
            (Family::V6, SocketAddr::new(ANYCAST_V6.parse()?, 53)),
        ];
        lab.prober = Some(Prober::start(&lab.net.client, &targets)?);
        note("lab", "waiting for BGP and the sidecars' rise checks");
        lab.wait_steady("pop-a", START_LIMIT)?;
        Ok(lab)
    }

    fn start_daemons(&mut self) -> Result<()> {
        let router = self.net.router.clone();
        if self.xdp {
            let ifaces: Vec<&str> = self.net.pops.iter().map(|pop| pop.router_veth.as_str()).collect();
            self.pass = Some(xdp_pass::attach(&self.bin, &router, &ifaces)?);
        }
        let conf = self.write("router-bird.conf", &config::router_bird(&self.net))?;
        let ctl = self.path("router-bird.ctl");
        let argv = ["bird", "-f", "-c", &conf, "-s", &ctl];
        self.procs.spawn("router-bird", &router, &argv, timeline::bird_state)?;
        self.procs.spawn(
            "route-monitor",
            &router,
            &["ip", "monitor", "route"],
            timeline::anycast_route,
        )?;
        self.start_primary()?;
        for index in 0..self.net.pops.len() {
            let pop = &self.net.pops[index];
            let (name, text) = (pop.name, config::sidecar(pop, &self.files.dir, self.xdp));
            self.write(&format!("{name}-sidecar.toml"), &text)?;
            self.start_speaker(name)?;
            self.start_dns(name)?;
            self.start_sidecar(name)?;
        }
        Ok(())
    }

    /// The PoP's BGP speaker. BIRD needs the sidecar's include file before it
    /// starts: `--withdraw-all` writes it withdrawn, as the systemd drop-in does.
    pub fn start_speaker(&mut self, name: &str) -> Result<()> {
        let pop = self.net.pop(name);
        let (ns, short) = (pop.ns.clone(), short(pop));
        match pop.speaker {
            Speaker::Bird => {
                let include = config::pop_file(&self.files.dir, pop, "anycast-state.conf");
                let text = config::pop_bird(pop, &include);
                let ctl = self.pop_path(name, "bird.ctl");
                let conf = self.write(&format!("{name}-bird.conf"), &text)?;
                self.withdraw_all(name)?;
                let argv = ["bird", "-f", "-c", &conf, "-s", &ctl];
                self.procs
                    .spawn(&format!("bird-{short}"), &ns, &argv, timeline::nothing)
            }
            Speaker::Gobgp => {
                let conf = self.write(&format!("{name}-gobgpd.toml"), &config::gobgpd(pop))?;
                let argv = [
                    "gobgpd",
                    "-f",
                    &conf,
                    "-p",
                    "--pprof-disable",
                    "--api-hosts",
                    "127.0.0.1:50051",
                ];
                self.procs
                    .spawn(&format!("gobgpd-{short}"), &ns, &argv, timeline::nothing)
            }
        }
    }

    /// Knot as the hidden primary of the fleet zone, in its own namespace.
    fn start_primary(&mut self) -> Result<()> {
        let dir = self.files.dir.join("primary");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let zone = self.write("primary/fleet.zone", &config::fleet_zone())?;
        let conf = self.write(
            "primary/knot.conf",
            &config::knot_primary(&self.net, &dir, Path::new(&zone)),
        )?;
        let ns = self.net.primary.clone();
        self.procs
            .spawn("knot-primary", &ns, &["knotd", "-c", &conf], timeline::nothing)
    }

    /// Runs `knotc ARGS` against the hidden primary (its control socket is a file).
    pub fn knotc(&self, args: &[&str]) -> Result<String> {
        let conf = self.path("primary/knot.conf");
        cmd::stdout(std::process::Command::new("knotc").args(["-c", &conf]).args(args))
    }

    pub fn start_dns(&mut self, name: &str) -> Result<()> {
        let pop = self.net.pop(name);
        let pin = self.xdp.then(|| self.files.pin(short(pop)));
        let zone = self.write(&format!("{name}.zone"), &config::zone(pop))?;
        let data_dir = config::pop_file(&self.files.dir, pop, "data");
        fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let control = config::pop_file(&self.files.dir, pop, "control.sock");
        let text = config::server(pop, Path::new(&zone), &data_dir, &control, pin.as_deref());
        let (ns, short) = (pop.ns.clone(), short(pop));
        let conf = self.write(&format!("{name}-server.toml"), &text)?;
        // In the run's directory: not the host's /run/dns-server/zones.json.
        let state = self.pop_path(name, "zones.json");
        let bin = self.bin_str();
        self.procs.spawn(
            &format!("dns-{short}"),
            &ns,
            &[&bin, "serve", "--config", &conf, "--state-file", &state],
            timeline::nothing,
        )
    }

    pub fn start_sidecar(&mut self, name: &str) -> Result<()> {
        let pop = self.net.pop(name);
        let (ns, short) = (pop.ns.clone(), short(pop));
        let conf = self.pop_path(name, "sidecar.toml");
        let bin = self.bin_str();
        let argv = [bin.as_str(), "sidecar", "--config", &conf];
        self.procs
            .spawn(&format!("sidecar-{short}"), &ns, &argv, timeline::sidecar_state)
    }

    /// The sidecar's one-shot `--withdraw-all`, as systemd's ExecStopPost= runs it.
    pub fn withdraw_all(&self, name: &str) -> Result<()> {
        let pop = self.net.pop(name);
        let conf = self.pop_path(name, "sidecar.toml");
        cmd::stdout(in_netns(&pop.ns, &self.bin_str()).args(["sidecar", "--config", &conf, "--withdraw-all"]))?;
        Ok(())
    }

    /// The operator's maintenance switch: `drain`, `withdraw`, or `None` to end maintenance.
    pub fn maintenance(&self, name: &str, mode: Option<&str>) -> Result<()> {
        let file = self.pop_path(name, "maintenance");
        match mode {
            Some(mode) => fs::write(&file, format!("{mode}\n"))?,
            None => fs::remove_file(&file)?,
        }
        Ok(())
    }

    pub fn prober(&self) -> &Prober {
        self.prober.as_ref().expect("the prober runs once the lab has started")
    }

    /// The router's BIRD knows a route from every PoP it should (`pops`).
    fn router_knows(&self, pops: &[&Pop]) -> bool {
        let ctl = self.path("router-bird.ctl");
        let show = |prefix: &str| {
            cmd::stdout(std::process::Command::new("birdc").args(["-s", &ctl, "show", "route", prefix]))
                .unwrap_or_default()
        };
        let (v4, v6) = (show(&format!("{ANYCAST_V4}/32")), show(&format!("{ANYCAST_V6}/128")));
        pops.iter()
            .all(|pop| v4.contains(&format!("via {} ", pop.v4)) && v6.contains(&format!("via {} ", pop.v6)))
    }

    /// Waits until the router routes both prefixes to `name`, knows the other
    /// PoP's routes too (so a fault has somewhere to go), and the client's last
    /// probes on both families were answered by `name`.
    pub fn wait_steady(&self, name: &str, limit: Duration) -> Result<()> {
        let pops: Vec<&Pop> = self.net.pops.iter().collect();
        let what = format!("{name} to serve the client, with every PoP's route known to the router");
        wait_until(&what, limit, || {
            self.net.routed_to() == Some(name)
                && self.router_knows(&pops)
                && self.prober().answered_by(Family::V4, name, 3)
                && self.prober().answered_by(Family::V6, name, 3)
        })
        .map_err(|err| anyhow!("{err:#}\n{}", self.diagnosis()))
    }

    /// What the router and the sidecars say, for an error message.
    pub fn diagnosis(&self) -> String {
        let mut out = format!("router kernel routes:\n{}", self.net.router_routes());
        for name in ["sidecar-a", "sidecar-b", "router-bird", "knot-primary"] {
            out.push_str(&format!(
                "\n--- last lines of {name}.log ---\n{}",
                self.procs.tail(name)
            ));
        }
        out
    }

    fn path(&self, name: &str) -> String {
        self.files.dir.join(name).display().to_string()
    }

    fn pop_path(&self, name: &str, file: &str) -> String {
        config::pop_file(&self.files.dir, self.net.pop(name), file)
            .display()
            .to_string()
    }

    fn write(&self, name: &str, text: &str) -> Result<String> {
        let path = self.path(name);
        fs::write(&path, text).with_context(|| format!("writing {path}"))?;
        Ok(path)
    }

    /// One of a PoP's server's counters, as `dns-server ctl stats` prints it (e.g. `xdp.hit`).
    pub fn server_stat(&self, name: &str, key: &str) -> Result<u64> {
        let socket = self.pop_path(name, "control.sock");
        let out = cmd::stdout(std::process::Command::new(&self.bin).args(["ctl", "--socket", &socket, "stats"]))?;
        out.lines()
            .find_map(|line| {
                let (k, v) = line.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok())?
            })
            .ok_or_else(|| anyhow!("no {key} in {name}'s `ctl stats`:\n{out}"))
    }

    fn bin_str(&self) -> String {
        self.bin.display().to_string()
    }
}

/// `a` for `pop-a`: the suffix of the PoP's process names.
pub fn short(pop: &Pop) -> &'static str {
    pop.name.trim_start_matches("pop-")
}

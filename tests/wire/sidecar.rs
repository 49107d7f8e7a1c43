//! The anycast sidecar against real BIRD and GoBGP: a PoP namespace (server, sidecar, speaker)
//! peers with a router namespace running BIRD, whose kernel table shows what is announced.
//!
//! Every wait polls with a generous bound; nothing depends on how fast a step is.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use test_support::netns::{self, Netns};

use crate::harness::TempDir;

/// How long any one expected change may take before the test fails.
const WAIT: Duration = Duration::from_secs(60);
/// The anycast service addresses on the PoP's loopback.
const ANYCAST_V4: &str = "203.0.113.53";
const ANYCAST_V6: &str = "2001:db8::53";
/// PoP and router ends of the link between them.
const POP_V4: &str = "198.18.0.1";
const ROUTER_V4: &str = "198.18.0.2";
const POP_V6: &str = "fd00:53::1";
const ROUTER_V6: &str = "fd00:53::2";
const POP_AS: u32 = 65001;
const ROUTER_AS: u32 = 65000;

/// Runs a command to completion; panics when it cannot start.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("expected to run {program} {args:?}: {e}"))
}

/// Runs a command and panics with its output unless it succeeds.
fn must(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "expected `{program} {}` to succeed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `done` every 50 ms until it holds; panics after [`WAIT`] with `what` and `context()`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool, context: impl Fn() -> String) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > WAIT {
            panic!("expected {what} within {WAIT:?}\n{}", context());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Two namespaces joined by a veth pair, the processes started in them, and a temp dir;
/// all removed on drop, also when the test panics.
struct Lab {
    router: String,
    pop: String,
    dir: TempDir,
    children: Vec<(String, Child)>,
    /// Dropped after the children are killed (fields drop after `Drop::drop`).
    _namespaces: [Netns; 2],
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let id = netns::unique_tag("sc");
        let (router, pop) = (format!("sc-r-{tag}-{id}"), format!("sc-p-{tag}-{id}"));
        let router_ns = Netns::create(&router).expect("expected to create the router namespace");
        let pop_ns = Netns::create(&pop).expect("expected to create the PoP namespace");
        // Interface names are limited to 15 bytes.
        let (veth_r, veth_p) = (format!("{id}r"), format!("{id}p"));
        netns::veth((&router_ns, &veth_r), (&pop_ns, &veth_p)).expect("expected a veth pair");
        for (ns, dev, v4, v6) in [
            (&router_ns, &veth_r, ROUTER_V4, ROUTER_V6),
            (&pop_ns, &veth_p, POP_V4, POP_V6),
        ] {
            ns.address(dev, &format!("{v4}/30")).expect("expected an IPv4 address");
            ns.address(dev, &format!("{v6}/64")).expect("expected an IPv6 address");
            ns.up(dev).expect("expected the link up");
        }
        pop_ns
            .address("lo", &format!("{ANYCAST_V4}/32"))
            .expect("expected the anycast IPv4 address");
        pop_ns
            .address("lo", &format!("{ANYCAST_V6}/128"))
            .expect("expected the anycast IPv6 address");
        Lab {
            router,
            pop,
            dir: TempDir::new(&format!("sidecar-{tag}")),
            children: Vec::new(),
            _namespaces: [router_ns, pop_ns],
        }
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Output {
        let mut all = vec!["netns", "exec", ns];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    fn exec_ok(&self, ns: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", ns];
        all.extend_from_slice(args);
        must("ip", &all)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `args` in `ns` with its output in `<name>.log`; the lab kills it on drop.
    fn spawn(&mut self, name: &str, ns: &str, args: &[&str]) {
        let log = fs::File::create(self.path(&format!("{name}.log"))).expect("expected to create a log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            // Plain logs, so the test can search them.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("expected to clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("expected to start {name} ({args:?}): {e}"));
        self.children.push((name.to_string(), child));
    }

    /// Sends `signal` to the process started as `name` and reaps it.
    fn stop(&mut self, name: &str, signal: i32) {
        let index = self
            .children
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("expected a running process named {name}"));
        let (_, mut child) = self.children.remove(index);
        // SAFETY: kill(2) on the pid of our own, not yet reaped, child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let _ = child.wait();
    }

    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
    }

    /// Every log, for a failure message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["router-bird", "dns", "sidecar", "speaker"] {
            out.push_str(&format!("--- {name}.log ---\n{}\n", self.log(name)));
        }
        out.push_str(&format!(
            "--- sidecar.json ---\n{}\n",
            fs::read_to_string(self.path("sidecar.json")).unwrap_or_default()
        ));
        out.push_str(&format!("--- router routes ---\n{}", self.router_routes()));
        out
    }

    /// Starts the router's BIRD: peers with the PoP over IPv4 and IPv6, installs what it learns.
    fn start_router(&mut self) {
        let conf = format!(
            r#"router id {ROUTER_V4};
protocol device {{ }}
protocol kernel {{ ipv4 {{ import none; export all; }}; }}
protocol kernel {{ ipv6 {{ import none; export all; }}; }}
protocol bgp pop4 {{ local {ROUTER_V4} as {ROUTER_AS}; neighbor {POP_V4} as {POP_AS}; hold time 9; connect retry time 1; error wait time 1, 2;
  ipv4 {{ import all; export none; }}; }}
protocol bgp pop6 {{ local {ROUTER_V6} as {ROUTER_AS}; neighbor {POP_V6} as {POP_AS}; hold time 9; connect retry time 1; error wait time 1, 2;
  ipv6 {{ import all; export none; }}; }}
"#
        );
        let file = self.path("router-bird.conf");
        fs::write(&file, conf).expect("expected to write the router's BIRD config");
        let socket = self.path("router-bird.ctl");
        let router = self.router.clone();
        self.spawn(
            "router-bird",
            &router,
            &["bird", "-f", "-c", path_str(&file), "-s", path_str(&socket)],
        );
    }

    /// `birdc show route all PREFIX` on the router.
    fn router_show_route(&self, prefix: &str) -> String {
        let socket = self.path("router-bird.ctl");
        let out = run("birdc", &["-s", path_str(&socket), "show", "route", "all", prefix]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The router kernel's routes to both anycast addresses.
    fn router_routes(&self) -> String {
        let v4 = self.exec(
            &self.router,
            &["ip", "-4", "route", "show", &format!("{ANYCAST_V4}/32")],
        );
        let v6 = self.exec(
            &self.router,
            &["ip", "-6", "route", "show", &format!("{ANYCAST_V6}/128")],
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&v4.stdout),
            String::from_utf8_lossy(&v6.stdout)
        )
    }

    /// True when the router's kernel routes both anycast addresses to the PoP.
    fn routed(&self) -> bool {
        let routes = self.router_routes();
        routes.contains(&format!("via {POP_V4}")) && routes.contains(&format!("via {POP_V6}"))
    }

    /// True when neither anycast address is routed at the router.
    fn unrouted(&self) -> bool {
        self.router_routes().trim().is_empty()
    }

    fn wait_routed(&self, why: &str) {
        wait_for(
            &format!("the router to route {ANYCAST_V4} and {ANYCAST_V6} to the PoP {why}"),
            || self.routed(),
            || self.logs(),
        );
    }

    fn wait_unrouted(&self, why: &str) {
        wait_for(
            &format!("the router to lose both anycast routes {why}"),
            || self.unrouted(),
            || self.logs(),
        );
    }

    /// Starts our DNS server on the anycast addresses in the PoP.
    fn start_dns(&mut self) {
        let pop = self.pop.clone();
        let (v4, v6) = (format!("{ANYCAST_V4}:53"), format!("[{ANYCAST_V6}]:53"));
        let state = self.path("zones.json");
        let server = env!("CARGO_BIN_EXE_dns-server");
        self.spawn(
            "dns",
            &pop,
            &[
                server,
                "serve",
                "--listen",
                &v4,
                "--listen",
                &v6,
                "--identity",
                "pop-under-test",
                "--state-file",
                path_str(&state),
            ],
        );
    }

    /// Writes the sidecar's file for `speaker`, whose own table is `speaker_table`.
    fn write_sidecar_config(&self, speaker: &str, speaker_table: &str) -> PathBuf {
        let text = format!(
            r#"[sidecar]
speaker = "{speaker}"
prefixes = ["{ANYCAST_V4}/32", "{ANYCAST_V6}/128"]
state_file = "{state}"
maintenance_file = "{maintenance}"
stop_drain_seconds = 1
reconcile_seconds = 1

[sidecar.drain]
communities = ["65535:0"]
large_communities = ["{POP_AS}:1:0"]
med = 1000
prepend = 2

[[sidecar.check]]
name = "dns"
kind = "dns"
qname = "www.example.com."
qtype = "A"
expect = "192.0.2.10"
interval_ms = 100
timeout_ms = 500
rise = 2
fall = 2

{speaker_table}
"#,
            state = path_str(&self.path("sidecar.json")),
            maintenance = path_str(&self.path("maintenance")),
        );
        let file = self.path("sidecar.toml");
        fs::write(&file, text).expect("expected to write the sidecar config");
        file
    }

    fn start_sidecar(&mut self, config: &Path) {
        let pop = self.pop.clone();
        let server = env!("CARGO_BIN_EXE_dns-server");
        self.spawn("sidecar", &pop, &[server, "sidecar", "--config", path_str(config)]);
    }

    /// The `state` field of the sidecar's state file.
    fn sidecar_state(&self) -> String {
        let text = fs::read_to_string(self.path("sidecar.json")).unwrap_or_default();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("\"state\": \""))
            .map(|s| s.trim_end_matches(['"', ',']).to_string())
            .unwrap_or_default()
    }

    /// `dig` from the router to the anycast address: which PoP answers `id.server`.
    fn who_answers(&self, addr: &str) -> String {
        let out = self.exec(
            &self.router,
            &[
                "dig",
                &format!("@{addr}"),
                "id.server",
                "CH",
                "TXT",
                "+short",
                "+time=1",
                "+tries=1",
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_matches('"')
            .to_string()
    }

    /// The drain attributes (RFC 8326 community, MED 1000, large community) seen at the router.
    fn drained_at_router(&self) -> bool {
        let show = self.router_show_route(&format!("{ANYCAST_V4}/32"));
        // Our AS three times: two prepends and the one every eBGP speaker adds.
        let as_path = format!("BGP.as_path: {POP_AS} {POP_AS} {POP_AS}\n");
        show.contains("(65535,0)")
            && show.contains("BGP.med: 1000")
            && show.contains(&format!("({POP_AS}, 1, 0)"))
            && show.contains(&as_path)
    }

    /// Exercises what every speaker must do, once the PoP speaker is up; returns with the route announced.
    fn exercise_health_and_maintenance(&mut self) {
        self.wait_routed("after the DNS check rose");
        wait_for(
            "the sidecar's state file to say up",
            || self.sidecar_state() == "up",
            || self.logs(),
        );
        for addr in [ANYCAST_V4, ANYCAST_V6] {
            let who = self.who_answers(addr);
            assert_eq!(
                who,
                "pop-under-test",
                "expected the PoP to answer id.server at {addr}\n{}",
                self.logs()
            );
        }

        self.stop("dns", libc::SIGKILL);
        self.wait_unrouted("after the DNS server was killed");
        assert_eq!(
            self.sidecar_state(),
            "down",
            "expected state down after the kill\n{}",
            self.logs()
        );
        self.start_dns();
        self.wait_routed("after the DNS server restarted");

        let maintenance = self.path("maintenance");
        fs::write(&maintenance, "drain\n").expect("expected to write the maintenance file");
        wait_for(
            "the drain attributes at the router",
            || self.drained_at_router(),
            || self.logs(),
        );
        assert!(
            self.routed(),
            "expected the route to stay while drained\n{}",
            self.logs()
        );
        fs::write(&maintenance, "withdraw\n").expect("expected to write the maintenance file");
        self.wait_unrouted("in maintenance withdraw");
        fs::remove_file(&maintenance).expect("expected to remove the maintenance file");
        self.wait_routed("after maintenance ended");
        wait_for(
            "the drain attributes to be gone",
            || !self.drained_at_router(),
            || self.logs(),
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The namespaces go with `_namespaces`, after this.
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("expected a UTF-8 temp path")
}

#[test]
fn bird_speaker_announces_withdraws_and_drains() {
    test_support::require_root!("running BGP speakers in network namespaces");
    let mut lab = Lab::new("bird");
    let include = lab.path("anycast-state.conf");
    let socket = lab.path("pop-bird.ctl");
    let table = format!(
        "[sidecar.bird]\nsocket = \"{}\"\ninclude_file = \"{}\"\nlocal_as = {POP_AS}\n",
        path_str(&socket),
        path_str(&include)
    );
    let config = lab.write_sidecar_config("bird", &table);

    // With BIRD not yet running, --withdraw-all writes the include BIRD needs to start (state 0).
    let server = env!("CARGO_BIN_EXE_dns-server");
    let out = lab.exec(
        &lab.pop.clone(),
        &[server, "sidecar", "--config", path_str(&config), "--withdraw-all"],
    );
    assert!(
        out.status.success(),
        "expected --withdraw-all to succeed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = fs::read_to_string(&include).unwrap_or_default();
    assert!(
        written.contains("define ANYCAST_STATE = 0;"),
        "expected a withdrawn include, got:\n{written}"
    );

    let pop_conf = format!(
        r#"router id {POP_V4};
include "{include}";
protocol device {{ }}
filter anycast_export {{
  if proto !~ "anycast*" then reject;
  if ANYCAST_STATE = 0 then reject;
  anycast_attributes();
  accept;
}}
protocol bgp rtr4 {{ local {POP_V4} as {POP_AS}; neighbor {ROUTER_V4} as {ROUTER_AS}; hold time 9; connect retry time 1;
  ipv4 {{ import none; export filter anycast_export; }}; }}
protocol bgp rtr6 {{ local {POP_V6} as {POP_AS}; neighbor {ROUTER_V6} as {ROUTER_AS}; hold time 9; connect retry time 1;
  ipv6 {{ import none; export filter anycast_export; }}; }}
"#,
        include = path_str(&include)
    );
    let pop_file = lab.path("pop-bird.conf");
    fs::write(&pop_file, pop_conf).expect("expected to write the PoP's BIRD config");
    lab.start_router();
    let pop = lab.pop.clone();
    lab.spawn(
        "speaker",
        &pop,
        &["bird", "-f", "-c", path_str(&pop_file), "-s", path_str(&socket)],
    );
    lab.start_dns();
    lab.start_sidecar(&config);

    lab.exercise_health_and_maintenance();

    // A clean stop drains, waits, withdraws.
    lab.stop("sidecar", libc::SIGTERM);
    lab.wait_unrouted("after the sidecar stopped");
    let log = lab.log("sidecar");
    assert!(
        log.contains("to=drain reason=stopping: draining before withdrawal") && log.contains("to=down reason=stopped"),
        "expected the stop to drain and then withdraw, log:\n{log}"
    );
    assert_eq!(
        lab.sidecar_state(),
        "down",
        "expected the state file to say down after the stop"
    );
}

#[test]
fn gobgp_speaker_announces_reconciles_and_withdraws_all() {
    test_support::require_root!("running BGP speakers in network namespaces");
    let mut lab = Lab::new("gobgp");
    let api = "127.0.0.1:50051";
    let gobgp_conf = format!(
        r#"[global.config]
  as = {POP_AS}
  router-id = "{POP_V4}"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{ROUTER_V4}"
    peer-as = {ROUTER_AS}
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{ROUTER_V6}"
    peer-as = {ROUTER_AS}
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#
    );
    let gobgp_file = lab.path("gobgpd.toml");
    fs::write(&gobgp_file, gobgp_conf).expect("expected to write the gobgpd config");
    let config = lab.write_sidecar_config("gobgp", &format!("[sidecar.gobgp]\nendpoint = \"http://{api}\"\n"));

    lab.start_router();
    let pop = lab.pop.clone();
    let gobgpd = [
        "gobgpd",
        "-f",
        path_str(&gobgp_file),
        "-p",
        "--pprof-disable",
        "--api-hosts",
        api,
    ];
    lab.spawn("speaker", &pop, &gobgpd);
    lab.start_dns();
    lab.start_sidecar(&config);

    lab.exercise_health_and_maintenance();

    // gobgpd forgets API paths when it restarts: the sidecar's reconcile must put them back.
    let repairs = |lab: &Lab| lab.log("sidecar").matches("re-applying").count();
    assert_eq!(
        repairs(&lab),
        0,
        "expected reconcile to find gobgpd in sync so far\n{}",
        lab.logs()
    );
    lab.stop("speaker", libc::SIGKILL);
    lab.wait_unrouted("after gobgpd was killed (the router's session drops)");
    let gobgpd = [
        "gobgpd",
        "-f",
        path_str(&gobgp_file),
        "-p",
        "--pprof-disable",
        "--api-hosts",
        api,
    ];
    lab.spawn("speaker", &pop, &gobgpd);
    lab.wait_routed("after gobgpd restarted and the sidecar reconciled");
    assert!(
        repairs(&lab) > 0,
        "expected the sidecar to have re-added the lost paths\n{}",
        lab.logs()
    );

    // A dead sidecar leaves GoBGP's paths in place; --withdraw-all (systemd's ExecStopPost=) removes them.
    lab.stop("sidecar", libc::SIGKILL);
    assert!(
        lab.routed(),
        "expected the route to outlive a killed sidecar\n{}",
        lab.logs()
    );
    let server = env!("CARGO_BIN_EXE_dns-server");
    let out = lab.exec(
        &pop,
        &[server, "sidecar", "--config", path_str(&config), "--withdraw-all"],
    );
    assert!(
        out.status.success(),
        "expected --withdraw-all to succeed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.wait_unrouted("after --withdraw-all");
    let rib = lab.exec_ok(&pop, &["gobgp", "-p", "50051", "global", "rib", "-a", "ipv4"]);
    assert!(
        !rib.contains(ANYCAST_V4),
        "expected gobgpd's RIB to be empty of {ANYCAST_V4}, got:\n{rib}"
    );
}

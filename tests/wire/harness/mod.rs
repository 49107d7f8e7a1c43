//! Starts and stops the servers under test (dns-server, knotd, nsd) and runs `dig` against them.

mod catalog_primary;
mod compare;
mod dig;
pub mod metrics;
mod primary;
mod reference;
mod sidecar;
mod signer;
mod xfr;

pub use catalog_primary::KnotCatalog;
pub use compare::{compare_set, indent};
pub use dig::{Record, Response, try_dig};
pub use primary::{BindPrimary, HiddenPrimary, KnotPrimary, TsigKey, soa_serial};
pub use reference::{Knot, Nsd};
pub use sidecar::{dry_run_sidecar, dry_run_sidecar_checking};
pub use signer::{Denial, Signed, Signer, sign_with_ldns_args, sign_zone};
pub use xfr::{Transfer, dig_axfr, kdig_ixfr};

use dig::dig_or_panic;

use std::{
    collections::HashSet,
    fs,
    net::{TcpListener, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

/// Identity (`id.server`, `hostname.bind`, NSID) of the reference servers, and of ours
/// when it is compared with them.
pub const REF_IDENTITY: &str = "ref-pop";
/// `version.bind` of the reference servers, and of ours when it is compared with them.
pub const REF_VERSION: &str = "ref-version";

/// How long a server may take to answer its first query before the test gives up. A hang
/// detector, not a speed bound: a debug build loads a 100,000-record zone in about 5 s on a
/// busy 2-core machine, and one start took over 10 s at load average 10.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The test zones shipped beside this binary.
pub fn zone_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/zones").join(file)
}

/// The differential zone and its child, as `(origin, file)` pairs.
pub fn diff_zones() -> Vec<(String, PathBuf)> {
    vec![
        ("diff.example.".to_string(), zone_path("diff.example.zone")),
        ("deep.diff.example.".to_string(), zone_path("deep.diff.example.zone")),
    ]
}

/// A directory under the system temp dir, unique to this process and call, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `dns-server-wire-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("dns-server-wire-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("expected to create {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("expected to write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A port free for UDP and TCP on 127.0.0.1 and ::1, never handed out twice by this process.
///
/// Taken below the kernel's ephemeral range: dig sets SO_REUSEPORT and binds
/// port 0, and as the same user (root) it may be given a port our server holds
/// with SO_REUSEPORT. Had that port been the server's, dig's query would go
/// back to dig's own connected socket and come back as its "answer".
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let (low, high) = (10_000u32, ephemeral_low().clamp(10_500, 32_768));
    let span = high - low;
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let port = (low + (start + NEXT.fetch_add(1, Ordering::Relaxed) as u32) % span) as u16;
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("::1", port)).is_ok()
            && TcpListener::bind(("::1", port)).is_ok();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if free && given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("expected a port free for UDP and TCP on 127.0.0.1 and ::1 in {low}..{high}");
}

/// The first port of the kernel's ephemeral range (32768 when unreadable).
fn ephemeral_low() -> u32 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// Kills a child process and reaps it.
pub(crate) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// How many fresh ports to try when another process takes ours between probing and binding.
const PORT_ATTEMPTS: usize = 3;

/// Spawns `command(port)` on a free port, its stderr to `log`, and polls `ready(port)` until it
/// holds. Tries another port when the process exits complaining the address is in use; panics,
/// with the log, when it exits otherwise or is not ready after [`STARTUP_TIMEOUT`].
pub(crate) fn spawn_on_free_port(
    what: &str,
    log: &Path,
    command: impl Fn(u16) -> Command,
    ready: impl Fn(u16) -> bool,
) -> (Child, u16) {
    spawn_on_port(what, log, free_port, command, ready)
}

/// [`spawn_on_free_port`] on the ports `next_port` gives (the same one
/// each time for a server whose port a peer was told of beforehand).
pub(crate) fn spawn_on_port(
    what: &str,
    log: &Path,
    mut next_port: impl FnMut() -> u16,
    command: impl Fn(u16) -> Command,
    ready: impl Fn(u16) -> bool,
) -> (Child, u16) {
    let read_log = || fs::read_to_string(log).unwrap_or_default();
    for attempt in 1..=PORT_ATTEMPTS {
        let port = next_port();
        let stderr = fs::File::create(log).unwrap_or_else(|e| panic!("expected to create {}: {e}", log.display()));
        let mut child = command(port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("expected to spawn {what} (is it installed?): {e}"));
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = read_log();
                let lost_race = text.contains("in use") || text.contains("os error 98");
                if lost_race && attempt < PORT_ATTEMPTS {
                    break;
                }
                panic!(
                    "expected {what} to keep running on port {port}, but it exited with {status}; its output:\n{text}"
                );
            }
            if ready(port) {
                return (child, port);
            }
            if start.elapsed() > STARTUP_TIMEOUT {
                kill(&mut child);
                panic!(
                    "expected {what} to answer queries on port {port} within {STARTUP_TIMEOUT:?}; its output:\n{}",
                    read_log()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
    unreachable!("the last attempt returns or panics")
}

/// True when a query over UDP and one over TCP both get a response that `good` accepts.
pub(crate) fn answers(addr: &str, port: u16, question: &[&str], good: impl Fn(&Response) -> bool) -> bool {
    [&["+notcp"][..], &["+tcp"][..]].iter().all(|transport| {
        let mut args = question.to_vec();
        args.extend_from_slice(transport);
        try_dig(addr, port, &args).is_some_and(|r| good(&r))
    })
}

/// True for an authoritative SOA answer: the zone has been loaded.
pub(crate) fn zone_loaded(r: &Response) -> bool {
    r.rcode == "NOERROR" && r.flag("aa") && !r.answer.is_empty()
}

/// Options for starting a [`Server`].
pub struct ServerBuilder {
    zones: Vec<(String, PathBuf)>,
    identity: String,
    config: Option<String>,
    /// Pass `--state-file` inside the server's temp dir (the default), so
    /// that no test writes the host's `/run/dns-server/zones.json`.
    own_state_file: bool,
    /// More `serve` arguments.
    args: Vec<String>,
    /// The port to serve on, when a peer must know it first (a primary's NOTIFY target).
    port: Option<u16>,
    /// Serve metrics (`--metrics 127.0.0.1:PORT`, a free port).
    metrics: bool,
    /// Open a control socket (`--control` in the server's temp dir).
    control: bool,
    /// Environment variables for the server.
    env: Vec<(String, String)>,
}

impl ServerBuilder {
    /// Passes `arg` to `serve` too (after the zones, identity and config).
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Serves `origin` from `file`.
    pub fn zone(mut self, origin: &str, file: &Path) -> Self {
        self.zones.push((origin.to_string(), file.to_path_buf()));
        self
    }

    /// Serves every `(origin, file)` pair.
    pub fn zones(mut self, zones: &[(String, PathBuf)]) -> Self {
        self.zones.extend_from_slice(zones);
        self
    }

    /// The `--identity` (default `test-pop`).
    pub fn identity(mut self, identity: &str) -> Self {
        self.identity = identity.to_string();
        self
    }

    /// Writes `text` to a config file and passes `--config`.
    pub fn config(mut self, text: &str) -> Self {
        self.config = Some(text.to_string());
        self
    }

    /// Adds `serve` arguments (`--secondary`, `--tsig`, `--data-dir`, ...).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Serves on `port` (from [`free_port`]) instead of a port of its own choosing.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Leaves `--state-file` out: the config given to [`ServerBuilder::config`]
    /// sets `state_file` itself, on purpose, inside the test's own directory.
    pub fn state_file_from_config(mut self) -> Self {
        self.own_state_file = false;
        self
    }

    /// Serves metrics on a free loopback port ([`Server::metrics_addr`]).
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Opens a control socket in the server's temp dir ([`Server::ctl`]).
    pub fn control(mut self) -> Self {
        self.control = true;
        self
    }

    /// Sets an environment variable for the server.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Spawns the server and waits until it answers over UDP and TCP on every address.
    pub fn start(self) -> Server {
        let dir = TempDir::new("server");
        let log = dir.path().join("stderr.log");
        let config = self.config.as_ref().map(|text| dir.write("dns-server.toml", text));
        let state_file = self.own_state_file.then(|| dir.path().join("zones.json"));
        // Transferred zones and IXFR histories in the server's temp dir, so
        // that no test writes the host's /var/lib/dns-server (nor reads
        // another test's), unless the test chose a directory itself.
        let chose_data_dir =
            self.args.iter().any(|a| a == "--data-dir") || self.config.as_ref().is_some_and(|c| c.contains("data_dir"));
        let data_dir = (!chose_data_dir).then(|| dir.path().join("data"));
        let metrics_addr = self
            .metrics
            .then(|| std::net::SocketAddr::from(([127, 0, 0, 1], free_port())));
        let control_socket = self.control.then(|| dir.path().join("control.sock"));
        let args = |port: &str| {
            let mut args = vec![
                "serve".to_string(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--listen".into(),
                format!("[::1]:{port}"),
            ];
            for (origin, file) in &self.zones {
                args.extend(["--zone".into(), format!("{origin}={}", file.display())]);
            }
            args.extend(["--identity".into(), self.identity.clone()]);
            if let Some(path) = &config {
                args.extend(["--config".into(), path.display().to_string()]);
            }
            if let Some(path) = &state_file {
                args.extend(["--state-file".into(), path.display().to_string()]);
            }
            if let Some(addr) = metrics_addr {
                args.extend(["--metrics".into(), addr.to_string()]);
            }
            if let Some(path) = &control_socket {
                args.extend(["--control".into(), path.display().to_string()]);
            }
            if let Some(path) = &data_dir {
                args.extend(["--data-dir".into(), path.display().to_string()]);
            }
            args.extend(self.args.iter().cloned());
            args
        };
        let what = format!("dns-server {}", args("PORT").join(" "));
        let fixed = self.port;
        let (child, port) = spawn_on_port(
            &what,
            &log,
            || fixed.unwrap_or_else(free_port),
            |port| {
                let mut command = Command::new(env!("CARGO_BIN_EXE_dns-server"));
                // Plain log lines in failure messages.
                command.args(args(&port.to_string())).env("NO_COLOR", "1");
                command.envs(self.env.iter().map(|(k, v)| (k, v)));
                command
            },
            // Any response will do: whether it is the right one is for the tests to say.
            |port| {
                answers("127.0.0.1", port, &["id.server", "CH", "TXT"], |_| true)
                    && answers("::1", port, &["id.server", "CH", "TXT"], |_| true)
            },
        );
        Server {
            child,
            port,
            log,
            state_file,
            metrics_addr,
            control_socket,
            dir,
        }
    }
}

/// A running `dns-server serve`, killed on drop.
pub struct Server {
    child: Child,
    /// The port it serves UDP and TCP on, on 127.0.0.1 and ::1.
    pub port: u16,
    log: PathBuf,
    state_file: Option<PathBuf>,
    metrics_addr: Option<std::net::SocketAddr>,
    control_socket: Option<PathBuf>,
    dir: TempDir,
}

impl Server {
    /// Options for a server; call [`ServerBuilder::start`].
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            zones: Vec::new(),
            identity: "test-pop".into(),
            config: None,
            own_state_file: true,
            args: Vec::new(),
            port: None,
            metrics: false,
            control: false,
            env: Vec::new(),
        }
    }

    /// Where it serves metrics ([`ServerBuilder::metrics`]).
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.metrics_addr.expect("the server was started with .metrics()")
    }

    /// Its control socket ([`ServerBuilder::control`]).
    pub fn control_socket(&self) -> &Path {
        self.control_socket
            .as_deref()
            .expect("the server was started with .control()")
    }

    /// Runs `dns-server ctl --socket ITS_SOCKET ARGS`.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_dns-server"))
            .arg("ctl")
            .arg("--socket")
            .arg(self.control_socket())
            .args(args)
            .output()
            .expect("expected to run dns-server ctl")
    }

    /// Runs `dns-server ctl ARGS` and returns its output, panicking (with the server's log) unless it succeeds.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "expected `dns-server ctl {}` to succeed; stderr: {}; server log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            self.stderr()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A server for `diff.example.` and `deep.diff.example.`.
    pub fn diff() -> Server {
        Server::builder().zones(&diff_zones()).start()
    }

    /// A server for the differential zones with the reference servers' identity and version.
    pub fn like_reference() -> Server {
        Server::builder()
            .zones(&diff_zones())
            .identity(REF_IDENTITY)
            .config(&format!("[server]\nversion = \"{REF_VERSION}\"\n"))
            .start()
    }

    /// Queries it on 127.0.0.1 with `dig`.
    pub fn dig(&self, args: &[&str]) -> Response {
        dig_or_panic("dns-server", "127.0.0.1", self.port, args, || self.stderr())
    }

    /// Queries it on ::1 with `dig`.
    pub fn dig6(&self, args: &[&str]) -> Response {
        dig_or_panic("dns-server", "::1", self.port, args, || self.stderr())
    }

    /// The `--state-file` it was given (in its temp dir), unless
    /// [`ServerBuilder::state_file_from_config`] left the flag out.
    pub fn state_file(&self) -> Option<&Path> {
        self.state_file.as_deref()
    }

    /// Its zones' state as `dns-server status` reads it (from its own state file).
    pub fn status(&self) -> dns_server::zone_state::Snapshot {
        let path = self.state_file().expect("expected the server's own --state-file");
        dns_server::zone_state::read(path).unwrap_or_else(|e| panic!("expected a state file: {e:#}"))
    }

    /// What it has written to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Replaces the text of the config file given to [`ServerBuilder::config`]
    /// (read again at the next [`Server::sighup`]).
    pub fn rewrite_config(&self, text: &str) {
        self.dir.write("dns-server.toml", text);
    }

    /// Sends SIGHUP (reload zones).
    pub fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("expected to run kill -HUP");
        assert!(status.success(), "expected kill -HUP {} to succeed", self.child.id());
    }

    /// Sends SIGTERM and waits (up to [`STARTUP_TIMEOUT`]) for a clean exit.
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("expected to run kill -TERM");
        assert!(status.success(), "expected kill -TERM {} to succeed", self.child.id());
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while self.is_running() {
            assert!(
                Instant::now() < deadline,
                "the server did not exit on SIGTERM:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

//! The sidecar's zone-freshness check against a real Knot primary on loopback and our server as its
//! secondary: fresh is up; behind while the primary answers is a local fault (withdrawn); the
//! primary stopped is a shared fault (drained, never withdrawn). Dry-run speaker, no BGP.

use std::{
    path::PathBuf,
    process::{Child, Command},
    thread,
    time::{Duration, Instant},
};

use crate::harness::{
    KnotPrimary, Server, TempDir, TsigKey, dry_run_sidecar_checking, free_port,
    metrics::{sample, scrape},
    soa_serial, try_dig,
};

const ORIGIN: &str = "fresh.test.";
/// How long any one expected change may take.
const WAIT: Duration = Duration::from_secs(20);

/// The sidecar, killed on drop.
struct Sidecar {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sidecar {
    fn state(&self) -> serde_json::Value {
        std::fs::read_to_string(self.dir.path().join("state.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn check(&self, name: &str) -> serde_json::Value {
        let state = self.state();
        let checks = state["checks"].as_array().cloned().unwrap_or_default();
        checks.into_iter().find(|c| c["name"] == name).unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sidecar.log")).unwrap_or_default()
    }

    /// Waits until the PoP's state is `state`; panics with the state file and the log.
    fn wait_state(&self, state: &str) {
        let start = Instant::now();
        while self.state()["state"] != state {
            assert!(
                start.elapsed() < WAIT,
                "expected the sidecar to reach {state:?} within {WAIT:?}; state file: {}\nlog:\n{}",
                self.state(),
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn ctl_status(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_dns-server"))
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .arg("status")
            .output()
            .expect("expected to run dns-server ctl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn fresh_is_up_behind_withdraws_and_a_stopped_primary_only_drains() {
    let key = TsigKey::test_key();
    // NOTIFY goes to a port nobody listens on, and the refresh is hourly: our
    // copy follows the primary's changes only when we ask, so it falls behind.
    let mut knot = KnotPrimary::start(
        ORIGIN,
        &format!("$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n"),
        Some(&key),
        free_port(),
    );
    let data = TempDir::new("freshness-data");
    let args = [
        "--secondary".to_string(),
        format!("{ORIGIN}={}", knot.address()),
        "--data-dir".into(),
        data.path().display().to_string(),
        "--tsig".into(),
        key.flag(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::builder().args(&args).start();
    let start = Instant::now();
    while try_dig("127.0.0.1", server.port, &[ORIGIN, "SOA"]).and_then(|r| soa_serial(&r)) != Some(1) {
        assert!(
            start.elapsed() < WAIT,
            "expected the first AXFR; log:\n{}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }

    let dir = TempDir::new("sidecar-freshness");
    let socket = dir.path().join("sidecar.sock");
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let child = dry_run_sidecar_checking(
        &dir,
        &format!(
            "[[sidecar.check]]\nname = \"fresh\"\nkind = \"zone-freshness\"\nzone = \"{ORIGIN}\"\n\
             servers = [\"127.0.0.1:{}\"]\nprimaries = [\"{}\"]\n\
             tsig = {{ name = \"{}\", algorithm = \"{}\", secret = \"{}\" }}\n\
             max_lag_seconds = 1\ninterval_ms = 100\ntimeout_ms = 500\nrise = 2\nfall = 2\n\
             [control]\nsocket = \"{}\"\n[metrics]\nlisten = \"{metrics}\"\n",
            server.port,
            knot.address(),
            key.name,
            key.algorithm,
            key.secret,
            socket.display()
        ),
    );
    let sidecar = Sidecar { child, dir, socket };

    sidecar.wait_state("up");
    let status = sidecar.ctl_status();
    assert!(
        status.contains("check fresh: up [serial 1, primary 1]") && status.contains("check fresh:primary: up"),
        "expected both sides of the check up in ctl status: {status}"
    );

    let text = scrape(metrics);
    let serial = |source| {
        sample(
            &text,
            "dns_server_sidecar_zone_serial",
            &[("check", "fresh"), ("source", source)],
        )
    };
    assert_eq!((serial("ours"), serial("primary")), (Some(1.0), Some(1.0)), "{text}");
    assert_eq!(
        sample(&text, "dns_server_sidecar_check_up", &[("check", "fresh:primary")]),
        Some(1.0),
        "{text}"
    );

    // Behind while the primary answers: this PoP alone is stale, so it withdraws.
    knot.set(&[("new", "60", "TXT", "\"hello\"")]);
    sidecar.wait_state("down");
    let fresh = sidecar.check("fresh");
    let error = fresh["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("behind the primary's"), "expected a lag error: {fresh}");
    assert_eq!(
        sidecar.check("fresh:primary")["status"],
        "up",
        "expected the primary's side healthy"
    );

    // The primary gone: a fault every PoP shares, so drain, and never withdraw for it.
    knot.stop();
    sidecar.wait_state("drain");
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(2) {
        assert_eq!(
            sidecar.state()["state"],
            "drain",
            "expected an unreachable primary to keep the PoP drained; log:\n{}",
            sidecar.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let status = sidecar.ctl_status();
    assert!(
        status.contains("check fresh: up [serial 1, primary -]")
            && status.contains("check fresh:primary: down")
            && status.contains("no primary answered"),
        "expected the local side up and the shared side down: {status}"
    );
}

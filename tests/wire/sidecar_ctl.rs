//! `dns-server ctl` against a running sidecar (dry-run speaker, no BGP):
//! status, drain, withdraw and resume over its own control socket, beside
//! the maintenance file; the server's commands and garbage get clear errors.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::{fs::PermissionsExt as _, net::UnixStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output},
    time::{Duration, Instant},
};

use crate::harness::{Server, TempDir, dry_run_sidecar};

/// A sidecar checking `server`, with a control socket; killed on drop.
struct Sidecar {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
    maintenance: PathBuf,
}

impl Sidecar {
    fn start(server: &Server) -> Sidecar {
        let dir = TempDir::new("sidecar-ctl");
        let socket = dir.path().join("run").join("sidecar.sock");
        let maintenance = dir.path().join("maintenance");
        let child = dry_run_sidecar(
            &dir,
            server.port,
            &format!("[control]\nsocket = \"{}\"\n", socket.display()),
        );
        Sidecar {
            child,
            dir,
            socket,
            maintenance,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sidecar.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dns-server"))
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("expected to run dns-server ctl")
    }

    fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "expected `ctl {}` to succeed: {}\nlog:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `status` shows `line`.
    fn wait_status(&self, line: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = self.ctl(&["status"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && text.lines().any(|l| l.starts_with(line)) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "expected status to show {line:?}; last: {text}{}\nlog:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw request line on `socket`, and the reply line.
fn raw(socket: &Path, line: &[u8]) -> serde_json::Value {
    let mut stream = UnixStream::connect(socket).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
    stream.write_all(line).expect("sent");
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).expect("a reply line");
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("a JSON reply, not {reply:?}: {e}"))
}

#[test]
fn the_sidecar_answers_status_drain_withdraw_and_resume() {
    let server = Server::builder().zones(&crate::harness::diff_zones()).start();
    let sidecar = Sidecar::start(&server);
    let text = sidecar.wait_status("state: up");
    assert!(text.contains("announced: announce\n"), "{text}");
    assert!(text.contains("maintenance: none\n"), "{text}");
    assert!(text.contains("check dns: up\n"), "{text}");
    assert!(text.contains("prefixes: 192.0.2.53/32\n"), "{text}");
    let mode = std::fs::metadata(&sidecar.socket)
        .expect("the socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is its owner's only");

    let json: serde_json::Value = serde_json::from_str(&sidecar.ctl_ok(&["--json", "status"])).expect("JSON");
    assert_eq!(json["state"], "up", "{json}");
    assert_eq!(json["announced"], "announce", "{json}");
    assert_eq!(json["maintenance"], serde_json::Value::Null, "{json}");
    assert_eq!(json["checks"][0]["name"], "dns", "{json}");

    let text = sidecar.ctl_ok(&["drain"]);
    assert!(text.contains("state: maintenance-drain"), "{text}");
    assert!(
        text.contains("announced: drain\n"),
        "the speaker was told at once: {text}"
    );
    assert_eq!(
        std::fs::read_to_string(&sidecar.maintenance).expect("the file").trim(),
        "drain"
    );

    let text = sidecar.ctl_ok(&["withdraw"]);
    assert!(text.contains("state: maintenance-withdraw"), "{text}");
    assert!(text.contains("announced: withdraw\n"), "{text}");
    assert!(text.contains("maintenance: withdraw\n"), "{text}");

    sidecar.ctl_ok(&["resume"]);
    assert!(!sidecar.maintenance.exists(), "resume removes the maintenance file");
    let text = sidecar.wait_status("state: up");
    assert!(text.contains("announced: announce\n"), "{text}");

    // The file is the same switch: what an operator writes shows in status.
    std::fs::write(&sidecar.maintenance, "drain\n").expect("written");
    let text = sidecar.wait_status("state: maintenance-drain");
    assert!(text.contains("maintenance: drain\n"), "{text}");
    sidecar.ctl_ok(&["resume"]);
    sidecar.wait_status("state: up");

    // The server's commands, and garbage, get a clear error.
    let out = sidecar.ctl(&["stats"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("the sidecar answers status, drain, withdraw and resume"),
        "{stderr}"
    );
    let reply = raw(&sidecar.socket, b"drain please\n");
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or_default()
            .contains("not a control request"),
        "{reply}"
    );
}

#[test]
fn the_server_points_sidecar_commands_at_the_sidecar() {
    let server = Server::builder().control().start();
    let out = server.ctl(&["drain"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("sidecar's [control] socket"),
        "{stderr}"
    );
}

//! SIGHUP: zones are reloaded atomically; a zone that fails to load keeps serving its old version.

use std::{
    thread,
    time::{Duration, Instant},
};

use crate::harness::{Response, Server, TempDir};

/// How long a reload may take to show.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

fn zone(origin: &str, serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 60\n@ IN SOA ns1 hostmaster {serial} 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n{extra}"
    )
}

fn serial(r: &Response) -> Option<u32> {
    let soa = r.answer.iter().find(|a| a.rtype == "SOA")?;
    soa.rdata.split_whitespace().nth(2)?.parse().ok()
}

/// Polls until `ready` accepts the answer to `args`; panics with the last answer after the timeout.
fn wait_for(server: &Server, args: &[&str], what: &str, ready: impl Fn(&Response) -> bool) {
    let start = Instant::now();
    loop {
        let r = server.dig(args);
        if ready(&r) {
            return;
        }
        if start.elapsed() > RELOAD_TIMEOUT {
            panic!(
                "expected {what} within {RELOAD_TIMEOUT:?} of SIGHUP; last answer:\n{r}\nstderr:\n{}",
                server.stderr()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_serves_the_edited_zone_and_keeps_the_old_one_when_broken() {
    let dir = TempDir::new("reload");
    let file = dir.write("reload.zone", &zone("reload.example.", 1, "old IN A 192.0.2.10\n"));
    let mut server = Server::builder().zone("reload.example.", &file).start();
    let r = server.dig(&["new.reload.example", "A"]);
    assert_eq!(
        r.rcode, "NXDOMAIN",
        "expected new.reload.example not to exist before the edit:\n{r}"
    );

    dir.write(
        "reload.zone",
        &zone("reload.example.", 2, "old IN A 192.0.2.10\nnew IN A 192.0.2.20\n"),
    );
    server.sighup();
    wait_for(&server, &["new.reload.example", "A"], "the new record", |r| {
        r.answer.iter().any(|a| a.rdata == "192.0.2.20")
    });
    let r = server.dig(&["reload.example", "SOA"]);
    assert_eq!(serial(&r), Some(2), "expected serial 2 after the reload:\n{r}");

    dir.write(
        "reload.zone",
        &zone(
            "reload.example.",
            3,
            "new IN A 192.0.2.20\nbroken IN A not-an-address\n",
        ),
    );
    server.sighup();
    // Nothing observable says the failed reload is over: give it time, then check nothing changed.
    thread::sleep(Duration::from_secs(1));
    assert!(
        server.is_running(),
        "expected the server to survive a broken zone on reload; stderr:\n{}",
        server.stderr()
    );
    let r = server.dig(&["reload.example", "SOA"]);
    assert_eq!(
        serial(&r),
        Some(2),
        "expected the old version (serial 2) kept when the new one is broken:\n{r}"
    );
    let r = server.dig(&["old.reload.example", "A"]);
    assert_eq!(
        r.answer.len(),
        1,
        "expected old.reload.example still served from the old version:\n{r}"
    );

    dir.write("reload.zone", &zone("reload.example.", 4, "fixed IN A 192.0.2.40\n"));
    server.sighup();
    wait_for(
        &server,
        &["reload.example", "SOA"],
        "serial 4 after fixing the zone",
        |r| serial(r) == Some(4),
    );
    let r = server.dig(&["old.reload.example", "A"]);
    assert_eq!(
        r.rcode, "NXDOMAIN",
        "expected records removed from the file to go away:\n{r}"
    );
}

#[test]
fn one_broken_zone_does_not_hold_back_the_others() {
    let dir = TempDir::new("reload-two");
    let good = dir.write("good.zone", &zone("good.example.", 1, ""));
    let bad = dir.write("bad.zone", &zone("bad.example.", 1, "www IN A 192.0.2.5\n"));
    let mut server = Server::builder()
        .zone("good.example.", &good)
        .zone("bad.example.", &bad)
        .start();

    dir.write("good.zone", &zone("good.example.", 2, "added IN A 192.0.2.6\n"));
    dir.write(
        "bad.zone",
        &zone("bad.example.", 2, "www IN CNAME ns1\nwww IN A 192.0.2.5\n"),
    );
    server.sighup();
    wait_for(
        &server,
        &["added.good.example", "A"],
        "the record added to the good zone",
        |r| r.answer.iter().any(|a| a.rdata == "192.0.2.6"),
    );
    let r = server.dig(&["bad.example", "SOA"]);
    assert_eq!(
        serial(&r),
        Some(1),
        "expected the broken zone to keep serving serial 1:\n{r}"
    );
    let r = server.dig(&["www.bad.example", "A"]);
    assert_eq!(
        r.answer.len(),
        1,
        "expected www.bad.example A from the old version:\n{r}"
    );
    assert!(server.is_running(), "expected the server to keep running");
}

/// `$INCLUDE` of a FIFO on reload is refused at once (it would block a read
/// forever); the old zone keeps serving and the next SIGHUP loads the fixed file.
#[test]
fn a_fifo_include_does_not_block_the_next_reload() {
    let dir = TempDir::new("reload-fifo");
    let file = dir.write("fifo.zone", &zone("fifo.example.", 1, ""));
    let fifo = dir.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("expected to run mkfifo");
    assert!(status.success(), "expected mkfifo to succeed");
    let server = Server::builder().zone("fifo.example.", &file).start();

    dir.write("fifo.zone", &zone("fifo.example.", 2, "$INCLUDE fifo\n"));
    server.sighup();
    let start = Instant::now();
    while !server.stderr().contains("not a regular file") {
        assert!(
            start.elapsed() < RELOAD_TIMEOUT,
            "expected the FIFO include to be refused within {RELOAD_TIMEOUT:?}; stderr:\n{}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let r = server.dig(&["fifo.example", "SOA"]);
    assert_eq!(
        serial(&r),
        Some(1),
        "expected serial 1 kept while the reload fails:\n{r}"
    );

    dir.write("fifo.zone", &zone("fifo.example.", 3, "www IN A 192.0.2.30\n"));
    server.sighup();
    wait_for(
        &server,
        &["fifo.example", "SOA"],
        "serial 3 after the next reload",
        |r| serial(r) == Some(3),
    );
}

/// Kills the server started by hand when the test ends, however it ends.
struct Started(std::process::Child);

impl Drop for Started {
    fn drop(&mut self) {
        crate::harness::kill(&mut self.0);
    }
}

/// A reload stuck in a read (here: the configuration file replaced by a
/// FIFO nobody writes) is abandoned after `reload_timeout`; the old zones
/// keep serving, and the next SIGHUP loads the fixed files.
#[test]
fn a_stuck_reload_is_abandoned_and_the_next_one_runs() {
    use crate::harness::{answers, spawn_on_free_port, try_dig, zone_loaded};

    let dir = TempDir::new("reload-stuck");
    dir.write("stuck.zone", &zone("stuck.example.", 1, ""));
    let config_text = "[server]\nreload_timeout = 1\n\n[[zone]]\norigin = \"stuck.example.\"\nfile = \"stuck.zone\"\n";
    let config = dir.write("dns.toml", config_text);
    let log = dir.path().join("stderr.log");
    let (child, port) = spawn_on_free_port(
        "dns-server with a config file",
        &log,
        |port| {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dns-server"));
            command
                .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--config"])
                .arg(&config)
                .arg("--state-file")
                .arg(dir.path().join("zones.json"))
                .env("NO_COLOR", "1");
            command
        },
        |port| answers("127.0.0.1", port, &["stuck.example", "SOA"], zone_loaded),
    );
    let server = Started(child);
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    let sighup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &server.0.id().to_string()])
            .status()
            .expect("expected to run kill -HUP");
        assert!(status.success(), "expected kill -HUP to succeed");
    };
    let soa_serial = || try_dig("127.0.0.1", port, &["stuck.example", "SOA"]).and_then(|r| serial(&r));

    std::fs::remove_file(&config).expect("expected to remove the config");
    let status = std::process::Command::new("mkfifo")
        .arg(&config)
        .status()
        .expect("expected to run mkfifo");
    assert!(status.success(), "expected mkfifo to succeed");
    sighup();
    let start = Instant::now();
    while !stderr().contains("abandoned") {
        assert!(
            start.elapsed() < RELOAD_TIMEOUT,
            "expected the stuck reload abandoned after reload_timeout = 1 s; stderr:\n{}",
            stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        soa_serial(),
        Some(1),
        "the old zone keeps serving; stderr:\n{}",
        stderr()
    );

    std::fs::remove_file(&config).expect("expected to remove the FIFO");
    dir.write("dns.toml", config_text);
    dir.write("stuck.zone", &zone("stuck.example.", 2, ""));
    sighup();
    let start = Instant::now();
    while soa_serial() != Some(2) {
        assert!(
            start.elapsed() < RELOAD_TIMEOUT,
            "expected the next SIGHUP to load serial 2 while the stuck read still waits; stderr:\n{}",
            stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }

    // SIGTERM still ends the process: nothing waits for the abandoned read.
    let mut server = server;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("expected to run kill -TERM");
    assert!(status.success(), "expected kill -TERM to succeed");
    let start = Instant::now();
    while server.0.try_wait().expect("expected to wait for the server").is_none() {
        assert!(
            start.elapsed() < RELOAD_TIMEOUT,
            "expected SIGTERM to end the server despite the abandoned reload; stderr:\n{}",
            stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// What knotd 3.2 answers for a name in a zone it could not load (checked
/// by hand against knotd on this machine): SERVFAIL, AA clear, no records,
/// EDE 24 "Invalid Data" when the query had EDNS.
fn is_knots_unloaded_zone_answer(r: &Response) -> bool {
    r.rcode == "SERVFAIL"
        && !r.flag("aa")
        && r.answer.is_empty()
        && r.authority.is_empty()
        && r.edns.as_ref().is_some_and(|e| e.ede == Some(24))
}

/// `dns-server status` on `state_file`: its output, or a panic saying why not.
fn status(state_file: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dns-server"))
        .args(["status", "--state-file"])
        .arg(state_file)
        .output()
        .expect("expected to run dns-server status");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "expected dns-server status to succeed; stdout:\n{text}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A zone that fails at start is logged with file:line, reported by
/// `dns-server status` and answered SERVFAIL, while the zone beside it is
/// served; once fixed, a SIGHUP serves it.
#[test]
fn a_zone_that_fails_at_start_is_not_served_and_the_others_are() {
    let dir = TempDir::new("isolation-start");
    let good = dir.write("good.zone", &zone("good.example.", 1, "www IN A 192.0.2.6\n"));
    let bad = dir.write(
        "bad.zone",
        &zone("bad.example.", 1, "www IN A 192.0.2.7\nbroken IN A 192.0.2.300\n"),
    );
    let state_file = dir.path().join("run/zones.json");
    let server = Server::builder()
        .zone("good.example.", &good)
        .zone("bad.example.", &bad)
        .config(&format!("[server]\nstate_file = \"{}\"\n", state_file.display()))
        .state_file_from_config()
        .start();

    let r = server.dig(&["www.good.example", "A"]);
    assert!(
        r.rcode == "NOERROR" && r.flag("aa") && r.answer.iter().any(|a| a.rdata == "192.0.2.6"),
        "expected the good zone served beside the broken one:\n{r}"
    );
    for name in ["www.bad.example", "bad.example", "nothing.bad.example"] {
        let r = server.dig(&[name, "A"]);
        assert!(
            is_knots_unloaded_zone_answer(&r),
            "expected {name} answered as Knot answers a zone it could not load:\n{r}"
        );
    }
    let r = server.dig(&["www.bad.example", "A", "+noedns"]);
    assert!(
        r.rcode == "SERVFAIL" && r.edns.is_none(),
        "expected SERVFAIL without OPT to a query without EDNS:\n{r}"
    );
    let log = server.stderr();
    assert!(
        log.contains(&format!("{}:7", bad.display())),
        "expected the failure logged with file:line; stderr:\n{log}"
    );

    let report = status(&state_file);
    let line = |origin: &str| {
        report
            .lines()
            .find(|l| l.starts_with(origin))
            .unwrap_or_else(|| panic!("expected a status line for {origin}:\n{report}"))
            .to_string()
    };
    assert!(
        line("bad.example.").contains("failed") && line("bad.example.").contains(&format!("{}:7", bad.display())),
        "expected the failure and its file:line in the status:\n{report}"
    );
    assert!(
        line("good.example.").contains("loaded") && line("good.example.").contains("serial 1"),
        "expected the good zone loaded at serial 1 in the status:\n{report}"
    );

    dir.write("bad.zone", &zone("bad.example.", 2, "www IN A 192.0.2.7\n"));
    server.sighup();
    wait_for(&server, &["www.bad.example", "A"], "the fixed zone served", |r| {
        r.rcode == "NOERROR" && r.answer.iter().any(|a| a.rdata == "192.0.2.7")
    });
    let start = Instant::now();
    while !status(&state_file).contains("2 zones, 2 served, 0 failed") {
        assert!(
            start.elapsed() < RELOAD_TIMEOUT,
            "expected the status to show both zones served:\n{}",
            status(&state_file)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// A zone that fails on reload while another changes: the changed one is
/// served at its new version, the failed one keeps its old version, and
/// the status says so; a zone added by the reload that fails gets SERVFAIL.
#[test]
fn a_zone_that_fails_at_reload_keeps_its_version_and_a_new_one_is_not_served() {
    let dir = TempDir::new("isolation-reload");
    let a = dir.write("a.zone", &zone("a.example.", 1, "www IN A 192.0.2.1\n"));
    let b = dir.write("b.zone", &zone("b.example.", 1, "www IN A 192.0.2.2\n"));
    let state_file = dir.path().join("zones.json");
    let config = |zones: &[(&str, &std::path::Path)]| {
        let mut text = format!("[server]\nstate_file = \"{}\"\n", state_file.display());
        for (origin, file) in zones {
            text.push_str(&format!(
                "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n",
                file.display()
            ));
        }
        text
    };
    let server = Server::builder()
        .config(&config(&[("a.example.", &a), ("b.example.", &b)]))
        .state_file_from_config()
        .start();
    assert_eq!(server.dig(&["www.a.example", "A"]).answer.len(), 1);

    // a.example breaks, b.example changes, c.example is added broken.
    dir.write("a.zone", &zone("a.example.", 2, "www IN A 192.0.2.999\n"));
    dir.write("b.zone", &zone("b.example.", 2, "www IN A 192.0.2.22\n"));
    let c = dir.write(
        "c.zone",
        &zone("c.example.", 1, "www IN CNAME ns1\nwww IN A 192.0.2.3\n"),
    );
    server.rewrite_config(&config(&[("a.example.", &a), ("b.example.", &b), ("c.example.", &c)]));
    server.sighup();
    wait_for(&server, &["www.b.example", "A"], "b.example's new version", |r| {
        r.answer.iter().any(|a| a.rdata == "192.0.2.22")
    });
    let r = server.dig(&["a.example", "SOA"]);
    assert_eq!(serial(&r), Some(1), "expected a.example's old version kept:\n{r}");
    let r = server.dig(&["www.c.example", "A"]);
    assert!(
        is_knots_unloaded_zone_answer(&r),
        "expected the new broken zone answered SERVFAIL, not refused:\n{r}"
    );
    let report = status(&state_file);
    assert!(
        report.lines().any(|l| l.starts_with("a.example.")
            && l.contains("failed-keeping-old")
            && l.contains("serial 1")
            && l.contains(&format!("{}:6", a.display()))),
        "expected a.example failed, keeping serial 1, with file:line:\n{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("c.example.") && l.contains("failed") && l.contains("serial -")),
        "expected c.example failed and not served:\n{report}"
    );
}

/// `--state-file` (which the harness gives every server, in its temp dir)
/// wins over the config's `state_file`, at start and after a reload.
#[test]
fn the_state_file_flag_overrides_the_config_at_start_and_reload() {
    let dir = TempDir::new("state-flag");
    let file = dir.write("flag.zone", &zone("flag.example.", 7, ""));
    let in_config = dir.path().join("from-config.json");
    let config = format!("[server]\nstate_file = \"{}\"\n", in_config.display());
    let server = Server::builder().zone("flag.example.", &file).config(&config).start();
    let flag = server.state_file().expect("the harness passes --state-file");
    let report = status(flag);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("flag.example.") && l.contains("serial 7")),
        "expected flag.example. at serial 7 in {}:\n{report}",
        flag.display()
    );

    dir.write("flag.zone", &zone("flag.example.", 8, ""));
    server.rewrite_config(&config);
    server.sighup();
    wait_for(&server, &["flag.example", "SOA"], "serial 8", |r| serial(r) == Some(8));
    let start = Instant::now();
    while !status(flag).contains("serial 8") {
        assert!(
            start.elapsed() < RELOAD_TIMEOUT,
            "expected the reload's state in {}:\n{}",
            flag.display(),
            status(flag)
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !in_config.exists(),
        "expected nothing written to the config's state_file while --state-file is given"
    );
}

/// `--strict` (or `[server] strict = true`) keeps the old behaviour: a zone
/// that fails at start stops the server, with the error's file:line.
#[test]
fn strict_refuses_to_start_with_a_zone_that_fails() {
    let dir = TempDir::new("isolation-strict");
    let good = dir.write("good.zone", &zone("good.example.", 1, ""));
    let bad = dir.write("bad.zone", &zone("bad.example.", 1, "www IN A 192.0.2.300\n"));
    let config = dir.write("strict.toml", "[server]\nstrict = true\n");
    for flags in [&["--strict"][..], &["--config", config.to_str().expect("UTF-8")][..]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dns-server"))
            .args(["serve", "--listen", "127.0.0.1:0", "--no-xdp", "--state-file"])
            .arg(dir.path().join("zones.json"))
            .arg("--zone")
            .arg(format!("good.example.={}", good.display()))
            .arg("--zone")
            .arg(format!("bad.example.={}", bad.display()))
            .args(flags)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("expected to spawn dns-server");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("expected to wait") {
                break status;
            }
            if start.elapsed() > RELOAD_TIMEOUT {
                crate::harness::kill(&mut child);
                panic!("expected dns-server {flags:?} to refuse to start with a broken zone");
            }
            thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("stderr read");
        assert!(
            !status.success(),
            "expected a failure exit with {flags:?}; stderr:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("{}:6", bad.display())),
            "expected the error's file:line with {flags:?}; stderr:\n{stderr}"
        );
    }
}

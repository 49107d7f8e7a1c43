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

//! Knot DNS as a hidden primary: a zone it serves by AXFR and IXFR, changed with `knotc`, NOTIFY sent to us.

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command},
};

use super::{Response, TempDir, answers, dig::dig_or_panic, kill, spawn_on_free_port, zone_loaded};

/// A TSIG key both ends are configured with.
#[derive(Clone, Debug)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    /// Base64.
    pub secret: String,
}

impl TsigKey {
    /// `xfr-key`, hmac-sha256, a fixed secret.
    pub fn test_key() -> TsigKey {
        TsigKey {
            name: "xfr-key".into(),
            algorithm: "hmac-sha256".into(),
            secret: "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==".into(),
        }
    }

    /// The form `--tsig` takes: NAME:ALGORITHM:BASE64.
    pub fn flag(&self) -> String {
        format!("{}:{}:{}", self.name, self.algorithm, self.secret)
    }

    /// The form `dig -y` and `kdig -y` take: ALGORITHM:NAME:BASE64.
    pub fn dig_flag(&self) -> String {
        format!("{}:{}:{}", self.algorithm, self.name, self.secret)
    }
}

/// A running `knotd` serving one zone as a primary, killed on drop.
pub struct KnotPrimary {
    child: Option<Child>,
    /// The port it serves on, on 127.0.0.1.
    pub port: u16,
    /// The zone it serves.
    pub origin: String,
    conf: PathBuf,
    log: PathBuf,
    _dir: TempDir,
}

impl KnotPrimary {
    /// Starts knotd serving `origin` from `zone_text`, allowing transfers from
    /// 127.0.0.1 (signed with `key` when given) and sending NOTIFY to
    /// 127.0.0.1@`notify_port` on every change.
    pub fn start(origin: &str, zone_text: &str, key: Option<&TsigKey>, notify_port: u16) -> KnotPrimary {
        let dir = TempDir::new("knot-primary");
        let log = dir.path().join("knotd.log");
        let zone_file = dir.write(&format!("{origin}zone"), zone_text);
        let d = dir.path().display();
        let (key_section, key_ref) = match key {
            Some(k) => (
                format!(
                    "key:\n  - id: {}\n    algorithm: {}\n    secret: {}\n",
                    k.name, k.algorithm, k.secret
                ),
                format!("    key: {}\n", k.name),
            ),
            None => (String::new(), String::new()),
        };
        let conf = dir.path().join("knot.conf");
        let config = |port: u16| {
            let text = format!(
                "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
                 {key_section}\
                 remote:\n  - id: pop\n    address: 127.0.0.1@{notify_port}\n{key_ref}\
                 acl:\n  - id: xfr\n    address: 127.0.0.1\n{key_ref}    action: transfer\n\
                 database:\n    storage: \"{d}\"\n\
                 log:\n  - target: stderr\n    any: info\n\
                 zone:\n  - domain: {origin}\n    file: \"{}\"\n    storage: \"{d}\"\n    notify: pop\n    \
                 acl: xfr\n    zonefile-sync: -1\n    journal-content: changes\n",
                zone_file.display()
            );
            fs::write(&conf, text).expect("expected to write knot.conf");
            conf.clone()
        };
        let (child, port) = spawn_on_free_port(
            "knotd (primary)",
            &log,
            |port| {
                let mut command = Command::new("knotd");
                command.arg("-c").arg(config(port));
                command
            },
            |port| answers("127.0.0.1", port, &[origin, "SOA"], zone_loaded),
        );
        KnotPrimary {
            child: Some(child),
            port,
            origin: origin.to_string(),
            conf,
            log,
            _dir: dir,
        }
    }

    /// `127.0.0.1:PORT`, as `--secondary` and `primaries` take it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs `knotc` with its control socket; panics with its output when it fails.
    pub fn knotc(&self, args: &[&str]) {
        knotc(&self.conf, args);
    }

    /// Changes the zone in one transaction (Knot bumps the serial, keeps the
    /// change for IXFR and sends NOTIFY): each item is `(owner, ttl, type, rdata)`.
    pub fn set(&self, records: &[(&str, &str, &str, &str)]) {
        self.knotc(&["zone-begin", &self.origin]);
        for (owner, ttl, rtype, rdata) in records {
            self.knotc(&["zone-set", &self.origin, owner, ttl, rtype, rdata]);
        }
        self.knotc(&["zone-commit", &self.origin]);
    }

    /// The serial it serves.
    pub fn serial(&self) -> u32 {
        let r = self.dig(&[&self.origin, "SOA"]);
        soa_serial(&r).expect("expected knotd to answer its SOA")
    }

    /// Queries it with `dig`.
    pub fn dig(&self, args: &[&str]) -> Response {
        dig_or_panic("knotd (primary)", "127.0.0.1", self.port, args, || {
            fs::read_to_string(&self.log).unwrap_or_default()
        })
    }

    /// Stops it (a primary gone unreachable).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }
}

impl Drop for KnotPrimary {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The serial of the SOA in a response's answer, if there is one.
pub fn soa_serial(r: &Response) -> Option<u32> {
    let soa = r.answer.iter().find(|a| a.rtype == "SOA")?;
    soa.rdata.split_whitespace().nth(2)?.parse().ok()
}

/// A running BIND 9 `named` serving one zone as a primary (dynamic, so
/// `nsupdate` changes it; it keeps the changes for IXFR and sends NOTIFY), killed on drop.
pub struct BindPrimary {
    child: Option<Child>,
    /// The port it serves on, on 127.0.0.1.
    pub port: u16,
    /// The zone it serves.
    pub origin: String,
    key: Option<TsigKey>,
    log: PathBuf,
    _dir: TempDir,
}

impl BindPrimary {
    /// Starts named serving `origin` from `zone_text`, allowing transfers and
    /// updates from 127.0.0.1 (with `key` when given) and sending NOTIFY to
    /// 127.0.0.1 port `notify_port`.
    pub fn start(origin: &str, zone_text: &str, key: Option<&TsigKey>, notify_port: u16) -> BindPrimary {
        let dir = TempDir::new("bind-primary");
        let log = dir.path().join("named.log");
        let zone_file = dir.write(&format!("{origin}zone"), zone_text);
        let d = dir.path().display();
        let (key_section, acl, notify_key) = match key {
            Some(k) => (
                format!(
                    "key \"{}\" {{ algorithm {}; secret \"{}\"; }};\n",
                    k.name, k.algorithm, k.secret
                ),
                format!("key \"{}\";", k.name),
                format!(" key \"{}\"", k.name),
            ),
            None => (String::new(), "127.0.0.1;".to_string(), String::new()),
        };
        let config = |port: u16| {
            let text = format!(
                "{key_section}options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  \
                 session-keyfile \"{d}/session.key\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  \
                 listen-on-v6 {{ none; }};\n  recursion no;\n  dnssec-validation no;\n  notify explicit;\n  \
                 also-notify {{ 127.0.0.1 port {notify_port}{notify_key}; }};\n  allow-transfer {{ {acl} }};\n}};\n\
                 controls {{ }};\n\
                 zone \"{origin}\" {{\n  type primary;\n  file \"{}\";\n  allow-update {{ {acl} }};\n}};\n",
                zone_file.display()
            );
            dir.write("named.conf", &text)
        };
        let (child, port) = spawn_on_free_port(
            "named (primary)",
            &log,
            |port| {
                let mut command = Command::new("named");
                command.arg("-g").arg("-c").arg(config(port));
                command
            },
            |port| answers("127.0.0.1", port, &[origin, "SOA"], zone_loaded),
        );
        BindPrimary {
            child: Some(child),
            port,
            origin: origin.to_string(),
            key: key.cloned(),
            log,
            _dir: dir,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Adds records by dynamic update (BIND bumps the serial and sends
    /// NOTIFY): each item is `(owner, ttl, type, rdata)`, owners relative to the zone.
    pub fn set(&self, records: &[(&str, &str, &str, &str)]) {
        let mut script = format!("server 127.0.0.1 {}\nzone {}\n", self.port, self.origin);
        for (owner, ttl, rtype, rdata) in records {
            script.push_str(&format!("update add {owner}.{} {ttl} {rtype} {rdata}\n", self.origin));
        }
        script.push_str("send\n");
        let mut command = Command::new("nsupdate");
        if let Some(key) = &self.key {
            command.args(["-y", &key.dig_flag()]);
        }
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("expected to run nsupdate (bind9-dnsutils)");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("expected to write nsupdate's script");
        let out = child.wait_with_output().expect("expected nsupdate to finish");
        assert!(
            out.status.success(),
            "expected nsupdate to succeed: {}{}\nnamed's log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The serial it serves.
    pub fn serial(&self) -> u32 {
        let r = dig_or_panic(
            "named (primary)",
            "127.0.0.1",
            self.port,
            &[&self.origin, "SOA"],
            || fs::read_to_string(&self.log).unwrap_or_default(),
        );
        soa_serial(&r).expect("expected named to answer its SOA")
    }

    /// Stops it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }
}

impl Drop for BindPrimary {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the secondary tests need of a primary, Knot or BIND.
pub trait HiddenPrimary {
    /// `127.0.0.1:PORT`.
    fn address(&self) -> String;
    /// Adds records in one change (serial bumped, NOTIFY sent, IXFR kept).
    fn set(&self, records: &[(&str, &str, &str, &str)]);
    /// The serial served.
    fn serial(&self) -> u32;
    /// Stops serving.
    fn stop(&mut self);
}

impl HiddenPrimary for KnotPrimary {
    fn address(&self) -> String {
        KnotPrimary::address(self)
    }
    fn set(&self, records: &[(&str, &str, &str, &str)]) {
        KnotPrimary::set(self, records)
    }
    fn serial(&self) -> u32 {
        KnotPrimary::serial(self)
    }
    fn stop(&mut self) {
        KnotPrimary::stop(self)
    }
}

impl HiddenPrimary for BindPrimary {
    fn address(&self) -> String {
        BindPrimary::address(self)
    }
    fn set(&self, records: &[(&str, &str, &str, &str)]) {
        BindPrimary::set(self, records)
    }
    fn serial(&self) -> u32 {
        BindPrimary::serial(self)
    }
    fn stop(&mut self) {
        BindPrimary::stop(self)
    }
}

/// Runs `knotc -c CONF ARGS`; its output, or a panic with it when it fails.
pub(super) fn knotc(conf: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("knotc")
        .arg("-c")
        .arg(conf)
        .args(args)
        .output()
        .expect("expected to run knotc");
    assert!(
        out.status.success(),
        "expected knotc {args:?} to succeed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

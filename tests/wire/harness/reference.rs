//! The reference servers: Knot DNS and NSD with generated configs, each in its own temp dir.

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command},
};

use super::{
    REF_IDENTITY, REF_VERSION, Response, TempDir, answers, dig::dig_or_panic, kill, spawn_on_free_port, zone_loaded,
};

/// A running `knotd` with a generated config, killed on drop.
pub struct Knot {
    child: Child,
    /// The port it serves UDP and TCP on, on 127.0.0.1 and ::1.
    pub port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Knot {
    /// Starts knotd serving `zones`, waiting until every zone answers its SOA.
    pub fn start(zones: &[(String, PathBuf)]) -> Knot {
        let dir = TempDir::new("knot");
        let log = dir.path().join("knotd.log");
        let config = |port: u16| {
            let d = dir.path().display();
            let mut conf = format!(
                "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n    listen: ::1@{port}\n    \
                 identity: \"{REF_IDENTITY}\"\n    nsid: \"{REF_IDENTITY}\"\n    version: \"{REF_VERSION}\"\n\
                 database:\n    storage: \"{d}\"\n\
                 log:\n  - target: stderr\n    any: info\n\
                 template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
                 zonefile-load: whole\n    journal-content: none\n    semantic-checks: on\n\
                 zone:\n"
            );
            for (origin, file) in zones {
                conf.push_str(&format!("  - domain: {origin}\n    file: \"{}\"\n", file.display()));
            }
            dir.write("knot.conf", &conf)
        };
        let (child, port) = spawn_on_free_port(
            "knotd",
            &log,
            |port| {
                let mut command = Command::new("knotd");
                command.arg("-c").arg(config(port));
                command
            },
            |port| {
                zones
                    .iter()
                    .all(|(origin, _)| answers("127.0.0.1", port, &[origin, "SOA"], zone_loaded))
            },
        );
        Knot {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// Queries it on 127.0.0.1 with `dig`.
    pub fn dig(&self, args: &[&str]) -> Response {
        dig_or_panic("knotd", "127.0.0.1", self.port, args, || {
            fs::read_to_string(&self.log).unwrap_or_default()
        })
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A running `nsd` (foreground), killed on drop; used to see where Knot is not the only right answer.
pub struct Nsd {
    child: Child,
    /// The port it serves UDP and TCP on, on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Nsd {
    /// Starts nsd serving `zones`, waiting until every zone answers its SOA.
    pub fn start(zones: &[(String, PathBuf)]) -> Nsd {
        let dir = TempDir::new("nsd");
        let log = dir.path().join("nsd.log");
        let config = |port: u16| {
            let d = dir.path().display();
            let mut conf = format!(
                "server:\n    ip-address: 127.0.0.1@{port}\n    port: {port}\n    username: \"\"\n    \
                 chroot: \"\"\n    database: \"\"\n    pidfile: \"{d}/nsd.pid\"\n    \
                 xfrdfile: \"{d}/xfrd.state\"\n    zonelistfile: \"{d}/zone.list\"\n    xfrdir: \"{d}\"\n    \
                 identity: \"{REF_IDENTITY}\"\n    nsid: \"ascii_{REF_IDENTITY}\"\n    \
                 version: \"{REF_VERSION}\"\n    server-count: 1\n\
                 remote-control:\n    control-enable: no\n"
            );
            for (origin, file) in zones {
                conf.push_str(&format!(
                    "zone:\n    name: {origin}\n    zonefile: \"{}\"\n",
                    file.display()
                ));
            }
            dir.write("nsd.conf", &conf)
        };
        let (child, port) = spawn_on_free_port(
            "nsd",
            &log,
            |port| {
                let mut command = Command::new("nsd");
                command.arg("-d").arg("-c").arg(config(port));
                command
            },
            |port| {
                zones
                    .iter()
                    .all(|(origin, _)| answers("127.0.0.1", port, &[origin, "SOA"], zone_loaded))
            },
        );
        Nsd {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// Queries it on 127.0.0.1 with `dig`.
    pub fn dig(&self, args: &[&str]) -> Response {
        dig_or_panic("nsd", "127.0.0.1", self.port, args, || {
            fs::read_to_string(&self.log).unwrap_or_default()
        })
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

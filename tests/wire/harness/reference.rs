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

/// What a [`Knot`] does with its zones.
#[derive(Clone, Copy)]
enum Role {
    /// Serves them from files; `transfers`: lets 127.0.0.0/8 transfer them.
    Primary { transfers: bool },
    /// Transfers them from the server on 127.0.0.1 at this port, which may
    /// NOTIFY it, signing its requests with the key `NAME:BASE64`
    /// (hmac-sha256) when one is given.
    Secondary { primary: u16, key: Option<&'static str> },
}

impl Knot {
    /// Starts knotd serving `zones`, waiting until every zone answers its SOA.
    pub fn start(zones: &[(String, PathBuf)]) -> Knot {
        Knot::launch(zones, Role::Primary { transfers: false })
    }

    /// As [`Knot::start`], letting 127.0.0.0/8 transfer every zone (AXFR, IXFR).
    pub fn with_transfers(zones: &[(String, PathBuf)]) -> Knot {
        Knot::launch(zones, Role::Primary { transfers: true })
    }

    /// Starts knotd as a secondary of the server on 127.0.0.1@`primary` for
    /// `origin` (NOTIFY accepted from 127.0.0.1), waiting until it has
    /// transferred the zone and answers its SOA.
    pub fn secondary_of(origin: &str, primary: u16) -> Knot {
        Knot::launch(
            &[(origin.to_string(), PathBuf::new())],
            Role::Secondary { primary, key: None },
        )
    }

    /// As [`Knot::secondary_of`], its SOA queries and transfers signed with
    /// the hmac-sha256 key `NAME:BASE64`, and NOTIFY accepted only signed with it.
    pub fn secondary_with_key(origin: &str, primary: u16, key: &'static str) -> Knot {
        let role = Role::Secondary {
            primary,
            key: Some(key),
        };
        Knot::launch(&[(origin.to_string(), PathBuf::new())], role)
    }

    fn launch(zones: &[(String, PathBuf)], role: Role) -> Knot {
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
                 zonefile-load: whole\n    journal-content: {journal}\n    semantic-checks: on\n\
                 {acls}\
                 zone:\n",
                journal = if matches!(role, Role::Secondary { .. }) {
                    "changes"
                } else {
                    "none"
                },
                acls = match role {
                    Role::Primary { transfers: false } => String::new(),
                    Role::Primary { transfers: true } => {
                        "acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n".to_string()
                    }
                    Role::Secondary { primary, key } => {
                        let (keys, use_key) = match key.and_then(|k| k.split_once(':')) {
                            Some((name, secret)) => (
                                format!("key:\n  - id: {name}\n    algorithm: hmac-sha256\n    secret: {secret}\n"),
                                format!("    key: {name}\n"),
                            ),
                            None => (String::new(), String::new()),
                        };
                        format!(
                            "{keys}remote:\n  - id: primary\n    address: 127.0.0.1@{primary}\n{use_key}\
                             acl:\n  - id: notify\n    address: 127.0.0.1\n{use_key}    action: notify\n"
                        )
                    }
                },
            );
            for (origin, file) in zones {
                match role {
                    Role::Primary { transfers } => {
                        conf.push_str(&format!("  - domain: {origin}\n    file: \"{}\"\n", file.display()));
                        if transfers {
                            conf.push_str("    acl: xfr\n");
                        }
                    }
                    // Its copy in its own directory; Knot 3.2 says `master`, later releases `primary`.
                    Role::Secondary { .. } => conf.push_str(&format!(
                        "  - domain: {origin}\n    file: \"{d}/{origin}zone\"\n    master: primary\n    acl: notify\n"
                    )),
                }
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

    /// What it has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
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

//! Knot DNS generating a catalog zone (RFC 9432) of member zones it serves; members added and removed by `knotc reload`.

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command},
};

use super::{TempDir, TsigKey, kill, spawn_on_free_port, try_dig, zone_loaded};

/// A running `knotd` serving a generated catalog and its members, killed on drop.
pub struct KnotCatalog {
    child: Option<Child>,
    /// The port it serves on, on 127.0.0.1.
    pub port: u16,
    conf: PathBuf,
    dir: TempDir,
    catalog: String,
    key: TsigKey,
    notify_port: u16,
}

/// A member zone's text: `www` answers 192.0.2.`n`.
fn member_zone(origin: &str, n: usize) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.{n}\n"
    )
}

impl KnotCatalog {
    /// Starts knotd with catalog `catalog` (`catalog-role: generate`) listing
    /// `members`, transfers allowed from 127.0.0.1 with `key`, NOTIFY sent to
    /// 127.0.0.1@`notify_port`.
    pub fn start(catalog: &str, members: &[&str], key: &TsigKey, notify_port: u16) -> KnotCatalog {
        let dir = TempDir::new("knot-catalog");
        let log = dir.path().join("knotd.log");
        let conf = dir.path().join("knot.conf");
        let mut knot = KnotCatalog {
            child: None,
            port: 0,
            conf,
            dir,
            catalog: catalog.to_string(),
            key: key.clone(),
            notify_port,
        };
        let (child, port) = spawn_on_free_port(
            "knotd (catalog primary)",
            &log,
            |port| {
                knot.write_config(port, members);
                let mut command = Command::new("knotd");
                command.arg("-c").arg(&knot.conf);
                command
            },
            // Knot answers a catalog's SOA only over TCP, to a client allowed to transfer it.
            |port| {
                try_dig("127.0.0.1", port, &["-y", &key.dig_flag(), catalog, "SOA", "+tcp"])
                    .is_some_and(|r| zone_loaded(&r))
            },
        );
        knot.child = Some(child);
        knot.port = port;
        knot
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Knot's configuration with `members` in the catalog (each member's zone file written once).
    fn write_config(&self, port: u16, members: &[&str]) {
        let d = self.dir.path().display();
        let k = &self.key;
        let mut text = format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
             key:\n  - id: {name}\n    algorithm: {alg}\n    secret: {secret}\n\
             remote:\n  - id: pop\n    address: 127.0.0.1@{notify}\n    key: {name}\n\
             acl:\n  - id: xfr\n    address: 127.0.0.1\n    key: {name}\n    action: transfer\n\
             database:\n    storage: \"{d}\"\n\
             log:\n  - target: stderr\n    any: info\n\
             zone:\n  - domain: {catalog}\n    catalog-role: generate\n    storage: \"{d}\"\n    \
             notify: pop\n    acl: xfr\n",
            name = k.name,
            alg = k.algorithm,
            secret = k.secret,
            notify = self.notify_port,
            catalog = self.catalog,
        );
        for member in members {
            let file = self.dir.path().join(format!("{member}zone"));
            if !file.exists() {
                fs::write(&file, member_zone(member, Self::host_of(member))).expect("expected to write a member zone");
            }
            text.push_str(&format!(
                "  - domain: {member}\n    file: \"{}\"\n    storage: \"{d}\"\n    notify: pop\n    acl: xfr\n    \
                 zonefile-sync: -1\n    catalog-role: member\n    catalog-zone: {}\n",
                file.display(),
                self.catalog
            ));
        }
        fs::write(&self.conf, text).expect("expected to write knot.conf");
    }

    /// The address `www.MEMBER` answers with, as [`member_zone`] wrote it.
    pub fn www_of(member: &str) -> String {
        format!("192.0.2.{}", Self::host_of(member))
    }

    fn host_of(member: &str) -> usize {
        member.bytes().map(usize::from).sum::<usize>() % 200 + 10
    }

    /// Makes `members` the catalog's members (`knotc reload`: Knot adds and
    /// removes them from the catalog, bumps its serial and sends NOTIFY).
    pub fn set_members(&self, members: &[&str]) {
        self.write_config(self.port, members);
        self.knotc(&["reload"]);
    }

    /// Runs `knotc`; panics with its output when it fails.
    pub fn knotc(&self, args: &[&str]) -> String {
        super::primary::knotc(&self.conf, args)
    }
}

impl Drop for KnotCatalog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }
}

//! Unbound pointed at the lab, as the reference resolver.

use std::{
    fs,
    path::Path,
    process::{Child, Command, Stdio},
};

use super::lab::Lab;
use crate::harness::{Response, TempDir, kill, spawn_on_free_port, try_dig};

/// A running unbound, killed on drop.
pub struct Unbound {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Unbound {
    /// Starts unbound iterating from the lab's root (no DNSSEC validation).
    pub fn start(lab: &Lab) -> Unbound {
        Unbound::start_with(lab, "iterator", "")
    }

    /// Starts unbound validating from `anchors` (DS or DNSKEY lines), with
    /// extended DNS errors on.
    pub fn start_validating(lab: &Lab, anchors: &std::path::Path) -> Unbound {
        let extra = format!(
            "  trust-anchor-file: \"{}\"\n  ede: yes\n  val-log-level: 2\n",
            anchors.display()
        );
        Unbound::start_with(lab, "validator iterator", &extra)
    }

    fn start_with(lab: &Lab, modules: &str, extra: &str) -> Unbound {
        let dir = TempDir::new("unbound");
        let options = format!("  module-config: \"{modules}\"\n{extra}  qname-minimisation: yes\n");
        let (child, port) = spawn_unbound("unbound", &dir, &lab.hints(), &options);
        Unbound { child, port, _dir: dir }
    }

    /// The loopback port it answers on (for a forwarder's address).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queries it with dig.
    pub fn dig(&self, args: &[&str]) -> Response {
        try_dig("127.0.0.1", self.port, args).unwrap_or_else(|| panic!("expected unbound to answer {args:?}"))
    }
}

/// Starts unbound (`what` in errors) on a free loopback port, iterating
/// from `hints`, its config and log (`stderr.log`) in `dir`, once it
/// answers. `options` ends its `server:` clause (lines indented two spaces)
/// and may add clauses of its own (`stub-zone:`).
pub(crate) fn spawn_unbound(what: &str, dir: &TempDir, hints: &Path, options: &str) -> (Child, u16) {
    let base = dir.path().to_path_buf();
    spawn_on_free_port(
        what,
        &base.join("stderr.log"),
        |port| {
            let conf = format!(
                "server:\n  interface: 127.0.0.1@{port}\n  port: {port}\n  do-not-query-localhost: no\n  \
                 root-hints: \"{hints}\"\n  access-control: 127.0.0.0/8 allow\n  username: \"\"\n  chroot: \"\"\n  \
                 directory: \"{dir}\"\n  pidfile: \"{dir}/unbound.pid\"\n  use-syslog: no\n  logfile: \"\"\n  \
                 num-threads: 1\n  so-reuseport: no\n  do-ip6: no\n  verbosity: 1\n  local-zone: \"test.\" nodefault\n\
                 {options}remote-control:\n  control-enable: no\n",
                hints = hints.display(),
                dir = base.display(),
            );
            let path = base.join(format!("unbound-{port}.conf"));
            fs::write(&path, conf).expect("expected to write unbound.conf");
            let mut command = Command::new("unbound");
            command.args(["-d", "-c"]).arg(&path).stdin(Stdio::null());
            command
        },
        |port| {
            try_dig(
                "127.0.0.1",
                port,
                &["version.server", "CH", "TXT", "+tries=1", "+time=1"],
            )
            .is_some()
        },
    )
}

impl Drop for Unbound {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

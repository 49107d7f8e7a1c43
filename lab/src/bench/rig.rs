//! The rig: a server and a client network namespace joined by one veth pair.
use std::{
    collections::BTreeSet,
    fs,
    process::{Command, Stdio},
};

use anyhow::Result;
use test_support::netns::{self, Netns};

use crate::cmd::{self, note};

/// The server's addresses (from the benchmarking range 198.18.0.0/15 and fd00::/8).
pub const SERVER_V4: &str = "198.18.0.1";
pub const SERVER_V6: &str = "fd00:b0::1";
/// The client's addresses.
pub const CLIENT_V4: &str = "198.18.0.2";
pub const CLIENT_V6: &str = "fd00:b0::2";

/// CPU for the server under test; the generator and its side's kernel work get the other.
pub const SERVER_CPU: u32 = 0;
pub const CLIENT_CPU: u32 = 1;

/// Prefix of every name the rig gives; the process id and a counter follow, then `s` or `c`.
/// Short, because kernel thread names (`napi/<dev>-<id>`) keep only 15 bytes.
const PREFIX: &str = "xb";

/// One end of the veth pair, in its own namespace (removed when the end is dropped).
pub struct End {
    /// Namespace and interface share this name.
    pub name: String,
    ns: Netns,
    pub mac: String,
    pub cpu: u32,
}

impl End {
    /// `ip netns exec <ns> ...`: a command to run inside this end's namespace.
    pub fn exec(&self) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns.name()]);
        cmd
    }

    /// `ip -n <ns> ARGS`, echoed; fails unless it succeeds.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        cmd::run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Ids of the processes in this namespace (as the root namespace sees them).
    pub fn pids(&self) -> BTreeSet<u32> {
        self.ns.pids()
    }

    /// Removes any XDP program from the interface, native or generic: Knot
    /// and kxdpgun leave theirs behind.
    pub fn detach_xdp(&self) {
        for mode in ["xdp", "xdpgeneric"] {
            let _ = Command::new("ip")
                .args(["-n", &self.name, "link", "set", "dev", &self.name, mode, "off"])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// The id of the XDP program attached to the interface, if any.
    pub fn xdp_program(&self) -> Option<u32> {
        let link = cmd::stdout(Command::new("ip").args(["-n", &self.name, "link", "show", "dev", &self.name])).ok()?;
        // `prog/xdp id 123` (native) or `prog/xdpgeneric id 123`.
        let mut words = link.split_whitespace();
        words.find(|w| w.starts_with("prog/xdp"))?;
        words.find(|w| *w == "id")?;
        words.next()?.parse().ok()
    }

    /// Moves this end's receive work into threaded-NAPI kernel threads pinned to
    /// its CPU. Without that, a veth end with NAPI (one with an XDP program)
    /// receives in softirq on whichever CPU sent the frame, so the generator's
    /// work would be charged to the server's CPU. A veth end has NAPI only while
    /// an XDP program is attached, so this is called once the generator runs.
    /// Returns how many threads it pinned.
    pub fn pin_napi_threads(&self) -> usize {
        let threaded = format!("/sys/class/net/{}/threaded", self.name);
        let _ = self
            .exec()
            .args(["sh", "-c", &format!("echo 1 > {threaded}")])
            .stderr(Stdio::null())
            .status();
        let prefix: String = format!("napi/{}-", self.name).chars().take(15).collect();
        let Ok(entries) = fs::read_dir("/proc") else { return 0 };
        let mut pinned = 0;
        for entry in entries.flatten() {
            let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if comm.trim_end().starts_with(&prefix) {
                let pid = entry.file_name().to_string_lossy().into_owned();
                let status = Command::new("taskset")
                    .args(["-p", "-c", &self.cpu.to_string(), &pid])
                    .stdout(Stdio::null())
                    .status();
                pinned += usize::from(status.is_ok_and(|s| s.success()));
            }
        }
        pinned
    }
}

/// The two namespaces; dropping the rig kills what still runs in them and removes them.
pub struct Rig {
    pub server: End,
    pub client: End,
}

impl Rig {
    pub fn create() -> Result<Self> {
        for name in netns::remove_stale(PREFIX) {
            note("bench", format!("removed namespace {name}, left by an earlier run"));
        }
        let tag = netns::unique_tag(PREFIX);
        let (server, client) = (format!("{tag}s"), format!("{tag}c"));
        note("bench", format!("creating namespaces {server} and {client}"));
        let end = |name: String, cpu| -> Result<End> {
            Ok(End {
                ns: Netns::create(&name)?,
                name,
                mac: String::new(),
                cpu,
            })
        };
        // Each end owns its namespace from here on, so a half-made rig is removed too.
        let mut rig = Self {
            server: end(server, SERVER_CPU)?,
            client: end(client, CLIENT_CPU)?,
        };
        netns::veth((&rig.server.ns, &rig.server.name), (&rig.client.ns, &rig.client.name))?;
        for (end, v4, v6) in [(&rig.server, SERVER_V4, SERVER_V6), (&rig.client, CLIENT_V4, CLIENT_V6)] {
            end.ns.address(&end.name, &format!("{v4}/24"))?;
            end.ns.address(&end.name, &format!("{v6}/64"))?;
            end.ns.up(&end.name)?;
        }
        for end in [&mut rig.server, &mut rig.client] {
            let path = format!("/sys/class/net/{}/address", end.name);
            end.mac = cmd::stdout(end.exec().args(["cat", &path]))?.trim().to_owned();
        }
        // Static neighbours: no ARP or ND during a run, and kxdpgun needs the peer's MAC.
        for (end, peer, v4, v6) in [
            (&rig.server, &rig.client, CLIENT_V4, CLIENT_V6),
            (&rig.client, &rig.server, SERVER_V4, SERVER_V6),
        ] {
            for addr in [v4, v6] {
                end.ip(&[
                    "neigh",
                    "replace",
                    addr,
                    "lladdr",
                    &peer.mac,
                    "dev",
                    &end.name,
                    "nud",
                    "permanent",
                ])?;
            }
        }
        Ok(rig)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        note(
            "bench",
            format!("removing namespaces {} and {}", self.server.name, self.client.name),
        );
        // Knot and kxdpgun leave XDP programs behind; the ends' guards then
        // kill what still runs inside and remove the namespaces.
        for end in [&self.server, &self.client] {
            end.detach_xdp();
        }
    }
}

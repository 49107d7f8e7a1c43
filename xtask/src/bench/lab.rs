//! The hierarchy the resolvers iterate through: a root, `test.` and
//! `bench.test.`, each served by our authoritative server on an address of
//! its own (on the server namespace's loopback device).
use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

use super::{
    rig::{CLIENT_V4, Rig, SERVER_V4},
    servers::{Probe, Running},
    zone,
};

/// The lab's servers: the root, the `test.` TLD and the leaf `bench.test.`
/// (198.18.1.0/24, inside the benchmarking range, reachable only in the rig).
const ROOT: &str = "198.18.1.1";
const TLD: &str = "198.18.1.2";
const LEAF: &str = "198.18.1.3";
const LAB_PREFIX: &str = "198.18.1.0/24";

/// The lab's servers, running; they stop (last started first) on drop.
pub struct Lab<'rig> {
    servers: Vec<Running<'rig>>,
    /// Root hints naming the lab's root.
    pub hints: PathBuf,
}

impl<'rig> Lab<'rig> {
    /// Writes the zones under `dir` and starts one `ours` per zone, each on its address.
    pub fn start(rig: &'rig Rig, dir: &Path, ours: &Path) -> Result<Self> {
        let dir = dir.join("lab");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for addr in [ROOT, TLD, LEAF] {
            rig.server.ip(&["addr", "add", &format!("{addr}/32"), "dev", "lo"])?;
        }
        // The probes come from the client namespace.
        rig.client
            .ip(&["route", "add", LAB_PREFIX, "via", SERVER_V4, "src", CLIENT_V4])?;

        let hints = write(
            &dir,
            "root.hints",
            &format!(". 3600000 NS ns.root.\nns.root. 3600000 A {ROOT}\n"),
        )?;
        let root = write(
            &dir,
            "root.zone",
            &format!(
                "$TTL 86400\n\
                 . IN SOA ns.root. hostmaster.root. 1 3600 900 604800 300\n\
                 . IN NS ns.root.\n\
                 ns.root. IN A {ROOT}\n\
                 test. IN NS ns.test.\n\
                 ns.test. IN A {TLD}\n"
            ),
        )?;
        let tld = write(
            &dir,
            "test.zone",
            &format!(
                "$ORIGIN test.\n$TTL 86400\n\
                 @ IN SOA ns hostmaster 1 3600 900 604800 300\n\
                 @ IN NS ns\n\
                 ns IN A {TLD}\n\
                 bench IN NS ns1.bench\n\
                 ns1.bench IN A {LEAF}\n"
            ),
        )?;
        let leaf = write(&dir, "bench.test.zone", &zone::zone_served_by(LEAF, None))?;

        let mut lab = Lab {
            servers: Vec::new(),
            hints,
        };
        let zones = [
            (ROOT, ".", root, "ns.root.", ROOT),
            (TLD, "test.", tld, "ns.test.", TLD),
            (LEAF, zone::ORIGIN, leaf, zone::PROBE_NAME, zone::PROBE_ANSWER),
        ];
        for (addr, origin, file, name, answer) in zones {
            let argv = [
                ours.display().to_string(),
                "serve".into(),
                "--listen".into(),
                format!("{addr}:53"),
                "--zone".into(),
                format!("{origin}={}", file.display()),
                "--threads".into(),
                "1".into(),
                "--no-xdp".into(),
            ];
            let probe = Probe {
                server: addr.into(),
                name: name.into(),
                answer: answer.into(),
            };
            let log = dir.join(format!("{addr}.log"));
            let running = Running::start(rig, &argv, log, &probe)
                .with_context(|| format!("starting the lab's {origin} server"))?;
            lab.servers.push(running);
        }
        Ok(lab)
    }
}

impl Drop for Lab<'_> {
    fn drop(&mut self) {
        // Each server treats those started before it as others, so the last goes first.
        while let Some(server) = self.servers.pop() {
            drop(server);
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

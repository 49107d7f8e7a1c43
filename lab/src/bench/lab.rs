//! The hierarchy the resolvers iterate through: a root, `test.` and
//! `bench.test.`, and many TLDs each with a leaf zone below ([`tlds`]), each
//! level served by our authoritative server on an address of its own (on the
//! server namespace's loopback device). Signed, for the validated bench: the
//! root, `test.` and `bench.test.` each with keys of their own and the DS in
//! the parent, the root's DS the trust anchor; the many TLDs signed too (one
//! shared key, each TLD's DS in the root) and their leaves unsigned (each
//! TLD's denial proves its leaf's delegation insecure).
use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

use super::{
    rig::{CLIENT_V4, Rig, SERVER_V4},
    servers::{Probe, Running},
    signed::{self, Denial},
    tlds, zone,
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
    /// The root's DS, when the lab is signed: the trust anchor to validate from.
    pub anchors: Option<PathBuf>,
}

impl<'rig> Lab<'rig> {
    /// Writes the zones under `dir` (signed with `signed` if given) and
    /// starts one `ours` per level, each on its address; the root delegates
    /// `tld_count` TLDs besides `test.`.
    pub fn start(rig: &'rig Rig, dir: &Path, ours: &Path, tld_count: u32, signed: Option<Denial>) -> Result<Self> {
        let dir = dir.join("lab");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for addr in [ROOT, TLD, LEAF, tlds::TLD_SERVER, tlds::LEAF_SERVER] {
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
        let leaf_text = zone::zone_served_by(LEAF, None);
        let tld_text = format!(
            "$ORIGIN test.\n$TTL 86400\n\
             @ IN SOA ns hostmaster 1 3600 900 604800 300\n\
             @ IN NS ns\n\
             ns IN A {TLD}\n\
             bench IN NS ns1.bench\n\
             ns1.bench IN A {LEAF}\n"
        );
        let walk_zones = tlds::write(&dir, tld_count, signed)?;
        let root_text = format!(
            "$TTL 86400\n\
             . IN SOA ns.root. hostmaster.root. 1 3600 900 604800 300\n\
             . IN NS ns.root.\n\
             ns.root. IN A {ROOT}\n\
             test. IN NS ns.test.\n\
             ns.test. IN A {TLD}\n\
             {}{}",
            tlds::root_delegations(tld_count),
            walk_zones.ds
        );
        let (root, tld, leaf, anchors) = match signed {
            None => (
                write(&dir, "root.zone", &root_text)?,
                write(&dir, "test.zone", &tld_text)?,
                write(&dir, "bench.test.zone", &leaf_text)?,
                None,
            ),
            // Leaves first: each parent is signed with its child's DS in it.
            Some(denial) => {
                let (leaf, ds) = signed::sign(&dir, zone::ORIGIN, &leaf_text, denial)?;
                let (tld, ds) = signed::sign(&dir, "test.", &format!("{tld_text}{ds}"), denial)?;
                let (root, ds) = signed::sign(&dir, ".", &format!("{root_text}{ds}"), denial)?;
                (root, tld, leaf, Some(write(&dir, "root.anchors", &ds)?))
            }
        };

        let mut lab = Lab {
            servers: Vec::new(),
            hints,
            anchors,
        };
        let zone_arg = |origin: &str, file: &Path| ["--zone".into(), format!("{origin}={}", file.display())];
        let config_arg = |file: &Path| ["--config".into(), file.display().to_string()];
        let (tld_probe, leaf_probe) = (tlds::tld_probe(), tlds::leaf_probe());
        let servers = [
            ("root", ROOT, zone_arg(".", &root), ("ns.root.".into(), ROOT.into())),
            ("test.", TLD, zone_arg("test.", &tld), ("ns.test.".into(), TLD.into())),
            (
                zone::ORIGIN,
                LEAF,
                zone_arg(zone::ORIGIN, &leaf),
                (zone::PROBE_NAME.into(), zone::PROBE_ANSWER.into()),
            ),
            ("TLDs'", tlds::TLD_SERVER, config_arg(&walk_zones.tlds), tld_probe),
            ("leaves'", tlds::LEAF_SERVER, config_arg(&walk_zones.leaves), leaf_probe),
        ];
        for (what, addr, zones, (name, answer)) in servers {
            let argv = [
                ours.display().to_string(),
                "serve".into(),
                "--listen".into(),
                format!("{addr}:53"),
                "--threads".into(),
                "1".into(),
                "--no-xdp".into(),
                // In the work dir: not the host's /run/dns-server/zones.json.
                "--state-file".into(),
                dir.join(format!("{addr}-zones.json")).display().to_string(),
            ]
            .into_iter()
            .chain(zones)
            .collect::<Vec<String>>();
            let probe = Probe {
                server: addr.into(),
                name,
                answer,
            };
            let log = dir.join(format!("{addr}.log"));
            let running =
                Running::start(rig, &argv, log, &probe).with_context(|| format!("starting the lab's {what} server"))?;
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

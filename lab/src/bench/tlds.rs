//! Many lab TLDs, `tld0.` to `tldN.`, each delegating one leaf zone
//! `leaf.tldK.`: names whose cold resolution walks the whole hierarchy
//! (root, then the TLD, then the leaf), because no two measured names share
//! a delegation below the root.
use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

use super::zone;

/// The server of every `tldK.` and the server of every `leaf.tldK.`: two
/// processes, since one serving both would answer for the leaf itself
/// instead of referring to it.
pub const TLD_SERVER: &str = "198.18.1.4";
pub const LEAF_SERVER: &str = "198.18.1.5";

/// At most this many TLDs (and as many leaves): the lab's servers load
/// every zone before they answer, and the bench gives them seconds for it.
pub const MAX_TLDS: u32 = 30_000;

/// The name asked under TLD `k`, answered with [`zone::COLD_ANSWER`].
pub fn name(k: u32) -> String {
    format!("www.leaf.tld{k}.")
}

/// [`name`] for the report.
pub const NAMES: &str = "www.leaf.tldK.";

/// A name a server of the TLDs must answer, and its answer (never measured).
pub fn tld_probe() -> (String, String) {
    ("ns.tld0.".into(), TLD_SERVER.into())
}

/// A name the leaves' server must answer, and its answer (never measured).
pub fn leaf_probe() -> (String, String) {
    ("ns.leaf.tld0.".into(), LEAF_SERVER.into())
}

/// The root zone's delegations of `count` TLDs, with glue.
pub fn root_delegations(count: u32) -> String {
    let mut text = String::new();
    for k in 0..count {
        let _ = writeln!(text, "tld{k}. IN NS ns.tld{k}.\nns.tld{k}. IN A {TLD_SERVER}");
    }
    text
}

/// Configuration files for the two servers, with a zone file per zone
/// under `dir`: the TLDs' and the leaves', in that order.
pub fn write(dir: &Path, count: u32) -> Result<(PathBuf, PathBuf)> {
    let dir = dir.join("tlds");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (mut tlds, mut leaves) = (String::new(), String::new());
    for k in 0..count {
        let tld = format!("tld{k}.");
        let leaf = format!("leaf.{tld}");
        let tld_text = format!(
            "$ORIGIN {tld}\n$TTL 86400\n\
             @ IN SOA ns hostmaster 1 3600 900 604800 300\n\
             @ IN NS ns\n\
             ns IN A {TLD_SERVER}\n\
             leaf IN NS ns.leaf\n\
             ns.leaf IN A {LEAF_SERVER}\n"
        );
        let leaf_text = format!(
            "$ORIGIN {leaf}\n$TTL 3600\n\
             @ IN SOA ns hostmaster 1 3600 900 604800 300\n\
             @ IN NS ns\n\
             ns IN A {LEAF_SERVER}\n\
             www IN A {}\n",
            zone::COLD_ANSWER
        );
        for (origin, text, config) in [(&tld, tld_text, &mut tlds), (&leaf, leaf_text, &mut leaves)] {
            let file = format!("{origin}zone");
            fs::write(dir.join(&file), text).with_context(|| format!("writing {file}"))?;
            let _ = writeln!(config, "[[zone]]\norigin = \"{origin}\"\nfile = \"{file}\"");
        }
    }
    let (tlds_conf, leaves_conf) = (dir.join("tlds.toml"), dir.join("leaves.toml"));
    fs::write(&tlds_conf, tlds).with_context(|| format!("writing {}", tlds_conf.display()))?;
    fs::write(&leaves_conf, leaves).with_context(|| format!("writing {}", leaves_conf.display()))?;
    Ok((tlds_conf, leaves_conf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tld_is_delegated_with_glue_and_delegates_its_leaf() {
        let dir = std::env::temp_dir().join(format!("xtask-tlds-test-{}", std::process::id()));
        let (tlds, leaves) = write(&dir, 3).expect("written");
        let tlds = fs::read_to_string(tlds).expect("tlds.toml");
        let leaves = fs::read_to_string(leaves).expect("leaves.toml");
        let tld2 = fs::read_to_string(dir.join("tlds/tld2.zone")).expect("tld2.zone");
        let leaf2 = fs::read_to_string(dir.join("tlds/leaf.tld2.zone")).expect("leaf.tld2.zone");
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(tlds.matches("[[zone]]").count(), 3, "{tlds}");
        assert!(leaves.contains("origin = \"leaf.tld2.\""), "{leaves}");
        assert!(
            tld2.contains("leaf IN NS ns.leaf\n"),
            "the TLD refers to the leaf: {tld2}"
        );
        assert!(leaf2.contains(&format!("www IN A {}", zone::COLD_ANSWER)), "{leaf2}");
        let root = root_delegations(3);
        assert!(
            root.contains(&format!("tld2. IN NS ns.tld2.\nns.tld2. IN A {TLD_SERVER}\n")),
            "{root}"
        );
        assert_eq!(name(2), NAMES.replace('K', "2"));
    }
}

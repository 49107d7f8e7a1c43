//! Many lab TLDs, `tld0.` to `tldN.`, each delegating one leaf zone
//! `leaf.tldK.`: names whose cold resolution walks the whole hierarchy
//! (root, then the TLD, then the leaf), because no two measured names share
//! a delegation below the root.
use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, anyhow};

use super::{
    signed::{Denial, SharedKey},
    zone,
};
use crate::cmd::note;

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

/// What [`write`] wrote.
pub struct Written {
    /// The configuration of the TLDs' server.
    pub tlds: PathBuf,
    /// The configuration of the leaves' server.
    pub leaves: PathBuf,
    /// With the TLDs signed: their DS records, for the root zone.
    pub ds: String,
}

/// Configuration files for the two servers, with a zone file per zone
/// under `dir`: the TLDs' and the leaves'. With `signed`, every TLD is
/// signed (one shared key; its DS for the root in [`Written::ds`]) and
/// every leaf stays unsigned, as most names under a signed TLD are: a walk
/// then proves a TLD's keys from the root's DS and the leaf's delegation
/// insecure from the TLD's denial.
pub fn write(dir: &Path, count: u32, signed: Option<Denial>) -> Result<Written> {
    let dir = dir.join("tlds");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (mut tlds, mut leaves) = (String::new(), String::new());
    let mut tld_texts = Vec::new();
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
        tld_texts.push((tld, tld_text));
        let file = format!("{leaf}zone");
        fs::write(dir.join(&file), leaf_text).with_context(|| format!("writing {file}"))?;
        let _ = writeln!(leaves, "[[zone]]\norigin = \"{leaf}\"\nfile = \"{file}\"");
    }
    let (files, ds) = match signed {
        None => {
            let mut files = Vec::new();
            for (tld, text) in &tld_texts {
                let file = dir.join(format!("{tld}zone"));
                fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
                files.push(file);
            }
            (files, String::new())
        }
        Some(denial) => sign_all(&dir, &tld_texts, denial)?,
    };
    for ((tld, _), file) in tld_texts.iter().zip(files) {
        // Beside the configuration, as the leaves' are.
        let file = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let _ = writeln!(tlds, "[[zone]]\norigin = \"{tld}\"\nfile = \"{file}\"");
    }
    let written = Written {
        tlds: dir.join("tlds.toml"),
        leaves: dir.join("leaves.toml"),
        ds,
    };
    fs::write(&written.tlds, tlds).with_context(|| format!("writing {}", written.tlds.display()))?;
    fs::write(&written.leaves, leaves).with_context(|| format!("writing {}", written.leaves.display()))?;
    Ok(written)
}

/// Signs the zones `(origin, text)` in `dir` with one shared key, several
/// at a time (thousands of `ldns-signzone` runs, each waiting more than
/// computing: 8 at once signed 200 three times faster than one); returns
/// the signed files, in order, and the zones' DS records.
fn sign_all(dir: &Path, zones: &[(String, String)], denial: Denial) -> Result<(Vec<PathBuf>, String)> {
    note("bench", format!("signing {} lab TLDs", zones.len()));
    let key = SharedKey::new(dir, denial)?;
    let threads = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = zones.len().div_ceil(threads).max(1);
    let signed: Vec<Vec<(PathBuf, String)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = zones
            .chunks(chunk)
            .map(|part| {
                let key = &key;
                scope.spawn(move || {
                    part.iter()
                        .map(|(origin, text)| key.sign(origin, text))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().map_err(|_| anyhow!("a signing thread panicked"))?)
            .collect::<Result<_>>()
    })?;
    let (files, ds): (Vec<PathBuf>, Vec<String>) = signed.into_iter().flatten().unzip();
    Ok((files, ds.concat()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tld_is_delegated_with_glue_and_delegates_its_leaf() {
        let dir = std::env::temp_dir().join(format!("xtask-tlds-test-{}", std::process::id()));
        let written = write(&dir, 3, None).expect("written");
        let tlds = fs::read_to_string(written.tlds).expect("tlds.toml");
        let leaves = fs::read_to_string(written.leaves).expect("leaves.toml");
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

    #[test]
    fn signed_tlds_carry_the_shared_key_under_their_own_name_and_a_ds_each() {
        let dir = std::env::temp_dir().join(format!("xtask-tlds-signed-test-{}", std::process::id()));
        let written = write(&dir, 3, Some(Denial::Nsec)).expect("written and signed");
        let tlds = fs::read_to_string(&written.tlds).expect("tlds.toml");
        let tld2 = fs::read_to_string(dir.join("tlds/tld2.signed")).expect("tld2.signed");
        let leaves = fs::read_to_string(&written.leaves).expect("leaves.toml");
        let _ = fs::remove_dir_all(&dir);
        assert!(tlds.contains("file = \"tld2.signed\""), "{tlds}");
        assert!(
            leaves.contains("file = \"leaf.tld2.zone\""),
            "the leaves stay unsigned: {leaves}"
        );
        let dnskey = tld2.lines().find(|l| l.contains("\tDNSKEY\t")).expect("a DNSKEY");
        assert!(dnskey.starts_with("tld2.\t"), "{dnskey}");
        assert!(
            tld2.lines()
                .any(|l| l.starts_with("leaf.tld2.\t") && l.contains("\tNSEC\t")),
            "{tld2}"
        );
        let ds: Vec<&str> = written.ds.lines().collect();
        assert_eq!(ds.len(), 3, "{}", written.ds);
        // Owner, then (after an optional TTL and the class) DS, key tag,
        // algorithm, digest type, digest.
        let rdata = |line: &str| -> Vec<String> {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields.iter().position(|f| *f == "DS").expect("a DS record");
            fields[at + 1..].iter().map(|f| f.to_string()).collect()
        };
        for (k, line) in ds.iter().enumerate() {
            assert!(line.starts_with(&format!("tld{k}.\t")), "{line}");
            assert_eq!(rdata(line)[1..3], ["13", "2"], "{line}");
        }
        // One key, so one key tag; the digests differ with the owner.
        assert_eq!(rdata(ds[0])[0], rdata(ds[2])[0]);
        assert_ne!(rdata(ds[0])[3], rdata(ds[2])[3]);
    }
}

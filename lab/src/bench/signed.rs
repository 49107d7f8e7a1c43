//! The signed-zone mix of `cargo xtask bench auth --signed`: the bench zone with
//! delegations, signed at bench time by `ldns-signzone`, and a DO=1 query mix of
//! positive answers, NXDOMAIN, NODATA, wildcard answers and referrals.
use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

use super::zone::{self, ORIGIN};
use crate::cmd;

/// How the signed zone denies existence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Denial {
    /// An NSEC chain.
    Nsec,
    /// NSEC3 as RFC 9276 asks: no salt, no extra iterations.
    Nsec3,
    /// As `nsec3`, with Opt-Out: unsigned delegations have no NSEC3 of their own.
    Nsec3OptOut,
}

impl Denial {
    /// `ldns-signzone`'s arguments for this denial.
    fn args(self) -> &'static [&'static str] {
        match self {
            Denial::Nsec => &[],
            Denial::Nsec3 => &["-n", "-t", "0"],
            Denial::Nsec3OptOut => &["-n", "-t", "0", "-p"],
        }
    }
}

/// Delegations in the zone: even ones signed (with a DS), odd ones not.
const DELEGATIONS: u32 = 100;

/// Hosts the query mix asks about (the zone's own, see [`zone`]).
const HOSTS: u32 = 1000;

/// The unsigned text: the bench zone, plus delegations with glue.
fn zone_text() -> String {
    let mut text = zone::zone_text();
    for j in 0..DELEGATIONS {
        let _ = writeln!(text, "d{j} IN NS ns.d{j}");
        let _ = writeln!(text, "ns.d{j} IN A 198.19.254.{}", j + 1);
        if j % 2 == 0 {
            // The digest is a placeholder: nothing validates the child here.
            let _ = writeln!(text, "d{j} IN DS {} 13 2 {:064x}", 10000 + j, j + 1);
        }
    }
    text
}

/// kxdpgun's query file, every query with DO=1 (flag `D`). Per host, ten
/// queries: 4 NXDOMAIN, 2 NODATA, 2 positive, 1 wildcard answer and
/// 1 referral (the issue's 40% NXDOMAIN and 20% NODATA).
pub fn queries_text() -> String {
    let mut q = String::new();
    for i in 0..HOSTS {
        // Positive.
        let _ = writeln!(q, "h{i}.{ORIGIN} A D");
        let _ = writeln!(q, "h{i}.{ORIGIN} AAAA D");
        // NXDOMAIN: beside the hosts, below one, two labels down.
        let _ = writeln!(q, "nx{i}.{ORIGIN} A D");
        let _ = writeln!(q, "nxt{i}.{ORIGIN} TXT D");
        let _ = writeln!(q, "nx.h{i}.{ORIGIN} A D");
        let _ = writeln!(q, "a.nx{i}.{ORIGIN} AAAA D");
        // NODATA.
        let _ = writeln!(q, "h{i}.{ORIGIN} TXT D");
        let _ = writeln!(q, "h{i}.{ORIGIN} CAA D");
        // A wildcard answer (with the proof that the name itself does not exist).
        let _ = writeln!(q, "w{i}.{} A D", zone::COLD);
        // A referral: signed (DS) for even delegations, insecure (no-DS proof) for odd.
        let _ = writeln!(q, "www.d{}.{ORIGIN} A D", i % DELEGATIONS);
    }
    q
}

/// Signs the zone with `denial` in `dir` (keys: ECDSA P-256) and writes the
/// query file; returns the signed zone's path and the query file's.
pub fn write(dir: &Path, denial: Denial) -> Result<(PathBuf, PathBuf)> {
    let (signed, _) = sign(dir, ORIGIN, &zone_text(), denial)?;
    let queries = dir.join("queries.txt");
    fs::write(&queries, queries_text()).with_context(|| format!("writing {}", queries.display()))?;
    Ok((signed, queries))
}

/// Signs `text`, the zone `origin`, with `denial` in `dir` by `ldns-signzone`
/// (fresh ECDSA P-256 keys, a KSK and a ZSK); returns the signed file's path
/// and the DS record of the KSK (for the parent, or as a trust anchor).
pub fn sign(dir: &Path, origin: &str, text: &str, denial: Denial) -> Result<(PathBuf, String)> {
    let (ksk, zsk) = (keygen(dir, origin, true)?, keygen(dir, origin, false)?);
    let signed = sign_with(dir, origin, text, denial, &[&ksk, &zsk])?;
    let ds_file = dir.join(format!("{ksk}.ds"));
    let ds = fs::read_to_string(&ds_file).with_context(|| format!("reading {}", ds_file.display()))?;
    Ok((signed, ds))
}

/// A fresh ECDSA P-256 key for `origin` in `dir` by `ldns-keygen` (with
/// the SEP flag if `ksk`); returns its files' stem (`K<origin>+013+<tag>`).
fn keygen(dir: &Path, origin: &str, ksk: bool) -> Result<String> {
    let mut command = Command::new("ldns-keygen");
    command.current_dir(dir).args(["-a", "ECDSAP256SHA256"]);
    if ksk {
        command.arg("-k");
    }
    command.arg(origin);
    Ok(cmd::stdout(&mut command)?.trim().to_owned())
}

/// The file stem of zone `origin` in `dir`: `root` for the root.
fn stem(origin: &str) -> &str {
    match origin.trim_end_matches('.') {
        "" => "root",
        stem => stem,
    }
}

/// Signs `text`, the zone `origin`, with `denial` and the keys whose files'
/// stems are `keys` (in `dir`); returns the signed file's path.
fn sign_with(dir: &Path, origin: &str, text: &str, denial: Denial, keys: &[&str]) -> Result<PathBuf> {
    let stem = stem(origin);
    let plain = dir.join(format!("{stem}.unsigned"));
    fs::write(&plain, text).with_context(|| format!("writing {}", plain.display()))?;
    let signed = dir.join(format!("{stem}.signed"));
    let mut sign = Command::new("ldns-signzone");
    sign.current_dir(dir)
        .args(["-o", origin, "-f"])
        .arg(&signed)
        .args(denial.args())
        .arg(&plain)
        .args(keys);
    // Not echoed: the lab signs thousands of zones.
    cmd::stdout(&mut sign).with_context(|| format!("signing {origin} (is ldnsutils installed?)"))?;
    Ok(signed)
}

/// One key (a KSK, signing everything: a CSK) for many zones, so that
/// thousands of lab zones are signed without a key generated for each:
/// `ldns-signzone` wants key files named for the zone, so each zone gets a
/// copy whose owner is its own, and its DS follows from that copy.
pub struct SharedKey {
    dir: PathBuf,
    /// The stem of the key's files, as generated.
    stem: String,
    /// The generated key's owner name.
    owner: String,
    denial: Denial,
}

impl SharedKey {
    /// Generates the key in `dir`.
    pub fn new(dir: &Path, denial: Denial) -> Result<SharedKey> {
        let owner = "shared-key.".to_string();
        Ok(SharedKey {
            stem: keygen(dir, &owner, true)?,
            dir: dir.to_owned(),
            owner,
            denial,
        })
    }

    /// Signs `text`, the zone `origin`, with the key (written under
    /// `origin`'s name in the key's directory); returns the signed file's
    /// path and the zone's DS record for its parent.
    pub fn sign(&self, origin: &str, text: &str) -> Result<(PathBuf, String)> {
        let read = |suffix: &str| {
            let path = self.dir.join(format!("{}{suffix}", self.stem));
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let stem = self
            .stem
            .replacen(&format!("K{}", self.owner), &format!("K{origin}"), 1);
        let key = read(".key")?;
        let record = key
            .strip_prefix(&self.owner)
            .with_context(|| format!("{}.key does not start with {}", self.stem, self.owner))?;
        let write = |suffix: &str, text: String| {
            let path = self.dir.join(format!("{stem}{suffix}"));
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        write(".key", format!("{origin}{record}"))?;
        write(".private", read(".private")?)?;
        let signed = sign_with(&self.dir, origin, text, self.denial, &[&stem])?;
        let mut key2ds = Command::new("ldns-key2ds");
        key2ds
            .current_dir(&self.dir)
            .args(["-n", "-2"])
            .arg(format!("{stem}.key"));
        let ds = cmd::stdout(&mut key2ds).with_context(|| format!("the DS of {origin}"))?;
        Ok((signed, ds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_the_issue_shares() {
        let text = queries_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.ends_with(" D")), "every query asks with DO=1");
        let share = |pred: &dyn Fn(&str) -> bool| lines.iter().filter(|l| pred(l)).count() * 100 / lines.len();
        let nx = share(&|l| l.starts_with("nx") || l.starts_with("a.nx"));
        let nodata = share(&|l| l.ends_with(" TXT D") && l.starts_with('h') || l.ends_with(" CAA D"));
        assert_eq!((nx, nodata), (40, 20), "NXDOMAIN and NODATA shares, in percent");
    }

    #[test]
    fn delegations_are_in_the_zone_and_asked() {
        let text = zone_text();
        assert!(text.contains("d0 IN DS ") && !text.contains("d1 IN DS "));
        assert!(queries_text().contains("www.d99.bench.test. A D"));
    }
}

//! Signing test zones at test time with `ldns-signzone` (Debian's ldnsutils), in a temp dir.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// How a zone's non-existence is proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// An NSEC chain.
    Nsec,
    /// NSEC3 with no salt and no extra iterations (RFC 9276).
    Nsec3,
    /// As [`Denial::Nsec3`], with the Opt-Out flag: unsigned delegations get no NSEC3.
    Nsec3OptOut,
}

/// A zone signed by ldns-signzone: the signed file and the KSK's DS (a trust anchor).
pub struct Signed {
    /// The signed zone file.
    pub file: PathBuf,
    /// The KSK's DS records, in presentation format (`ldns-keygen`'s `.ds` file).
    pub ds: String,
}

/// Runs a tool in `dir`, panicking with its output when it fails; returns stdout.
fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("expected to run {program} (is ldnsutils installed?): {e}"));
    assert!(
        output.status.success(),
        "expected `{program} {}` to succeed; it said:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Writes `text` as the zone `origin` into `dir`, makes a KSK and a ZSK
/// (ECDSA P-256) and signs it with `denial`.
pub fn sign_zone(dir: &Path, origin: &str, text: &str, denial: Denial) -> Signed {
    let plain = dir.join(format!("{origin}zone"));
    std::fs::write(&plain, text).unwrap_or_else(|e| panic!("expected to write {}: {e}", plain.display()));
    let ksk = run(dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", "-k", origin]);
    let zsk = run(dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", origin]);
    let signed = dir.join(format!("{origin}signed"));
    let out = signed.display().to_string();
    let zone = plain.display().to_string();
    let mut args = vec!["-o", origin, "-f", &out];
    match denial {
        Denial::Nsec => {}
        Denial::Nsec3 => args.extend(["-n", "-t", "0"]),
        Denial::Nsec3OptOut => args.extend(["-n", "-t", "0", "-p"]),
    }
    args.extend([zone.as_str(), &ksk, &zsk]);
    run(dir, "ldns-signzone", &args);
    let ds_file = dir.join(format!("{ksk}.ds"));
    let ds = std::fs::read_to_string(&ds_file).unwrap_or_else(|e| panic!("expected {}: {e}", ds_file.display()));
    Signed { file: signed, ds }
}

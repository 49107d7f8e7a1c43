//! Signing test zones at test time with real signers, in a temp dir: `ldns-signzone`
//! (Debian's ldnsutils), BIND's `dnssec-signzone` (bind9-utils) and Knot's
//! `kzonesign` with a signing policy (knot-dnssecutils; keys made by Knot's key manager).

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

/// Which signer signs a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// `ldns-keygen` and `ldns-signzone`.
    Ldns,
    /// BIND's `dnssec-keygen` and `dnssec-signzone` (smart signing, keys from the directory).
    Bind,
    /// Knot's `kzonesign` under a policy, which makes the keys (KSK and ZSK) itself.
    Knot,
}

/// A signed zone: the signed file and the KSK's DS (a trust anchor).
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
        .unwrap_or_else(|e| panic!("expected to run {program} (are ldnsutils and bind9-utils installed?): {e}"));
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
/// (ECDSA P-256) and signs it with `denial`, by `signer`.
pub fn sign_zone(dir: &Path, origin: &str, text: &str, signer: Signer, denial: Denial) -> Signed {
    match signer {
        Signer::Ldns => sign_with_ldns(dir, origin, text, denial),
        Signer::Bind => sign_with_bind(dir, origin, text, denial),
        Signer::Knot => sign_with_knot(dir, origin, text, denial),
    }
}

fn sign_with_knot(dir: &Path, origin: &str, text: &str, denial: Denial) -> Signed {
    // One directory per zone: its KASP database, the plain file and the signed one.
    let base = dir.join(format!("knot-keys-{origin}"));
    let out = base.join("signed");
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("expected to create {}: {e}", out.display()));
    let plain = base.join(format!("{origin}zone"));
    std::fs::write(&plain, text).unwrap_or_else(|e| panic!("expected to write {}: {e}", plain.display()));
    // No salt, no extra iterations (RFC 9276).
    let nsec3 = match denial {
        Denial::Nsec => "off\n",
        Denial::Nsec3 => "on\n    nsec3-iterations: 0\n    nsec3-salt-length: 0\n",
        Denial::Nsec3OptOut => "on\n    nsec3-iterations: 0\n    nsec3-salt-length: 0\n    nsec3-opt-out: on\n",
    };
    let conf = base.join("knot.conf");
    let text = format!(
        "database:\n  storage: \"{b}\"\n\
         policy:\n  - id: test\n    algorithm: ecdsap256sha256\n    nsec3: {nsec3}\
         zone:\n  - domain: {origin}\n    file: \"{plain}\"\n    dnssec-signing: on\n    dnssec-policy: test\n",
        b = base.display(),
        plain = plain.display(),
    );
    std::fs::write(&conf, text).unwrap_or_else(|e| panic!("expected to write {}: {e}", conf.display()));
    let conf = conf.display().to_string();
    let out_s = out.display().to_string();
    run(&base, "kzonesign", &["-c", &conf, "-o", &out_s, origin]);
    let ds = run(&base, "keymgr", &["-c", &conf, origin, "ds"]);
    // SHA-256 only, as the other signers' DS.
    let ds = ds
        .lines()
        .filter(|l| l.split_whitespace().nth(4) == Some("2"))
        .collect::<Vec<_>>()
        .join("\n");
    Signed {
        file: out.join(format!("{origin}zone")),
        ds,
    }
}

fn sign_with_bind(dir: &Path, origin: &str, text: &str, denial: Denial) -> Signed {
    // One directory per zone: smart signing (-S) takes every key it finds there.
    let keys = dir.join(format!("bind-keys-{origin}"));
    std::fs::create_dir_all(&keys).unwrap_or_else(|e| panic!("expected to create {}: {e}", keys.display()));
    let plain = keys.join("zone");
    std::fs::write(&plain, text).unwrap_or_else(|e| panic!("expected to write {}: {e}", plain.display()));
    let ksk = run(
        &keys,
        "dnssec-keygen",
        &["-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-K", ".", origin],
    );
    run(
        &keys,
        "dnssec-keygen",
        &["-q", "-a", "ECDSAP256SHA256", "-K", ".", origin],
    );
    let signed = dir.join(format!("{origin}signed"));
    let out = signed.display().to_string();
    let mut args = vec!["-q", "-S", "-K", ".", "-o", origin, "-f", &out];
    match denial {
        Denial::Nsec => {}
        // No salt, no extra iterations (RFC 9276).
        Denial::Nsec3 => args.extend(["-3", "-", "-H", "0"]),
        Denial::Nsec3OptOut => args.extend(["-3", "-", "-H", "0", "-A"]),
    }
    args.push("zone");
    run(&keys, "dnssec-signzone", &args);
    let ds = run(&keys, "dnssec-dsfromkey", &["-2", &format!("{ksk}.key")]);
    Signed { file: signed, ds }
}

fn sign_with_ldns(dir: &Path, origin: &str, text: &str, denial: Denial) -> Signed {
    sign_with_ldns_args(dir, origin, text, denial, &[])
}

/// As [`sign_zone`] by `ldns-signzone`, with `extra` arguments for it (such as
/// `-i` and `-e` for the signatures' validity period).
pub fn sign_with_ldns_args(dir: &Path, origin: &str, text: &str, denial: Denial, extra: &[&str]) -> Signed {
    let plain = dir.join(format!("{origin}zone"));
    std::fs::write(&plain, text).unwrap_or_else(|e| panic!("expected to write {}: {e}", plain.display()));
    let ksk = run(dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", "-k", origin]);
    let zsk = run(dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", origin]);
    let signed = dir.join(format!("{origin}signed"));
    let out = signed.display().to_string();
    let zone = plain.display().to_string();
    let mut args = vec!["-o", origin, "-f", &out];
    args.extend(extra);
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

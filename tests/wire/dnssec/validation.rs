//! Unbound, validating with each signed zone's KSK as its trust anchor, resolves through
//! dns-server: secure (AD) answers with the right rcode, and SERVFAIL only for the name whose
//! record was changed after signing.

use std::{fs, process::Child};

use super::Zones;
use crate::{
    harness::{Response, Server, TempDir, kill, try_dig},
    recursion::unbound::spawn_unbound,
};

/// A validating Unbound on loopback, stub zones pointing at `auth_port`, killed on drop.
struct Validator {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Validator {
    fn start(zones: &Zones, auth_port: u16) -> Validator {
        let dir = TempDir::new("unbound-validator");
        // Anything outside the stub zones would go to a "root" on loopback, never further.
        let hints = dir.write("root.hints", ".  3600 NS a.root.\na.root. 3600 A 127.0.0.1\n");
        let mut zone_conf = String::new();
        for (_, signed) in &zones.signed {
            for ds in signed.ds.lines().filter(|l| !l.trim().is_empty()) {
                zone_conf.push_str(&format!("  trust-anchor: \"{}\"\n", ds.trim()));
            }
        }
        let mut stubs = String::new();
        for (origin, _) in &zones.signed {
            stubs.push_str(&format!(
                "stub-zone:\n  name: \"{origin}\"\n  stub-addr: 127.0.0.1@{auth_port}\n"
            ));
        }
        let options = format!(
            "  module-config: \"validator iterator\"\n  qname-minimisation: no\n  val-log-level: 2\n  \
             trust-anchor-signaling: no\n  root-key-sentinel: no\n{zone_conf}{stubs}"
        );
        let (child, port) = spawn_unbound("unbound (validating)", &dir, &hints, &options);
        Validator { child, port, dir }
    }

    fn resolve(&self, name: &str, rtype: &str) -> Response {
        try_dig(
            "127.0.0.1",
            self.port,
            &[name, rtype, "+recurse", "+dnssec", "+time=5", "+tries=2"],
        )
        .unwrap_or_else(|| panic!("expected unbound to answer {name} {rtype}; its log:\n{}", self.log()))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// How secure a validator must find an answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// AD set, in every zone.
    Secure,
    /// AD set, except in the Opt-Out zone: RFC 5155 9.2, a proof whose next closer
    /// name is covered by an Opt-Out NSEC3 shows only that the answer is insecure.
    SecureUnlessOptOut,
}

/// Questions (relative to the zone), the rcode a validator must reach, and how secure.
const QUESTIONS: &[(&str, &str, &str, Expect)] = &[
    ("@", "SOA", "NOERROR", Expect::Secure),
    ("www", "A", "NOERROR", Expect::Secure),
    ("www", "TXT", "NOERROR", Expect::Secure),
    ("www", "MX", "NOERROR", Expect::Secure),
    ("ent", "A", "NOERROR", Expect::Secure),
    ("y.ent", "TXT", "NOERROR", Expect::Secure),
    ("nothere", "A", "NXDOMAIN", Expect::SecureUnlessOptOut),
    ("a.b.nothere", "TXT", "NXDOMAIN", Expect::SecureUnlessOptOut),
    ("q.ent", "A", "NXDOMAIN", Expect::SecureUnlessOptOut),
    ("foo.wild", "A", "NOERROR", Expect::SecureUnlessOptOut),
    ("a.b.wild", "TXT", "NOERROR", Expect::SecureUnlessOptOut),
    ("foo.wild", "MX", "NOERROR", Expect::SecureUnlessOptOut),
    ("sub.wild", "MX", "NOERROR", Expect::Secure),
    ("a", "A", "NOERROR", Expect::Secure),
    ("dangling", "A", "NXDOMAIN", Expect::SecureUnlessOptOut),
    ("foo.wc", "A", "NOERROR", Expect::SecureUnlessOptOut),
    // The DNAME maps it to host.www, which does not exist.
    ("host.old", "A", "NXDOMAIN", Expect::SecureUnlessOptOut),
    ("secure", "DS", "NOERROR", Expect::Secure),
    ("insecure", "DS", "NOERROR", Expect::SecureUnlessOptOut),
    ("outside", "DS", "NOERROR", Expect::SecureUnlessOptOut),
    ("big", "TXT", "NOERROR", Expect::Secure),
];

#[test]
fn unbound_validates_our_signed_answers() {
    let dir = TempDir::new("dnssec-validate");
    let zones = Zones::make(&dir);
    let ours = Server::builder().zones(&zones.files()).start();
    let unbound = Validator::start(&zones, ours.port);
    let mut problems = Vec::new();
    for (origin, _) in &zones.signed {
        let opt_out = origin.starts_with("optout.");
        for &(label, rtype, rcode, expect) in QUESTIONS {
            let name = if label == "@" {
                origin.clone()
            } else {
                format!("{label}.{origin}")
            };
            let r = unbound.resolve(&name, rtype);
            let must_be_secure = expect == Expect::Secure || !opt_out;
            if r.rcode != rcode || (must_be_secure && !r.flag("ad")) {
                problems.push(format!(
                    "{name} {rtype}: expected {rcode}{}, got {} ad={}",
                    if must_be_secure { " with AD" } else { "" },
                    r.rcode,
                    r.flag("ad")
                ));
            }
        }
        let broken = unbound.resolve(&format!("broken.{origin}"), "A");
        if broken.rcode != "SERVFAIL" {
            problems.push(format!(
                "broken.{origin} A: expected SERVFAIL (its address is not the one signed), got {}",
                broken.rcode
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "expected Unbound to validate every answer of ours; {} failed:\n{}\n\nunbound's log:\n{}",
        problems.len(),
        problems.join("\n"),
        unbound.log()
    );
}

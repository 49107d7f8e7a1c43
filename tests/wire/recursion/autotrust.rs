//! RFC 5011 trust anchor tracking (`[resolver] auto_trust_anchor_file`) on a
//! lab root signed at test time with a second KSK beside the anchored one,
//! then with the second alone: the new key is trusted once the (test-short)
//! add hold-down has passed, the state file says so and a restart resumes
//! from it, while a static anchor of the old key finds no key it names.

use std::{path::Path, process::Command, thread, time::Duration};

use super::lab::{Lab, host};
use crate::harness::{Response, Server};

/// Runs an ldns tool in `dir`; returns its standard output, trimmed.
fn ldns(dir: &Path, tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("expected to run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A root zone of one-second TTLs (the resolver fetches its keys again at
/// once), signed with `keys` into `name`.
fn signed_root(dir: &Path, lab: &Lab, name: &str, keys: &[&str]) -> std::path::PathBuf {
    let plain = dir.join(format!("{name}.zone"));
    let mut text = format!(
        "$ORIGIN .\n$TTL 1\n. 1 IN SOA ns.root. hostmaster.root. 1 3600 600 86400 1\n. NS ns.root.\nns.root. A {}\n",
        lab.ip(host::ROOT)
    );
    for k in 0..6 {
        text.push_str(&format!("a{k}.root. A 192.0.2.{}\n", 50 + k));
    }
    std::fs::write(&plain, text).expect("expected to write the root zone");
    let signed = dir.join(format!("{name}.signed"));
    let (out, zone) = (signed.display().to_string(), plain.display().to_string());
    let mut args = vec!["-o", ".", "-f", &out, &zone];
    args.extend(keys);
    ldns(dir, "ldns-signzone", &args);
    signed
}

fn resolver(lab: &Lab, anchors: &Path, extra: &str) -> Server {
    Server::builder()
        .config(&format!(
            "[resolver]\nenabled = true\nallow = [\"127.0.0.0/8\"]\nroot_hints = \"{}\"\ntrust_anchor_file = \"{}\"\n\
             do_not_query_localhost = false\n{extra}",
            lab.hints().display(),
            anchors.display()
        ))
        .start()
}

fn ask(server: &Server, name: &str) -> Response {
    server.dig(&[name, "A", "+recurse", "+dnssec", "+tries=1", "+time=8"])
}

/// The states in the state file, sorted (`valid`, `addpend`, ...).
fn states(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("expected the state file");
    let mut states: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| l.split([' ', ':']).next())
        .map(str::to_string)
        .collect();
    states.sort();
    states
}

#[test]
fn a_new_root_key_is_trusted_after_the_add_hold_down() {
    test_support::require_root!("binding port 53 on loopback addresses");
    let mut lab = Lab::empty();
    let dir = lab.dir.path().to_path_buf();
    let old = ldns(&dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", "-k", "."]);
    let new = ldns(&dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", "-k", "."]);
    let zsk = ldns(&dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", "."]);
    let both = signed_root(&dir, &lab, "both", &[&old, &new, &zsk]);
    let only_new = signed_root(&dir, &lab, "new", &[&new, &zsk]);
    let anchors = dir.join(format!("{old}.ds"));
    let state = dir.join("root.key");
    let tracking = format!(
        "auto_trust_anchor_file = \"{}\"\nauto_trust_hold_down = 2\n",
        state.display()
    );

    lab.serve(&[(host::ROOT, ".", both)]);
    let server = resolver(&lab, &anchors, &tracking);
    let r = ask(&server, "a0.root.");
    assert!(r.flag("ad"), "secure from the configured anchor: {}", r.text);
    assert_eq!(
        states(&state),
        ["addpend", "valid"],
        "the new key pending, the anchored one trusted"
    );
    thread::sleep(Duration::from_secs(3));
    let r = ask(&server, "a1.root.");
    assert!(r.flag("ad"), "{}", r.text);
    assert_eq!(
        states(&state),
        ["valid", "valid"],
        "seen again past the hold-down: trusted\n{}",
        server.stderr()
    );

    // The old key withdrawn: the zone is signed by the new key alone.
    lab.stop_all();
    lab.serve(&[(host::ROOT, ".", only_new)]);
    thread::sleep(Duration::from_secs(2));
    let r = ask(&server, "a2.root.");
    assert_eq!(
        (r.rcode.as_str(), r.flag("ad")),
        ("NOERROR", true),
        "the tracked key holds: {}",
        r.text
    );
    assert_eq!(
        states(&state),
        ["missing", "valid"],
        "the old key missing, still trusted"
    );
    let fixed = resolver(&lab, &anchors, "");
    let r = ask(&fixed, "a3.root.");
    assert_eq!(r.rcode, "SERVFAIL", "a static anchor of the old key: {}", r.text);
    assert!(r.text.contains("EDE: 9"), "with EDE 9 (DNSKEY Missing): {}", r.text);
    drop(server);
    let restarted = resolver(&lab, &anchors, &tracking);
    let r = ask(&restarted, "a4.root.");
    assert!(r.flag("ad"), "a restart resumes from the state file: {}", r.text);
}

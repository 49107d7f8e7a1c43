//! `dns-server check-zone` and `check-config`: exit codes and `file:line: message` errors.

use std::{path::Path, process::Command};

use crate::harness::{TempDir, zone_path};

/// Runs the binary; returns whether it succeeded and its stdout and stderr together.
fn run(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dns-server"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("expected to run dns-server {args:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The line numbers `output` gives for `file` as `file:LINE:`.
fn lines_reported(output: &str, file: &Path) -> Vec<usize> {
    let prefix = format!("{}:", file.display());
    output
        .match_indices(&prefix)
        .filter_map(|(at, _)| {
            let rest = &output[at + prefix.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            rest[digits.len()..]
                .starts_with(':')
                .then(|| digits.parse().ok())
                .flatten()
        })
        .collect()
}

const HEAD: &str = "$ORIGIN broken.example.
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 600 86400 300
@    IN NS  ns1
ns1  IN A   192.0.2.1
";

/// Broken zones: (what is wrong, zone text, the lines an error may point at; empty = any).
fn broken_zones() -> Vec<(&'static str, String, Vec<usize>)> {
    vec![
        (
            "no SOA",
            "$ORIGIN broken.example.\n$TTL 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\n".into(),
            vec![],
        ),
        (
            "CNAME beside A",
            format!("{HEAD}www  IN A   192.0.2.2\nwww  IN CNAME ns1\n"),
            vec![6, 7],
        ),
        (
            "record outside the zone",
            format!("{HEAD}other.example. IN A 192.0.2.3\n"),
            vec![6],
        ),
        (
            "bad IPv4 address",
            format!("{HEAD}www  IN A   192.0.2.999\nmail IN A 192.0.2.4\n"),
            vec![6],
        ),
        (
            "unknown type",
            format!("{HEAD}mail IN A 192.0.2.4\nwww  IN NOSUCHTYPE data\n"),
            vec![7],
        ),
        (
            "unbalanced parenthesis",
            format!("{HEAD}www  IN TXT ( \"open\"\n"),
            vec![],
        ),
    ]
}

#[test]
fn check_zone_accepts_the_test_zones() {
    for (origin, file) in [
        ("diff.example.", "diff.example.zone"),
        ("deep.diff.example.", "deep.diff.example.zone"),
    ] {
        let path = zone_path(file);
        let (ok, output) = run(&["check-zone", origin, &path.display().to_string()]);
        assert!(ok, "expected check-zone to accept {file}; it said:\n{output}");
    }
}

#[test]
fn check_zone_rejects_broken_zones_with_file_and_line() {
    let dir = TempDir::new("check-zone");
    let mut failures = Vec::new();
    for (n, (what, text, lines)) in broken_zones().into_iter().enumerate() {
        let path = dir.write(&format!("broken{n}.zone"), &text);
        let (ok, output) = run(&["check-zone", "broken.example.", &path.display().to_string()]);
        let reported = lines_reported(&output, &path);
        if ok {
            failures.push(format!(
                "{what}: expected a non-zero exit, got success; output:\n{output}"
            ));
        } else if reported.is_empty() {
            failures.push(format!(
                "{what}: expected `{}:LINE: message`, got:\n{output}",
                path.display()
            ));
        } else if !lines.is_empty() && !reported.iter().any(|l| lines.contains(l)) {
            failures.push(format!(
                "{what}: expected the error on line {lines:?}, got lines {reported:?}:\n{output}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "check-zone on broken zones:\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn check_zone_rejects_a_missing_file() {
    let dir = TempDir::new("check-zone-missing");
    let path = dir.path().join("absent.zone");
    let (ok, output) = run(&["check-zone", "broken.example.", &path.display().to_string()]);
    assert!(!ok, "expected check-zone to fail on a missing file; output:\n{output}");
    assert!(
        output.contains(&path.display().to_string()),
        "expected the error to name the file; output:\n{output}"
    );
}

#[test]
fn check_config_accepts_a_good_config() {
    let dir = TempDir::new("check-config-good");
    let config = dir.write(
        "dns.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:5353\"]\nidentity = \"pop1\"\n\n[[zone]]\norigin = \"diff.example.\"\nfile = \"{}\"\n",
            zone_path("diff.example.zone").display()
        ),
    );
    let (ok, output) = run(&["check-config", &config.display().to_string()]);
    assert!(ok, "expected check-config to accept a valid config; it said:\n{output}");
}

#[test]
fn check_config_reports_file_and_line() {
    let dir = TempDir::new("check-config-bad");
    let cases = [
        (
            "unknown key",
            "[server]\nidentity = \"pop1\"\nlisten_on = [\"127.0.0.1:53\"]\n",
            3,
        ),
        ("bad address", "[server]\n\nlisten = [\"not-an-address\"]\n", 3),
        (
            "payload below 512",
            "[server]\nidentity = \"pop1\"\nudp_payload = 100\n",
            3,
        ),
        ("TOML syntax", "[server]\nidentity = \"pop1\"\n\n[[zone]\n", 4),
    ];
    let mut failures = Vec::new();
    for (n, (what, text, line)) in cases.into_iter().enumerate() {
        let path = dir.write(&format!("bad{n}.toml"), text);
        let (ok, output) = run(&["check-config", &path.display().to_string()]);
        let reported = lines_reported(&output, &path);
        if ok || !reported.contains(&line) {
            failures.push(format!(
                "{what}: expected failure with `{}:{line}:`, got success={ok}:\n{output}",
                path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "check-config on broken configs:\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn check_config_checks_the_zones_it_names() {
    let dir = TempDir::new("check-config-zone");
    let zone = dir.write("broken.zone", &format!("{HEAD}other.example. IN A 192.0.2.3\n"));
    let config = dir.write(
        "dns.toml",
        "[[zone]]\norigin = \"broken.example.\"\nfile = \"broken.zone\"\n",
    );
    let (ok, output) = run(&["check-config", &config.display().to_string()]);
    assert!(
        !ok,
        "expected check-config to fail when a zone is broken; output:\n{output}"
    );
    assert!(
        lines_reported(&output, &zone).contains(&6) || output.contains("broken.zone:6:"),
        "expected the zone error as `{}:6: ...`; output:\n{output}",
        zone.display()
    );
}

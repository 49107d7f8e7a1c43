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
        // Every new presentation format, and the origin without its trailing dot.
        ("formats.example", "formats.example.zone"),
        ("formats.example.", "formats.example.knot.zone"),
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

/// Out-of-zone records and TXT strings over 255 bytes are let through with a
/// warning at their `file:line` and a count, as Knot does; `--strict` refuses
/// the out-of-zone record.
#[test]
fn check_zone_warns_and_counts_what_it_lets_through() {
    let dir = TempDir::new("check-zone-warnings");
    let long = "x".repeat(300);
    let path = dir.write(
        "lenient.zone",
        &format!("{HEAD}other.example. IN A 192.0.2.3\nt IN TXT \"{long}\"\nelse.example. IN A 192.0.2.4\n"),
    );
    let file = path.display().to_string();
    let (ok, output) = run(&["check-zone", "broken.example", &file]);
    assert!(
        ok,
        "expected check-zone to accept the zone with warnings; it said:\n{output}"
    );
    for line in [6, 7, 8] {
        assert!(
            lines_reported(&output, &path).contains(&line),
            "expected a warning at `{file}:{line}:`; output:\n{output}"
        );
    }
    assert!(
        output.contains("out-of-zone record other.example. skipped")
            && output.contains("3 warnings (out-of-zone records skipped: 2, strings over 255 bytes split: 1)"),
        "expected each warning and the counts; output:\n{output}"
    );
    let (ok, output) = run(&["check-zone", "--strict", "broken.example.", &file]);
    assert!(
        !ok,
        "expected --strict to refuse the out-of-zone record; output:\n{output}"
    );
    assert!(
        lines_reported(&output, &path).contains(&6) && output.contains("out-of-zone record other.example."),
        "expected the error at `{file}:6:`; output:\n{output}"
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
    let zone = dir.write("broken.zone", &format!("{HEAD}www  IN A   192.0.2.999\n"));
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

/// A marker in the files `$INCLUDE` must not reach: no output may contain it.
const SECRET: &str = "root:x:0:0:SECRET-MARKER-4f1d";

/// Runs the binary like [`run`], but kills it if it has not finished in 20 s
/// (a FIFO or device that blocks the reader would otherwise hang the test).
fn run_bounded(args: &[&str]) -> (bool, String) {
    let dir = TempDir::new("check-output");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let file = |p: &Path| std::fs::File::create(p).expect("expected to create an output file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dns-server"))
        .args(args)
        .stdout(file(&out))
        .stderr(file(&err))
        .spawn()
        .unwrap_or_else(|e| panic!("expected to run dns-server {args:?}: {e}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("expected to wait for dns-server") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dns-server {args:?} did not finish in 20 s: a read blocked");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    (status.success(), text)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("expected to run mkfifo");
    assert!(status.success(), "expected mkfifo {} to succeed", path.display());
}

/// Each `$INCLUDE` that reaches outside the zone's directory, or at something
/// that is not a regular file, or too deep, is refused: the error names the
/// zone file and the `$INCLUDE`'s line, and quotes nothing of the target.
#[test]
fn check_zone_refuses_includes_outside_their_place() {
    let dir = TempDir::new("check-include");
    let zones = dir.path().join("zones");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&zones).expect("expected to create the zones dir");
    std::fs::create_dir_all(&outside).expect("expected to create the outside dir");
    // A line that would be quoted in a parse error if it were ever read.
    let secret = outside.join("shadow");
    std::fs::write(&secret, format!("{SECRET}:::\n")).expect("expected to write the secret");
    std::os::unix::fs::symlink(&secret, zones.join("link")).expect("expected to create a symlink");
    mkfifo(&zones.join("fifo"));
    std::fs::write(zones.join("loop"), "$INCLUDE loop\n").expect("expected to write the loop");
    std::fs::write(zones.join("hosts"), "www IN A 192.0.2.80\n").expect("expected to write hosts");

    let cases = [
        ("an absolute path outside", secret.display().to_string(), "refused"),
        ("a ../ escape", "../outside/shadow".to_string(), "refused"),
        ("a symlink out", "link".to_string(), "refused"),
        ("/dev/zero", "/dev/zero".to_string(), "refused"),
        ("a FIFO", "fifo".to_string(), "not a regular file"),
        ("a file including itself", "loop".to_string(), "nested"),
    ];
    let mut failures = Vec::new();
    for (n, (what, target, needle)) in cases.iter().enumerate() {
        let zone = dir.write(&format!("zones/case{n}.zone"), &format!("{HEAD}$INCLUDE {target}\n"));
        let (ok, output) = run_bounded(&["check-zone", "broken.example.", &zone.display().to_string()]);
        let reported = lines_reported(&output, &zone);
        if ok || output.contains(SECRET) || !output.contains(needle) {
            failures.push(format!(
                "{what}: expected a failure saying {needle:?} and quoting nothing of the target, got success={ok}:\n{output}"
            ));
        } else if *needle != "nested" && !reported.contains(&6) {
            failures.push(format!(
                "{what}: expected the error at `{}:6:` (the $INCLUDE), got:\n{output}",
                zone.display()
            ));
        }
    }
    assert!(failures.is_empty(), "$INCLUDE attacks:\n\n{}", failures.join("\n\n"));

    let good = dir.write("zones/good.zone", &format!("{HEAD}$INCLUDE hosts\n"));
    let (ok, output) = run_bounded(&["check-zone", "broken.example.", &good.display().to_string()]);
    assert!(
        ok,
        "expected an include beside the zone file to be read; got:\n{output}"
    );
}

/// `include_dirs` opens another directory to `$INCLUDE`; `zone_file_max_bytes`
/// refuses a file that is too large without quoting it.
#[test]
fn check_config_applies_include_dirs_and_size_limits() {
    let dir = TempDir::new("check-include-config");
    let common = dir.path().join("common");
    std::fs::create_dir_all(&common).expect("expected to create the common dir");
    std::fs::write(common.join("hosts"), "www IN A 192.0.2.81\n").expect("expected to write hosts");
    let big = format!("{SECRET}\n").repeat(100);
    dir.write("big", &big);
    let shared = dir.write("shared.zone", &format!("{HEAD}$INCLUDE common/hosts\n"));
    let large = dir.write("large.zone", &format!("{HEAD}$INCLUDE big\n"));
    let config = |zone: &Path, extra: &str| {
        format!(
            "[server]\n{extra}\n[[zone]]\norigin = \"broken.example.\"\nfile = \"{}\"\n",
            zone.display()
        )
    };

    // The shared file is under the zone's directory here; move the zone to see include_dirs matter.
    let sub = dir.path().join("zones");
    std::fs::create_dir_all(&sub).expect("expected to create the zones dir");
    let moved = sub.join("shared.zone");
    std::fs::write(&moved, format!("{HEAD}$INCLUDE ../common/hosts\n")).expect("expected to write the zone");
    let refused = dir.write("refused.toml", &config(&moved, ""));
    let (ok, output) = run_bounded(&["check-config", &refused.display().to_string()]);
    assert!(
        !ok && output.contains("refused"),
        "expected ../common/hosts refused without include_dirs; got success={ok}:\n{output}"
    );
    let allowed = dir.write("allowed.toml", &config(&moved, "include_dirs = [\"common\"]"));
    let (ok, output) = run_bounded(&["check-config", &allowed.display().to_string()]);
    assert!(ok, "expected include_dirs to allow common/hosts; got:\n{output}");
    let (ok, output) = run_bounded(&[
        "check-config",
        &dir.write("beside.toml", &config(&shared, "")).display().to_string(),
    ]);
    assert!(
        ok,
        "expected a subdirectory of the zone's directory to be allowed; got:\n{output}"
    );

    let limited = dir.write("limited.toml", &config(&large, "zone_file_max_bytes = 1000"));
    let (ok, output) = run_bounded(&["check-config", &limited.display().to_string()]);
    assert!(
        !ok && output.contains("zone_file_max_bytes") && !output.contains(SECRET),
        "expected the {} byte include refused as too large, quoting nothing; got success={ok}:\n{output}",
        big.len()
    );
    assert!(
        lines_reported(&output, &large).contains(&6),
        "expected the error at `{}:6:`; got:\n{output}",
        large.display()
    );
    let total = dir.write("total.toml", &config(&large, "zone_max_bytes = 2000"));
    let (ok, output) = run_bounded(&["check-config", &total.display().to_string()]);
    assert!(
        !ok && output.contains("zone_max_bytes") && !output.contains(SECRET),
        "expected the zone refused as too large in total, quoting nothing; got success={ok}:\n{output}"
    );
}

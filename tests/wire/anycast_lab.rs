//! The anycast failover lab (`cargo xtask lab`) as a test: two PoPs (BIRD and
//! GoBGP) with server, XDP and sidecar, a BIRD router and a client. The lab
//! fails when a step does not end with the expected PoP serving the client
//! and probes answered again; its timings are printed, never asserted.

use std::{path::Path, process::Command};

#[test]
fn failover_lab_moves_the_client_between_pops() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&workspace)
        .args(["run", "--quiet", "--package", "xtask", "--", "lab", "--server-bin"])
        .arg(env!("CARGO_BIN_EXE_dns-server"))
        // Its own target directory: the test run holds the workspace's.
        .env("CARGO_TARGET_DIR", workspace.join("target/lab-xtask"))
        .output()
        .expect("expected to run cargo xtask lab");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "expected every lab step to end with the right PoP serving the client:\n{text}"
    );
    assert!(
        text.contains("pop-a") && text.contains("pop-b"),
        "both PoPs answered at some point:\n{text}"
    );
}

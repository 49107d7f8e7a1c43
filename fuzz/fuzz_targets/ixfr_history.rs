//! The IXFR-out history file on arbitrary bytes, as a start takes it back;
//! what is taken back must be one chain ending at the zone's SOA, and the
//! file written again from it must be taken back the same.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

/// This process's directory for the file (fuzzing jobs run side by side);
/// one file in it, rewritten on every run.
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("dns-server-fuzz-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns_server::fuzz::ixfr_history(dir(), data);
});

//! The zone file reader on arbitrary bytes, as a load reads a zone file, with
//! `$INCLUDE` confined to a scratch directory whose errors must never quote
//! the file beside it; a zone that loads answers its apex.
#![no_main]

use std::sync::OnceLock;

use dns_server::fuzz::ZoneSandbox;

/// One directory for every run and every job: its files are rewritten
/// whole at start, so nothing accumulates in the temporary directory.
fn sandbox() -> &'static ZoneSandbox {
    static SANDBOX: OnceLock<ZoneSandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let dir = std::env::temp_dir().join("dns-server-fuzz-zone");
        ZoneSandbox::new(&dir).unwrap_or_else(|e| panic!("cannot lay out {}: {e}", dir.display()))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sandbox().read_zone(data);
});

//! The IXFR-out history file on arbitrary bytes, as a start takes it back.

use std::{path::Path, sync::OnceLock};

use crate::{name::Name, transfer::history, zone::load, zone::tree::Zone};

/// The zone whose history the input is: `fuzz.example.` at serial 3 (the
/// seeds are differences 1 to 2 and 2 to 3 of it).
const HISTORY_ZONE: &str =
    "$TTL 300\n@ SOA ns1 hostmaster 3 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.82\n";

fn zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| {
        let origin = Name::parse("fuzz.example.", None).unwrap_or_else(|e| panic!("fuzz.example.: {e}"));
        load::from_str(&origin, HISTORY_ZONE, Path::new("<history zone>"))
            .unwrap_or_else(|e| panic!("the history's zone: {e}"))
    })
}

/// Bytes as the IXFR history file of `fuzz.example.` (serial 3) in `dir` (the
/// caller's, written on every call: one per process or thread), taken back
/// as a start takes it: the differences restored, or `None`. Panics when
/// they are not one chain ending at the zone's SOA, or when the file
/// written again from them is taken back otherwise.
pub fn ixfr_history(dir: &Path, bytes: &[u8]) -> Option<usize> {
    history::reread_on_disk(dir, zone(), bytes)
}

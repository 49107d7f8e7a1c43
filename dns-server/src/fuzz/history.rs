//! The IXFR-out history file on arbitrary bytes, as a start takes it back.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

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

/// The history directory: one per thread (of each process), since the
/// file is written on every run and fuzzing jobs, like tests, run side by side.
fn with_dir<T>(f: impl FnOnce(&Path) -> T) -> T {
    thread_local! {
        static DIR: PathBuf = {
            let dir = std::env::temp_dir().join(format!(
                "dns-server-fuzz-history-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ).replace(['(', ')'], ""));
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            dir
        };
    }
    DIR.with(|dir| f(dir))
}

/// Bytes as the IXFR history file of [`HISTORY_ZONE`], taken back as a
/// start takes it: the differences restored, or `None`. Panics when they
/// are not one chain ending at the zone's SOA, or when the file written
/// again from them is taken back otherwise.
pub fn ixfr_history(bytes: &[u8]) -> Option<usize> {
    with_dir(|dir| history::reread_on_disk(dir, zone(), bytes))
}

//! The IXFR-out history on disk, in the secondary journal's form, so that
//! a restart keeps the differences our own secondaries may still ask for.
//!
//! One file per zone, `DATA_DIR/NAME.history`, a block per difference
//! (written by [`store::change_block`], read by [`store::read_journal`]):
//! the old SOA first among the removals, the new SOA first among the
//! additions. New differences are appended (not synced: a torn last block
//! is noticed and left out, and a lost history only means AXFR); the file
//! is rewritten from memory when it holds twice what the history keeps,
//! and whenever the history was cleared. At start a zone's history is
//! taken back only when its last difference ends at exactly the SOA the
//! zone was loaded with.

use std::{
    fs::{self, OpenOptions},
    io::{self, Write as _},
    path::{Path, PathBuf},
    sync::Arc,
};

use dns_wire::wire::rtype;

use super::{Delta, HISTORY_BYTES, HISTORY_VERSIONS, History, OwnedRr};
use crate::{
    name::Name,
    secondary::{store, stream},
    transfer::records::{Rr, soa},
    zone::{tree::Zone, update::Change},
};

/// The file of the zone at `origin` (lower-cased wire name), under `dir`.
pub(super) fn path(dir: &Path, origin: &[u8]) -> Option<PathBuf> {
    let name = Name::from_wire(origin)?.to_string().to_lowercase();
    let name = match name.trim_end_matches('.') {
        "" => "root".to_string(),
        name => name.replace('/', "_"),
    };
    Some(dir.join(format!("{name}.history")))
}

/// What the file of one zone holds, beside the history in memory.
#[derive(Debug, Default)]
pub(super) struct OnDisk {
    /// Differences in the file.
    pub deltas: usize,
    /// Its length.
    pub bytes: usize,
    /// The file no longer follows the history (cleared, or never written
    /// by this run): the next save rewrites it.
    pub stale: bool,
    /// Differences recorded since the last save, at the history's end.
    pub unsaved: usize,
}

/// One save to do, prepared under the histories' lock and done outside it.
pub(super) enum Save {
    /// Replace the file with these differences (none: remove it).
    Rewrite(PathBuf, Vec<Arc<Delta>>),
    /// Append these to the file.
    Append(PathBuf, Vec<Arc<Delta>>),
}

impl History {
    /// What to write for this history's file, if anything; updates the
    /// bookkeeping as if it were written.
    pub(super) fn save(&mut self, dir: &Path, origin: &[u8]) -> Option<Save> {
        let disk = &mut self.disk;
        if !disk.stale && disk.unsaved == 0 {
            return None;
        }
        let path = path(dir, origin)?;
        let unsaved = disk.unsaved.min(self.deltas.len());
        let new: Vec<Arc<Delta>> = self.deltas.iter().skip(self.deltas.len() - unsaved).cloned().collect();
        let new_bytes: usize = new.iter().map(|d| d.bytes).sum();
        disk.unsaved = 0;
        let outgrown = disk.deltas + new.len() > 2 * HISTORY_VERSIONS || disk.bytes + new_bytes > 2 * HISTORY_BYTES;
        if disk.stale || outgrown {
            disk.stale = false;
            disk.deltas = self.deltas.len();
            disk.bytes = self.bytes;
            return Some(Save::Rewrite(path, self.deltas.iter().cloned().collect()));
        }
        disk.deltas += new.len();
        // The footprint in memory stands in for the file's length: both
        // grow with the records, and the bound is loose (twice the history).
        disk.bytes += new_bytes;
        Some(Save::Append(path, new))
    }
}

impl Save {
    /// Writes it; an error leaves the file to be rewritten at the next save.
    pub(super) fn write(self) -> io::Result<()> {
        match self {
            Save::Rewrite(path, deltas) if deltas.is_empty() => match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            Save::Rewrite(path, deltas) => store::write_atomically(&path, text(&deltas).as_bytes()),
            Save::Append(path, deltas) => {
                let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
                file.write_all(text(&deltas).as_bytes())
            }
        }
    }

    /// The file it writes.
    pub(super) fn path(&self) -> &Path {
        match self {
            Save::Rewrite(path, _) | Save::Append(path, _) => path,
        }
    }
}

fn text(deltas: &[Arc<Delta>]) -> String {
    let mut out = String::new();
    for d in deltas {
        let removed = std::iter::once(d.from_soa.as_rr()).chain(d.removed.iter().map(OwnedRr::as_rr));
        let added = std::iter::once(d.to_soa.as_rr()).chain(d.added.iter().map(OwnedRr::as_rr));
        store::change_block(
            &mut out,
            d.from_serial,
            soa_serial(&d.to_soa).unwrap_or(0),
            removed,
            added,
        );
    }
    out
}

fn soa_serial(rr: &OwnedRr) -> Option<u32> {
    crate::zone::tree::soa_fields(rr.as_rr().rdata).map(|f| f.serial)
}

fn owned(c: &Change) -> OwnedRr {
    OwnedRr::of(Rr {
        owner: c.owner.as_wire(),
        rtype: c.rtype,
        class: c.class,
        ttl: c.ttl,
        rdata: &c.rdata,
    })
}

/// A difference read back, when it has the shape written.
fn delta_of(d: &stream::Delta, apex: &[u8]) -> Option<Delta> {
    let is_soa = |c: &&Change| c.rtype == rtype::SOA && c.owner.as_wire().eq_ignore_ascii_case(apex);
    let (from_soa, removed) = d.update.remove.split_first().filter(|(soa, _)| is_soa(soa))?;
    let (to_soa, added) = d.update.add.split_first().filter(|(soa, _)| is_soa(soa))?;
    let mut delta = Delta {
        from_soa: owned(from_soa),
        to_soa: owned(to_soa),
        removed: removed.iter().map(owned).collect(),
        added: added.iter().map(owned).collect(),
        from_serial: d.from,
        to_version: 0,
        bytes: 0,
    };
    delta.bytes = delta.footprint();
    Some(delta)
}

/// The history of `zone` (served as version `version`) kept in `dir`, when
/// its file ends at exactly the zone's SOA; `None` otherwise.
pub(super) fn restore(dir: &Path, zone: &Zone, version: u64) -> Option<History> {
    let origin = zone.origin.as_wire();
    let path = path(dir, origin)?;
    let text = fs::read_to_string(&path).ok()?;
    let mut history = History::default();
    let mut in_file = 0;
    for read in store::read_journal(&zone.origin, &path, &text) {
        let delta = match read.ok().and_then(|d| delta_of(&d, origin)) {
            Some(delta) => delta,
            None => {
                tracing::info!(zone = %zone.origin, file = %path.display(), "IXFR history file ends in a damaged or unreadable difference; using what came before");
                break;
            }
        };
        let follows = history
            .deltas
            .back()
            .is_none_or(|last| soa_serial(&last.to_soa) == Some(delta.from_serial));
        if !follows {
            // Not one chain (a stray file): nothing of it is trusted.
            return None;
        }
        in_file += 1;
        history.push(delta);
    }
    let current = OwnedRr::of(soa(zone));
    let last = history.deltas.pop_back()?;
    if last.to_soa.as_rr() != current.as_rr() {
        tracing::info!(zone = %zone.origin, serial = zone.serial, file = %path.display(), "IXFR history on disk ends at another version; not used");
        return None;
    }
    let mut last = Arc::try_unwrap(last).ok()?;
    last.to_version = version;
    history.deltas.push_back(Arc::new(last));
    history.disk = OnDisk {
        deltas: in_file,
        bytes: text.len(),
        stale: false,
        unsaved: 0,
    };
    Some(history)
}

/// `text` as the history file of `zone` in `dir`, taken back as a start
/// does (the fuzz target `ixfr_history`): the differences restored, or
/// `None`. Panics when what is restored is not one chain ending at the
/// zone's SOA, or when the file rewritten from it restores otherwise.
pub(super) fn reread(dir: &Path, zone: &Zone, text: &[u8]) -> Option<usize> {
    let file = path(dir, zone.origin.as_wire())?;
    fs::write(&file, text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let history = restore(dir, zone, 1)?;
    let last = history.deltas.back().expect("a restored history is not empty");
    assert_eq!(
        last.to_soa,
        OwnedRr::of(soa(zone)),
        "a restored history ends elsewhere than the zone's SOA"
    );
    for (before, after) in history.deltas.iter().zip(history.deltas.iter().skip(1)) {
        assert_eq!(
            soa_serial(&before.to_soa),
            Some(after.from_serial),
            "a restored history is not one chain"
        );
    }
    Save::Rewrite(file.clone(), history.deltas.iter().cloned().collect())
        .write()
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let again = restore(dir, zone, 1).expect("the history we wrote restores");
    let shape = |d: &Arc<Delta>| {
        (
            d.from_soa.clone(),
            d.to_soa.clone(),
            d.removed.clone(),
            d.added.clone(),
            d.from_serial,
        )
    };
    let first: Vec<_> = history.deltas.iter().map(shape).collect();
    let second: Vec<_> = again.deltas.iter().map(shape).collect();
    assert_eq!(first, second, "the history we wrote restores otherwise");
    Some(history.deltas.len())
}

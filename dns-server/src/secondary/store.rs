//! Transferred zones on disk: the zone file, replaced atomically, and a journal of IXFR changes.
//!
//! The zone file is written in master-file syntax with every RDATA in the
//! RFC 3597 generic form (`\# LEN HEX`), which our loader, Knot, BIND and
//! NSD all read back byte for byte. Each IXFR appends its changes to
//! `FILE.journal` (a block per change, ended by a line that says so, so a
//! torn last block is noticed and left out); when the journal outgrows half
//! the zone file, the zone file is rewritten and the journal removed. At
//! start the zone file is read, the journal's changes that follow its serial
//! are applied, and the zone is served at once; its last refresh is taken
//! from the files' modification time.

use std::{
    fmt::Write as _,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::{serial::newer, stream::Delta};
use crate::{
    name::{Name, write_presentation},
    transfer::records::Rr,
    zone::{
        Record, load,
        parse::{class_name, parse_str},
        rdata_text::type_name,
        source::ReadLimits,
        tree::Zone,
        update::{Change, Update},
    },
};

/// A journal smaller than this is never compacted (a small zone's few changes).
const JOURNAL_MIN_COMPACT: u64 = 64 * 1024;

/// The journal beside a zone file.
pub(crate) fn journal_path(file: &Path) -> PathBuf {
    let mut path = file.as_os_str().to_owned();
    path.push(".journal");
    PathBuf::from(path)
}

fn record_line(out: &mut String, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
    let _ = write_presentation(owner, out);
    let _ = write!(
        out,
        " {ttl} {} {} \\# {}",
        class_name(class),
        type_name(rtype),
        rdata.len()
    );
    if !rdata.is_empty() {
        out.push(' ');
        data_encoding::HEXLOWER.encode_append(rdata, out);
    }
    out.push('\n');
}

/// Writes the zone in master-file syntax to `out`, a node at a time (a
/// million records are never held as one text).
fn write_zone_text(out: &mut impl Write, zone: &Zone) -> io::Result<()> {
    let mut text = format!("; {} serial {}, transferred by dns-server\n", zone.origin, zone.serial);
    for node in zone.nodes() {
        for set in node.rrsets() {
            for rdata in set.rdatas() {
                record_line(&mut text, node.owner(), set.rtype, set.class, set.ttl, rdata);
            }
        }
        if text.len() >= WRITE_CHUNK {
            out.write_all(text.as_bytes())?;
            text.clear();
        }
    }
    out.write_all(text.as_bytes())
}

/// Text gathered before it is written out.
const WRITE_CHUNK: usize = 256 * 1024;

/// The zone in master-file syntax.
#[cfg(test)]
pub(crate) fn zone_text(zone: &Zone) -> String {
    let mut out = Vec::new();
    write_zone_text(&mut out, zone).expect("writing to memory");
    String::from_utf8(out).expect("text")
}

/// Writes `bytes` to `path` atomically: beside it, synced, renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with(path, |f| f.write_all(bytes))
}

/// Writes what `fill` writes to `path` atomically: beside it, synced, renamed over it.
fn write_atomically_with(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let written = File::create(&temporary).and_then(|mut f| {
        fill(&mut f)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| fs::rename(&temporary, path));
    if renamed.is_err() {
        let _ = fs::remove_file(&temporary);
        return renamed;
    }
    // The rename itself survives a crash once the directory is synced.
    File::open(dir).and_then(|d| d.sync_all())
}

/// Writes a whole version and drops the journal it replaces.
pub(crate) fn write_zone(file: &Path, zone: &Zone) -> io::Result<()> {
    write_atomically_with(file, |f| write_zone_text(f, zone))?;
    match fs::remove_file(journal_path(file)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn delta_text(delta: &Delta) -> String {
    let mut out = String::new();
    fn rr(c: &Change) -> Rr<'_> {
        Rr {
            owner: c.owner.as_wire(),
            rtype: c.rtype,
            class: c.class,
            ttl: c.ttl,
            rdata: &c.rdata,
        }
    }
    let (removed, added) = (delta.update.remove.iter().map(rr), delta.update.add.iter().map(rr));
    change_block(&mut out, delta.from, delta.to, removed, added);
    out
}

/// Appends one journal block: `;; change FROM TO`, a `-` line per record
/// removed, a `+` line per record added, `;; end`. The IXFR-out history
/// ([`crate::transfer::history`]) keeps its differences in the same form.
pub(crate) fn change_block<'a>(
    out: &mut String,
    from: u32,
    to: u32,
    removed: impl Iterator<Item = Rr<'a>>,
    added: impl Iterator<Item = Rr<'a>>,
) {
    let _ = writeln!(out, ";; change {from} {to}");
    for rr in removed {
        out.push('-');
        record_line(out, rr.owner, rr.rtype, rr.class, rr.ttl, rr.rdata);
    }
    for rr in added {
        out.push('+');
        record_line(out, rr.owner, rr.rtype, rr.class, rr.ttl, rr.rdata);
    }
    out.push_str(";; end\n");
}

/// Records the changes of an IXFR now served as `zone`; compacts (rewrites
/// the zone file, drops the journal) when the journal has grown large.
pub(crate) fn append_changes(file: &Path, deltas: &[Delta], zone: &Zone) -> io::Result<()> {
    let journal = journal_path(file);
    let text: String = deltas.iter().map(delta_text).collect();
    let mut f = OpenOptions::new().create(true).append(true).open(&journal)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    let journal_len = f.metadata()?.len();
    let zone_len = fs::metadata(file).map_or(0, |m| m.len());
    if journal_len > JOURNAL_MIN_COMPACT.max(zone_len / 2) {
        tracing::info!(zone = %zone.origin, journal_len, "compacting the journal into the zone file");
        write_zone(file, zone)?;
    }
    Ok(())
}

/// Marks the copy on disk as refreshed now (its modification time is the last refresh after a restart).
pub(crate) fn touch(file: &Path) {
    let now = SystemTime::now();
    if let Ok(f) = File::options().write(true).open(file) {
        let _ = f.set_modified(now);
    }
}

/// A zone read back from disk.
pub(crate) struct Stored {
    pub zone: Zone,
    /// Journal changes applied on top of the zone file.
    pub replayed: usize,
}

/// Reads the copy of `origin` kept in `file`, with its journal applied;
/// `None` when there is none yet.
pub(crate) fn load(origin: &Name, file: &Path, limits: &ReadLimits) -> Result<Option<Stored>, String> {
    if fs::metadata(file).is_err() {
        return Ok(None);
    }
    let (mut zone, _) = load::from_file_read(origin, file, limits, None).map_err(|e| e.to_string())?;
    let journal = journal_path(file);
    let mut replayed = 0;
    if let Ok(text) = fs::read_to_string(&journal) {
        for delta in read_journal(origin, &journal, &text) {
            let delta = match delta {
                Ok(delta) => delta,
                Err(error) => {
                    tracing::warn!(journal = %journal.display(), %error, "journal ends in a damaged change; using what came before");
                    break;
                }
            };
            if !newer(delta.to, zone.serial) {
                continue;
            }
            if delta.from != zone.serial {
                tracing::warn!(journal = %journal.display(), from = delta.from, serial = zone.serial, "journal has a gap; using what came before");
                break;
            }
            zone = apply_checked(&zone, &delta)?;
            replayed += 1;
        }
    }
    Ok(Some(Stored { zone, replayed }))
}

/// The journal's changes, in order; a torn or unreadable change ends it.
pub(crate) fn read_journal(origin: &Name, path: &Path, text: &str) -> Vec<Result<Delta, String>> {
    let mut deltas = Vec::new();
    let mut lines = text.lines();
    while let Some(head) = lines.next() {
        let mut words = head.strip_prefix(";; change ").unwrap_or("").split(' ');
        let (Some(Ok(from)), Some(Ok(to))) = (words.next().map(str::parse), words.next().map(str::parse)) else {
            deltas.push(Err(format!("expected a change, found {head:?}")));
            break;
        };
        let (mut remove, mut add, mut ended) = (String::new(), String::new(), false);
        for line in lines.by_ref() {
            if line == ";; end" {
                ended = true;
                break;
            }
            let (target, rest) = match line.split_at_checked(1) {
                Some(("-", rest)) => (&mut remove, rest),
                Some(("+", rest)) => (&mut add, rest),
                _ => break,
            };
            target.push_str(rest);
            target.push('\n');
        }
        if !ended {
            deltas.push(Err(format!("change {from} to {to} is incomplete")));
            break;
        }
        let changes = |text: &str| -> Result<Vec<Change>, String> {
            let records = parse_str(text, path, origin).map_err(|e| e.to_string())?;
            Ok(records.into_iter().map(change_of).collect())
        };
        let update = match (changes(&remove), changes(&add)) {
            (Ok(remove), Ok(add)) => Update { remove, add },
            (Err(e), _) | (_, Err(e)) => {
                deltas.push(Err(e));
                break;
            }
        };
        deltas.push(Ok(Delta { from, to, update }));
    }
    deltas
}

fn change_of(r: Record) -> Change {
    Change {
        owner: r.owner,
        rtype: r.rtype,
        class: r.class,
        ttl: r.ttl,
        rdata: r.rdata,
    }
}

/// Applies an IXFR's changes to `base` in order, each checked as
/// [`apply_checked`] does; the version after the last.
pub(crate) fn apply_all(base: &Zone, deltas: &[Delta]) -> Result<Zone, String> {
    let mut current: Option<Zone> = None;
    for delta in deltas {
        current = Some(apply_checked(current.as_ref().unwrap_or(base), delta)?);
    }
    current.ok_or_else(|| "an IXFR without changes".to_string())
}

/// Applies one change after checking that every record it removes is there
/// (a primary whose deltas do not match our copy gets asked for AXFR).
pub(crate) fn apply_checked(zone: &Zone, delta: &Delta) -> Result<Zone, String> {
    if delta.from != zone.serial {
        return Err(format!(
            "a change from serial {} to a copy at {}",
            delta.from, zone.serial
        ));
    }
    for c in &delta.update.remove {
        let present = zone
            .node(c.owner.as_wire())
            .and_then(|n| n.get(c.rtype))
            .is_some_and(|set| set.rdatas().any(|r| r == &c.rdata[..]));
        if !present {
            return Err(format!(
                "change {} to {} removes {} {} which the zone does not have",
                delta.from,
                delta.to,
                c.owner,
                type_name(c.rtype)
            ));
        }
    }
    let new = zone.apply(&delta.update).map_err(|e| e.to_string())?;
    if new.serial != delta.to {
        return Err(format!("change to {} left serial {}", delta.to, new.serial));
    }
    Ok(new)
}

#[cfg(test)]
mod tests;

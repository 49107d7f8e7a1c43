//! After a commit: the zone file rewritten from the served version, off the query threads.
//!
//! As Knot's `zonefile-sync: 0`: the whole file is written again (comments
//! and `$` directives are not kept; the common types in their own form,
//! others in the RFC 3597 form), beside the old one and renamed over it.
//! Then the served version is given the new file's size and hash, so the
//! next reload finds the zone unchanged instead of reading our own write
//! back. The write holds the settings lock (as a reload does), so that no
//! reload reads the file half-way through its history: a reload waits for
//! the write, and a commit waits for the write before it.

use std::{hash::Hasher as _, io, path::Path, sync::Arc};

use crate::{
    catalog::ServedZone,
    name::{Name, write_presentation},
    query::Shared,
    service::Settings,
    stats::Stats,
    zone::{
        node::RRset,
        parse::class_name,
        rdata_text::{type_name, write::rdata_text},
        source::FileRead,
        tree::Zone,
    },
};

/// Has the zone file of `origin` rewritten from the version served now
/// (unless it was written for that version already).
pub(crate) fn schedule(
    shared: Arc<Shared>,
    settings: Arc<tokio::sync::Mutex<Settings>>,
    written: Arc<super::Written>,
    origin: Name,
) {
    tokio::spawn(async move {
        let _settings = settings.lock().await;
        let live = shared.catalog.load_full();
        let Some(served) = live.zone(origin.as_wire()) else {
            return;
        };
        let (Some(version), Some(file)) = (served.version.clone(), served.file.clone()) else {
            return;
        };
        if written.get(&origin) == Some(version.id) {
            return;
        }
        let zone = version.zone.clone();
        let path = version.files.first().map_or(file, |f| f.path.clone());
        let wrote = tokio::task::spawn_blocking(move || write(&path, &zone)).await;
        let read = match wrote {
            Ok(Ok(read)) => read,
            Ok(Err(error)) => return failed(&shared, &origin, &error.to_string()),
            Err(error) => return failed(&shared, &origin, &error.to_string()),
        };
        written.set(&origin, version.id);
        tracing::info!(zone = %origin, serial = version.zone.serial, file = %read.path.display(), "zone file rewritten after a commit");
        let sh = shared.clone();
        let id = version.id;
        // The same version, known by its new file: XDP and IXFR see no change.
        let _ = tokio::task::spawn_blocking(move || {
            crate::secondary::swap_zone(&sh, |live| {
                let served = live.zone(origin.as_wire()).filter(|z| z.version_id() == id).ok_or(())?;
                let mut version = served.version.clone().ok_or(())?;
                version.files = Arc::from([read]);
                Ok::<_, ()>(ServedZone {
                    version: Some(version),
                    ..served.clone()
                })
            })
        })
        .await;
    });
}

fn failed(shared: &Shared, origin: &Name, error: &str) {
    Stats::bump(&shared.stats.zone_file_write_failures);
    tracing::error!(zone = %origin, %error, "zone file not rewritten after a commit (the committed version is served; the next reload re-reads the old file)");
}

/// Writes `zone` to `path` atomically and returns what a reload compares it by.
fn write(path: &Path, zone: &Zone) -> io::Result<FileRead> {
    let text = zone_text(zone);
    crate::secondary::store::write_atomically(path, text.as_bytes())?;
    let mut hasher = crate::zone_files::content_hasher();
    hasher.write(text.as_bytes());
    Ok(FileRead {
        path: path.to_path_buf(),
        size: text.len() as u64,
        modified: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        hash: hasher.finish(),
    })
}

/// The zone as a master file: the SOA first, then every record in canonical order.
pub(crate) fn zone_text(zone: &Zone) -> String {
    let mut out = format!(
        "; {} serial {}, written by dns-server after `ctl zone-commit`\n",
        zone.origin, zone.serial
    );
    let mut line = |owner: &[u8], set: &RRset<'_>, rdata: &[u8]| {
        let _ = write_presentation(owner, &mut out);
        let (class, rtype) = (class_name(set.class), type_name(set.rtype));
        out.push_str(&format!(
            " {} {class} {rtype} {}\n",
            set.ttl,
            rdata_text(set.rtype, rdata)
        ));
    };
    let soa = zone.soa();
    for rdata in soa.rdatas() {
        line(zone.apex().owner(), &soa, rdata);
    }
    for node in zone.nodes() {
        for set in node.rrsets().filter(|s| s.rtype != dns_wire::wire::rtype::SOA) {
            for rdata in set.rdatas() {
                line(node.owner(), &set, rdata);
            }
        }
    }
    out
}

//! Each zone's state written for operators (`[server] state_file`) and read back by `dns-server status`.
//!
//! Until the server has a control socket, this file is how an operator sees
//! which zones are served at which serial and which failed to load, with
//! the error and its `file:line`. It is replaced atomically (written beside,
//! then renamed) at start and after each reload.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use crate::{catalog::Catalog, name::Name};

/// What `dns-server status` shows of a secondary zone's refreshes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefreshReport {
    /// The primaries, in the order tried.
    pub primaries: Vec<String>,
    /// The primary of the last successful refresh.
    pub primary: Option<String>,
    /// Seconds since the epoch of the last refresh.
    pub last_refresh: Option<u64>,
    /// How it went: `transferred (IXFR)`, `transferred (AXFR)`, `up to date`, `failed`.
    pub last_result: Option<String>,
    /// Seconds since the epoch of the next planned refresh.
    pub next_refresh: Option<u64>,
    /// Seconds since the epoch when the zone expires unless refreshed.
    pub expires: Option<u64>,
    /// Whether it has expired (not served).
    pub expired: bool,
    /// The last failure, with each primary's reason.
    pub last_error: Option<String>,
}

/// The whole file.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    /// The server's process id.
    pub pid: u32,
    /// Seconds since the Unix epoch when written.
    pub written: u64,
    /// Every configured zone, by origin.
    pub zones: Vec<ZoneReport>,
}

/// One zone.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ZoneReport {
    /// The apex, e.g. `example.com.`.
    pub origin: String,
    /// The master file (none for the built-in zone).
    pub file: Option<PathBuf>,
    /// `loaded`, `failed` (not served: SERVFAIL), or `failed-keeping-old`.
    pub state: String,
    /// The serial served, if any version is.
    pub serial: Option<u32>,
    /// The last load's error, with its `file:line` when it has one.
    pub error: Option<String>,
    /// A secondary zone's refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<RefreshReport>,
}

impl Snapshot {
    /// The state of `catalog`'s zones, now.
    pub(crate) fn of(catalog: &Catalog, secondaries: &HashMap<Name, RefreshReport>) -> Snapshot {
        let mut zones: Vec<ZoneReport> = catalog
            .zones()
            .map(|z| ZoneReport {
                origin: z.origin.to_string(),
                file: z.file.clone(),
                state: z.status.name().to_string(),
                serial: z.version.as_ref().map(|v| v.zone.serial),
                error: z.status.error().map(str::to_string),
                secondary: secondaries.get(&z.origin).cloned(),
            })
            .collect();
        zones.sort_by(|a, b| a.origin.cmp(&b.origin));
        Snapshot {
            pid: std::process::id(),
            written: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            zones,
        }
    }
}

/// Writes `catalog`'s state to `path` atomically, making its directory if needed.
pub(crate) fn write(path: &Path, catalog: &Catalog, secondaries: &HashMap<Name, RefreshReport>) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(&Snapshot::of(catalog, secondaries)).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Beside the target (same file system, so the rename is atomic), unique per process.
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let written = std::fs::File::create(&temporary).and_then(|mut f| {
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}

/// Reads a state file.
pub fn read(path: &Path) -> anyhow::Result<Snapshot> {
    use anyhow::Context as _;
    let text = std::fs::read(path).with_context(|| {
        format!(
            "reading {} (is the server running, with this [server] state_file?)",
            path.display()
        )
    })?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not a zone state file", path.display()))
}

/// A secondary zone's refresh state in one line, times relative to `now`.
fn secondary_line(s: &RefreshReport, now: u64) -> String {
    let ago = |t: Option<u64>| t.map_or("never".to_string(), |t| format!("{}s ago", now.saturating_sub(t)));
    let within = |t: Option<u64>| t.map_or("-".to_string(), |t| format!("in {}s", t.saturating_sub(now)));
    let mut line = format!(
        "primaries {}; last refresh {} ({}) from {}; next refresh {}; expires {}",
        s.primaries.join(" "),
        ago(s.last_refresh),
        s.last_result.as_deref().unwrap_or("-"),
        s.primary.as_deref().unwrap_or("-"),
        within(s.next_refresh),
        if s.expired {
            "EXPIRED".to_string()
        } else {
            within(s.expires)
        },
    );
    if let Some(error) = &s.last_error {
        line.push_str(&format!("; last error: {error}"));
    }
    line
}

/// The lines `dns-server status` prints: one per zone, failures with their error.
pub fn format(snapshot: &Snapshot) -> Vec<String> {
    let mut lines = Vec::new();
    for zone in &snapshot.zones {
        let serial = zone.serial.map_or("-".to_string(), |s| s.to_string());
        let mut line = format!("{:<30} {:<18} serial {serial}", zone.origin, zone.state);
        if let Some(error) = &zone.error {
            line.push_str(&format!("  error: {error}"));
        }
        lines.push(line);
        if let Some(s) = &zone.secondary {
            lines.push(format!("    {}", secondary_line(s, snapshot.written)));
        }
    }
    let failed = snapshot.zones.iter().filter(|z| z.error.is_some()).count();
    lines.push(format!(
        "{} zones, {} served, {failed} failed (server pid {})",
        snapshot.zones.len(),
        snapshot.zones.iter().filter(|z| z.serial.is_some()).count(),
        snapshot.pid
    ));
    lines
}

/// `dns-server status`: prints the state file at `path`.
pub fn print(path: &Path) -> anyhow::Result<()> {
    for line in format(&read(path)?) {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        catalog::{ServedZone, ZoneStatus},
        name::Name,
        zone::load,
    };

    #[test]
    fn the_state_file_round_trips_and_names_the_failure() {
        let dir = test_support::TempDir::new("zone-state");
        let good = load::default_zone().expect("built-in zone");
        let catalog = Catalog::new([Arc::new(good)], 10);
        let mut zones: Vec<ServedZone> = Vec::new();
        for zone in catalog.zones() {
            zones.push(ServedZone::loaded(zone.version.clone().expect("loaded"), None));
        }
        zones.push(ServedZone {
            origin: Name::parse("bad.test.", None).expect("name"),
            file: Some(PathBuf::from("/z/bad.zone")),
            version: None,
            status: ZoneStatus::Failed("/z/bad.zone:4: bad address".into()),
        });
        let catalog = Catalog::of(zones, catalog.budget().clone());
        let path = dir.path().join("run/zones.json");
        write(&path, &catalog, &HashMap::new()).expect("written, directory made");
        let snapshot = read(&path).expect("read back");
        assert_eq!(
            snapshot,
            Snapshot {
                written: snapshot.written,
                ..Snapshot::of(&catalog, &HashMap::new())
            }
        );
        let lines = format(&snapshot);
        assert!(
            lines[0].starts_with("bad.test.") && lines[0].contains("failed"),
            "{lines:?}"
        );
        assert!(lines[0].contains("/z/bad.zone:4: bad address"), "{lines:?}");
        assert!(
            lines[1].starts_with("example.com.") && lines[1].contains("loaded"),
            "{lines:?}"
        );
        assert!(lines[2].contains("2 zones, 1 served, 1 failed"), "{lines:?}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("run")).expect("dir").collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");

        let not_a_dir = dir.write("file", "");
        assert!(
            write(&not_a_dir.join("zones.json"), &catalog, &HashMap::new()).is_err(),
            "unwritable: an error, no panic"
        );
    }
}

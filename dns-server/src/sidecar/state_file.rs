//! The JSON state file monitoring reads: state, reason, announcement and every check.

use std::{
    io,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use serde::Serialize;

use super::{
    health::Tracker,
    state::{Announcement, State},
};

/// What is written.
#[derive(Debug, Serialize)]
pub(crate) struct Snapshot<'a> {
    /// The state machine's state.
    pub state: String,
    pub reason: &'a str,
    /// What the speaker was last told successfully.
    pub announced: Option<Announcement>,
    /// The speaker's last error, while it lasts.
    pub speaker_error: Option<&'a str>,
    /// Seconds since the Unix epoch when the state was entered.
    pub since: u64,
    /// Every check.
    pub checks: &'a [Tracker],
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Snapshot<'_> {
    /// A snapshot of `state`.
    pub(crate) fn new<'a>(
        state: State,
        reason: &'a str,
        announced: Option<Announcement>,
        speaker_error: Option<&'a str>,
        since: u64,
        checks: &'a [Tracker],
    ) -> Snapshot<'a> {
        Snapshot {
            state: state.to_string(),
            reason,
            announced,
            speaker_error,
            since,
            checks,
        }
    }
}

/// Writes the snapshot atomically (temp file, then rename), creating the directory.
pub(crate) fn write(path: &Path, snapshot: &Snapshot<'_>) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(snapshot).map_err(io::Error::other)?;
    write_atomically(path, &json)
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place,
/// so a reader sees the old contents or the new, never half.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::config::Scope;

    #[test]
    fn writes_json_with_state_reason_and_checks() {
        let dir = std::env::temp_dir().join(format!("sidecar-state-{}", std::process::id()));
        let file = dir.join("sub/state.json");
        let checks = [Tracker::new("dns", Scope::Local, 1, 1)];
        let snap = Snapshot::new(State::Down, "starting", Some(Announcement::Withdraw), None, 5, &checks);
        write(&file, &snap).unwrap_or_else(|e| panic!("expected to write {}: {e}", file.display()));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(v["state"], "down");
        assert_eq!(v["announced"], "withdraw");
        assert_eq!(v["checks"][0]["name"], "dns");
        assert_eq!(v["checks"][0]["status"], "down");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

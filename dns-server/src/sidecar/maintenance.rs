//! The operator's maintenance switch: a file containing `drain` or `withdraw`.
//!
//! `echo drain > /run/dns-server/maintenance` de-prefers this PoP,
//! `echo withdraw > ...` takes it out, `rm` ends maintenance. The sidecar
//! reads the file on every step, so no signal is needed.

use std::{io::ErrorKind, path::Path};

use super::state::Maintenance;

/// Reads the switch. A missing file means no maintenance. Unreadable or
/// unrecognised contents mean drain — the safe side of an operator's typo —
/// and come with a warning to log.
pub(crate) fn read(path: &Path) -> (Option<Maintenance>, Option<String>) {
    match std::fs::read_to_string(path) {
        Ok(text) => match text.trim() {
            "drain" => (Some(Maintenance::Drain), None),
            "withdraw" => (Some(Maintenance::Withdraw), None),
            other => (
                Some(Maintenance::Drain),
                Some(format!(
                    "{}: expected `drain` or `withdraw`, found {other:?}; draining",
                    path.display()
                )),
            ),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => (None, None),
        Err(e) => (
            Some(Maintenance::Drain),
            Some(format!("{}: {e}; draining", path.display())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_setting() {
        let dir = std::env::temp_dir().join(format!("sidecar-maint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("maintenance");
        assert_eq!(read(&file), (None, None), "expected no maintenance without the file");
        std::fs::write(&file, "withdraw\n").unwrap();
        assert_eq!(read(&file).0, Some(Maintenance::Withdraw));
        std::fs::write(&file, "drain").unwrap();
        assert_eq!(read(&file), (Some(Maintenance::Drain), None));
        std::fs::write(&file, "withdrawl").unwrap();
        let (m, warning) = read(&file);
        assert_eq!(m, Some(Maintenance::Drain), "expected a typo to drain");
        assert!(warning.is_some(), "expected a typo to be reported");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Health of each check with rise/fall hysteresis, and the summary the state machine reads.

use serde::Serialize;

use super::{config::Scope, probe::ProbeError};

/// A check's settled status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// `rise` consecutive successes since the last down.
    Up,
    /// `fall` consecutive failures, or not yet `rise` successes since start.
    Down,
}

/// One check's hysteresis: the status flips only after `rise` successes or `fall` failures in a row.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Tracker {
    /// The check's name.
    pub name: String,
    /// Local or shared.
    #[serde(skip)]
    pub scope: Scope,
    /// The settled status; starts down so that nothing is announced before `rise` successes.
    pub status: Status,
    /// The latest probe's error, if it failed.
    pub last_error: Option<String>,
    /// What the latest probe saw, when the check says (a zone's serials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip)]
    rise: u32,
    #[serde(skip)]
    fall: u32,
    #[serde(skip)]
    successes: u32,
    #[serde(skip)]
    failures: u32,
}

impl Tracker {
    /// A check that is down until it has succeeded `rise` times in a row.
    pub(crate) fn new(name: &str, scope: Scope, rise: u32, fall: u32) -> Tracker {
        Tracker {
            name: name.to_string(),
            scope,
            status: Status::Down,
            last_error: Some("starting: not yet risen".to_string()),
            detail: None,
            rise: rise.max(1),
            fall: fall.max(1),
            successes: 0,
            failures: 0,
        }
    }

    /// Counts one probe's result; returns the new status when it changed.
    pub(crate) fn record(&mut self, result: Result<(), ProbeError>) -> Option<Status> {
        match result {
            Ok(()) => {
                self.successes = self.successes.saturating_add(1);
                self.failures = 0;
                self.last_error = None;
                if self.status == Status::Down && self.successes >= self.rise {
                    self.status = Status::Up;
                    return Some(Status::Up);
                }
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                self.successes = 0;
                self.last_error = Some(e.0);
                if self.status == Status::Up && self.failures >= self.fall {
                    self.status = Status::Down;
                    return Some(Status::Down);
                }
            }
        }
        None
    }
}

/// Which checks are down, by scope: what the state machine decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Local checks that are down.
    pub local_down: Vec<String>,
    /// Shared checks that are down.
    pub shared_down: Vec<String>,
}

impl Summary {
    /// Summarises a set of trackers.
    pub(crate) fn of(trackers: &[Tracker]) -> Summary {
        let mut summary = Summary::default();
        for t in trackers.iter().filter(|t| t.status == Status::Down) {
            match t.scope {
                Scope::Local => summary.local_down.push(t.name.clone()),
                Scope::Shared => summary.shared_down.push(t.name.clone()),
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Result<(), ProbeError> {
        Ok(())
    }
    fn err() -> Result<(), ProbeError> {
        Err(ProbeError("timeout".into()))
    }

    #[test]
    fn rises_only_after_rise_successes() {
        let mut t = Tracker::new("dns", Scope::Local, 3, 2);
        assert_eq!(t.record(ok()), None, "expected still down after 1 success");
        assert_eq!(t.record(ok()), None, "expected still down after 2 successes");
        assert_eq!(t.record(ok()), Some(Status::Up), "expected up after 3 successes");
    }

    #[test]
    fn a_failure_restarts_the_rise_count() {
        let mut t = Tracker::new("dns", Scope::Local, 2, 2);
        t.record(ok());
        t.record(err());
        assert_eq!(t.record(ok()), None, "expected the failure to reset the count");
        assert_eq!(t.record(ok()), Some(Status::Up));
    }

    #[test]
    fn falls_only_after_fall_failures_in_a_row() {
        let mut t = Tracker::new("dns", Scope::Local, 1, 3);
        t.record(ok());
        assert_eq!(t.record(err()), None);
        assert_eq!(t.record(err()), None);
        assert_eq!(t.record(ok()), None, "expected a success to reset the fall count");
        assert_eq!(t.record(err()), None);
        assert_eq!(t.record(err()), None);
        assert_eq!(
            t.record(err()),
            Some(Status::Down),
            "expected down after 3 failures in a row"
        );
        assert_eq!(t.last_error.as_deref(), Some("timeout"));
    }

    #[test]
    fn summary_splits_by_scope() {
        let mut local = Tracker::new("dns", Scope::Local, 1, 1);
        let shared = Tracker::new("upstream", Scope::Shared, 1, 1);
        local.record(ok());
        let s = Summary::of(&[local, shared]);
        assert!(s.local_down.is_empty(), "expected the risen local check to be up");
        assert_eq!(s.shared_down, vec!["upstream".to_string()]);
    }
}

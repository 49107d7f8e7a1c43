//! Events stamped with the monotonic clock: faults, the sidecars' decisions, the router's route changes.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use super::sys::mono;

/// One thing that happened, and when.
#[derive(Clone)]
pub struct Event {
    pub at: Duration,
    /// Who saw it: `lab` (the fault), `router`, `sidecar-a`, ...
    pub source: String,
    pub text: String,
}

/// Shared by the threads that read the children's output and the scenarios.
#[derive(Clone, Default)]
pub struct Timeline {
    events: Arc<Mutex<Vec<Event>>>,
}

impl Timeline {
    /// Records `text` from `source` now.
    pub fn push(&self, source: &str, text: impl Into<String>) -> Duration {
        let at = mono();
        let event = Event {
            at,
            source: source.to_owned(),
            text: text.into(),
        };
        self.events.lock().expect("timeline lock").push(event);
        at
    }

    /// Events from `from` on.
    pub fn since(&self, from: Duration) -> Vec<Event> {
        let events = self.events.lock().expect("timeline lock");
        events.iter().filter(|event| event.at >= from).cloned().collect()
    }
}

/// What a child's output line means for the timeline, if anything.
pub type Watch = fn(&str) -> Option<String>;

/// Nothing: the line only goes to the log.
pub fn nothing(_line: &str) -> Option<String> {
    None
}

/// The sidecar's state changes (`state change from=up to=down reason=...`).
pub fn sidecar_state(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("state change")?;
    Some(format!("state change{rest}"))
}

/// BIRD's BGP session state changes (`debug protocols { states; }`), e.g. `pop_a4: State changed to down`.
pub fn bird_state(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("> ")?;
    (rest.starts_with("pop_") && rest.contains("State changed to")).then(|| rest.to_owned())
}

/// `ip monitor route` lines about an anycast prefix.
pub fn anycast_route(line: &str) -> Option<String> {
    let anycast = line.contains(super::net::ANYCAST_V4) || line.contains(super::net::ANYCAST_V6);
    anycast.then(|| line.trim().to_owned())
}

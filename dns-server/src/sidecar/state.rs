//! The PoP's announcement state machine: up, drain, down, maintenance, and the stop sequence.
//!
//! The rule, in order of precedence:
//! 1. maintenance `withdraw` → maintenance (withdrawn);
//! 2. any **local** check down → down (withdrawn);
//! 3. maintenance `drain` → maintenance (drained);
//! 4. any **shared** check down → drain. Shared check failures cause drain,
//!    never withdraw: a fault every PoP shares must not take every PoP out of
//!    the routing table at once; drained PoPs still answer if nothing better exists;
//! 5. otherwise → up.
//!
//! Hysteresis lives in each check's rise/fall counters ([`super::health`]), so
//! the machine starts down and announces only after every local check has
//! risen. A clean stop drains, waits, then withdraws.

use std::fmt;

use serde::Serialize;

use super::health::Summary;

/// What the operator forced through the maintenance file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Maintenance {
    /// Keep announcing, de-preferred.
    Drain,
    /// Stop announcing.
    Withdraw,
}

/// The PoP's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// Healthy: announce.
    Up,
    /// Announce de-preferred (a shared check failed, or the sidecar is stopping).
    Drain,
    /// Withdrawn (a local check failed, starting, or stopped).
    Down,
    /// Forced by the operator.
    Maintenance(Maintenance),
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Up => f.write_str("up"),
            State::Drain => f.write_str("drain"),
            State::Down => f.write_str("down"),
            State::Maintenance(Maintenance::Drain) => f.write_str("maintenance-drain"),
            State::Maintenance(Maintenance::Withdraw) => f.write_str("maintenance-withdraw"),
        }
    }
}

/// What the BGP speaker is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Announcement {
    /// Announce with the normal attributes.
    Announce,
    /// Announce with the drain attributes (GRACEFUL_SHUTDOWN, MED, prepend).
    Drain,
    /// Do not announce.
    Withdraw,
}

impl State {
    /// The announcement this state asks for.
    pub(crate) fn announcement(self) -> Announcement {
        match self {
            State::Up => Announcement::Announce,
            State::Drain | State::Maintenance(Maintenance::Drain) => Announcement::Drain,
            State::Down | State::Maintenance(Maintenance::Withdraw) => Announcement::Withdraw,
        }
    }
}

/// A change of state and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why, for logs and the state file.
    pub reason: String,
}

/// The state machine; stepped by the sidecar's loop or directly by tests.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    state: State,
    reason: String,
    stopping: bool,
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

impl Machine {
    /// Starts down: nothing is announced until the checks have risen.
    pub(crate) fn new() -> Machine {
        Machine {
            state: State::Down,
            reason: "starting: waiting for checks to rise".to_string(),
            stopping: false,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Why the machine is in its current state.
    pub(crate) fn reason(&self) -> &str {
        &self.reason
    }

    /// Applies the rule to the checks and the maintenance switch. Once stopping, inputs are ignored.
    pub(crate) fn step(&mut self, health: &Summary, maintenance: Option<Maintenance>) -> Option<Transition> {
        if self.stopping {
            return None;
        }
        let (to, reason) = decide(health, maintenance);
        self.go(to, reason)
    }

    /// First half of a clean stop: drain if anything is announced.
    pub(crate) fn stop_drain(&mut self) -> Option<Transition> {
        self.stopping = true;
        match self.state.announcement() {
            Announcement::Withdraw => None,
            _ => self.go(State::Drain, "stopping: draining before withdrawal".to_string()),
        }
    }

    /// Second half of a clean stop: withdraw.
    pub(crate) fn stop_withdraw(&mut self) -> Option<Transition> {
        self.stopping = true;
        self.go(State::Down, "stopped".to_string())
    }

    fn go(&mut self, to: State, reason: String) -> Option<Transition> {
        let from = self.state;
        self.reason = reason.clone();
        if from == to {
            return None;
        }
        self.state = to;
        Some(Transition { from, to, reason })
    }
}

/// The rule in the module documentation.
fn decide(health: &Summary, maintenance: Option<Maintenance>) -> (State, String) {
    if maintenance == Some(Maintenance::Withdraw) {
        return (
            State::Maintenance(Maintenance::Withdraw),
            "maintenance: withdraw".to_string(),
        );
    }
    if !health.local_down.is_empty() {
        return (
            State::Down,
            format!("local checks down: {}", health.local_down.join(", ")),
        );
    }
    if maintenance == Some(Maintenance::Drain) {
        return (State::Maintenance(Maintenance::Drain), "maintenance: drain".to_string());
    }
    if !health.shared_down.is_empty() {
        let reason = format!(
            "shared checks down: {} (shared failures drain, never withdraw)",
            health.shared_down.join(", ")
        );
        return (State::Drain, reason);
    }
    (State::Up, "all checks up".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::{config::Scope, health::Tracker, probe::ProbeError};

    fn summary(local: &[&str], shared: &[&str]) -> Summary {
        Summary {
            local_down: local.iter().map(|s| s.to_string()).collect(),
            shared_down: shared.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn healthy() -> Summary {
        summary(&[], &[])
    }

    #[test]
    fn announces_only_after_rise_successes() {
        let mut machine = Machine::new();
        let mut dns = Tracker::new("dns", Scope::Local, 3, 3);
        for n in 1..=2 {
            dns.record(Ok(()));
            let t = machine.step(&Summary::of(std::slice::from_ref(&dns)), None);
            assert_eq!(t, None, "expected no announcement after {n} successes with rise=3");
            assert_eq!(machine.state(), State::Down);
        }
        dns.record(Ok(()));
        let t = machine.step(&Summary::of(std::slice::from_ref(&dns)), None);
        assert_eq!(t.map(|t| t.to), Some(State::Up), "expected up after the third success");
        assert_eq!(machine.state().announcement(), Announcement::Announce);
    }

    #[test]
    fn withdraws_after_fall_local_failures_and_comes_back_after_rise() {
        let mut machine = Machine::new();
        let mut dns = Tracker::new("dns", Scope::Local, 2, 3);
        let mut states = Vec::new();
        let results = [true, true, false, false, false, true, true];
        for ok in results {
            let r = if ok { Ok(()) } else { Err(ProbeError("timeout".into())) };
            dns.record(r);
            machine.step(&Summary::of(std::slice::from_ref(&dns)), None);
            states.push(machine.state());
        }
        use State::*;
        assert_eq!(
            states,
            vec![Down, Up, Up, Up, Down, Down, Up],
            "expected up at the 2nd success, down at the 3rd failure, up again after 2 successes"
        );
    }

    #[test]
    fn a_shared_failure_alone_drains_but_never_withdraws() {
        let mut machine = Machine::new();
        machine.step(&healthy(), None);
        let t = machine
            .step(&summary(&[], &["upstream"]), None)
            .expect("expected a transition");
        assert_eq!(t.to, State::Drain);
        assert!(
            t.reason.contains("upstream"),
            "expected the reason to name the check: {}",
            t.reason
        );
        assert_eq!(
            machine.state().announcement(),
            Announcement::Drain,
            "expected still announced"
        );
        let t = machine
            .step(&summary(&["dns"], &["upstream"]), None)
            .expect("expected a transition");
        assert_eq!(
            t.to,
            State::Down,
            "expected a local failure to withdraw even while shared is down"
        );
        machine.step(&healthy(), None);
        assert_eq!(machine.state(), State::Up);
    }

    #[test]
    fn maintenance_drain_and_withdraw() {
        let mut machine = Machine::new();
        machine.step(&healthy(), None);
        machine.step(&healthy(), Some(Maintenance::Drain));
        assert_eq!(machine.state(), State::Maintenance(Maintenance::Drain));
        assert_eq!(machine.state().announcement(), Announcement::Drain);
        machine.step(&healthy(), Some(Maintenance::Withdraw));
        assert_eq!(machine.state().announcement(), Announcement::Withdraw);
        machine.step(&healthy(), None);
        assert_eq!(machine.state(), State::Up, "expected up once maintenance ends");
        machine.step(&summary(&["dns"], &[]), Some(Maintenance::Drain));
        assert_eq!(
            machine.state(),
            State::Down,
            "expected a dead server to withdraw even in maintenance drain"
        );
    }

    #[test]
    fn stop_drains_then_withdraws_and_ignores_later_health() {
        let mut machine = Machine::new();
        machine.step(&healthy(), None);
        let t = machine.stop_drain().expect("expected a drain transition");
        assert_eq!((t.from, t.to), (State::Up, State::Drain));
        assert_eq!(
            machine.step(&healthy(), None),
            None,
            "expected health to be ignored while stopping"
        );
        let t = machine.stop_withdraw().expect("expected a withdraw transition");
        assert_eq!(t.to, State::Down);
    }

    #[test]
    fn stop_when_withdrawn_skips_the_drain() {
        let mut machine = Machine::new();
        assert_eq!(
            machine.stop_drain(),
            None,
            "expected nothing to drain when nothing is announced"
        );
        assert_eq!(machine.stop_withdraw(), None);
        assert_eq!(machine.state(), State::Down);
    }
}

//! systemd readiness (`Type=notify`): READY=1 once zones are loaded and the
//! sockets bound, STATUS= lines an operator sees in `systemctl status`, and
//! the watchdog when the unit sets `WatchdogSec=`. Without `NOTIFY_SOCKET`
//! (not started by systemd) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells the service manager that the server serves, with `status`.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Replaces the status line.
pub(crate) fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Tells the service manager that a reload has begun (`RELOADING=1`, with
/// the monotonic time systemd 253 wants); [`status`] or [`reloaded`] follows.
pub(crate) fn reloading() {
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now, NotifyState::Status("reloading")]),
        Err(_) => send(&[NotifyState::Reloading, NotifyState::Status("reloading")]),
    }
}

/// Tells the service manager that a reload has ended and the server serves.
pub(crate) fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells the service manager that the server is stopping.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Pings the watchdog at half its interval, from the runtime that answers
/// queries (a runtime that stops running tasks stops the pings); `None`
/// when the unit has no watchdog.
pub(crate) fn watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()?;
    let every = (interval / 2).max(Duration::from_millis(10));
    tracing::info!(?interval, "systemd watchdog on");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    }))
}

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "systemd notification not sent");
    }
}

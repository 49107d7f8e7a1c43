//! What every part of the lab shares: the monotonic clock, Ctrl-C, quiet commands in namespaces.
use std::{
    process::Command,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use crate::cmd;

/// Set by SIGINT or SIGTERM; every wait checks it, so that the guards' `Drop` runs.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How often waits look at what they wait for and at [`INTERRUPTED`].
pub const POLL: Duration = Duration::from_millis(20);

extern "C" fn on_signal(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Turns Ctrl-C and SIGTERM into an error at the next wait. Children run in
/// process groups of their own, so the terminal's Ctrl-C reaches only xtask.
pub fn catch_interrupts() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Fails once the user has asked to stop.
pub fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps, but not through an interruption.
pub fn sleep(duration: Duration) -> Result<()> {
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        check_interrupt()?;
        thread::sleep(POLL.min(deadline - Instant::now()));
    }
    check_interrupt()
}

/// Polls `done` until it holds; fails after `limit` with `what`.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        sleep(POLL)?;
    }
    Ok(())
}

/// CLOCK_MONOTONIC, the clock every event of the timeline is stamped with
/// (the same clock `Instant` reads, but printable as seconds since boot).
pub fn mono() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only into the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `ip netns exec NS PROGRAM`: a command to run inside namespace `ns`.
pub fn in_netns(ns: &str, program: &str) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns, program]);
    command
}

/// Runs `ip ARGS` quietly; the error carries its standard error.
pub fn ip(args: &[&str]) -> Result<String> {
    cmd::stdout(Command::new("ip").args(args))
}

/// Sends `signal` to process `pid`; a process that is gone already is fine.
pub fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, signal) };
    }
}

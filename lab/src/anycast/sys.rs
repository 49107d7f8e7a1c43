//! What every part of the lab shares: the monotonic clock, Ctrl-C, quiet commands in namespaces.
use std::{
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use crate::signals::sleep;

use crate::cmd;

/// How often waits look at what they wait for.
pub const POLL: Duration = Duration::from_millis(20);

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
pub use test_support::netns::exec_in as in_netns;

/// Runs `ip ARGS` quietly; the error carries its standard error.
pub fn ip(args: &[&str]) -> Result<String> {
    cmd::stdout(Command::new("ip").args(args))
}

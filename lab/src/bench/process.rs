//! Child processes of the rig: waiting for and stopping them, CPU time.
use std::{
    fs,
    process::Child,
    thread,
    time::{Duration, Instant},
};

use anyhow::Result;

use crate::signals::{check_interrupt, signal, sleep};

/// How often waits look at their child and at an interruption.
const POLL: Duration = Duration::from_millis(100);

/// How long a stopped process gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Waits for `child` until `timeout`; `None` if it is still running then.
pub fn wait_for(child: &mut Child, timeout: Duration) -> Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        check_interrupt()?;
        thread::sleep(POLL);
    }
}

/// Stops `child`: SIGTERM, then SIGKILL if it has not exited within [`GRACE`].
pub fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// CPU time in seconds: in user mode, and in all.
#[derive(Clone, Copy, Default)]
pub struct CpuTimes {
    pub user: f64,
    pub total: f64,
}

impl std::ops::Add for CpuTimes {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            user: self.user + other.user,
            total: self.total + other.total,
        }
    }
}

impl std::ops::Sub for CpuTimes {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self {
            user: self.user - other.user,
            total: self.total - other.total,
        }
    }
}

/// Clock ticks per second, the unit of /proc's CPU times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPU time that process `pid` (all its threads) has used.
pub fn process_times(pid: u32) -> Option<CpuTimes> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(CpuTimes {
        user: utime as f64 / ticks_per_second(),
        total: (utime + stime) as f64 / ticks_per_second(),
    })
}

/// User-mode CPU time of every process on the machine, from /proc/stat.
pub fn machine_user_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().find(|line| line.starts_with("cpu ")).unwrap_or_default();
    // user and nice; guest time is counted in user time already.
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 / ticks_per_second()
}

/// User-mode CPU time of this process's children that have been waited for.
pub fn children_user_seconds() -> f64 {
    // SAFETY: getrusage writes only into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_utime.tv_sec as f64 + usage.ru_utime.tv_usec as f64 / 1e6
}

/// Share of all CPUs' time spent busy (not idle, not waiting for I/O) over `window`.
pub fn machine_busy(window: Duration) -> Result<f64> {
    let before = cpu_ticks().unwrap_or_default();
    sleep(window)?;
    let after = cpu_ticks().unwrap_or_default();
    let total = after.0.saturating_sub(before.0);
    let idle = after.1.saturating_sub(before.1);
    Ok(if total == 0 {
        0.0
    } else {
        (total - idle) as f64 / total as f64
    })
}

/// (all ticks, idle and I/O-wait ticks) from the `cpu` line of /proc/stat.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    let idle = ticks.get(3)? + ticks.get(4)?;
    // guest time is counted in user time already
    Some((ticks.iter().take(8).sum(), idle))
}

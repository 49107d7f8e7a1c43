//! The XDP program's own cost per packet, from the kernel's BPF run-time statistics.
use std::process::Command;

use super::rig::End;
use crate::cmd;

/// The sysctl that makes the kernel count run time and runs per BPF program.
const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Turns BPF run-time statistics on; puts the old setting back on drop.
pub struct BpfStats {
    old: String,
}

impl BpfStats {
    /// Enables the statistics (best effort: without them there are no costs to print).
    pub fn enable() -> BpfStats {
        let old = std::fs::read_to_string(BPF_STATS).unwrap_or_else(|_| "0".into());
        let _ = std::fs::write(BPF_STATS, "1");
        BpfStats { old }
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, self.old.trim());
    }
}

/// What the program attached to `end` has cost so far.
pub struct Cost {
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

impl Cost {
    /// Nanoseconds per packet; none before the first packet.
    pub fn per_packet_ns(&self) -> Option<f64> {
        (self.run_cnt > 0).then(|| self.run_time_ns as f64 / self.run_cnt as f64)
    }
}

/// The totals of the XDP program attached to `end`, from `bpftool prog show
/// id N`. A server loads its program afresh when it starts, so these cover
/// that server's life: the probe and the runs.
pub fn attached(end: &End) -> Option<Cost> {
    let id = end.xdp_program()?;
    let out = cmd::stdout(Command::new("bpftool").args(["prog", "show", "id", &id.to_string()])).ok()?;
    let field = |name: &str| -> Option<u64> {
        let mut words = out.split_whitespace();
        words.find(|w| *w == name)?;
        words.next()?.parse().ok()
    };
    Some(Cost {
        run_time_ns: field("run_time_ns")?,
        run_cnt: field("run_cnt")?,
    })
}

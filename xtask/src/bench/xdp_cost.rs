//! XDP bookkeeping for the rig: the program's own cost from the kernel's BPF
//! run-time statistics, and detaching programs servers leave behind.
use std::process::Command;

use super::rig::Rig;
use crate::cmd;

/// The sysctl that makes the kernel count run time and runs per BPF program.
const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Turns BPF run-time statistics on; puts the old setting back on drop.
pub struct BpfStats {
    old: String,
}

impl BpfStats {
    /// Enables the statistics (best effort).
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

/// Nanoseconds per packet of the newest `xdp_dns` program (ours), from
/// `bpftool prog show`: run_time_ns / run_cnt over everything it has run.
pub fn per_packet_ns(_rig: &Rig) -> Option<f64> {
    let out = cmd::stdout(Command::new("bpftool").args(["prog", "show", "name", "xdp_dns"])).ok()?;
    let newest = out
        .lines()
        .filter(|l| l.contains("run_time_ns"))
        .filter_map(|l| Some((l.split(':').next()?.trim().parse::<u64>().ok()?, l)))
        .max_by_key(|(id, _)| *id)?
        .1;
    let field = |name: &str| -> Option<f64> {
        let mut words = newest.split_whitespace();
        words.find(|w| *w == name)?;
        words.next()?.parse().ok()
    };
    let (time, count) = (field("run_time_ns")?, field("run_cnt")?);
    (count > 0.0).then(|| time / count)
}

/// Detaches whatever XDP program is left on the server's end (Knot leaves its own).
pub fn detach(rig: &Rig) {
    for mode in ["xdp", "xdpgeneric"] {
        let _ = cmd::stdout(
            rig.server
                .exec()
                .args(["ip", "link", "set", "dev", &rig.server.name, mode, "off"]),
        );
    }
}

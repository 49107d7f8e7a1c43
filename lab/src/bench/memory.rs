//! The memory a server holds, from /proc: now, and the peak over a while.
//!
//! A server's memory is the sum of the proportional set size (`Pss` in
//! `smaps_rollup`) of all its processes. NSD forks: its server child (and
//! the child a reload forks to read the zones) shares the parent's pages
//! copy-on-write, so summing their RSS would count the zone twice or three
//! times, while taking one process would miss the pages only a child holds.
//! PSS divides each shared page among the processes that map it, so the sum
//! counts every page once. Knot's background workers and ours's loading
//! threads are threads of one process and counted with it.
use std::{collections::BTreeSet, fs};

/// A `kB` field of a /proc file, in bytes.
fn field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Process `pid`'s proportional set size, in bytes.
pub fn pss(pid: u32) -> Option<u64> {
    field(&fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?, "Pss:")
}

/// Process `pid`'s resident set's high-water mark (`VmHWM`), in bytes.
pub fn high_water(pid: u32) -> Option<u64> {
    field(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?, "VmHWM:")
}

/// Sets process `pid`'s `VmHWM` back to its RSS now (clear_refs 5).
pub fn reset_high_water(pid: u32) {
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// The memory of processes `pids` together: the sum of their PSS, in bytes.
pub fn held(pids: &BTreeSet<u32>) -> u64 {
    pids.iter().filter_map(|&pid| pss(pid)).sum()
}

/// The highest memory seen over a while (a reload): the largest sum of PSS
/// sampled, and the largest `VmHWM` of a single process, which catches
/// a spike between two samples (for one-process servers it is the exact
/// peak, RSS counted).
#[derive(Default)]
pub struct Peak {
    pub sampled: u64,
    pub high_water: u64,
}

impl Peak {
    /// Starts watching `pids`: their high-water marks are reset.
    pub fn start(pids: &BTreeSet<u32>) -> Peak {
        pids.iter().for_each(|&pid| reset_high_water(pid));
        Peak {
            sampled: held(pids),
            high_water: 0,
        }
    }

    /// Takes one sample of `pids`.
    pub fn sample(&mut self, pids: &BTreeSet<u32>) {
        self.sampled = self.sampled.max(held(pids));
    }

    /// Ends the watch: reads the high-water marks of `pids`.
    pub fn finish(&mut self, pids: &BTreeSet<u32>) {
        self.sample(pids);
        let top = pids.iter().filter_map(|&pid| high_water(pid)).max().unwrap_or(0);
        self.high_water = self.high_water.max(top);
    }

    /// The peak: the larger of the two.
    pub fn bytes(&self) -> u64 {
        self.sampled.max(self.high_water)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kb_fields() {
        let status = "Name:\tx\nVmHWM:\t  204800 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(field(status, "VmHWM:"), Some(204_800 * 1024));
        assert_eq!(field(status, "Pss:"), None);
    }

    #[test]
    fn this_process_holds_memory() {
        let me = std::process::id();
        assert!(pss(me).is_some_and(|b| b > 0), "PSS of this process");
        assert!(high_water(me).is_some_and(|b| b > 0), "VmHWM of this process");
    }
}

//! Per-CPU counters by reason.

use xdp_abi::Stat;

use crate::maps::STATS;

/// Adds one to a counter.
#[inline(always)]
pub fn count(stat: Stat) {
    if let Some(slot) = STATS.get_ptr_mut(stat as u32) {
        // SAFETY: a per-CPU slot is only touched by this CPU, and the pointer comes from the map.
        unsafe { *slot += 1 };
    }
}

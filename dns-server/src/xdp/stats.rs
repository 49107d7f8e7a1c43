//! The program's per-CPU counters, summed over CPUs.

use std::path::Path;

use aya::maps::{Map, MapData, PerCpuArray};
use xdp_abi::{Stat, names};

use super::XdpError;

/// Each counter summed over CPUs, in [`Stat::ALL`] order.
pub fn read(stats: &PerCpuArray<MapData, u64>) -> Result<Vec<(Stat, u64)>, XdpError> {
    Stat::ALL
        .iter()
        .map(|&s| Ok((s, stats.get(&(s as u32), 0)?.iter().sum())))
        .collect()
}

/// Reads the counters of a running server from its pinned map.
pub fn read_pinned(dir: &Path) -> Result<Vec<(Stat, u64)>, XdpError> {
    let path = dir.join(names::STATS);
    let data = MapData::from_pin(&path).map_err(|e| XdpError::Pin {
        path: path.display().to_string(),
        reason: format!("{e} (is the server running with XDP?)"),
    })?;
    let map = PerCpuArray::try_from(Map::PerCpuArray(data))?;
    read(&map)
}

/// `name=value` pairs for a log line or `dns-server stats`.
pub fn format(counters: &[(Stat, u64)]) -> String {
    counters
        .iter()
        .map(|(s, v)| format!("{}={v}", s.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

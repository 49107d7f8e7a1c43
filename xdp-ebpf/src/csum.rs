//! Checksums of the rewritten packet: sums of big-endian words the
//! program already holds. The arithmetic is in xdp-common.

/// Sums the big-endian words of `b[from..to]` (`from` and `to` even).
#[inline(always)]
pub fn be16_sum<const N: usize>(b: &[u8; N], from: usize, to: usize) -> u32 {
    let mut sum = 0u32;
    let mut i = from;
    while i + 1 < to {
        sum += u16::from_be_bytes([b[i], b[i + 1]]) as u32;
        i += 2;
    }
    sum
}

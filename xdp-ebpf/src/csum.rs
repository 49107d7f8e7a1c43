//! Checksums of the rewritten packet: the UDP pseudo-header sum over the
//! addresses as they sit in the packet. The arithmetic is in xdp-common.

/// Sums `N` big-endian words at `p` (an address in the packet).
#[inline(always)]
pub fn sum_words<const N: usize>(p: *const [u8; N]) -> u32 {
    let mut sum = 0u32;
    let mut i = 0;
    while i + 1 < N {
        // SAFETY: the caller got `p` from `ptr_at`, which checked all N bytes.
        let w = unsafe { u16::from_be_bytes([(*p)[i], (*p)[i + 1]]) };
        sum += w as u32;
        i += 2;
    }
    sum
}

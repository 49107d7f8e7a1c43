//! Internet checksum helpers (RFC 1071, RFC 1624) for the rewritten headers.

/// Adds `bytes` to a running ones'-complement sum, as big-endian words
/// starting at an even offset (a trailing odd byte is the high half).
pub fn add_bytes(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut i = 0;
    while i + 1 < bytes.len() {
        sum += u32::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        i += 2;
    }
    if i < bytes.len() {
        sum += u32::from(bytes[i]) << 8;
    }
    u32::from(fold(sum))
}

/// Folds a 32-bit sum into 16 bits (end-around carry).
#[inline(always)]
pub const fn fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Folds a sum of 32-bit (or 16-bit) words, kept in 64 bits, into 16 bits.
/// Since 2^16 = 1 modulo 0xffff, a sum of 32-bit halves folds to the sum
/// of their 16-bit words.
#[inline(always)]
pub const fn fold64(sum: u64) -> u16 {
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// Whether a ones'-complement sum kept in 64 bits folds to 0xffff, what a
/// right checksum sums to: [`fold64`]`(sum) == 0xffff`, for the checks of
/// every query. Folding keeps the value modulo 0xffff and only 0 folds to
/// 0, so this is 0xffff dividing a sum that is not 0, tested with one
/// multiplication instead of four dependent folds: for an odd divisor,
/// a number is a multiple exactly when its product with the divisor's
/// inverse modulo 2^64 is at most (2^64 - 1) / divisor (Granlund and
/// Montgomery, "Division by invariant integers using multiplication",
/// 1994, section 9).
#[inline(always)]
pub const fn sums_to_ffff(sum: u64) -> bool {
    sum != 0 && sum.wrapping_mul(INVERSE_OF_FFFF) <= u64::MAX / 0xffff
}

/// The inverse of 0xffff modulo 2^64 (Newton's iteration: each step
/// doubles the correct low bits, 3 of them to start with for an odd number).
const INVERSE_OF_FFFF: u64 = {
    let mut inverse: u64 = 0xffff;
    let mut step = 0;
    while step < 5 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(0xffff_u64.wrapping_mul(inverse)));
        step += 1;
    }
    assert!(inverse.wrapping_mul(0xffff) == 1);
    inverse
};

/// The sum of the four big-endian 16-bit words of 8 bytes loaded from
/// memory as a native `u64` (one wide load instead of four).
#[inline(always)]
pub const fn sum_be_words(w: u64) -> u32 {
    let w = u64::from_be(w);
    ((w >> 48) + ((w >> 32) & 0xffff) + ((w >> 16) & 0xffff) + (w & 0xffff)) as u32
}

/// The sum of the same bytes placed at an odd offset: bytes swap places.
#[inline(always)]
pub const fn shift_odd(folded: u16) -> u16 {
    folded.swap_bytes()
}

/// The checksum field to write for a folded sum; UDP sends 0 as 0xffff
/// (0 means "no checksum" over IPv4 and is forbidden over IPv6).
#[inline(always)]
pub const fn udp_field(sum: u32) -> u16 {
    match !fold(sum) {
        0 => 0xffff,
        c => c,
    }
}

/// Updates a checksum field for one 16-bit word changing from `old` to `new` (RFC 1624 eq. 3).
#[inline(always)]
pub const fn replace16(check: u16, old: u16, new: u16) -> u16 {
    let sum = (!check) as u32 + (!old) as u32 + new as u32;
    !fold(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(bytes: &[u8]) -> u16 {
        !fold(add_bytes(0, bytes))
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add_bytes(0, &data)), 0xddf2);
    }

    #[test]
    fn odd_offset_is_a_byte_swap() {
        let body = [0x12, 0x34, 0x56, 0x78, 0x9a];
        let mut shifted = [0u8; 6];
        shifted[1..].copy_from_slice(&body);
        assert_eq!(shift_odd(fold(add_bytes(0, &body))), fold(add_bytes(0, &shifted)));
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut hdr = [
            0x45, 0, 0, 0x54, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1,
        ];
        let c = full(&hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        let updated = replace16(c, 0x0054, 0x0123);
        hdr[2..4].copy_from_slice(&0x0123u16.to_be_bytes());
        hdr[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(updated, full(&hdr));
    }

    #[test]
    fn fold64_agrees_with_16_bit_sums() {
        for words in [
            [0u64; 4],
            [u64::MAX; 4],
            [0xffff_ffff, 0x1, 0xffff_ffff_0000_0000, 0x1234_5678_9abc_def0],
            [0x0001_0000_ffff_ffff, 0xffff_0001, 0, 0x8000_8000_8000_8000],
        ] {
            let mut halves = 0u64;
            let mut sixteens = 0u64;
            for w in words {
                halves += (w & 0xffff_ffff) + (w >> 32);
                sixteens += (0..4).map(|k| (w >> (16 * k)) & 0xffff).sum::<u64>();
            }
            let mut expect = sixteens;
            while expect > 0xffff {
                expect = (expect & 0xffff) + (expect >> 16);
            }
            assert_eq!(fold64(halves), expect as u16, "{words:x?}");
        }
    }

    #[test]
    fn sums_to_ffff_is_fold64_to_ffff() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let edges = [0, 0xffff, 0x1fffe, 0xfffe_0001, 0xffff_ffff, 0xffff_0000_ffff];
        // Random sums of every size, multiples of 0xffff and their neighbours.
        let agrees = |sum: u64| assert_eq!(sums_to_ffff(sum), fold64(sum) == 0xffff, "{sum:#x}");
        edges.into_iter().for_each(agrees);
        [u64::MAX, u64::MAX - 0xffff, u64::MAX / 0xffff * 0xffff]
            .into_iter()
            .for_each(agrees);
        for k in 0..1_000_000 {
            agrees(next() >> (k % 64));
            let m = (next() >> 16) * 0xffff;
            [m, m.wrapping_add(1), m.wrapping_sub(1)].into_iter().for_each(agrees);
        }
        // Sums of words that fold to 0xffff, at the size limit too.
        for words in [2usize, 5, 130, 0xffff] {
            let sum = words as u64 * 0xffff_ffff;
            assert!(sums_to_ffff(sum) && fold64(sum) == 0xffff, "{words} words of ones");
        }
    }

    #[test]
    fn wide_loads_sum_as_their_words() {
        let bytes = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
        assert_eq!(
            sum_be_words(u64::from_ne_bytes(bytes)),
            0x1234 + 0x5678 + 0x9abc + 0xdef0
        );
    }

    #[test]
    fn zero_udp_checksum_is_sent_as_ffff() {
        assert_eq!(udp_field(0xffff), 0xffff);
        assert_eq!(udp_field(0x1234), !0x1234);
    }
}

//! The name hash of the response maps' key, and the word-at-a-time
//! lower-casing it is computed over.
//!
//! The program walks a name eight bytes at a time (a byte at a time cost
//! more than the rest of the lookup), so the hash mixes big-endian 64-bit
//! words of the lower-cased wire name, the last one zero-padded. Both sides
//! must hash the same way, so this is the only definition. A collision
//! costs nothing but a miss: the program compares the stored name.

/// Start value of the hash.
pub const SEED: u64 = 0xcbf2_9ce4_8422_2325;
/// Odd multiplier (2^64 / golden ratio).
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// Feeds one 8-byte word into a running hash.
#[inline(always)]
pub const fn push(hash: u64, word: u64) -> u64 {
    let h = (hash ^ word).wrapping_mul(MUL);
    h ^ (h >> 29)
}

/// ASCII lower-casing of the eight bytes of a word at once (RFC 4343: only
/// A-Z change). Length octets (at most 63) are left alone, so a whole wire
/// name can be lower-cased without finding its labels.
#[inline(always)]
pub const fn lower_word(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let seven = w & LOW7;
    // High bit of each byte: >= 'A', and >= '[' (one past 'Z'); no carries cross bytes.
    let at_least_a = seven + 0x3f3f_3f3f_3f3f_3f3f;
    let past_z = seven + 0x2525_2525_2525_2525;
    let upper = at_least_a & !past_z & !w & HIGH;
    w | (upper >> 2)
}

/// Mask keeping the first `n` (0..=8) bytes of a big-endian word.
#[inline(always)]
pub const fn first_bytes(n: usize) -> u64 {
    if n >= 8 { u64::MAX } else { !(u64::MAX >> (8 * n)) }
}

/// The hash of a lower-cased wire name (root label included).
pub fn name_hash(lower: &[u8]) -> u64 {
    let mut h = SEED;
    for chunk in lower.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = push(h, u64::from_be_bytes(word));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_word_matches_bytewise_lowercasing() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_be_bytes();
            let expected = bytes.map(crate::wire::ascii_lower);
            assert_eq!(lower_word(state).to_be_bytes(), expected, "{bytes:?}");
        }
        // Every byte value, in every position.
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = [b'a'; 8];
                bytes[pos] = b;
                let expected = bytes.map(crate::wire::ascii_lower);
                assert_eq!(lower_word(u64::from_be_bytes(bytes)).to_be_bytes(), expected);
            }
        }
    }

    #[test]
    fn masks_and_distinct_names() {
        assert_eq!(first_bytes(0), 0);
        assert_eq!(first_bytes(1), 0xff00_0000_0000_0000);
        assert_eq!(first_bytes(8), u64::MAX);
        let names: [&[u8]; 4] = [
            b"\x03www\x07example\x03com\x00",
            b"\x03ww2\x07example\x03com\x00",
            b"\x00",
            b"\x01a\x00",
        ];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(name_hash(a), name_hash(b));
            }
        }
    }
}

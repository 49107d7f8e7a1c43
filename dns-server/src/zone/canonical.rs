//! Canonical name order (RFC 4034 6.1) as bytes that sort with `memcmp`.
//!
//! A name's key is its labels from the right (most significant first),
//! ASCII lower-cased, each followed by a 0x00 terminator. Inside a label
//! 0x00 is written 0x01 0x01 and 0x01 is written 0x01 0x02, so no label byte
//! is 0x00 and a label that is a prefix of another sorts first, as RFC 4034
//! asks ("absent octets sort before zero octets"). Comparing two keys
//! byte-wise is then comparing the names canonically, which lets one ordered
//! map serve both exact lookups and "the name at or before X" (NSEC, IXFR).

use dns_wire::wire::{MAX_NAME_LEN, ascii_lower};

/// The longest key: every byte of a 255-byte name escaped, plus terminators.
pub(crate) const MAX_KEY_LEN: usize = 2 * MAX_NAME_LEN;

/// A canonical key built on the stack: no allocation on the lookup path.
pub(crate) struct Key {
    buf: [u8; MAX_KEY_LEN],
    len: usize,
}

impl Key {
    /// The key of a wire-format name (any case), or `None` if it is not a
    /// well-formed uncompressed name.
    pub(crate) fn of(wire: &[u8]) -> Option<Key> {
        // Label start offsets, left to right; a name has at most 127 labels.
        let mut starts = [0u8; MAX_NAME_LEN / 2 + 1];
        let mut count = 0;
        let mut at = 0usize;
        loop {
            let len = usize::from(*wire.get(at)?);
            if len == 0 {
                break;
            }
            if len > 63 || at + 1 + len >= wire.len() || count == starts.len() {
                return None;
            }
            starts[count] = at as u8;
            count += 1;
            at += 1 + len;
        }
        if at + 1 != wire.len() || wire.len() > MAX_NAME_LEN {
            return None;
        }
        let mut key = Key {
            buf: [0; MAX_KEY_LEN],
            len: 0,
        };
        for &start in starts[..count].iter().rev() {
            let start = usize::from(start);
            let len = usize::from(wire[start]);
            for &b in &wire[start + 1..start + 1 + len] {
                key.push_escaped(ascii_lower(b));
            }
            key.push(0);
        }
        Some(key)
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn push_escaped(&mut self, b: u8) {
        match b {
            0 | 1 => {
                self.push(1);
                self.push(b + 1);
            }
            _ => self.push(b),
        }
    }

    /// The key bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Lower-cased wire form of a key, the inverse of [`Key::of`] (up to case).
pub(crate) fn wire_of(key: &[u8]) -> Vec<u8> {
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut bytes = key.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            0 => labels.push(std::mem::take(&mut label)),
            1 => label.push(bytes.next().map_or(0, |e| e - 1)),
            _ => label.push(b),
        }
    }
    let mut wire = Vec::with_capacity(key.len() + 1);
    for label in labels.iter().rev() {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    wire
}

/// Compares two wire-format names in canonical order (RFC 4034 6.1).
#[cfg(test)]
pub(crate) fn compare(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (Key::of(a), Key::of(b)) {
        (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
        _ => a.cmp(b),
    }
}

/// Whether the name of key `below` equals or lies under the name of key `above`.
pub(crate) fn key_is_within(below: &[u8], above: &[u8]) -> bool {
    // Keys end each label with 0x00 and no label byte is 0x00, so a key
    // prefix that ends at a terminator is an ancestor.
    below.starts_with(above)
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;

    /// Wire form of dot-separated labels, with `\\NNN` for any byte (the
    /// text parser refuses some, and these tests need them).
    fn wire(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in text.split('.').filter(|l| !l.is_empty()) {
            let mut bytes = Vec::new();
            let mut rest = label.as_bytes();
            while let Some((&b, tail)) = rest.split_first() {
                if b == b'\\' {
                    let digits = std::str::from_utf8(&tail[..3]).expect("ascii");
                    bytes.push(digits.parse().expect("a decimal byte"));
                    rest = &tail[3..];
                } else {
                    bytes.push(b);
                    rest = tail;
                }
            }
            out.push(bytes.len() as u8);
            out.extend(bytes);
        }
        out.push(0);
        out
    }

    #[test]
    fn rfc_4034_example_order() {
        // RFC 4034 6.1, in the order the RFC lists them.
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let mut shuffled: Vec<Vec<u8>> = ordered.iter().rev().map(|t| wire(t)).collect();
        shuffled.swap(1, 5);
        shuffled.sort_by(|a, b| compare(a, b));
        let expected: Vec<Vec<u8>> = ordered.iter().map(|t| wire(t)).collect();
        assert_eq!(shuffled, expected, "names should sort as RFC 4034 6.1 lists them");
    }

    #[test]
    fn zero_bytes_and_prefixes_sort_right() {
        // "a" < "a\000" < "a\001" < "a\002" < "b"; a parent before its children.
        let ordered = ["a.", "x.a.", "a\\000.", "a\\001.", "a\\001\\000.", "a\\002.", "b."];
        for pair in ordered.windows(2) {
            assert_eq!(
                compare(&wire(pair[0]), &wire(pair[1])),
                Ordering::Less,
                "{} should sort before {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn keys_round_trip_and_ignore_case() {
        for text in ["example.", "WWW.Example.COM.", "a\\000b.\\001.c.", "."] {
            let w = wire(text);
            let key = Key::of(&w).expect("well-formed names have keys");
            assert_eq!(wire_of(key.as_bytes()), w.to_ascii_lowercase(), "{text}");
        }
        assert!(
            Key::of(b"\x03www").is_none(),
            "a name without its root label has no key"
        );
        let (a, b) = (Key::of(&wire("a.b.")).unwrap(), Key::of(&wire("B.")).unwrap());
        assert!(key_is_within(a.as_bytes(), b.as_bytes()));
        assert!(!key_is_within(b.as_bytes(), a.as_bytes()));
    }
}

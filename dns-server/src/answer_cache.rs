//! Wire responses cached by question, so a repeated query is a copy and a patch.
//!
//! The key holds everything that changes the bytes of an answer: the
//! lower-cased name, type, class, whether the query had EDNS and its DO bit.
//! The ID, the RD/CD flags and the question's case are patched per query.

use std::{collections::HashMap, sync::RwLock};

use dns_wire::{query::Query, wire::MAX_NAME_LEN};

/// Bytes of a key: type, class, EDNS flags, then the name.
const KEY_LEN: usize = 5 + MAX_NAME_LEN;

/// A lookup key built on the stack.
pub(crate) struct Key {
    bytes: [u8; KEY_LEN],
    len: usize,
}

impl Key {
    /// The key for a query (the name is lower-cased here).
    pub(crate) fn new(q: &Query<'_>) -> Self {
        let mut bytes = [0u8; KEY_LEN];
        bytes[0..2].copy_from_slice(&q.qtype.to_be_bytes());
        bytes[2..4].copy_from_slice(&q.qclass.to_be_bytes());
        bytes[4] = match q.edns {
            None => 0,
            Some(e) => 1 | u8::from(e.dnssec_ok) << 1,
        };
        let name = q.qname;
        for (dst, &b) in bytes[5..].iter_mut().zip(name) {
            *dst = dns_wire::wire::ascii_lower(b);
        }
        Key {
            bytes,
            len: 5 + name.len().min(MAX_NAME_LEN),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Key bytes to response bytes.
type Map = HashMap<Box<[u8]>, Box<[u8]>>;

/// Bounded map from question to response bytes (ID zero, RD/CD clear).
pub(crate) struct AnswerCache {
    map: RwLock<Map>,
    capacity: usize,
}

impl AnswerCache {
    /// An empty cache holding at most `capacity` answers; when full, new
    /// answers are simply not cached (a flood of random names cannot evict
    /// the popular ones).
    pub(crate) fn new(capacity: usize) -> Self {
        AnswerCache {
            map: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// Copies the cached response for `key` into `out`, if there is one of at most `limit` bytes.
    pub(crate) fn get_into(&self, key: &Key, limit: usize, out: &mut Vec<u8>) -> bool {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        match map.get(key.as_bytes()) {
            Some(resp) if resp.len() <= limit => {
                out.clear();
                out.extend_from_slice(resp);
                true
            }
            _ => false,
        }
    }

    /// Remembers a response (the caller clears ID and RD/CD first).
    pub(crate) fn insert(&self, key: &Key, response: &[u8]) -> bool {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.capacity {
            return false;
        }
        map.insert(key.as_bytes().into(), response.into());
        true
    }

    /// Number of cached answers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

//! Wire responses cached by question, so a repeated query is a copy and a patch.
//!
//! The key holds everything that changes the bytes of an answer: the
//! lower-cased name, type, class, whether the query had EDNS and its DO bit.
//! The ID, the RD/CD flags and the question's case are patched per query.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
};

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

    /// The question's name, lower-cased.
    pub(crate) fn name(&self) -> &[u8] {
        &self.bytes[5..self.len]
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Key bytes to response bytes.
type Map = HashMap<Box<[u8]>, Box<[u8]>>;

/// The bound on answers cached, shared by every zone's cache: one zone per
/// cache lets a reload keep the answers of the zones it did not change, and
/// one budget keeps 100,000 zones from holding 100,000 caches' worth.
#[derive(Debug)]
pub(crate) struct CacheBudget {
    capacity: usize,
    used: AtomicUsize,
}

impl CacheBudget {
    /// A budget of `capacity` answers.
    pub(crate) fn new(capacity: usize) -> Arc<CacheBudget> {
        Arc::new(CacheBudget {
            capacity,
            used: AtomicUsize::new(0),
        })
    }

    /// The answers it allows.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes one answer's room, if there is any left.
    fn take(&self) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used < self.capacity).then_some(used + 1)
            })
            .is_ok()
    }

    fn give_back(&self, answers: usize) {
        self.used.fetch_sub(answers, Ordering::Relaxed);
    }
}

/// Bounded map from question to response bytes (ID zero, RD/CD clear),
/// for one zone version.
pub(crate) struct AnswerCache {
    map: RwLock<Map>,
    budget: Arc<CacheBudget>,
}

impl AnswerCache {
    /// An empty cache drawing on `budget`, shared with other caches; when
    /// the budget is spent, new answers are simply not cached (a flood of
    /// random names cannot evict the popular ones).
    pub(crate) fn within(budget: Arc<CacheBudget>) -> Self {
        AnswerCache {
            map: RwLock::new(HashMap::new()),
            budget,
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
        if !self.budget.take() {
            return false;
        }
        if map.insert(key.as_bytes().into(), response.into()).is_some() {
            self.budget.give_back(1);
        }
        true
    }

    /// Number of cached answers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for AnswerCache {
    fn drop(&mut self) {
        let map = self.map.get_mut().unwrap_or_else(|e| e.into_inner());
        self.budget.give_back(map.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_share_one_budget_and_give_it_back() {
        let budget = CacheBudget::new(2);
        let (a, b) = (AnswerCache::within(budget.clone()), AnswerCache::within(budget));
        let q = |name: &str| test_support::Query::new(name, 1).to_wire();
        let key = |wire: &[u8]| Key::new(&dns_wire::query::parse(wire).expect("a query"));
        let (w1, w2, w3) = (q("a.example"), q("b.example"), q("c.example"));
        assert!(a.insert(&key(&w1), b"1"));
        assert!(a.insert(&key(&w1), b"1"), "replacing takes no more room");
        assert!(b.insert(&key(&w2), b"2"));
        assert!(!b.insert(&key(&w3), b"3"), "two answers in all");
        drop(a);
        assert!(b.insert(&key(&w3), b"3"), "a dropped cache gives its room back");
        assert_eq!(b.len(), 2);
    }
}

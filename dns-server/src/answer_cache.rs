//! Wire responses cached by question, so a repeated query is a copy and a patch.
//!
//! The key holds everything that changes the bytes of an answer: the
//! lower-cased name, type, class, whether the query had EDNS and its DO bit.
//! The ID, the RD/CD flags and the question's case are patched per query.
//!
//! Each answer remembers whether the fast path took its copy: one it could
//! not take then (its queue full under a burst of new questions) is offered
//! again on a later hit, so no answer stays out of the XDP map for good.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
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

/// A cached response and whether the fast path still has to take its copy.
struct Cached {
    response: Box<[u8]>,
    /// Set when the fast path could not take the copy when it was cached.
    to_offer: AtomicBool,
}

/// Key bytes to cached responses.
type Map = HashMap<Box<[u8]>, Cached>;

/// A hit: the response was copied out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The fast path has not taken this answer yet: offer it again, and say
    /// so with [`AnswerCache::offered`] once it is taken.
    pub to_offer: bool,
}

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
    pub(crate) fn get_into(&self, key: &Key, limit: usize, out: &mut Vec<u8>) -> Option<Hit> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        match map.get(key.as_bytes()) {
            Some(cached) if cached.response.len() <= limit => {
                out.clear();
                out.extend_from_slice(&cached.response);
                Some(Hit {
                    to_offer: cached.to_offer.load(Ordering::Relaxed),
                })
            }
            _ => None,
        }
    }

    /// Remembers a response (the caller clears ID and RD/CD first), as
    /// taken by the fast path; see [`AnswerCache::offer_again`].
    pub(crate) fn insert(&self, key: &Key, response: &[u8]) -> bool {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if !self.budget.take() {
            return false;
        }
        let cached = Cached {
            response: response.into(),
            to_offer: AtomicBool::new(false),
        };
        if map.insert(key.as_bytes().into(), cached).is_some() {
            self.budget.give_back(1);
        }
        true
    }

    /// The fast path could not take the answer under `key` now: hits say
    /// to offer it again ([`Hit::to_offer`]).
    pub(crate) fn offer_again(&self, key: &Key) {
        self.set_to_offer(key, true);
    }

    /// The fast path took the answer under `key`.
    pub(crate) fn offered(&self, key: &Key) {
        self.set_to_offer(key, false);
    }

    fn set_to_offer(&self, key: &Key, to_offer: bool) {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = map.get(key.as_bytes()) {
            cached.to_offer.store(to_offer, Ordering::Relaxed);
        }
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

    /// An answer the fast path could not take is offered again on each hit
    /// until it is taken; a new answer under the key starts as taken.
    #[test]
    fn an_answer_not_taken_by_the_fast_path_is_offered_again() {
        let cache = AnswerCache::within(CacheBudget::new(4));
        let wire = test_support::Query::new("a.example", 1).to_wire();
        let key = Key::new(&dns_wire::query::parse(&wire).expect("a query"));
        let mut out = Vec::new();
        assert_eq!(cache.get_into(&key, 512, &mut out), None, "nothing cached yet");
        assert!(cache.insert(&key, b"answer"));
        assert_eq!(cache.get_into(&key, 512, &mut out), Some(Hit { to_offer: false }));
        assert_eq!(out, b"answer");
        cache.offer_again(&key);
        for _ in 0..2 {
            assert_eq!(
                cache.get_into(&key, 512, &mut out),
                Some(Hit { to_offer: true }),
                "offered again on every hit until taken"
            );
        }
        cache.offered(&key);
        assert_eq!(cache.get_into(&key, 512, &mut out), Some(Hit { to_offer: false }));
        cache.offer_again(&key);
        assert!(cache.insert(&key, b"newer"));
        assert_eq!(
            cache.get_into(&key, 512, &mut out),
            Some(Hit { to_offer: false }),
            "a new answer is offered when it is cached"
        );
        assert_eq!(cache.get_into(&key, 3, &mut out), None, "too large for the client");
    }
}

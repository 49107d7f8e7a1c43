//! The ordered set of a zone's nodes, searched without touching most nodes.
//!
//! Every key in a zone starts with the apex's key, so each B-tree entry
//! carries the next 8 key bytes inline: a search compares those in the
//! B-tree's own arrays and reads a node's buffer only on a tie, which keeps
//! an exact lookup in a million names to a few cache misses.

use std::{cmp::Ordering, ops::Bound};

use equivalent::{Comparable, Equivalent};
use imbl::OrdSet;

use super::{canonical::key_is_within, node::Node};

/// A node and its inline key prefix.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    prefix: u64,
    node: Node,
}

/// A key to search by, with its prefix.
#[derive(Clone, Copy)]
struct ByKey<'a> {
    prefix: u64,
    key: &'a [u8],
}

impl Equivalent<Entry> for ByKey<'_> {
    fn equivalent(&self, entry: &Entry) -> bool {
        self.prefix == entry.prefix && self.key == entry.node.key()
    }
}

impl Comparable<Entry> for ByKey<'_> {
    fn compare(&self, entry: &Entry) -> Ordering {
        // Zero padding keeps this consistent with comparing whole keys:
        // a key that ends inside the prefix is a prefix of the longer one.
        self.prefix
            .cmp(&entry.prefix)
            .then_with(|| self.key.cmp(entry.node.key()))
    }
}

/// The 8 key bytes after the apex's, zero-padded.
fn prefix_of(key: &[u8], apex_len: usize) -> u64 {
    let below = key.get(apex_len..).unwrap_or_default();
    let mut prefix = [0u8; 8];
    let n = below.len().min(8);
    prefix[..n].copy_from_slice(&below[..n]);
    u64::from_be_bytes(prefix)
}

/// A zone's nodes in canonical order: a persistent B-tree (see
/// [`super::tree`]), cloned in O(1), sharing everything with its clones.
#[derive(Clone)]
pub(crate) struct Names {
    apex: Box<[u8]>,
    set: OrdSet<Entry>,
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Names({} nodes)", self.set.len())
    }
}

impl Names {
    /// No names yet, below the apex of key `apex`.
    pub(crate) fn new(apex: &[u8]) -> Names {
        Names {
            apex: apex.into(),
            set: OrdSet::new(),
        }
    }

    /// The node of a canonical key.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Node> {
        let by = ByKey {
            prefix: prefix_of(key, self.apex.len()),
            key,
        };
        if !key_is_within(key, &self.apex) {
            return None;
        }
        self.set.get(&by).map(|e| &e.node)
    }

    /// The node of `key` or, if none, the last before it.
    pub(crate) fn at_or_before(&self, key: &[u8]) -> Option<&Node> {
        if !key_is_within(key, &self.apex) {
            return None;
        }
        let by = ByKey {
            prefix: prefix_of(key, self.apex.len()),
            key,
        };
        self.set.get_prev(&by).map(|e| &e.node)
    }

    /// The node of `key` and the nodes before it, nearest first.
    pub(crate) fn at_or_before_all<'s>(&'s self, key: &[u8]) -> impl Iterator<Item = &'s Node> + use<'s> {
        let by = ByKey {
            prefix: prefix_of(key, self.apex.len()),
            key,
        };
        self.set
            .range((Bound::Unbounded, Bound::Included(by)))
            .rev()
            .map(|e| &e.node)
    }

    /// The nodes after `key`, in canonical order.
    pub(crate) fn after<'s>(&'s self, key: &[u8]) -> impl Iterator<Item = &'s Node> + use<'s> {
        let by = ByKey {
            prefix: prefix_of(key, self.apex.len()),
            key,
        };
        self.set.range((Bound::Excluded(by), Bound::Unbounded)).map(|e| &e.node)
    }

    /// Adds `node`, which must not be present (remove the old one first).
    pub(crate) fn insert(&mut self, node: Node) {
        let prefix = prefix_of(node.key(), self.apex.len());
        self.set.insert(Entry { prefix, node });
    }

    /// Removes the node of `key`, if there is one.
    pub(crate) fn remove(&mut self, key: &[u8]) {
        let by = ByKey {
            prefix: prefix_of(key, self.apex.len()),
            key,
        };
        self.set.remove(&by);
    }

    /// Every node in canonical order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Node> {
        self.set.iter().map(|e| &e.node)
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }

    /// The nodes in one set and not the other (a changed node is in both
    /// lists, old and new), skipping subtrees the two share.
    pub(crate) fn diff<'a>(&'a self, other: &'a Names) -> impl Iterator<Item = &'a Node> {
        self.set.diff(&other.set).map(|item| match item {
            imbl::ordset::DiffItem::Add(e) | imbl::ordset::DiffItem::Remove(e) => &e.node,
        })
    }

    /// As [`Names::diff`] from `self` to `other`, each node marked: true
    /// when `other` added it, false when it removed (or replaced) it.
    pub(crate) fn changes<'a>(&'a self, other: &'a Names) -> impl Iterator<Item = (bool, &'a Node)> {
        self.set.diff(&other.set).map(|item| match item {
            imbl::ordset::DiffItem::Add(e) => (true, &e.node),
            imbl::ordset::DiffItem::Remove(e) => (false, &e.node),
        })
    }
}

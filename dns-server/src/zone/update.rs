//! New versions of a zone from record changes, and what changed between two.
//!
//! [`Zone::apply`] copies only the B-tree path to each touched name (see
//! [`super::tree`]); every other node is shared with the old version, which
//! stays whole for the queries still holding it. Empty non-terminals follow
//! the names below them, and the checks a full load makes are made again
//! for the touched names.

use std::collections::BTreeMap;

use dns_wire::wire::rtype;

use super::{
    ZoneError,
    build::{ancestors_below_apex, has_data_below_dname, node_problem},
    canonical::{Key, key_is_within, wire_of},
    names::Names,
    node::{Node, NodeWriter, OpenNode, set_kind},
    tree::Zone,
};
use crate::name::Name;

/// One record to add or remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    /// Owner name (any case; an added name keeps the case given).
    pub owner: Name,
    /// TYPE code.
    pub rtype: u16,
    /// CLASS code (the zone's).
    pub class: u16,
    /// TTL; an added record gives its TTL to its whole RRset (as a dynamic
    /// update does), a removed record's TTL does not matter.
    pub ttl: u32,
    /// RDATA, uncompressed wire format; a removal matches it byte for byte.
    pub rdata: Box<[u8]>,
}

/// Records to remove, then records to add, as one step (an IXFR difference
/// sequence or a dynamic update). Removing a record the zone lacks and
/// adding one it has already are no-ops.
#[derive(Clone, Debug, Default)]
pub(crate) struct Update {
    /// Removed first.
    pub remove: Vec<Change>,
    /// Added next.
    pub add: Vec<Change>,
}

impl Zone {
    /// The zone with `update` applied, sharing every unchanged node with
    /// `self`; `self` is unchanged. Fails, naming the record or name, when
    /// the result could not be served (out of zone, foreign class, CNAME
    /// beside other data, data below a DNAME, no SOA or NS at the apex).
    pub(crate) fn apply(&self, update: &Update) -> Result<Zone, ZoneError> {
        let fail = |message: String| ZoneError {
            location: None,
            message: format!("update of {}: {message}", self.origin),
        };
        let apex_key = Key::of(self.origin.as_wire())
            .ok_or_else(|| fail("bad origin".into()))?
            .as_bytes()
            .to_vec();
        let class = self.soa().class;
        let mut touched: BTreeMap<Vec<u8>, OpenNode> = BTreeMap::new();
        for change in &update.remove {
            let node = open_node(self, &mut touched, &change.owner, &apex_key).map_err(fail)?;
            if let Some(set) = node.sets.iter_mut().find(|s| same_set(s, change.rtype, &change.rdata)) {
                set.3.retain(|r| r[..] != change.rdata[..]);
            }
            // An RRset that lost its last record is gone: one added back comes last.
            node.sets.retain(|s| !s.3.is_empty());
        }
        for change in &update.add {
            if change.class != class {
                return Err(fail(format!(
                    "{} has class {}, the zone {}",
                    change.owner, change.class, class
                )));
            }
            let node = open_node(self, &mut touched, &change.owner, &apex_key).map_err(fail)?;
            if node.sets.iter().all(|s| s.3.is_empty()) {
                // A name that was empty or new takes the spelling given now.
                node.owner = change.owner.as_wire().to_vec();
            }
            match node.sets.iter_mut().find(|s| same_set(s, change.rtype, &change.rdata)) {
                Some(set) => {
                    set.2 = change.ttl;
                    if !set.3.iter().any(|r| r[..] == change.rdata[..]) {
                        set.3.push(change.rdata.to_vec());
                    }
                }
                None => node
                    .sets
                    .push((change.rtype, change.class, change.ttl, vec![change.rdata.to_vec()])),
            }
        }
        let mut names = self.names().clone();
        let mut writer = NodeWriter::default();
        let mut emptied = Vec::new();
        for (key, node) in &touched {
            names.remove(key);
            let node = node.pack(key, &mut writer);
            if node.is_empty() {
                emptied.push(key.clone());
            } else {
                add_ancestors(&mut names, &mut writer, key, &apex_key);
            }
            names.insert(node);
        }
        // Deepest first, so that a name's emptied parent sees it gone.
        for key in emptied.iter().rev() {
            prune(&mut names, key, &apex_key);
        }
        for key in touched.keys() {
            check(&names, key, &apex_key).map_err(&fail)?;
        }
        Zone::from_nodes_after(&self.origin, names, Some(self)).map_err(|e| fail(e.message))
    }

    /// The lower-cased names whose nodes differ between `old` and `new`
    /// (records changed, or the name appeared or went, empty non-terminals
    /// included), in canonical order. Subtrees both versions share are
    /// skipped, so after an update this costs about the number of changed
    /// names times log n. A changed wildcard, zone cut or DNAME changes the
    /// answers for names below it too: callers that cache answers per name
    /// drop those of the changed name's subtree.
    pub(crate) fn changed_names(old: &Zone, new: &Zone) -> Vec<Name> {
        let mut keys: Vec<&[u8]> = Vec::new();
        for node in old.names().diff(new.names()) {
            // A changed node shows as removed and added, side by side.
            if keys.last() != Some(&node.key()) {
                keys.push(node.key());
            }
        }
        keys.into_iter().filter_map(|k| Name::from_wire(&wire_of(k))).collect()
    }
}

/// The editable node of `owner` among the touched ones, opened from the
/// zone (or new) the first time.
fn open_node<'t>(
    zone: &Zone,
    touched: &'t mut BTreeMap<Vec<u8>, OpenNode>,
    owner: &Name,
    apex_key: &[u8],
) -> Result<&'t mut OpenNode, String> {
    let key = Key::of(owner.as_wire())
        .filter(|k| key_is_within(k.as_bytes(), apex_key))
        .ok_or_else(|| format!("{owner} is out of the zone"))?;
    let key = key.as_bytes().to_vec();
    Ok(touched
        .entry(key)
        .or_insert_with_key(|key| match zone.node_by_key(key) {
            Some(node) => OpenNode::of(node),
            None => OpenNode {
                owner: owner.as_wire().to_vec(),
                sets: Vec::new(),
            },
        }))
}

/// Makes every ancestor of `key` up to the apex exist, as an empty
/// non-terminal where there was none.
fn add_ancestors(names: &mut Names, writer: &mut NodeWriter, key: &[u8], apex: &[u8]) {
    for ancestor in ancestors_below_apex(key, apex).collect::<Vec<_>>().into_iter().rev() {
        if names.get(ancestor).is_some() {
            break;
        }
        names.insert(writer.finish(ancestor, &wire_of(ancestor)));
    }
}

/// Whether a name has a node below it.
fn has_descendants(names: &Names, key: &[u8]) -> bool {
    names
        .after(key)
        .next()
        .is_some_and(|next| key_is_within(next.key(), key))
}

/// Removes the empty node at `key` unless a name below keeps it as an
/// empty non-terminal, then its ancestors that nothing holds up any more.
fn prune(names: &mut Names, key: &[u8], apex: &[u8]) {
    let ancestors: Vec<&[u8]> = ancestors_below_apex(key, apex).collect();
    for at in std::iter::once(key).chain(ancestors.into_iter().rev()) {
        let empty = names.get(at).is_some_and(Node::is_empty);
        if at.len() <= apex.len() || !empty || has_descendants(names, at) {
            return;
        }
        names.remove(at);
    }
}

/// The checks of a full load, for one touched name.
fn check(names: &Names, key: &[u8], apex: &[u8]) -> Result<(), String> {
    let shown = || Name::from_wire(&wire_of(key)).map_or_else(String::new, |n| n.to_string());
    let Some(node) = names.get(key) else {
        return Ok(());
    };
    if let Some(problem) = node_problem(node, apex) {
        return Err(format!("{problem} at {}", shown()));
    }
    if key == apex && !(node.has(rtype::SOA) && node.has(rtype::NS)) {
        return Err("no SOA or no NS at the apex".into());
    }
    // RFC 6672 2.4: nothing below a DNAME, whether the DNAME or the data is new.
    let below_dname = ancestors_below_apex(key, apex).any(|a| names.get(a).is_some_and(|n| n.has(rtype::DNAME)));
    if below_dname && has_data_below_dname(node) {
        return Err(format!("{} is below a DNAME (RFC 6672 2.4)", shown()));
    }
    if node.has(rtype::DNAME) {
        let data_below = names
            .after(key)
            .take_while(|n| key_is_within(n.key(), key))
            .any(has_data_below_dname);
        if data_below {
            return Err(format!("{} has a DNAME and data below it (RFC 6672 2.4)", shown()));
        }
    }
    Ok(())
}

/// Whether a record of `rtype` with `rdata` belongs to `set` (RRSIGs by type covered).
fn same_set(set: &(u16, u16, u32, Vec<Vec<u8>>), rtype: u16, rdata: &[u8]) -> bool {
    set.3.first().map(|first| set_kind(set.0, first)) == Some(set_kind(rtype, rdata))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod walk;

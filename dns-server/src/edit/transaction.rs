//! One open zone transaction: the RRsets it changes, held against the version it began from.
//!
//! Each `zone-set` and `zone-unset` rewrites the whole RRset it touches
//! (as it will be at commit), so a set undone by an unset, or a record set
//! twice, leaves no trace. Nothing is checked until commit: an RRset may
//! pass through states a zone could not serve (CNAME replaced by A: unset,
//! then set), as in Knot's transactions.

use std::{collections::BTreeMap, sync::Arc};

use dns_wire::wire::rtype;

use crate::{
    name::{Name, write_presentation},
    zone::{
        canonical::Key,
        rdata_text::{type_name, write::rdata_text},
        tree::{Zone, soa_fields},
        update::{Change, Update},
    },
};

/// The TTL of a record set without one into an RRset that has none yet (Knot's `default-ttl`).
pub(crate) const DEFAULT_TTL: u32 = 3600;

/// Records of one owner and type: (TTL, RDATA).
type Records = Vec<(u32, Box<[u8]>)>;

/// An RRset as the transaction leaves it.
#[derive(Clone, Debug)]
struct Edited {
    /// The owner, in the case given (what a new name is spelt with).
    owner: Name,
    rtype: u16,
    /// Empty: the RRset is removed.
    records: Records,
}

/// A transaction: the version it began from and the RRsets it changes.
pub(crate) struct Transaction {
    /// The data it began from.
    pub base: Arc<Zone>,
    /// The served version's id when it began: commit refuses when it changed.
    pub base_id: u64,
    /// By (canonical owner key, type): canonical order for `zone-diff`.
    edits: BTreeMap<(Vec<u8>, u16), Edited>,
}

impl Transaction {
    /// A transaction on `base` (version `base_id`), with no change yet.
    pub(crate) fn new(base: Arc<Zone>, base_id: u64) -> Transaction {
        Transaction {
            base,
            base_id,
            edits: BTreeMap::new(),
        }
    }

    /// Whether nothing is changed.
    pub(crate) fn is_empty(&self) -> bool {
        let (removed, added) = self.diff();
        removed.is_empty() && added.is_empty()
    }

    fn key(owner: &Name, t: u16) -> Result<(Vec<u8>, u16), String> {
        let key = Key::of(owner.as_wire()).ok_or_else(|| format!("{owner} is not a valid owner"))?;
        Ok((key.as_bytes().to_vec(), t))
    }

    /// The records of `owner`/`t` as the transaction has them now.
    fn current(&self, owner: &Name, t: u16) -> Result<Records, String> {
        if let Some(edited) = self.edits.get(&Self::key(owner, t)?) {
            return Ok(edited.records.clone());
        }
        Ok(base_records(&self.base, owner, t))
    }

    fn put(&mut self, owner: &Name, t: u16, records: Records) -> Result<(), String> {
        let edited = Edited {
            owner: owner.clone(),
            rtype: t,
            records,
        };
        self.edits.insert(Self::key(owner, t)?, edited);
        Ok(())
    }

    /// Adds a record (`zone-set`). Its TTL, or without one the RRset's
    /// (else [`DEFAULT_TTL`]), becomes the whole RRset's; an SOA, CNAME or
    /// DNAME replaces the one there (they are single records).
    pub(crate) fn set(&mut self, owner: &Name, t: u16, ttl: Option<u32>, rdata: Box<[u8]>) -> Result<(), String> {
        let mut records = self.current(owner, t)?;
        let ttl = ttl.or(records.first().map(|r| r.0)).unwrap_or(DEFAULT_TTL);
        if matches!(t, rtype::SOA | rtype::CNAME | rtype::DNAME) {
            records.clear();
        }
        // RRSIGs of different types covered are separate RRsets, with their own TTLs.
        if t != rtype::RRSIG {
            records.iter_mut().for_each(|r| r.0 = ttl);
        }
        if !records.iter().any(|r| r.1 == rdata) {
            records.push((ttl, rdata));
        }
        self.put(owner, t, records)
    }

    /// Removes records (`zone-unset`): one (`t` and `rdata`), an RRset
    /// (`t`), or everything the owner has. Removing what is not there is an
    /// error, as in knotc.
    pub(crate) fn unset(&mut self, owner: &Name, t: Option<u16>, rdata: Option<&[u8]>) -> Result<(), String> {
        let types = match t {
            Some(t) => vec![t],
            None => self.types_at(owner)?,
        };
        let mut removed = 0;
        for t in types {
            let mut records = self.current(owner, t)?;
            let before = records.len();
            match rdata {
                Some(rdata) => records.retain(|r| &r.1[..] != rdata),
                None => records.clear(),
            }
            removed += before - records.len();
            if before != records.len() {
                self.put(owner, t, records)?;
            }
        }
        if removed == 0 {
            let what = match (t, rdata) {
                (Some(t), Some(_)) => format!("no such {} record at {owner}", type_name(t)),
                (Some(t), None) => format!("no {} records at {owner}", type_name(t)),
                (None, _) => format!("no records at {owner}"),
            };
            return Err(what);
        }
        Ok(())
    }

    /// Every type `owner` has now (in the version begun from or set since).
    fn types_at(&self, owner: &Name) -> Result<Vec<u16>, String> {
        let (key, _) = Self::key(owner, 0)?;
        let mut types: Vec<u16> = self
            .base
            .node(owner.as_wire())
            .map(|n| n.rrsets().map(|s| s.rtype).collect())
            .unwrap_or_default();
        types.extend(
            self.edits
                .range((key.clone(), 0)..=(key, u16::MAX))
                .map(|(_, e)| e.rtype),
        );
        types.sort_unstable();
        types.dedup();
        Ok(types)
    }

    /// Whether the transaction sets the SOA itself.
    fn sets_soa(&self) -> bool {
        self.edits
            .values()
            .any(|e| e.rtype == rtype::SOA && e.owner.as_wire().eq_ignore_ascii_case(self.base.origin.as_wire()))
    }

    /// The records removed and added, against the version begun from, in
    /// canonical order (a changed TTL shows as the record removed and added).
    pub(crate) fn diff(&self) -> (Vec<Change>, Vec<Change>) {
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        let zone_class = self.base.soa().class;
        for edited in self.edits.values() {
            let before = base_records(&self.base, &edited.owner, edited.rtype);
            let change = |(ttl, rdata): &(u32, Box<[u8]>)| Change {
                owner: edited.owner.clone(),
                rtype: edited.rtype,
                class: zone_class,
                ttl: *ttl,
                rdata: rdata.clone(),
            };
            removed.extend(before.iter().filter(|r| !edited.records.contains(r)).map(change));
            added.extend(edited.records.iter().filter(|r| !before.contains(r)).map(change));
        }
        (removed, added)
    }

    /// The update a commit applies: the differences, and the SOA serial
    /// incremented (RFC 1982: plus one, modulo 2^32) unless the
    /// transaction set an SOA of its own.
    pub(crate) fn update(&self) -> Update {
        let (mut remove, mut add) = self.diff();
        if !self.sets_soa()
            && let Some(soa) = self.base.soa().rdatas().next()
            && let Some(bumped) = with_serial(soa, self.base.serial.wrapping_add(1))
        {
            let soa_set = self.base.soa();
            let change = |rdata: &[u8]| Change {
                owner: self.base.origin.clone(),
                rtype: rtype::SOA,
                class: soa_set.class,
                ttl: soa_set.ttl,
                rdata: rdata.into(),
            };
            remove.push(change(soa));
            add.push(change(&bumped));
        }
        Update { remove, add }
    }

    /// `zone-diff`'s lines: `-` removed, `+` added, as zone-file records.
    pub(crate) fn diff_text(&self) -> String {
        let (removed, added) = self.diff();
        let mut out = String::new();
        for (sign, changes) in [('-', &removed), ('+', &added)] {
            for c in changes {
                out.push(sign);
                out.push_str(&record_line(c));
                out.push('\n');
            }
        }
        out
    }
}

/// One record as a master-file line (no newline).
pub(crate) fn record_line(c: &Change) -> String {
    let mut out = String::new();
    let _ = write_presentation(c.owner.as_wire(), &mut out);
    out.push_str(&format!(
        " {} IN {} {}",
        c.ttl,
        type_name(c.rtype),
        rdata_text(c.rtype, &c.rdata)
    ));
    out
}

/// The records `zone` has at `owner` of type `t`.
fn base_records(zone: &Zone, owner: &Name, t: u16) -> Records {
    let Some(node) = zone.node(owner.as_wire()) else {
        return Vec::new();
    };
    node.rrsets()
        .filter(|s| s.rtype == t)
        .flat_map(|s| s.rdatas().map(|r| (s.ttl, Box::from(r))).collect::<Vec<_>>())
        .collect()
}

/// SOA RDATA with its serial replaced.
fn with_serial(soa: &[u8], serial: u32) -> Option<Vec<u8>> {
    soa_fields(soa)?;
    let mut out = soa.to_vec();
    // The serial is the first of the five numbers that end the RDATA.
    let at = out.len() - 20;
    out[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests;

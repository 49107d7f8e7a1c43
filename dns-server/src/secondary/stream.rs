//! The records of an AXFR (RFC 5936) or IXFR (RFC 1995) response stream, told apart and checked.
//!
//! Fed record by record as the messages arrive, it decides from the first
//! two records what the primary sent: one SOA (we are up to date), a whole
//! zone (SOA, the records, the SOA again), or difference sequences (SOA,
//! then per change the old SOA, removals, the new SOA, additions, and the
//! final SOA again). Anything else is an error, and so is a stream that
//! grows past its byte limit or goes on after its final SOA.
//!
//! A whole zone goes into the zone builder record by record as it arrives,
//! in wire form: a million records are never held twice (once as the
//! stream's, once as the builder's), and most of the indexing work is done
//! while the primary is still sending.

use std::{fmt, path::Path, sync::Arc};

use dns_wire::wire::rtype;

use super::serial::newer;
use crate::{
    message::{Section, read::RecordRef},
    name::Name,
    zone::{
        ZoneError,
        build::Builder,
        tree::Zone,
        update::{Change, Update},
    },
};

/// One record from the stream, names expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct XfrRecord {
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Box<[u8]>,
}

impl XfrRecord {
    /// An owned copy of a record read from a message (`None` for a malformed owner).
    pub(crate) fn of(r: &RecordRef<'_>) -> Option<XfrRecord> {
        Some(XfrRecord {
            owner: Name::from_wire(r.owner)?,
            rtype: r.rtype,
            class: r.class,
            ttl: r.ttl,
            rdata: r.rdata.into(),
        })
    }

    /// The record as a message lends it.
    pub(crate) fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            section: Section::Answer,
            owner: self.owner.as_wire(),
            rtype: self.rtype,
            class: self.class,
            ttl: self.ttl,
            rdata: &self.rdata,
        }
    }

    pub(crate) fn change(&self) -> Change {
        Change {
            owner: self.owner.clone(),
            rtype: self.rtype,
            class: self.class,
            ttl: self.ttl,
            rdata: self.rdata.clone(),
        }
    }
}

/// One difference sequence: from one serial to the next.
#[derive(Clone, Debug)]
pub(crate) struct Delta {
    pub from: u32,
    pub to: u32,
    /// The SOA change included.
    pub update: Update,
}

fn serial_of(rdata: &[u8]) -> Option<u32> {
    super::serial::Timers::of_soa(rdata).map(|t| t.serial)
}

/// A whole zone as it arrived, in the builder: [`WholeZone::finish`]
/// indexes and checks it as a zone file is.
pub(crate) struct WholeZone {
    builder: Builder,
    /// Records, the SOA once.
    pub records: u32,
}

impl WholeZone {
    /// The zone, if it passes the checks a zone file passes.
    pub(crate) fn finish(self) -> Result<Zone, ZoneError> {
        self.builder.finish()
    }
}

impl fmt::Debug for WholeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WholeZone({} records)", self.records)
    }
}

/// What a primary sent.
#[derive(Debug)]
pub(crate) enum Transfer {
    /// Only its SOA: nothing newer than what we have.
    UpToDate(u32),
    /// The whole zone (AXFR, or IXFR answered with a whole zone).
    Full(Box<WholeZone>),
    /// Difference sequences, oldest first.
    Incremental(Vec<Delta>),
}

/// Why a stream is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StreamError {
    #[error("the first record is not the zone's SOA")]
    FirstNotSoa,
    #[error("{0} is outside the zone")]
    OutOfZone(String),
    #[error("record after the final SOA")]
    AfterEnd,
    #[error("the stream ended before the final SOA")]
    Unfinished,
    #[error("difference sequence out of order: {0}")]
    BadSequence(String),
    #[error("transfer larger than {0} bytes")]
    TooLarge(u64),
    #[error("malformed SOA")]
    BadSoa,
    #[error("malformed owner name")]
    BadName,
}

#[derive(Debug)]
enum State {
    /// Nothing yet.
    Start,
    /// The first SOA (serial) read; the second record decides.
    AfterFirst,
    /// A whole zone.
    Full,
    /// Removing, in a difference sequence.
    Removing,
    /// Adding, in a difference sequence.
    Adding,
    /// The final SOA read.
    Done,
}

/// Reads one stream.
pub(crate) struct StreamParser {
    origin: Name,
    state: State,
    serial: u32,
    /// The first SOA, until the second record tells what the stream is.
    first: Option<XfrRecord>,
    /// A whole zone's records so far.
    whole: Option<WholeZone>,
    /// The version a whole zone replaces (its unchanged names are shared).
    previous: Option<Arc<Zone>>,
    /// What the builder's messages name as the records' "file".
    source: Arc<Path>,
    deltas: Vec<Delta>,
    bytes: u64,
    max_bytes: u64,
}

impl StreamParser {
    /// A parser for the zone at `origin` (lower-cased), refusing more than
    /// `max_bytes` of records. A whole zone is built as a new version of
    /// `previous` when given; `source` names the stream in its errors.
    pub(crate) fn new(origin: Name, max_bytes: u64, previous: Option<Arc<Zone>>, source: Arc<Path>) -> StreamParser {
        StreamParser {
            origin,
            state: State::Start,
            serial: 0,
            first: None,
            whole: None,
            previous,
            source,
            deltas: Vec::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Whether the final SOA has been read.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The serial, when all read so far is one SOA.
    pub(crate) fn lone_soa_serial(&self) -> Option<u32> {
        matches!(self.state, State::AfterFirst).then_some(self.serial)
    }

    fn is_apex_soa(&self, r: &RecordRef<'_>) -> bool {
        // The origin is lower-cased; length bytes (at most 63) are never letters.
        r.rtype == rtype::SOA && r.owner.eq_ignore_ascii_case(self.origin.as_wire())
    }

    /// Takes the next record.
    pub(crate) fn push(&mut self, r: RecordRef<'_>) -> Result<(), StreamError> {
        self.bytes += (r.owner.len() + 10 + r.rdata.len()) as u64;
        if self.bytes > self.max_bytes {
            return Err(StreamError::TooLarge(self.max_bytes));
        }
        if !crate::name::is_within(r.owner, self.origin.as_wire()) {
            let shown = Name::from_wire(r.owner).map_or_else(|| format!("{:?}", r.owner), |n| n.to_string());
            return Err(StreamError::OutOfZone(shown));
        }
        let soa = self.is_apex_soa(&r);
        match self.state {
            State::Start => {
                if !soa {
                    return Err(StreamError::FirstNotSoa);
                }
                self.serial = serial_of(r.rdata).ok_or(StreamError::BadSoa)?;
                self.first = Some(owned(&r)?);
                self.state = State::AfterFirst;
            }
            State::AfterFirst if soa => {
                let from = serial_of(r.rdata).ok_or(StreamError::BadSoa)?;
                if from == self.serial {
                    // SOA, SOA: a zone of nothing but its SOA; validation refuses it.
                    self.start_whole();
                    self.state = State::Done;
                    return Ok(());
                }
                self.start_delta(from, owned(&r)?);
            }
            State::AfterFirst => {
                self.start_whole();
                self.build(&r);
                self.state = State::Full;
            }
            State::Full if soa => {
                if serial_of(r.rdata) != Some(self.serial) {
                    return Err(StreamError::BadSequence("a second SOA inside a whole zone".into()));
                }
                self.state = State::Done;
            }
            State::Full => self.build(&r),
            State::Removing if soa => {
                let to = serial_of(r.rdata).ok_or(StreamError::BadSoa)?;
                let change = owned(&r)?.change();
                let delta = self.deltas.last_mut().expect("a delta is open");
                if !newer(to, delta.from) {
                    return Err(StreamError::BadSequence(format!("{} to {to}", delta.from)));
                }
                delta.to = to;
                delta.update.add.push(change);
                self.state = State::Adding;
            }
            State::Removing => {
                let change = owned(&r)?.change();
                self.delta().update.remove.push(change);
            }
            State::Adding if soa => {
                let serial = serial_of(r.rdata).ok_or(StreamError::BadSoa)?;
                let to = self.delta().to;
                if serial == self.serial && to == self.serial {
                    self.state = State::Done;
                } else {
                    if serial != to {
                        return Err(StreamError::BadSequence(format!(
                            "a change from {serial} after one to {to}"
                        )));
                    }
                    self.start_delta(serial, owned(&r)?);
                }
            }
            State::Adding => {
                let change = owned(&r)?.change();
                self.delta().update.add.push(change);
            }
            State::Done => return Err(StreamError::AfterEnd),
        }
        Ok(())
    }

    /// A whole zone it is: the builder gets the first SOA.
    fn start_whole(&mut self) {
        let mut builder = Builder::new(&self.origin);
        if let Some(previous) = &self.previous {
            builder = builder.replacing(previous);
        }
        self.whole = Some(WholeZone { builder, records: 0 });
        if let Some(first) = self.first.take() {
            self.build(&first.as_ref());
        }
    }

    fn build(&mut self, r: &RecordRef<'_>) {
        let Some(whole) = &mut self.whole else { return };
        whole.records += 1;
        whole
            .builder
            .push_wire(r.owner, r.rtype, r.class, r.ttl, r.rdata, &self.source, whole.records);
    }

    fn delta(&mut self) -> &mut Delta {
        self.deltas.last_mut().expect("a delta is open")
    }

    fn start_delta(&mut self, from: u32, soa: XfrRecord) {
        let mut update = Update::default();
        update.remove.push(soa.change());
        self.deltas.push(Delta { from, to: from, update });
        self.state = State::Removing;
    }

    /// The transfer, once the stream has ended.
    pub(crate) fn finish(self) -> Result<Transfer, StreamError> {
        match self.state {
            // A lone SOA: the primary has nothing newer for our IXFR.
            State::AfterFirst => Ok(Transfer::UpToDate(self.serial)),
            State::Done => match self.whole {
                Some(whole) => Ok(Transfer::Full(Box::new(whole))),
                None => Ok(Transfer::Incremental(self.deltas)),
            },
            _ => Err(StreamError::Unfinished),
        }
    }
}

/// An owned copy, for the few records kept whole (SOAs, IXFR changes).
fn owned(r: &RecordRef<'_>) -> Result<XfrRecord, StreamError> {
    // Owners read from a message are well-formed names; a caller that
    // hands over anything else gets an error, not a panic.
    XfrRecord::of(r).ok_or(StreamError::BadName)
}

#[cfg(test)]
mod tests;

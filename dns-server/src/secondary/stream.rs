//! The records of an AXFR (RFC 5936) or IXFR (RFC 1995) response stream, told apart and checked.
//!
//! Fed record by record as the messages arrive, it decides from the first
//! two records what the primary sent: one SOA (we are up to date), a whole
//! zone (SOA, the records, the SOA again), or difference sequences (SOA,
//! then per change the old SOA, removals, the new SOA, additions, and the
//! final SOA again). Anything else is an error, and so is a stream that
//! grows past its byte limit or goes on after its final SOA.

use dns_wire::wire::rtype;

use super::serial::newer;
use crate::{
    name::Name,
    zone::update::{Change, Update},
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
    fn size(&self) -> usize {
        self.owner.as_wire().len() + 10 + self.rdata.len()
    }

    fn serial(&self) -> Option<u32> {
        super::serial::Timers::of_soa(&self.rdata).map(|t| t.serial)
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

/// What a primary sent.
#[derive(Debug)]
pub(crate) enum Transfer {
    /// Only its SOA: nothing newer than what we have.
    UpToDate(u32),
    /// The whole zone (AXFR, or IXFR answered with a whole zone), SOA first.
    Full(Vec<XfrRecord>),
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
    records: Vec<XfrRecord>,
    deltas: Vec<Delta>,
    bytes: u64,
    max_bytes: u64,
}

impl StreamParser {
    /// A parser for the zone at `origin` (lower-cased), refusing more than `max_bytes` of records.
    pub(crate) fn new(origin: Name, max_bytes: u64) -> StreamParser {
        StreamParser {
            origin,
            state: State::Start,
            serial: 0,
            records: Vec::new(),
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

    fn is_apex_soa(&self, r: &XfrRecord) -> bool {
        r.rtype == rtype::SOA && r.owner.to_lowercase() == self.origin
    }

    /// Takes the next record.
    pub(crate) fn push(&mut self, r: XfrRecord) -> Result<(), StreamError> {
        self.bytes += r.size() as u64;
        if self.bytes > self.max_bytes {
            return Err(StreamError::TooLarge(self.max_bytes));
        }
        if !r.owner.is_within(&self.origin) {
            return Err(StreamError::OutOfZone(r.owner.to_string()));
        }
        let soa = self.is_apex_soa(&r);
        match self.state {
            State::Start => {
                if !soa {
                    return Err(StreamError::FirstNotSoa);
                }
                self.serial = r.serial().ok_or(StreamError::BadSoa)?;
                self.records.push(r);
                self.state = State::AfterFirst;
            }
            State::AfterFirst if soa => {
                let from = r.serial().ok_or(StreamError::BadSoa)?;
                if from == self.serial {
                    // SOA, SOA: a zone of nothing but its SOA; validation refuses it.
                    self.state = State::Done;
                    return Ok(());
                }
                self.start_delta(from, r)?;
            }
            State::AfterFirst => {
                self.records.push(r);
                self.state = State::Full;
            }
            State::Full if soa => {
                if r.serial() != Some(self.serial) {
                    return Err(StreamError::BadSequence("a second SOA inside a whole zone".into()));
                }
                self.state = State::Done;
            }
            State::Full => self.records.push(r),
            State::Removing if soa => {
                let to = r.serial().ok_or(StreamError::BadSoa)?;
                let delta = self.deltas.last_mut().expect("a delta is open");
                if !newer(to, delta.from) {
                    return Err(StreamError::BadSequence(format!("{} to {to}", delta.from)));
                }
                delta.to = to;
                delta.update.add.push(r.change());
                self.state = State::Adding;
            }
            State::Removing => self.delta().update.remove.push(r.change()),
            State::Adding if soa => {
                let serial = r.serial().ok_or(StreamError::BadSoa)?;
                let to = self.delta().to;
                if serial == self.serial && to == self.serial {
                    self.state = State::Done;
                } else {
                    if serial != to {
                        return Err(StreamError::BadSequence(format!(
                            "a change from {serial} after one to {to}"
                        )));
                    }
                    self.start_delta(serial, r)?;
                }
            }
            State::Adding => self.delta().update.add.push(r.change()),
            State::Done => return Err(StreamError::AfterEnd),
        }
        Ok(())
    }

    fn delta(&mut self) -> &mut Delta {
        self.deltas.last_mut().expect("a delta is open")
    }

    fn start_delta(&mut self, from: u32, soa: XfrRecord) -> Result<(), StreamError> {
        let mut update = Update::default();
        update.remove.push(soa.change());
        self.deltas.push(Delta { from, to: from, update });
        self.state = State::Removing;
        Ok(())
    }

    /// The transfer, once the stream has ended.
    pub(crate) fn finish(self) -> Result<Transfer, StreamError> {
        match self.state {
            // A lone SOA: the primary has nothing newer for our IXFR.
            State::AfterFirst => Ok(Transfer::UpToDate(self.serial)),
            State::Done if self.deltas.is_empty() => Ok(Transfer::Full(self.records)),
            State::Done => Ok(Transfer::Incremental(self.deltas)),
            _ => Err(StreamError::Unfinished),
        }
    }
}

#[cfg(test)]
mod tests;

//! One resource record as read from a zone file, with its RDATA in wire format.

use std::{fmt, path::Path, sync::Arc};

use crate::name::Name;

/// Where a record (or an error) came from: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    /// The zone file, or the file it `$INCLUDE`d.
    pub file: Arc<Path>,
    /// Line of the record's first token.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A resource record. RDATA is kept in uncompressed wire format; names inside
/// it keep the case they were written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Owner name, case as written.
    pub owner: Name,
    /// TYPE code.
    pub rtype: u16,
    /// CLASS code.
    pub class: u16,
    /// Time to live in seconds.
    pub ttl: u32,
    /// RDATA in wire format, no compression.
    pub rdata: Box<[u8]>,
    /// Where it was written.
    pub location: Location,
}

//! Zones: reading master files, checking them, and indexing them for lookups.

pub(crate) mod audit;
pub(crate) mod build;
pub(crate) mod canonical;
pub(crate) mod load;
pub(crate) mod names;
pub(crate) mod node;
pub(crate) mod nsec3;
pub(crate) mod parse;
pub(crate) mod rdata_text;
pub(crate) mod record;
pub(crate) mod source;
pub(crate) mod tree;
#[allow(dead_code, reason = "called by tests until reloads and IXFR use it")]
pub(crate) mod update;
pub(crate) mod validate;

pub(crate) use record::{Location, Record};

/// A zone file or zone content that cannot be served, with where it went wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub(crate) struct ZoneError {
    /// File and line, when the error belongs to one place.
    pub location: Option<Location>,
    /// What is wrong, in lower case.
    pub message: String,
}

//! Zones: reading master files, checking them, and indexing them for lookups.

pub mod load;
pub mod parse;
pub mod rdata_text;
pub mod record;
pub mod source;
pub mod tree;
pub mod validate;

pub use record::{Location, Record};

/// A zone file or zone content that cannot be served, with where it went wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct ZoneError {
    /// File and line, when the error belongs to one place.
    pub location: Option<Location>,
    /// What is wrong, in lower case.
    pub message: String,
}

//! An anycast DNS server: authoritative (and later recursive), with an XDP fast path.
//!
//! Layout, following the RFC concepts:
//! - [`name`]: domain names in wire format.
//! - [`zone`]: master files to checked, indexed zones.
#![warn(missing_docs)]

pub mod name;
pub mod zone;

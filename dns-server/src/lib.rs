//! An anycast DNS server: authoritative (and later recursive), with an XDP fast path.
//!
//! Layout, following the RFC concepts:
//! - [`name`]: domain names in wire format.
//! - [`zone`]: master files to checked, indexed zones; [`catalog`]: the set
//!   of zones served, swapped whole on reload.
//! - [`authority`]: the answering logic (referral, CNAME, wildcard, negative).
//! - [`query`]: one query's bytes to its response's bytes; [`message`] writes them.
//! - [`answer_cache`]: wire answers reused for repeated questions.
//! - [`resolver`]: recursion for names outside our zones, with its cache;
//!   [`prefix`]: the address prefixes allowed to use it.
//! - [`server`]: UDP and TCP transports; [`service`]: start-up and reload.
//! - [`xdp`]: the XDP fast path (loading, map filling, counters).
//! - [`sidecar`]: the anycast health sidecar (checks, BGP announce/drain/withdraw).
//! - [`config`] and [`cli`]: the configuration file and the command line.
#![warn(missing_docs)]

pub mod answer_cache;
pub mod authority;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod message;
pub mod name;
pub mod prefix;
pub mod query;
pub mod resolver;
pub mod server;
pub mod service;
pub mod sidecar;
pub mod stats;
pub mod xdp;
pub mod zone;

//! An anycast DNS server: authoritative (and later recursive), with an XDP fast path.
//!
//! Layout, following the RFC concepts:
//! - [`name`]: domain names in wire format.
//! - [`zone`]: master files to checked, indexed zones; [`catalog`]: the set
//!   of zones served, swapped whole on reload.
//! - [`authority`]: the answering logic (referral, CNAME, wildcard, negative).
//! - [`query`]: one query's bytes to its response's bytes; [`message`] writes them.
//! - [`answer_cache`]: wire answers reused for repeated questions.
//! - [`resolver`]: recursion for names outside our zones, with its cache.
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
#[cfg(test)]
mod deploy_examples;
pub mod message;
pub mod name;
pub mod query;
pub mod resolver;
pub mod server;
pub mod service;
pub mod sidecar;
pub mod stats;
pub mod xdp;
pub mod zone;

/// A second XDP program, built beside the fast path from `xdp-ebpf/src/pass.rs`:
/// it passes every frame. The lab attaches it to the far end of a veth pair,
/// where frames sent with `XDP_TX` arrive only when an XDP program is attached.
pub static XDP_PASS_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp-pass"));

/// The program's name in [`XDP_PASS_OBJECT`].
pub const XDP_PASS_PROGRAM: &str = "xdp_pass";

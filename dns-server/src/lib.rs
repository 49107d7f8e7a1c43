//! An anycast DNS server: authoritative and recursive, with an XDP fast path.
//!
//! Layout, following the RFC concepts:
//! - `name`: domain names in wire format.
//! - `zone`: master files to checked, indexed zones; `catalog`: the set
//!   of zones served, each at its own version, swapped whole on reload;
//!   `zone_files`: whether a zone's files changed (a reload re-reads only
//!   those); [`zone_state`]: each zone's state for `dns-server status`.
//! - `authority`: the answering logic (referral, CNAME, wildcard, negative).
//! - `query`: one query's bytes to its response's bytes; `message` writes them.
//! - `answer_cache`: wire answers reused for repeated questions.
//! - `transfer`: zone transfers out (AXFR, IXFR) and NOTIFY to secondaries.
//! - `resolver`: recursion for names outside our zones, with its cache;
//!   [`prefix`]: the address prefixes allowed to use it.
//! - `server`: UDP and TCP transports; [`service`]: settings, loading and
//!   reload; [`serve`]: the start-up order, signals and shutdown.
//! - [`xdp`]: the XDP fast path (loading, map filling, counters);
//!   `fast_path`: how answers flow back into it.
//! - [`sidecar`]: the anycast health sidecar (checks, BGP announce/drain/withdraw).
//! - `metrics`: Prometheus metrics, per-thread counters summed when scraped;
//!   [`control`]: the control socket and `dns-server ctl`; `edit`: zone
//!   transactions (`ctl zone-begin` ... `zone-commit`); `readiness`:
//!   systemd's READY=1, STATUS= and watchdog; `dnstap`: query logging
//!   (dnstap in Frame Streams, to a socket or a file), sampled, never
//!   blocking an answer.
//! - [`config`] and [`cli`]: the configuration file and the command line.
//! - [`fuzz`]: the entry points of the fuzz targets in `fuzz/`.
//!
//! A query's round trip, and the way its answer flows back into XDP so the
//! next one like it never leaves the kernel:
//!
//! ```text
//!  packet ─▶ xdp_dns (kernel) ──hit──▶ XDP_TX: answered from the maps
//!               │ miss: XDP_PASS                          ▲
//!               ▼                                         │ xdp::sync, xdp::feed
//!  server (UDP/TCP) ─▶ query::Shared::respond             │ write the maps
//!               │                                         │
//!               ├─ zones: authority ─▶ answer cache ──────┤ FastPathSink::copy_answer
//!               ├─ resolver's cache (a hot name) ─────────┤ FastPathSink::offer_resolved
//!               ▼                                         │
//!           response                                      │
//!  reload (SIGHUP): new catalog ──────────────────────────┘ FastPathSink::serve_catalog
//!          (the changed zones' keys rewritten in the live map, or with other
//!           zones added or removed, the idle map refilled and flipped;
//!           then the catalog swapped in)
//! ```
//!
//! The sink (`fast_path::FastPathSink`) is handed to `service::start` once,
//! before anything is served; without XDP it is `NoFastPath` and nothing
//! flows back.
#![warn(missing_docs)]
// Public is what the binary and the integration tests use; the rest is
// crate-private, and this keeps a `pub` inside it from pretending otherwise.
#![warn(unreachable_pub)]

pub mod check;
pub mod cli;
pub mod config;
pub mod control;
#[cfg(test)]
mod deploy_examples;
pub mod fuzz;
pub mod prefix;
pub mod serve;
pub mod service;
pub mod sidecar;
pub mod xdp;
pub mod zone_state;

mod answer_cache;
mod authority;
mod catalog;
mod dnstap;
mod edit;
mod fast_path;
mod message;
mod metrics;
mod name;
mod query;
mod readiness;
mod resolver;
mod secondary;
mod server;
mod stats;
mod transfer;
// Used in part until the transfers (in and out) use all of it.
#[allow(dead_code)]
mod tsig;
mod zone;
mod zone_files;

/// A second XDP program, built beside the fast path from `xdp-ebpf/src/pass.rs`:
/// it passes every frame. The lab attaches it to the far end of a veth pair,
/// where frames sent with `XDP_TX` arrive only when an XDP program is attached;
/// it gets the object from `dns-server xdp-pass-object FILE`, so that it does
/// not build the program itself (xtask, which sets up the toolchain that
/// builds it, uses the lab).
pub static XDP_PASS_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp-pass"));

//! DNS wire format shared by the XDP program and the userspace server.
//!
//! Everything here is `no_std`, allocation-free and bounds-checked, so the
//! same code runs in the eBPF program and is unit-tested and fuzzed on the
//! host with the same bytes. Two parsers read a query, each for its side:
//!
//! - [`query`]: the full parse userspace answers from (header, question,
//!   every record after it, EDNS and TSIG noted), over any slice;
//! - [`fast_question`]: the XDP program's bounded parse of a fixed-size
//!   copy, word at a time, that accepts only what the program can answer
//!   and leaves the rest to [`query`].
//!
//! [`cookie`] holds DNS cookies (RFC 7873) and the RFC 9018 server
//! cookie, which the program and userspace must compute byte for byte alike.
//! [`differential`] states what the two parsers must agree on, for the host
//! tests and the fuzz target.
//!
//! Nothing here knows about XDP maps: those live in the `xdp-abi` crate.
#![no_std]
#![warn(missing_docs)]

// The host tests build their inputs with test-support, which allocates.
#[cfg(test)]
extern crate std;

pub mod cookie;
pub mod csum;
#[cfg(not(target_arch = "bpf"))]
pub mod differential;
pub mod fast_question;
pub mod hash;
pub mod query;
pub mod wire;

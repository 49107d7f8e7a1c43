//! ABI and parsing shared by the XDP program and the userspace server.
//!
//! Everything here is `no_std`, allocation-free and bounds-checked, so the
//! same code runs in the eBPF program and is unit-tested and fuzzed on the
//! host with the same bytes.
#![no_std]
#![warn(missing_docs)]

pub mod abi;
pub mod csum;
pub mod hash;
pub mod query;
pub mod question;
pub mod wire;

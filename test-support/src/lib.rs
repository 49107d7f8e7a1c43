//! Builders and rigs shared by the tests, the lab and the benches, written
//! once and independently of the code they test.
//!
//! - [`query`]: DNS queries field by field, with raw escape hatches for
//!   deliberately malformed messages.
//! - [`frame`]: Ethernet (optional VLAN tags), IPv4 or IPv6, UDP frames.
//! - [`checksum`]: the Internet checksum (RFC 1071), written out here and not
//!   taken from the XDP program's code, so that a test can catch its errors.
//! - [`netns`]: network namespaces and veth pairs that are removed on drop.
//! - [`temp_dir`]: scratch directories removed on drop.
#![warn(missing_docs)]

pub mod checksum;
pub mod frame;
pub mod netns;
pub mod query;
pub mod temp_dir;

pub use query::{Edns, Query, encode_name};
pub use temp_dir::TempDir;

/// Returns from the calling test with a line saying it was skipped, unless
/// it runs as root. Only tests that need root use it (network namespaces,
/// BPF programs, ports below 1024): as root, which `cargo xtask test` and CI
/// are, they run; elsewhere they say why they did not instead of failing an
/// assertion about permissions.
#[macro_export]
macro_rules! require_root {
    ($needs:expr) => {
        if !$crate::netns::is_root() {
            eprintln!("skipped {}: {} needs root", module_path!(), $needs);
            return;
        }
    };
}

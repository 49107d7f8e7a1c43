//! The XDP fast path from userspace: load and attach the program, keep its
//! response maps in step with the served catalog, read its counters.
//!
//! - `loader`: the embedded object, attaching (native or generic mode, or native falling back to generic).
//! - [`maps`]: typed handles on the program's maps, pinned for `dns-server stats`.
//! - `sync`: responses precomputed from a catalog; the A/B map flip on reload;
//!   answers userspace caches at run time copied in.
//! - `feed`: the resolver's hot answers copied in, TTLs kept honest.
//! - [`stats`]: the per-CPU counters summed.
//! - `run`: starting all this for `serve`, and refilling on reload.
//! - `af_xdp`: sockets that answer the hits without room to grow (`[xdp] af_xdp`).
//! - [`fixture`]: the program loaded with a fixed zone, for the
//!   packet-in/packet-out tests and the `xdp_bench` example, which share
//!   their cases (`cases.rs`).

mod af_xdp;
#[cfg(test)]
mod cases;
mod feed;
pub mod fixture;
mod loader;
pub mod maps;
mod owned;
pub(crate) mod run;
pub mod stats;
mod sync;

#[cfg(test)]
mod test_run;

use std::sync::{Arc, Mutex};

pub use fixture::Fixture;
pub use loader::{FastPath, TestRunOutput};
pub use run::parse_prefix;

/// What can go wrong with the fast path; the server then runs without it.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The object could not be loaded (verifier, permissions, kernel).
    #[error("loading the XDP program: {0}")]
    Load(#[from] aya::EbpfError),
    /// The program could not be loaded or attached.
    #[error("XDP program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    /// A map is missing or could not be read or written.
    #[error("XDP map: {0}")]
    Map(#[from] aya::maps::MapError),
    /// A map the program should have is not in the object.
    #[error("the XDP object has no map {0}")]
    MissingMap(&'static str),
    /// The program's log could not be followed.
    #[error("XDP program log: {0}")]
    Log(String),
    /// A setting of the `[xdp]` table cannot be used.
    #[error("[xdp] {0}")]
    Config(String),
    /// Pinning under bpffs failed.
    #[error("pinning XDP maps under {path}: {reason}")]
    Pin {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
}

/// `error` and its sources, as one line: aya's messages name the failed call
/// (`bpf_link_create` failed) and keep the reason (the errno) in a source.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Transparent wrappers repeat their source's message.
        if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
        source = cause.source();
    }
    line
}

/// The maps, shared by the reload path and the thread copying run-time answers in.
pub type SharedMaps = Arc<Mutex<maps::Maps>>;

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("`bpf_link_create` failed")]
        Call(#[source] std::io::Error),
        #[error(transparent)]
        Same(std::io::Error),
    }

    #[test]
    fn error_chain_keeps_the_reason() {
        let errno = || std::io::Error::from_raw_os_error(libc::EOPNOTSUPP);
        let line = super::error_chain(&Outer::Call(errno()));
        assert!(
            line.starts_with("`bpf_link_create` failed: ") && line.ends_with("(os error 95)"),
            "{line}"
        );
        let line = super::error_chain(&Outer::Same(errno()));
        assert_eq!(
            line.matches("os error").count(),
            1,
            "transparent wrappers are not repeated: {line}"
        );
    }
}

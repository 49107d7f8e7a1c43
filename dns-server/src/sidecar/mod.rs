//! The anycast health sidecar: checks this PoP, and announces, drains or withdraws its prefixes through BGP.
//!
//! - [`config`]: the `[sidecar]` file; `probe`: one DNS, process or XDP probe;
//!   `freshness`: a zone's serial against its primary's (local and shared
//!   verdicts); `health`: rise/fall hysteresis per check.
//! - `state`: the up/drain/down/maintenance machine and its rule
//!   (shared check failures drain, never withdraw); `maintenance`: the operator's file.
//! - `speaker`: BIRD (`bird`), GoBGP (`gobgp`) or dry run.
//! - `run`: the loop, the clean stop (drain, wait, withdraw) and `--withdraw-all`;
//!   `state_file`: the JSON file monitoring reads; `control`: `dns-server ctl`
//!   status, drain, withdraw and resume on the sidecar's own socket.

pub(crate) mod bird;
pub mod config;
mod control;
mod freshness;
mod gobgp;
mod health;
mod maintenance;
mod metrics;
mod probe;
mod run;
mod speaker;
pub(crate) mod state;
mod state_file;

pub use run::{run, withdraw_all};
pub use speaker::SpeakerError;

/// Errors that stop the sidecar.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The speaker could not be set up or refused a one-shot command.
    #[error(transparent)]
    Speaker(#[from] speaker::SpeakerError),
    /// The metrics endpoint could not be started.
    #[error("serving metrics on {0}")]
    Metrics(String),
    /// The control socket could not be bound.
    #[error("control socket {0}")]
    Control(String),
}

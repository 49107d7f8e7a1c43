//! The BGP speaker the sidecar drives: BIRD, GoBGP, or a dry run that only logs.

use super::{
    bird::Bird,
    config::{SidecarConfig, SpeakerKind},
    gobgp::Gobgp,
    state::Announcement,
};

/// Errors talking to a speaker. The previous announcement stays in force.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// The BIRD include file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The include file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `birdc` could not be run.
    #[error("running birdc: {0}")]
    Birdc(std::io::Error),
    /// `birdc configure` failed; BIRD keeps its previous configuration.
    #[error("birdc configure failed ({status}): {output}")]
    Configure {
        /// The exit status.
        status: String,
        /// What birdc printed.
        output: String,
    },
    /// A gRPC call to gobgpd failed.
    #[error("gobgpd {call}: {message}")]
    Gobgp {
        /// The RPC that failed.
        call: &'static str,
        /// tonic's status or transport error.
        message: String,
    },
}

/// One speaker, chosen by the configuration.
#[derive(Debug)]
pub(crate) enum Speaker {
    /// BIRD 2.
    Bird(Bird),
    /// GoBGP 3.
    Gobgp(Gobgp),
    /// Logs what it would do.
    DryRun,
}

impl Speaker {
    /// The speaker the configuration names (`dry_run` wins).
    pub(crate) fn from_config(config: &SidecarConfig) -> Result<Speaker, SpeakerError> {
        if config.dry_run || config.speaker == SpeakerKind::DryRun {
            return Ok(Speaker::DryRun);
        }
        Ok(match (&config.bird, &config.gobgp, config.speaker) {
            (Some(bird), _, SpeakerKind::Bird) => Speaker::Bird(Bird::new(config, bird)),
            (_, Some(gobgp), SpeakerKind::Gobgp) => Speaker::Gobgp(Gobgp::new(config, gobgp)?),
            // Configuration validation guarantees the table exists.
            _ => Speaker::DryRun,
        })
    }

    /// Tells the speaker what to announce.
    pub(crate) async fn apply(&mut self, announcement: Announcement) -> Result<(), SpeakerError> {
        match self {
            Speaker::Bird(bird) => bird.apply(announcement).await,
            Speaker::Gobgp(gobgp) => gobgp.apply(announcement).await,
            Speaker::DryRun => {
                tracing::info!(?announcement, "dry run: would tell the speaker");
                Ok(())
            }
        }
    }

    /// Checks that the speaker still holds `announcement` (a restarted gobgpd
    /// forgets API paths) and repairs it; returns true when it had to.
    pub(crate) async fn reconcile(&mut self, announcement: Announcement) -> Result<bool, SpeakerError> {
        match self {
            Speaker::Bird(bird) => bird.reconcile(announcement).await,
            Speaker::Gobgp(gobgp) => gobgp.reconcile(announcement).await,
            Speaker::DryRun => Ok(false),
        }
    }

    /// Withdraws every configured prefix; a speaker that is not running counts as withdrawn.
    pub(crate) async fn withdraw_all(&mut self) -> Result<(), SpeakerError> {
        match self {
            Speaker::Bird(bird) => bird.withdraw_all().await,
            Speaker::Gobgp(gobgp) => gobgp.apply(Announcement::Withdraw).await,
            Speaker::DryRun => {
                tracing::info!("dry run: would withdraw every prefix");
                Ok(())
            }
        }
    }
}

//! The sidecar's loop: probe each check on its interval, step the state machine, tell the speaker.

use std::{future::Future, time::Duration};

use tokio::{
    sync::mpsc,
    time::{MissedTickBehavior, interval, sleep},
};

use super::{
    SidecarError,
    config::{self, CheckKind, Scope, SidecarConfig},
    control::{self, Control},
    health::{Summary, Tracker},
    maintenance,
    metrics::{Collector, SidecarMetrics},
    probe,
    speaker::Speaker,
    state::{Announcement, Machine, State, Transition},
    state_file::{self, Snapshot},
};
use crate::control::protocol::{Reply, Request};

/// How often the maintenance file is read when no probe result arrives.
const MAINTENANCE_POLL: Duration = Duration::from_millis(250);

/// The loop's state: the machine, the checks and what the speaker holds.
struct Sidecar {
    config: SidecarConfig,
    speaker: Speaker,
    machine: Machine,
    trackers: Vec<Tracker>,
    /// What the speaker last accepted; None until the first success.
    announced: Option<Announcement>,
    speaker_error: Option<String>,
    since: u64,
    metrics: std::sync::Arc<SidecarMetrics>,
}

/// Runs until `shutdown` resolves, then drains, waits `stop_drain_seconds` and withdraws.
pub async fn run(config: SidecarConfig, shutdown: impl Future<Output = ()>) -> Result<(), SidecarError> {
    let speaker = Speaker::from_config(&config)?;
    // Each check's tracker, and a zone-freshness check's shared one right after it.
    let mut trackers = Vec::new();
    let mut tracker_of = Vec::new();
    for check in &config.checks {
        trackers.push(Tracker::new(&check.name, check.scope, check.rise, check.fall));
        let shared = matches!(check.kind, CheckKind::ZoneFreshness { .. }).then(|| {
            let name = config::primary_check_name(&check.name);
            trackers.push(Tracker::new(&name, Scope::Shared, check.rise, check.fall));
            trackers.len() - 1
        });
        tracker_of.push((trackers.len() - 1 - usize::from(shared.is_some()), shared));
    }
    let mut probers = Vec::new();
    for check in &config.checks {
        let servers = match &check.kind {
            CheckKind::Dns { servers, .. } | CheckKind::ZoneFreshness { servers, .. } => config.dns_servers(servers),
            _ => Vec::new(),
        };
        let prober = probe::Prober::new(&check.kind, servers).map_err(|message| config::ConfigError::Invalid {
            path: std::path::PathBuf::new(),
            message: format!("check {:?}: {message}", check.name),
        })?;
        probers.push(prober);
    }
    let machine = Machine::new();
    let metrics = SidecarMetrics::new(
        config.prefixes.iter().map(ToString::to_string).collect(),
        &trackers.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
        machine.state(),
    );
    if let Some(addr) = config.metrics_listen {
        let collected = metrics.clone();
        let render: crate::metrics::http::Render =
            std::sync::Arc::new(move |format| crate::metrics::encode(Box::new(Collector(collected.clone())), format));
        crate::metrics::http::start(addr, render).map_err(|e| SidecarError::Metrics(format!("{addr}: {e}")))?;
    }
    let socket = config.control_socket.clone();
    let mut control = Control::start(socket.as_deref())
        .map_err(|e| SidecarError::Control(format!("{}: {e}", socket.clone().unwrap_or_default().display())))?;
    let mut sidecar = Sidecar {
        speaker,
        machine,
        trackers,
        announced: None,
        speaker_error: None,
        since: state_file::now(),
        metrics,
        config,
    };
    tracing::info!(
        prefixes = ?sidecar.config.prefixes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        speaker = ?sidecar.config.speaker,
        "sidecar starting: withdrawn until the checks rise"
    );
    // Start from a known state: whatever a previous run left behind is withdrawn.
    sidecar.tell(Announcement::Withdraw).await;
    sidecar.write_state();

    let (results, mut incoming) = mpsc::channel(64);
    let probes: Vec<_> = sidecar
        .config
        .checks
        .iter()
        .zip(probers)
        .enumerate()
        .map(|(index, (check, mut prober))| {
            let (check, results) = (check.clone(), results.clone());
            tokio::spawn(async move {
                let mut ticks = interval(check.interval());
                ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let started = std::time::Instant::now();
                    let probed = prober.probe(check.timeout()).await;
                    if results.send((index, probed, started.elapsed())).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(results);

    let mut maintenance_poll = interval(MAINTENANCE_POLL);
    let mut reconcile = interval(Duration::from_secs(sidecar.config.reconcile_seconds.max(1)));
    reconcile.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some((index, probed, took)) = incoming.recv() => {
                let (own, shared) = tracker_of[index];
                if let Some((ours, primary)) = probed.serials {
                    sidecar.metrics.zone_serials(&sidecar.trackers[own].name, ours, primary);
                }
                sidecar.record(own, probed.result, probed.detail.clone(), took);
                if let (Some(tracker), Some(result)) = (shared, probed.shared) {
                    sidecar.record(tracker, result, probed.detail, took);
                }
                sidecar.step().await;
            }
            _ = maintenance_poll.tick() => sidecar.step().await,
            _ = reconcile.tick() => sidecar.reconcile().await,
            Some((request, reply)) = control.requests.recv() => {
                let _ = reply.send(sidecar.command(request).await);
            }
        }
    }
    control.stop(socket.as_deref());
    for probe in probes {
        probe.abort();
    }
    sidecar.stop().await;
    Ok(())
}

/// One-shot: withdraw every prefix (for a systemd `ExecStopPost=` after the sidecar died).
pub async fn withdraw_all(config: SidecarConfig) -> Result<(), SidecarError> {
    let mut speaker = Speaker::from_config(&config)?;
    speaker.withdraw_all().await?;
    let reason = "withdraw-all: withdrawn by `dns-server sidecar --withdraw-all`";
    let snapshot = Snapshot::new(
        State::Down,
        reason,
        Some(Announcement::Withdraw),
        None,
        state_file::now(),
        &[],
    );
    if let Err(e) = state_file::write(&config.state_file, &snapshot) {
        tracing::warn!(file = %config.state_file.display(), error = %e, "cannot write the state file");
    }
    tracing::info!(prefixes = config.prefixes.len(), "withdrawn");
    Ok(())
}

impl Sidecar {
    /// Counts one probe's result in tracker `index` and its metrics.
    fn record(&mut self, index: usize, result: Result<(), probe::ProbeError>, detail: Option<String>, took: Duration) {
        let tracker = &mut self.trackers[index];
        let error = result.as_ref().err().map(|e| e.0.clone());
        tracker.detail = detail;
        if let Some(status) = tracker.record(result) {
            tracing::info!(check = %tracker.name, ?status, error = ?error, "check changed");
        }
        let up = tracker.status == crate::sidecar::health::Status::Up;
        self.metrics.probe(&tracker.name, error.is_none(), took, up);
    }

    /// Answers a control request: the maintenance switch, then the status.
    async fn command(&mut self, request: Request) -> Reply {
        if let Some(wanted) = control::maintenance(&request) {
            let file = &self.config.maintenance_file;
            if let Err(e) = control::set_maintenance(file, wanted) {
                return Reply::error(format!("{}: {e}", file.display()));
            }
            tracing::info!(?wanted, file = %file.display(), "maintenance set over the control socket");
            self.step().await;
        } else if request != (Request::Status {}) {
            return control::not_ours(&request);
        }
        let snapshot = Snapshot::new(
            self.machine.state(),
            self.machine.reason(),
            self.announced,
            self.speaker_error.as_deref(),
            self.since,
            &self.trackers,
        );
        let (maintenance, _) = maintenance::read(&self.config.maintenance_file);
        let prefixes = self.config.prefixes.iter().map(ToString::to_string).collect();
        control::status(
            serde_json::to_value(&snapshot).unwrap_or_default(),
            prefixes,
            maintenance,
        )
    }

    /// Reads maintenance, steps the machine and acts on a transition.
    async fn step(&mut self) {
        let (maintenance, warning) = maintenance::read(&self.config.maintenance_file);
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
        }
        let summary = Summary::of(&self.trackers);
        if let Some(transition) = self.machine.step(&summary, maintenance) {
            self.enter(transition).await;
        }
    }

    /// Logs the transition, tells the speaker, writes the state file.
    async fn enter(&mut self, t: Transition) {
        tracing::info!(from = %t.from, to = %t.to, reason = %t.reason, "state change");
        self.metrics.transition(t.from, t.to);
        self.since = state_file::now();
        self.tell(t.to.announcement()).await;
        self.write_state();
    }

    /// Tells the speaker; on failure keeps the previous announcement on record and reports.
    async fn tell(&mut self, announcement: Announcement) {
        match self.speaker.apply(announcement).await {
            Ok(()) => {
                self.announced = Some(announcement);
                self.speaker_error = None;
            }
            Err(e) => {
                self.metrics.speaker_error();
                tracing::error!(error = %e, ?announcement, previous = ?self.announced, "speaker refused; keeping the previous state, will retry");
                self.speaker_error = Some(e.to_string());
            }
        }
    }

    /// Retries a failed change and repairs a speaker that lost our paths.
    async fn reconcile(&mut self) {
        let want = self.machine.state().announcement();
        if self.announced != Some(want) {
            self.tell(want).await;
            self.write_state();
            return;
        }
        match self.speaker.reconcile(want).await {
            Ok(true) => tracing::warn!(?want, "speaker had lost our announcement; restored"),
            Ok(false) => {}
            Err(e) => {
                self.metrics.speaker_error();
                tracing::error!(error = %e, "reconciling with the speaker failed");
                self.speaker_error = Some(e.to_string());
                self.write_state();
            }
        }
    }

    /// Clean stop: drain, wait, withdraw.
    async fn stop(&mut self) {
        if let Some(t) = self.machine.stop_drain() {
            self.enter(t).await;
            let wait = Duration::from_secs(self.config.stop_drain_seconds);
            tracing::info!(seconds = wait.as_secs(), "drained; waiting before withdrawal");
            sleep(wait).await;
        }
        if let Some(t) = self.machine.stop_withdraw() {
            self.enter(t).await;
        } else {
            // Already down: make sure, in case the last change failed.
            self.tell(Announcement::Withdraw).await;
            self.write_state();
        }
        tracing::info!("sidecar stopped");
    }

    fn write_state(&self) {
        let snapshot = Snapshot::new(
            self.machine.state(),
            self.machine.reason(),
            self.announced,
            self.speaker_error.as_deref(),
            self.since,
            &self.trackers,
        );
        if let Err(e) = state_file::write(&self.config.state_file, &snapshot) {
            tracing::warn!(file = %self.config.state_file.display(), error = %e, "cannot write the state file");
        }
    }
}

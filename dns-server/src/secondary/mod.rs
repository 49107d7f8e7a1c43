//! Secondary zones: kept up to date from their primaries by SOA refresh, NOTIFY, IXFR and AXFR.
//!
//! Each secondary zone has a task ([`refresh`]) that asks its primaries, in
//! order, for their SOA serial when its refresh timer fires or a NOTIFY
//! ([`notify`]) comes; when theirs is newer (RFC 1982) it transfers the
//! changes by IXFR over TCP ([`client`], [`stream`]), or the whole zone by
//! AXFR when the primary sends one, refuses IXFR, or its changes do not
//! apply. A new version is checked as a zone file is (the zone builder's
//! checks, [`crate::zone::update`]'s for changes), kept on disk ([`store`]),
//! then swapped into the served catalog like a reloaded zone. A zone not
//! refreshed within its SOA expire time is no longer served (SERVFAIL with
//! an extended error) until a refresh succeeds.
//!
//! [`Registry`] holds the zones' tasks and states, and serialises every
//! catalog swap (a transfer's, a reload's) so that neither loses the other's.
//!
//! A catalog zone (RFC 9432, [`catalog_zone`], [`members`]) is refreshed by
//! the same task but not served: each version is read for its members,
//! which become secondary zones of their own.

#[cfg(test)]
mod bench;
pub(crate) mod catalog_zone;
pub(crate) mod client;
pub(crate) mod members;
pub(crate) mod notify;
pub(crate) mod refresh;
pub(crate) mod serial;
pub(crate) mod store;
pub(crate) mod stream;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::SystemTime,
};

use crate::{
    catalog::{Catalog, ServedZone},
    config::Config,
    name::Name,
    query::Shared,
    tsig::Key,
    zone_state::RefreshReport,
};

/// One secondary zone's fixed settings and its live state.
pub(crate) struct Secondary {
    /// The apex, lower-cased.
    pub origin: Name,
    pub primaries: Vec<SocketAddr>,
    pub key: Option<Arc<Key>>,
    /// Where the copy is kept.
    pub file: PathBuf,
    /// A catalog zone: read for its members, not served.
    pub catalog: bool,
    /// Woken by a NOTIFY.
    pub refresh_now: tokio::sync::Notify,
    pub report: Mutex<RefreshReport>,
    /// Asked (`ctl zone-retransfer`) to transfer the whole zone at the next refresh.
    pub retransfer: AtomicBool,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Secondary {
    fn same_settings(&self, other: &Secondary) -> bool {
        self.primaries == other.primaries
            && self.catalog == other.catalog
            && self.file == other.file
            && self.key.as_ref().map(|k| (k.name().clone(), k.algorithm()))
                == other.key.as_ref().map(|k| (k.name().clone(), k.algorithm()))
    }

    /// The report, locked (never held across an await).
    pub(crate) fn report(&self) -> MutexGuard<'_, RefreshReport> {
        self.report.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The secondary zones of a server.
#[derive(Default)]
pub(crate) struct Registry {
    zones: Mutex<HashMap<Name, Arc<Secondary>>>,
    /// Held across every catalog swap.
    swap: Mutex<()>,
    /// The configuration in force (limits, state file), replaced at each reload.
    config: Mutex<Option<Arc<Config>>>,
    /// A state-file write is scheduled.
    state_pending: AtomicBool,
    /// The catalogs' latest views and their members' owners.
    members: Mutex<members::Members>,
    /// One per transfer from a primary (`transfers_in_max`, taken at the first sync).
    transfers_in: std::sync::OnceLock<Arc<tokio::sync::Semaphore>>,
    /// Refreshes by result, for metrics.
    counts: Counts,
}

/// Refreshes of secondary zones, by result.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub axfr: AtomicU64,
    pub ixfr: AtomicU64,
    pub up_to_date: AtomicU64,
    pub failed: AtomicU64,
}

impl Registry {
    /// The zone whose apex is `origin` (lower-cased), if it is a secondary.
    pub(crate) fn zone(&self, origin: &Name) -> Option<Arc<Secondary>> {
        self.lock_zones().get(origin).cloned()
    }

    /// Whether `zone` is the task registered for its origin (a task
    /// stopped or replaced publishes nothing more).
    pub(crate) fn is_current(&self, zone: &Secondary) -> bool {
        self.lock_zones()
            .get(&zone.origin)
            .is_some_and(|z| std::ptr::eq(Arc::as_ptr(z), zone))
    }

    /// Stops the tasks of `origins` (a sync restarts those still wanted).
    pub(crate) fn stop(&self, origins: &[Name]) {
        let mut zones = self.lock_zones();
        for origin in origins {
            if let Some(running) = zones.remove(origin)
                && let Some(task) = running.task.lock().unwrap_or_else(|e| e.into_inner()).take()
            {
                task.abort();
            }
        }
    }

    /// Whether there are no secondary zones.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock_zones().is_empty()
    }

    fn lock_zones(&self) -> MutexGuard<'_, HashMap<Name, Arc<Secondary>>> {
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Taken around every catalog swap.
    pub(crate) fn lock_swaps(&self) -> MutexGuard<'_, ()> {
        self.swap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refreshes by result.
    pub(crate) fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Has the task of `origin` (every secondary zone's, for `None`) ask
    /// its primaries now, as a NOTIFY does; with `whole`, for the whole
    /// zone (AXFR) whatever the serials say. Returns the zones asked,
    /// sorted; none when `origin` is not a secondary zone.
    pub(crate) fn refresh_now(&self, origin: Option<&Name>, whole: bool) -> Vec<Name> {
        let zones = self.lock_zones();
        let mut asked: Vec<Name> = zones
            .values()
            .filter(|z| origin.is_none_or(|o| *o == z.origin))
            .map(|z| {
                if whole {
                    z.retransfer.store(true, Ordering::Release);
                }
                // A permit kept if the task is busy: it checks again when done.
                z.refresh_now.notify_one();
                z.origin.clone()
            })
            .collect();
        asked.sort_by(|a, b| a.as_wire().cmp(b.as_wire()));
        asked
    }

    /// The turns transfers from primaries take (`transfers_in_max` at once).
    pub(crate) fn transfer_turns(&self) -> Arc<tokio::sync::Semaphore> {
        self.transfers_in
            .get_or_init(|| {
                let max = self.config().server.transfers_in_max.max(1);
                Arc::new(tokio::sync::Semaphore::new(max))
            })
            .clone()
    }

    pub(crate) fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }

    /// The reports of every secondary zone, by origin.
    pub(crate) fn reports(&self) -> HashMap<Name, RefreshReport> {
        self.lock_zones()
            .iter()
            .map(|(origin, z)| (origin.clone(), z.report().clone()))
            .collect()
    }

    /// `catalog` with each secondary zone as `live` serves it: a reload
    /// built from an older catalog must not undo a transfer that landed
    /// meanwhile. Called with [`Registry::lock_swaps`] held.
    pub(crate) fn carry_over(&self, catalog: Catalog, live: &Catalog) -> Catalog {
        let zones = self.lock_zones();
        let mut catalog = catalog;
        for origin in zones.keys() {
            let (Some(new), Some(old)) = (catalog.zone(origin.as_wire()), live.zone(origin.as_wire())) else {
                continue;
            };
            if new.version_id() != old.version_id() || new.status != old.status {
                catalog = catalog.with_zone(old.clone());
            }
        }
        catalog
    }

    /// Starts a task for each secondary zone of `config` that has none (or
    /// whose primaries, key or file changed) and stops the tasks of zones
    /// no longer configured. Called at start and after each reload.
    pub(crate) fn sync(&self, shared: &Arc<Shared>, config: &Config) {
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(config.clone()));
        let ring = config.key_ring();
        let mut wanted = HashMap::new();
        // The catalogs' members are secondary zones too.
        let effective = self.effective(config);
        for catalog in &config.catalogs {
            let Ok(origin) = Name::parse(&catalog.origin, None).map(|n| n.to_lowercase()) else {
                continue;
            };
            let secondary = Secondary {
                origin: origin.clone(),
                primaries: catalog.primaries.clone(),
                key: catalog.tsig.as_deref().and_then(|n| ring.by_name(n)).cloned(),
                file: catalog.file.clone(),
                catalog: true,
                refresh_now: tokio::sync::Notify::new(),
                report: Mutex::new(RefreshReport {
                    primaries: catalog.primaries.iter().map(ToString::to_string).collect(),
                    ..RefreshReport::default()
                }),
                retransfer: AtomicBool::new(false),
                task: Mutex::new(None),
            };
            wanted.insert(origin, secondary);
        }
        for zone in effective.zones.iter().filter(|z| z.is_secondary()) {
            let Ok(origin) = Name::parse(&zone.origin, None).map(|n| n.to_lowercase()) else {
                continue;
            };
            let secondary = Secondary {
                origin: origin.clone(),
                primaries: zone.primaries.clone(),
                key: zone.tsig.as_deref().and_then(|n| ring.by_name(n)).cloned(),
                file: zone.file.clone(),
                catalog: false,
                refresh_now: tokio::sync::Notify::new(),
                report: Mutex::new(RefreshReport {
                    primaries: zone.primaries.iter().map(ToString::to_string).collect(),
                    ..RefreshReport::default()
                }),
                retransfer: AtomicBool::new(false),
                task: Mutex::new(None),
            };
            wanted.insert(origin, secondary);
        }
        let mut zones = self.lock_zones();
        zones.retain(|origin, running| {
            let keep = wanted.get(origin).is_some_and(|w| w.same_settings(running));
            if !keep && let Some(task) = running.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
            keep
        });
        for (origin, secondary) in wanted {
            if zones.contains_key(&origin) {
                continue;
            }
            let secondary = Arc::new(secondary);
            let handle = tokio::spawn(refresh::run(shared.clone(), secondary.clone()));
            *secondary.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle.abort_handle());
            zones.insert(origin, secondary);
        }
    }
}

/// Swaps `zone` into the served catalog (the XDP maps first, as a reload
/// does), on a blocking thread as a reload does (the XDP map update is
/// bounded work, but not async work), and has the state file rewritten.
pub(crate) async fn publish(shared: &Arc<Shared>, zone: ServedZone, from: Arc<Secondary>) {
    let sh = shared.clone();
    let swapped = tokio::task::spawn_blocking(move || {
        swap_zone(&sh, |_| {
            // Removed from its catalog (or reconfigured) meanwhile: not served.
            sh.secondaries.is_current(&from).then_some(zone).ok_or(())
        })
    })
    .await;
    if let Err(error) = swapped {
        tracing::error!(%error, "swapping in a secondary zone's version failed");
    }
    write_state(shared);
}

/// Swaps in one zone's new version, as a transfer and a `ctl zone-commit`
/// do: under the swap lock, `make` is given the live catalog and returns
/// the zone to put in (or an error, and nothing is swapped); the XDP maps
/// take its changed names first, then the catalog is swapped, then the
/// difference is recorded for IXFR and the zone's secondaries are
/// notified. Blocking (the XDP map update); call it on a blocking thread
/// of the runtime (the notifications are its tasks).
pub(crate) fn swap_zone<E>(
    shared: &Arc<Shared>,
    make: impl FnOnce(&Catalog) -> Result<ServedZone, E>,
) -> Result<(), E> {
    let _swapping = shared.secondaries.lock_swaps();
    let live = shared.catalog.load_full();
    let zone = make(&live)?;
    // A version to serve is swapped in before the XDP maps follow it:
    // userspace answers from it at once, and XDP answers the version
    // before for the moment its changed names take to rewrite (the
    // copies userspace offers meanwhile are of a version the maps do
    // not follow yet, so they are not written). A zone that stops being
    // served (expired) leaves the maps first: XDP never answers it after.
    let serving = zone.version.is_some();
    let catalog = Arc::new(live.with_zone(zone));
    if !serving {
        shared.fast_path.serve_catalog(&catalog);
    }
    let previous = shared.catalog.swap(catalog.clone());
    if serving {
        shared.fast_path.serve_catalog(&catalog);
    }
    // Our own secondaries hear of it, and may ask for its differences.
    crate::transfer::versions_swapped(shared, &previous, &catalog);
    Ok(())
}

/// How long state-file writes are gathered: a burst of refreshes (many
/// zones, a NOTIFY storm) writes the file once, not once per zone.
const STATE_WRITE_DELAY: std::time::Duration = std::time::Duration::from_millis(200);

/// Has the state file rewritten shortly (after a refresh, whatever it found).
pub(crate) fn write_state(shared: &Arc<Shared>) {
    if shared.secondaries.state_pending.swap(true, Ordering::AcqRel) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(STATE_WRITE_DELAY).await;
        shared.secondaries.state_pending.store(false, Ordering::Release);
        let _ = tokio::task::spawn_blocking(move || {
            let config = shared.secondaries.config();
            let Some(path) = crate::service::state_file(&config) else {
                return;
            };
            let catalog = shared.catalog.load_full();
            let reports = shared.secondaries.reports();
            if let Err(error) = crate::zone_state::write(path, &catalog, &reports) {
                tracing::warn!(path = %path.display(), %error, "zone state file not written");
            }
        })
        .await;
    });
}

/// Seconds since the epoch.
pub(crate) fn epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

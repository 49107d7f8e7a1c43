//! Zone transactions over the control socket: `ctl zone-begin`, `zone-set`,
//! `zone-unset`, `zone-diff`, `zone-commit`, `zone-abort` (as knotc's).
//!
//! A transaction changes one primary zone without re-reading its file: it
//! holds the version it began from ([`transaction`]), reads records with
//! the zone-file parser ([`args`]), and at commit makes a new version with
//! [`Zone::apply`](crate::zone::tree::Zone) (the IXFR path: the zone checks
//! for the touched names, the unchanged nodes shared), the SOA serial
//! incremented unless the transaction set one. It is swapped in as a
//! transferred version is ([`crate::secondary::swap_zone`]): the XDP maps
//! and the answer cache change for the changed names only, the difference
//! is kept for IXFR out and the secondaries are notified. The zone file is
//! rewritten afterwards ([`persist`]).
//!
//! Secondary zones and catalog members refuse transactions: their data
//! comes from their primaries.

pub(crate) mod args;
pub(crate) mod persist;
pub(crate) mod transaction;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::{
    catalog::{ServedZone, ZoneStatus, ZoneVersion},
    name::Name,
    query::Shared,
    service::Settings,
    stats::Stats,
};
use transaction::Transaction;

/// The open transactions, one per zone at most.
#[derive(Default)]
pub(crate) struct Transactions {
    open: Mutex<HashMap<Name, Transaction>>,
    written: Arc<Written>,
}

/// The version each zone's file was last rewritten for.
#[derive(Default)]
pub(crate) struct Written(Mutex<HashMap<Name, u64>>);

impl Written {
    fn get(&self, origin: &Name) -> Option<u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(origin).copied()
    }

    fn set(&self, origin: &Name, id: u64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(origin.clone(), id);
    }
}

/// What a commit did.
pub(crate) struct Committed {
    /// The new version's serial.
    pub serial: u32,
    /// Records removed and added (the SOA's change included).
    pub removed: usize,
    pub added: usize,
}

impl Transactions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Name, Transaction>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `zone-begin`: opens a transaction on the version of `origin` served now.
    pub(crate) fn begin(&self, shared: &Shared, origin: &Name) -> Result<u32, String> {
        let catalog = shared.catalog.load();
        let served = catalog
            .zone(origin.as_wire())
            .ok_or_else(|| format!("zone {origin} is not configured"))?;
        editable(shared, served)?;
        let version = served
            .version
            .as_ref()
            .ok_or_else(|| format!("zone {origin} is not loaded (fix its file and reload it first)"))?;
        let mut open = self.lock();
        if open.contains_key(origin) {
            return Err(format!(
                "a transaction on {origin} is open already (zone-commit or zone-abort it first)"
            ));
        }
        open.insert(origin.clone(), Transaction::new(version.zone.clone(), version.id));
        Ok(version.zone.serial)
    }

    /// Runs `change` on the open transaction of `origin`.
    pub(crate) fn with<T>(
        &self,
        origin: &Name,
        change: impl FnOnce(&mut Transaction) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut open = self.lock();
        let transaction = open
            .get_mut(origin)
            .ok_or_else(|| format!("no transaction on {origin} is open (zone-begin {origin} first)"))?;
        change(transaction)
    }

    /// `zone-abort`: forgets the transaction.
    pub(crate) fn abort(&self, origin: &Name) -> Result<(), String> {
        self.lock()
            .remove(origin)
            .map(|_| ())
            .ok_or_else(|| format!("no transaction on {origin} is open"))
    }

    /// `zone-commit`: serves the transaction's changes as a new version,
    /// then has the zone file rewritten. A change the zone checks refuse
    /// leaves the transaction open to be put right; a zone changed since
    /// `zone-begin` (a reload, a transfer) ends it.
    pub(crate) async fn commit(
        &self,
        shared: &Arc<Shared>,
        settings: &Arc<tokio::sync::Mutex<Settings>>,
        origin: &Name,
    ) -> Result<Committed, String> {
        // No reload (nor file write) runs meanwhile: a reload built from
        // the version before would undo the commit.
        let held = settings.lock().await;
        let transaction = self
            .lock()
            .remove(origin)
            .ok_or_else(|| format!("no transaction on {origin} is open (zone-begin {origin} first)"))?;
        if transaction.is_empty() {
            return Err(format!(
                "nothing to commit for {origin}: the transaction is closed, the zone unchanged"
            ));
        }
        let update = transaction.update();
        let zone = match transaction.base.apply(&update) {
            Ok(zone) => Arc::new(zone),
            Err(error) => {
                self.lock().insert(origin.clone(), transaction);
                return Err(format!(
                    "{}; the transaction stays open (zone-unset or zone-set to put it right, or zone-abort)",
                    error.message
                ));
            }
        };
        let committed = Committed {
            serial: zone.serial,
            removed: update.remove.len(),
            added: update.add.len(),
        };
        let (sh, name, base_id) = (shared.clone(), origin.clone(), transaction.base_id);
        let swapped = tokio::task::spawn_blocking(move || {
            crate::secondary::swap_zone(&sh, |live| {
                let served = live
                    .zone(name.as_wire())
                    .filter(|z| z.version_id() == base_id)
                    .ok_or_else(|| {
                        format!("{name} changed since zone-begin (a reload or transfer): the transaction is aborted; begin again")
                    })?;
                let previous = served.version.as_ref().ok_or_else(|| format!("{name} is not loaded"))?;
                // The files it was read from, until the rewrite replaces them:
                // a reload meanwhile finds them unchanged and keeps this version.
                let version = ZoneVersion::replacing(previous, zone, previous.files.to_vec(), live.budget());
                Ok::<_, String>(ServedZone {
                    version: Some(version),
                    status: ZoneStatus::Loaded,
                    ..served.clone()
                })
            })
        })
        .await
        .map_err(|e| format!("commit task failed: {e}"))?;
        swapped?;
        drop(held);
        Stats::bump(&shared.stats.zone_commits);
        tracing::info!(zone = %origin, serial = committed.serial, removed = committed.removed, added = committed.added, "zone transaction committed");
        crate::secondary::write_state(shared);
        persist::schedule(shared.clone(), settings.clone(), self.written.clone(), origin.clone());
        Ok(committed)
    }
}

/// Whether `served` is a zone a transaction may change: a primary zone read from its file.
fn editable(shared: &Shared, served: &ServedZone) -> Result<(), String> {
    let origin = &served.origin;
    if shared.secondaries.zone(origin).is_some() {
        return Err(format!(
            "{origin} is a secondary zone (or a catalog member): its data comes from its primaries; change it there"
        ));
    }
    if served.file.is_none() {
        return Err(format!("{origin} is not read from a zone file: it cannot be changed"));
    }
    // A commit changes the SOA's serial at least, and nothing here signs:
    // the changed RRsets' signatures would no longer verify, and validating
    // resolvers would turn the zone's answers into SERVFAIL.
    if served
        .version
        .as_ref()
        .is_some_and(|v| v.zone.apex().has(dns_wire::wire::rtype::RRSIG))
    {
        return Err(format!(
            "{origin} is signed: a transaction cannot sign its changes; change it where it is signed and reload"
        ));
    }
    if served.version.as_ref().is_some_and(|v| v.files.len() > 1) {
        return Err(format!(
            "{origin} is read with $INCLUDE: a commit would rewrite it as one file; edit its files and reload instead"
        ));
    }
    Ok(())
}

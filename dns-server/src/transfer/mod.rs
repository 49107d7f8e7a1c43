//! Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995) to the clients a
//! zone allows, and NOTIFY (RFC 1996) to its secondaries on each new version.
//!
//! - [`request`]: reading AXFR and IXFR queries.
//! - [`acl`]: who may transfer which zone, and whom to notify.
//! - [`history`]: differences between consecutive versions, for IXFR.
//! - [`records`]: the records of a transfer, in the order sent.
//! - [`message`]: packing them into messages of up to 64 KiB.
//! - [`serve`]: the stream over TCP, the SOA over UDP.
//! - [`notify`]: telling secondaries.
//! - [`expire`]: the EDNS EXPIRE option in transfer answers (RFC 7314).

pub(crate) mod acl;
pub(crate) mod expire;
pub(crate) mod history;
pub(crate) mod message;
pub(crate) mod notify;
pub(crate) mod records;
pub(crate) mod request;
pub(crate) mod serve;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::{catalog::Catalog, config::Config, query::Shared};

/// The transfer side of the server: settings and history, shared by the transports.
pub(crate) struct Outbound {
    /// Who may transfer and whom to notify, swapped at each reload.
    pub policies: ArcSwap<acl::Policies>,
    /// Each zone's differences between versions.
    pub histories: history::Histories,
    /// One per transfer being served (`transfers_out_max`).
    pub slots: tokio::sync::Semaphore,
    /// Transfers refused because every slot was taken.
    pub refused_busy: std::sync::atomic::AtomicU64,
}

impl Outbound {
    /// Settings from `config`, no history yet.
    pub(crate) fn new(config: &Config) -> Outbound {
        Outbound {
            policies: ArcSwap::from_pointee(acl::Policies::from_config(config)),
            histories: history::Histories::kept_in(config.server.data_dir.clone()),
            slots: tokio::sync::Semaphore::new(config.server.transfers_out_max.max(1)),
            refused_busy: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// At start: each zone's history of differences, from disk, for the
    /// zones transferred out.
    pub(crate) fn restore(&self, catalog: &Catalog) {
        let policies = self.policies.load();
        self.histories
            .restore(catalog, |origin| policies.zone(origin).transfers_out());
    }

    /// Puts re-read settings in force.
    pub(crate) fn reconfigure(&self, config: &Config) {
        self.policies.store(Arc::new(acl::Policies::from_config(config)));
    }
}

/// At start: a NOTIFY for every zone we are the primary of (not a
/// secondary zone), to its targets, as Knot sends them, so that secondaries
/// that missed changes while we were down catch up at once.
pub(crate) fn notify_at_start(shared: &Arc<Shared>) {
    let catalog = shared.catalog.load();
    let policies = shared.transfers.policies.load();
    for served in catalog.zones() {
        let Some(version) = &served.version else { continue };
        if shared.secondaries.zone(&served.origin).is_some() {
            continue;
        }
        let targets = &policies.zone(served.origin.as_wire()).notify;
        if !targets.is_empty() {
            notify::announce(shared, &version.zone, targets);
        }
    }
}

/// After `new` has replaced `old`: records each zone's difference and
/// notifies the secondaries of every zone whose serial changed. Runs on a
/// thread of the runtime (the notifications are its tasks).
pub(crate) fn versions_swapped(shared: &Arc<Shared>, old: &Catalog, new: &Catalog) {
    let histories = &shared.transfers.histories;
    let changed = histories.record(old, new);
    let policies = shared.transfers.policies.load();
    histories.save(|origin| policies.zone(origin).transfers_out());
    for zone in changed {
        let targets = &policies.zone(zone.origin.as_wire()).notify;
        if !targets.is_empty() {
            notify::announce(shared, &zone, targets);
        }
    }
}

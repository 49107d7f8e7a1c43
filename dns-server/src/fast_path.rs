//! The way answers flow back from userspace into the XDP fast path.
//!
//! The query path and reloads tell a [`FastPathSink`] what they produced;
//! with XDP on, `xdp::run` implements it by writing into the program's
//! maps, so the next such query is answered in XDP. `serve` gives
//! `service::start` a [`Deferred`] sink, before anything is served, held in
//! `query::Shared` for the life of the process: it passes nothing on until
//! the program is loaded (never, with XDP off), then everything to the
//! program's sink. Tests and fuzzing use [`NoFastPath`].

use std::sync::{Arc, OnceLock};

use dns_wire::query::Query;

use crate::{
    catalog::Catalog,
    query::{CookieSecrets, Pending, Shared},
};

/// What the XDP fast path is told; every call is on the query path or the
/// reload path, so none may block.
pub(crate) trait FastPathSink: Send + Sync {
    /// Makes the fast path answer from `catalog` from now on. Called with
    /// each newly loaded catalog before it is swapped in, so XDP never
    /// answers from zones that are no longer served (a secondary zone's new
    /// version is swapped in first: XDP then answers the version before
    /// for the moment its changed names take to rewrite).
    fn serve_catalog(&self, catalog: &Arc<Catalog>);

    /// `response` (ID 0, RD and CD clear) to `query` was just put in
    /// `catalog`'s answer cache: the fast path may copy it into its map.
    /// `false` when it could not take it now (its queue full): the answer
    /// cache then offers it again on a later hit.
    fn copy_answer(&self, catalog: &Catalog, query: &Query<'_>, response: &[u8]) -> bool;

    /// `pending` was just answered from the resolver's cache, so it is
    /// asked often: the fast path may serve it to the clients allowed to recurse.
    fn offer_resolved(&self, pending: &Pending);

    /// Makes the fast path judge and issue DNS cookies with `secrets` from
    /// now on (at start-up, and when a reload rolls the secret over).
    fn serve_cookies(&self, secrets: &CookieSecrets);
}

/// The sink until the XDP program is loaded (a second or more), so that
/// zone transfers need not wait for it: nothing flows back until
/// [`Deferred::set`] hands over to the program's sink.
#[derive(Default)]
pub(crate) struct Deferred {
    sink: OnceLock<Arc<dyn FastPathSink>>,
}

impl Deferred {
    /// From now on every call goes to `sink`, which is first told of the
    /// catalog served now if it is not `filled` (the one it was filled
    /// from): a version swapped in meanwhile reaches XDP too.
    pub(crate) fn set(&self, sink: Arc<dyn FastPathSink>, shared: &Shared, filled: &Arc<Catalog>) {
        // No swap between the check and the hand-over (swaps hold this lock).
        let _swapping = shared.secondaries.lock_swaps();
        let now = shared.catalog.load_full();
        if !Arc::ptr_eq(&now, filled) {
            sink.serve_catalog(&now);
        }
        // A reload meanwhile may have rolled the cookie secret over.
        sink.serve_cookies(&shared.cookies.load());
        let _ = self.sink.set(sink);
    }
}

impl FastPathSink for Deferred {
    fn serve_catalog(&self, catalog: &Arc<Catalog>) {
        if let Some(sink) = self.sink.get() {
            sink.serve_catalog(catalog);
        }
    }

    fn copy_answer(&self, catalog: &Catalog, query: &Query<'_>, response: &[u8]) -> bool {
        // Before the hand-over (or without XDP) there is nothing to copy
        // into: taken as done, so the answer cache does not offer it again
        // on every hit of a server that runs without XDP.
        self.sink
            .get()
            .is_none_or(|sink| sink.copy_answer(catalog, query, response))
    }

    fn offer_resolved(&self, pending: &Pending) {
        if let Some(sink) = self.sink.get() {
            sink.offer_resolved(pending);
        }
    }

    fn serve_cookies(&self, secrets: &CookieSecrets) {
        if let Some(sink) = self.sink.get() {
            sink.serve_cookies(secrets);
        }
    }
}

/// The sink without XDP: nothing flows back.
pub(crate) struct NoFastPath;

impl FastPathSink for NoFastPath {
    fn serve_catalog(&self, _: &Arc<Catalog>) {}

    fn copy_answer(&self, _: &Catalog, _: &Query<'_>, _: &[u8]) -> bool {
        true
    }

    fn offer_resolved(&self, _: &Pending) {}

    fn serve_cookies(&self, _: &CookieSecrets) {}
}

//! The way answers flow back from userspace into the XDP fast path.
//!
//! The query path and reloads tell a [`FastPathSink`] what they produced;
//! with XDP on, `xdp::run` implements it by writing into the program's
//! maps, so the next such query is answered in XDP. With XDP off the sink
//! is [`NoFastPath`]. The sink is given to `service::start` once, before
//! anything is served, and held in `query::Shared` for the life of the
//! process.

use std::sync::Arc;

use dns_wire::query::Query;

use crate::{
    catalog::Catalog,
    query::{CookieSecrets, Pending},
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
    fn copy_answer(&self, catalog: &Catalog, query: &Query<'_>, response: &[u8]);

    /// `pending` was just answered from the resolver's cache, so it is
    /// asked often: the fast path may serve it to the clients allowed to recurse.
    fn offer_resolved(&self, pending: &Pending);

    /// Makes the fast path judge and issue DNS cookies with `secrets` from
    /// now on (at start-up, and when a reload rolls the secret over).
    fn serve_cookies(&self, secrets: &CookieSecrets);
}

/// The sink without XDP: nothing flows back.
pub(crate) struct NoFastPath;

impl FastPathSink for NoFastPath {
    fn serve_catalog(&self, _: &Arc<Catalog>) {}

    fn copy_answer(&self, _: &Catalog, _: &Query<'_>, _: &[u8]) {}

    fn offer_resolved(&self, _: &Pending) {}

    fn serve_cookies(&self, _: &CookieSecrets) {}
}

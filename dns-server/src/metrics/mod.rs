//! Prometheus metrics: what the server counts, gathered when scraped, served over HTTP.
//!
//! - [`counters`]: the per-thread query counters and histograms the
//!   transports write (no shared cache line per packet);
//! - [`families`]: every `dns_server_*` family, read at scrape time from
//!   those counters, the server's [`Stats`](crate::stats::Stats), the XDP
//!   per-CPU map, the catalog and the resolver;
//! - [`exposition`]: the text format a scraper asked for (OpenMetrics, or
//!   Prometheus text 0.0.4);
//! - [`zones`]: queries and responses by zone, with `per_zone = true`;
//! - [`http`]: the endpoint (hyper), bounded against slow or many scrapers;
//!   the sidecar serves its own families (`sidecar::metrics`) through it too.
//!
//! Counters only increase and nothing is reset on read.

pub(crate) mod counters;
pub(crate) mod exposition;
pub(crate) mod families;
pub(crate) mod http;
pub(crate) mod transfers;
pub(crate) mod zones;

use std::{sync::Arc, time::SystemTime};

use crate::{query::Shared, server::tcp_table::Table, xdp::run::Running};

pub(crate) use counters::QueryCounters;

/// Everything a scrape reads.
pub(crate) struct Sources {
    pub shared: Arc<Shared>,
    /// The fast path, when attached.
    pub xdp: Option<Arc<Running>>,
    /// Interfaces XDP was configured for (attached or not).
    pub xdp_interfaces: Vec<String>,
    /// The TCP connection table (open connections).
    pub tcp: Arc<Table>,
    pub started: SystemTime,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources").finish_non_exhaustive()
    }
}

/// The whole exposition of the server's families in `format`.
pub(crate) fn render(sources: &Arc<Sources>, format: exposition::Format) -> String {
    encode(Box::new(families::Collector(sources.clone())), format)
}

/// The exposition `collector` makes, in `format`.
pub(crate) fn encode(
    collector: Box<dyn prometheus_client::collector::Collector>,
    format: exposition::Format,
) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(collector);
    let mut text = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    exposition::convert(text, format)
}

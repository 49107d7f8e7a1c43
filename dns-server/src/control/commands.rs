//! What each control command does to the running server.

use std::{
    sync::Arc,
    time::{Instant, UNIX_EPOCH},
};

use serde_json::json;

use super::protocol::{DenyAction, Reply, Request};
use crate::{
    catalog::ZoneStatus,
    name::Name,
    query::Shared,
    service::{self, Settings},
    xdp::run::Running,
};

/// What the commands act on.
pub(crate) struct Context {
    pub shared: Arc<Shared>,
    /// The settings in force, shared with the SIGHUP handler (one reload at a time).
    pub settings: Arc<tokio::sync::Mutex<Settings>>,
    pub xdp: Option<Arc<Running>>,
    /// Interfaces XDP was configured for.
    pub xdp_interfaces: Vec<String>,
    pub started: Instant,
    /// The open zone transactions (`zone-begin` ... `zone-commit`).
    pub transactions: crate::edit::Transactions,
}

/// Carries out `request`.
pub(crate) async fn run(context: &Context, request: Request) -> Reply {
    match request {
        Request::Status {} => status(context),
        Request::Reload { zone: None } => reload(context).await,
        Request::Reload { zone: Some(zone) } => reload_zone(context, &zone).await,
        Request::ZoneStatus { zone } => zone_status(context, zone.as_deref()),
        Request::CacheFlush { name } => cache_flush(context, name.as_deref()),
        Request::Deny { action, prefix } => deny(context, action, prefix.as_deref()),
        Request::Stats {} => stats(context),
        Request::ZoneRefresh { zone } => zone_refresh(context, zone.as_deref(), false),
        Request::ZoneRetransfer { zone } => zone_refresh(context, zone.as_deref(), true),
        Request::ZoneBegin { zone } => zone_begin(context, &zone),
        Request::ZoneSet { zone, owner, data } => zone_set(context, &zone, &owner, &data),
        Request::ZoneUnset { zone, owner, data } => zone_unset(context, &zone, &owner, &data),
        Request::ZoneDiff { zone } => zone_diff(context, &zone),
        Request::ZoneCommit { zone } => zone_commit(context, &zone).await,
        Request::ZoneAbort { zone } => zone_abort(context, &zone),
        Request::Drain {} | Request::Withdraw {} | Request::Resume {} => Reply::error(
            "drain, withdraw and resume are the sidecar's: give `ctl --socket` the sidecar's [control] socket",
        ),
    }
}

impl super::server::Handler for Context {
    fn handle(&self, request: Request) -> impl Future<Output = Reply> + Send {
        run(self, request)
    }
}

/// `zone-refresh` (`whole`: `zone-retransfer`): the secondary zones' tasks
/// asked to check their primaries now; the result shows in `zone-status`.
fn zone_refresh(c: &Context, zone: Option<&str>, whole: bool) -> Reply {
    let origin = match zone.map(|z| Name::parse(&crate::cli::absolute_origin(z), None)) {
        Some(Ok(name)) => Some(name.to_lowercase()),
        Some(Err(e)) => return Reply::error(format!("{:?} is not a zone name: {e}", zone.unwrap_or_default())),
        None => None,
    };
    let asked = c.shared.secondaries.refresh_now(origin.as_ref(), whole);
    if asked.is_empty() {
        return Reply::error(match origin {
            Some(origin) => format!("{origin} is not a secondary zone"),
            None => "there are no secondary zones".to_string(),
        });
    }
    let what = if whole { "transfer (AXFR)" } else { "refresh" };
    let names: Vec<String> = asked.iter().map(ToString::to_string).collect();
    let text = names
        .iter()
        .map(|n| format!("{what} of {n} started\n"))
        .collect::<String>();
    Reply::done(text, json!({ "zones": names, "whole": whole }))
}

/// The origin of a zone argument, lower-cased.
fn origin_of(zone: &str) -> Result<Name, Reply> {
    Name::parse(&crate::cli::absolute_origin(zone), None)
        .map(|n| n.to_lowercase())
        .map_err(|e| Reply::error(format!("{zone:?} is not a zone name: {e}")))
}

fn zone_begin(c: &Context, zone: &str) -> Reply {
    let origin = match origin_of(zone) {
        Ok(origin) => origin,
        Err(reply) => return reply,
    };
    match c.transactions.begin(&c.shared, &origin) {
        Ok(serial) => Reply::done(
            format!("transaction on {origin} open (from serial {serial})\n"),
            json!({"zone": origin.to_string(), "serial": serial}),
        ),
        Err(e) => Reply::error(e),
    }
}

fn zone_set(c: &Context, zone: &str, owner: &str, data: &[String]) -> Reply {
    let origin = match origin_of(zone) {
        Ok(origin) => origin,
        Err(reply) => return reply,
    };
    let done = c.transactions.with(&origin, |t| {
        let record = crate::edit::args::to_set(&t.base.origin, owner, data)?;
        t.set(&record.owner, record.rtype, record.ttl, record.rdata)
    });
    match done {
        Ok(()) => Reply::done("", json!({"zone": origin.to_string()})),
        Err(e) => Reply::error(e),
    }
}

fn zone_unset(c: &Context, zone: &str, owner: &str, data: &[String]) -> Reply {
    let origin = match origin_of(zone) {
        Ok(origin) => origin,
        Err(reply) => return reply,
    };
    let done = c.transactions.with(&origin, |t| {
        let what = crate::edit::args::to_unset(&t.base.origin, owner, data)?;
        t.unset(&what.owner, what.rtype, what.rdata.as_deref())
    });
    match done {
        Ok(()) => Reply::done("", json!({"zone": origin.to_string()})),
        Err(e) => Reply::error(e),
    }
}

fn zone_diff(c: &Context, zone: &str) -> Reply {
    let origin = match origin_of(zone) {
        Ok(origin) => origin,
        Err(reply) => return reply,
    };
    match c.transactions.with(&origin, |t| {
        let (removed, added) = t.diff();
        let lines = |changes: &[crate::zone::update::Change]| -> Vec<String> {
            changes.iter().map(crate::edit::transaction::record_line).collect()
        };
        Ok((
            t.diff_text(),
            json!({"removed": lines(&removed), "added": lines(&added)}),
        ))
    }) {
        Ok((text, data)) => Reply::done(text, data),
        Err(e) => Reply::error(e),
    }
}

async fn zone_commit(c: &Context, zone: &str) -> Reply {
    let origin = match origin_of(zone) {
        Ok(origin) => origin,
        Err(reply) => return reply,
    };
    match c.transactions.commit(&c.shared, &c.settings, &origin).await {
        Ok(done) => Reply::done(
            format!(
                "committed {origin}: serial {}, {} records removed, {} added\n",
                done.serial, done.removed, done.added
            ),
            json!({"zone": origin.to_string(), "serial": done.serial, "removed": done.removed, "added": done.added}),
        ),
        Err(e) => Reply::error(e),
    }
}

fn zone_abort(c: &Context, zone: &str) -> Reply {
    let origin = match origin_of(zone) {
        Ok(origin) => origin,
        Err(reply) => return reply,
    };
    match c.transactions.abort(&origin) {
        Ok(()) => Reply::done(
            format!("transaction on {origin} aborted\n"),
            json!({"zone": origin.to_string()}),
        ),
        Err(e) => Reply::error(e),
    }
}

fn status(c: &Context) -> Reply {
    let catalog = c.shared.catalog.load();
    let (mut served, mut failed) = (0, 0);
    for zone in catalog.zones() {
        served += usize::from(zone.version.is_some());
        failed += usize::from(zone.status != ZoneStatus::Loaded);
    }
    let uptime = c.started.elapsed().as_secs();
    let xdp: Vec<serde_json::Value> = c
        .xdp_interfaces
        .iter()
        .map(|iface| {
            let mode = c
                .xdp
                .as_ref()
                .and_then(|x| x.attached.iter().find(|(i, _)| i == iface))
                .map_or("not attached", |(_, m)| m);
            json!({"interface": iface, "mode": mode})
        })
        .collect();
    let map = c
        .xdp
        .as_ref()
        .map(|x| json!({"entries": x.zone_entries(), "capacity": x.capacity}));
    let resolver = c.shared.recursion.is_some();
    let mut text = format!(
        "dns-server {} (pid {}), up {uptime} s\nzones: {served} served, {failed} failed\n",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    if xdp.is_empty() {
        text.push_str("xdp: off\n");
    }
    for x in &xdp {
        text.push_str(&format!(
            "xdp: {} {}\n",
            x["interface"].as_str().unwrap_or(""),
            x["mode"].as_str().unwrap_or("")
        ));
    }
    if let Some(map) = &map {
        text.push_str(&format!("xdp map: {} of {} entries\n", map["entries"], map["capacity"]));
    }
    text.push_str(&format!("resolver: {}\n", if resolver { "on" } else { "off" }));
    Reply::done(
        text,
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "uptime_seconds": uptime,
            "zones": {"served": served, "failed": failed},
            "xdp": xdp,
            "xdp_map": map,
            "resolver": resolver,
        }),
    )
}

async fn reload(c: &Context) -> Reply {
    let mut settings = c.settings.lock().await;
    crate::readiness::reloading();
    *settings = service::reload(settings.clone(), c.shared.clone()).await;
    crate::readiness::reloaded(&crate::serve::serving_status(&c.shared));
    drop(settings);
    let mut reply = zone_status(c, None);
    reply.text = format!("reloaded\n{}", reply.text);
    reply
}

async fn reload_zone(c: &Context, zone: &str) -> Reply {
    let origin = match Name::parse(&crate::cli::absolute_origin(zone), None) {
        Ok(name) => name.to_lowercase(),
        Err(e) => return Reply::error(format!("{zone:?} is not a zone name: {e}")),
    };
    let settings = c.settings.lock().await;
    match service::reload_zone(&settings, c.shared.clone(), origin.clone()).await {
        Ok(()) => {
            drop(settings);
            let mut reply = zone_status(c, Some(&origin.to_string()));
            reply.text = format!("reloaded {origin}\n{}", reply.text);
            reply
        }
        Err(e) => Reply::error(format!("{e:#}")),
    }
}

fn zone_status(c: &Context, zone: Option<&str>) -> Reply {
    let catalog = c.shared.catalog.load();
    let wanted = match zone.map(|z| Name::parse(&crate::cli::absolute_origin(z), None)) {
        Some(Ok(name)) => Some(name.to_lowercase()),
        Some(Err(e)) => return Reply::error(format!("{:?} is not a zone name: {e}", zone.unwrap_or_default())),
        None => None,
    };
    let mut zones: Vec<_> = catalog
        .zones()
        .filter(|z| wanted.as_ref().is_none_or(|w| w.as_wire() == z.origin.as_wire()))
        .collect();
    if zones.is_empty()
        && let Some(wanted) = &wanted
    {
        return Reply::error(format!("zone {wanted} is not configured"));
    }
    zones.sort_by_key(|z| z.origin.to_string());
    let mut text = String::new();
    let mut data = Vec::new();
    for zone in zones {
        let serial = zone.version.as_ref().map(|v| v.zone.serial);
        let loaded = zone
            .version
            .as_ref()
            .and_then(|v| v.loaded_at.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let error = zone.status.error();
        text.push_str(&format!(
            "{:<30} {:<18} serial {}",
            zone.origin.to_string(),
            zone.status.name(),
            serial.map_or("-".to_string(), |s| s.to_string())
        ));
        if let Some(error) = error {
            text.push_str(&format!("  error: {error}"));
        }
        text.push('\n');
        data.push(json!({
            "zone": zone.origin.to_string(),
            "state": zone.status.name(),
            "serial": serial,
            "loaded_at": loaded,
            "file": zone.file,
            "error": error,
        }));
    }
    Reply::done(text, json!(data))
}

fn cache_flush(c: &Context, name: Option<&str>) -> Reply {
    let Some(recursion) = &c.shared.recursion else {
        return Reply::error("the resolver is off: there is no cache to flush");
    };
    let name = match name.map(|n| Name::parse(&crate::cli::absolute_origin(n), None)) {
        Some(Ok(name)) => Some(name),
        Some(Err(e)) => return Reply::error(format!("{:?} is not a domain name: {e}", name.unwrap_or_default())),
        None => None,
    };
    let flushed = recursion.resolver.cache.flush(name.as_ref());
    let what = name.map_or("the whole cache".to_string(), |n| format!("{n} and below"));
    Reply::done(
        format!("flushed {what}: {flushed} entries\n"),
        json!({"flushed": flushed}),
    )
}

fn deny(c: &Context, action: DenyAction, prefix: Option<&str>) -> Reply {
    let Some(xdp) = &c.xdp else {
        return Reply::error("XDP is not attached: there is no deny list");
    };
    if action == DenyAction::List {
        let list: Vec<String> = xdp.denied().iter().map(|(a, l)| format!("{a}/{l}")).collect();
        let text: String = list.iter().map(|p| format!("{p}\n")).collect();
        return Reply::done(text, json!(list));
    }
    let Some(prefix) = prefix else {
        return Reply::error("deny add and deny remove need a PREFIX, e.g. 192.0.2.0/24");
    };
    let Some((addr, len)) = crate::xdp::parse_prefix(prefix) else {
        return Reply::error(format!("{prefix:?} is not ADDRESS/LENGTH, e.g. 192.0.2.0/24"));
    };
    let remove = action == DenyAction::Remove;
    match xdp.deny(addr, len, remove) {
        Ok(()) => {
            let done = if remove { "no longer denied" } else { "denied" };
            tracing::info!(prefix, done, "deny list changed over the control socket");
            Reply::done(
                format!("{prefix}: {done}\n"),
                json!({"prefix": prefix, "denied": !remove}),
            )
        }
        Err(e) => Reply::error(format!("{prefix}: {}", crate::xdp::error_chain(&e))),
    }
}

fn stats(c: &Context) -> Reply {
    let mut lines: Vec<(String, u64)> = c
        .shared
        .stats
        .snapshot()
        .into_iter()
        .map(|(name, value)| (format!("server.{name}"), value))
        .collect();
    if let Some(metrics) = &c.shared.metrics {
        let totals = metrics.totals();
        for (t, f, q, n) in totals.queries {
            lines.push((format!("query.{t}.{f}.{q}"), n));
        }
        for (t, f, r, n) in totals.responses {
            lines.push((format!("response.{t}.{f}.{r}"), n));
        }
        for zone in metrics.zone_totals().unwrap_or_default() {
            lines.push((format!("zone[{}].queries", zone.zone), zone.queries));
            lines.extend(
                zone.responses
                    .iter()
                    .map(|(r, n)| (format!("zone[{}].response.{r}", zone.zone), *n)),
            );
        }
    }
    if let Some(xdp) = &c.xdp {
        match xdp.read_counters() {
            Ok(counters) => lines.extend(counters.iter().map(|(s, v)| (format!("xdp.{}", s.name()), *v))),
            Err(e) => return Reply::error(format!("XDP counters unreadable: {e}")),
        }
        lines.extend(xdp.af_xdp_counters().into_iter().map(|(n, v)| (format!("xdp.{n}"), v)));
    }
    if let Some(recursion) = &c.shared.recursion {
        lines.push(("resolver.cache_entries".into(), recursion.resolver.cache.len() as u64));
        lines.push(("resolver.cache_bytes".into(), recursion.resolver.cache.bytes() as u64));
        lines.push(("resolver.cache_evictions".into(), recursion.resolver.cache.evictions()));
        let t = recursion.resolver.counters.totals();
        lines.push(("resolver.cache_hits".into(), t.cache_hits));
        lines.push(("resolver.cache_misses".into(), t.cache_misses));
        lines.push(("resolver.prefetches".into(), t.prefetches));
        lines.push(("resolver.stale_answers".into(), t.stale_answers));
        lines.extend(t.upstream.iter().map(|(r, n)| (format!("resolver.upstream.{r}"), *n)));
        lines.extend(
            t.validation
                .iter()
                .map(|(r, n)| (format!("resolver.validation.{r}"), *n)),
        );
        lines.push(("resolver.resolutions".into(), t.latency.count));
    }
    let text: String = lines.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    let data: serde_json::Map<String, serde_json::Value> = lines.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Reply::done(text, serde_json::Value::Object(data))
}

//! One secondary zone's refresh task: SOA checks on its timers and on NOTIFY, transfers, expiry.

use std::{
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use dns_wire::wire::rcode;

use super::{
    Secondary,
    client::{self, Limits, XfrError},
    epoch, publish,
    serial::{Timers, newer},
    store,
    stream::{Delta, Transfer, WholeZone, XfrRecord},
};
use crate::{
    catalog::{ServedZone, ZoneStatus, ZoneVersion},
    query::Shared,
    zone::tree::Zone,
};

/// How long a primary may take to answer one message (an SOA query, each
/// message of a transfer, a TCP connection).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole transfer may take: a primary that sends a byte a
/// second, or never stops, is cut off here (or at `zone_max_bytes`).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);
/// Retry interval before the first version arrives (there is no SOA to say).
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// What a refresh found.
enum Found {
    UpToDate,
    Full(Zone),
    Incremental(Zone, Vec<Delta>),
}

/// What a primary's EDNS EXPIRE option (RFC 7314) said, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expire {
    /// In the answer to our SOA query, the zone being current: the expire
    /// timer becomes the larger of it and the time we have left (RFC 7314 4).
    Refreshed(Option<u32>),
    /// In a transfer's answer: the expire timer becomes it.
    Transferred(Option<u32>),
}

/// The task's own state.
struct State {
    /// The data we have, served or (when expired) kept for IXFR.
    data: Option<Arc<Zone>>,
    last_success: Option<SystemTime>,
    /// When the zone expires unless refreshed before.
    expires_at: Option<SystemTime>,
    expired: bool,
}

impl State {
    fn timers(&self) -> Option<Timers> {
        let zone = self.data.as_ref()?;
        let soa = zone.soa();
        let rdata = soa.rdatas().next()?;
        Timers::of_soa(rdata)
    }
}

/// Runs until aborted (the zone removed or reconfigured).
pub(crate) async fn run(shared: Arc<Shared>, zone: Arc<Secondary>) {
    let data = if zone.catalog {
        // Not served: its copy on disk gives the members at once at start.
        let stored = super::members::load_stored(&shared, &zone).await;
        if let Some(stored) = &stored {
            super::members::catalog_version(&shared, &zone.origin, stored).await;
        }
        stored
    } else {
        let catalog = shared.catalog.load_full();
        catalog
            .zone(zone.origin.as_wire())
            .and_then(|z| z.version.as_ref())
            .map(|v| v.zone.clone())
    };
    let last_success = data.as_ref().and_then(|_| last_refresh(&zone.file));
    let mut state = State {
        data,
        last_success,
        expires_at: None,
        expired: false,
    };
    // From disk: as long as the SOA says from the last refresh.
    state.expires_at = match (state.last_success, state.timers()) {
        (Some(at), Some(t)) => Some(at + t.expire),
        _ => None,
    };
    loop {
        let started = SystemTime::now();
        let outcome = refresh(&shared, &zone, &mut state).await;
        let wait = schedule(&shared, &zone, &mut state, started, outcome).await;
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = zone.refresh_now.notified() => {
                tracing::debug!(zone = %zone.origin, "NOTIFY: checking the primaries now");
            }
        }
    }
}

/// When the copy on disk was last refreshed (its or its journal's modification time).
fn last_refresh(file: &Path) -> Option<SystemTime> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    [modified(file), modified(&store::journal_path(file))]
        .into_iter()
        .flatten()
        .max()
}

/// Asks each primary in turn; the first that answers decides.
async fn refresh(
    shared: &Arc<Shared>,
    zone: &Arc<Secondary>,
    state: &mut State,
) -> Result<(String, SocketAddr, Expire), String> {
    let config = shared.secondaries.config();
    let limits = Limits {
        message: MESSAGE_TIMEOUT,
        transfer: TRANSFER_TIMEOUT,
        max_bytes: config.server.zone_max_bytes,
    };
    let mut errors = Vec::new();
    let turns = shared.secondaries.transfer_turns();
    // `ctl zone-retransfer`: the whole zone, whatever the serials say.
    let whole = zone.retransfer.swap(false, std::sync::atomic::Ordering::AcqRel);
    let counts = shared.secondaries.counts();
    for &primary in &zone.primaries {
        let how = How {
            limits: &limits,
            turns: &turns,
            whole,
        };
        match attempt(zone, state, primary, how).await {
            Ok((found, expire)) => {
                let count = match &found {
                    Found::UpToDate => &counts.up_to_date,
                    Found::Full(_) => &counts.axfr,
                    Found::Incremental(..) => &counts.ixfr,
                };
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Ok((serve(shared, zone, state, found).await, primary, expire));
            }
            Err(error) => {
                tracing::warn!(zone = %zone.origin, %primary, %error, "refresh from this primary failed");
                errors.push(format!("{primary}: {error}"));
            }
        }
    }
    counts.failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Err(errors.join("; "))
}

/// How one refresh asks a primary.
#[derive(Clone, Copy)]
struct How<'a> {
    limits: &'a Limits,
    /// Transfers from primaries wait their turn here.
    turns: &'a tokio::sync::Semaphore,
    /// The whole zone by AXFR, whatever the serials say.
    whole: bool,
}

/// Our SOA as IXFR carries it.
fn soa_record(zone: &Zone) -> Option<XfrRecord> {
    let soa = zone.soa();
    let rdata = soa.rdatas().next()?;
    Some(XfrRecord {
        owner: zone.origin.clone(),
        rtype: soa.rtype,
        class: soa.class,
        ttl: soa.ttl,
        rdata: rdata.into(),
    })
}

/// One primary: its serial, then a transfer if it is newer.
async fn attempt(
    zone: &Secondary,
    state: &State,
    primary: SocketAddr,
    how: How<'_>,
) -> Result<(Found, Expire), String> {
    let How { limits, turns, whole } = how;
    let key = zone.key.as_ref();
    let theirs = client::soa_serial(primary, &zone.origin, key, limits)
        .await
        .map_err(|e| format!("SOA query: {e}"))?;
    let serial = theirs.serial;
    let have = state.data.as_ref().map(|z| z.serial);
    if let Some(have) = have
        && !newer(serial, have)
        && !whole
    {
        if serial != have {
            tracing::warn!(zone = %zone.origin, %primary, serial, have, "primary's serial is older than ours");
        }
        return Ok((Found::UpToDate, Expire::Refreshed(theirs.expire)));
    }
    // A transfer waits its turn (transfers_in_max at once); held until the
    // version is built.
    let _turn = turns.acquire().await.map_err(|e| e.to_string())?;
    // IXFR from the serial we have, unless the whole zone is asked for.
    let ours = state.data.as_ref().filter(|_| !whole).and_then(|z| soa_record(z));
    let ask = client::Ask {
        primary,
        origin: &zone.origin,
        key,
        ours: ours.as_ref(),
        previous: state.data.clone(),
    };
    let (transfer, expire) = match client::transfer(ask, limits).await {
        Err(XfrError::Rcode(code @ (rcode::NOTIMP | rcode::REFUSED | rcode::FORMERR))) if ours.is_some() => {
            tracing::info!(zone = %zone.origin, %primary, code, "IXFR refused; asking for AXFR");
            axfr(zone, state, primary, limits).await?
        }
        other => other.map_err(|e| format!("transfer: {e}"))?,
    };
    match transfer {
        Transfer::UpToDate(serial) => {
            tracing::debug!(zone = %zone.origin, %primary, serial, "IXFR: nothing newer");
            Ok((Found::UpToDate, Expire::Refreshed(expire)))
        }
        Transfer::Full(whole) => build(whole)
            .await
            .map(|z| (Found::Full(z), Expire::Transferred(expire))),
        Transfer::Incremental(deltas) => {
            let base = state.data.clone().ok_or("changes sent for a zone we do not have")?;
            let applied = {
                let deltas = deltas.clone();
                tokio::task::spawn_blocking(move || store::apply_all(&base, &deltas))
                    .await
                    .map_err(|e| e.to_string())?
            };
            match applied {
                Ok(new) => Ok((Found::Incremental(new, deltas), Expire::Transferred(expire))),
                Err(error) => {
                    tracing::warn!(zone = %zone.origin, %primary, %error, "IXFR changes do not apply; asking for AXFR");
                    match axfr(zone, state, primary, limits).await? {
                        (Transfer::Full(whole), expire) => build(whole)
                            .await
                            .map(|z| (Found::Full(z), Expire::Transferred(expire))),
                        _ => Err("AXFR answered with something else than a whole zone".into()),
                    }
                }
            }
        }
    }
}

async fn axfr(
    zone: &Secondary,
    state: &State,
    primary: SocketAddr,
    limits: &Limits,
) -> Result<(Transfer, Option<u32>), String> {
    let ask = client::Ask {
        primary,
        origin: &zone.origin,
        key: zone.key.as_ref(),
        ours: None,
        previous: state.data.clone(),
    };
    client::transfer(ask, limits).await.map_err(|e| format!("AXFR: {e}"))
}

/// Indexes and checks a whole zone, as a zone file is (its records went
/// into the builder as they arrived, as a new version of the one we had).
pub(super) async fn build(whole: Box<WholeZone>) -> Result<Zone, String> {
    tokio::task::spawn_blocking(move || {
        whole
            .finish()
            .map_err(|e| format!("the transferred zone is not valid: {e}"))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// What of a new version goes to disk.
enum Keep {
    Nothing,
    /// The whole zone file (after an AXFR).
    Zone,
    /// The journal's new changes (after an IXFR).
    Changes(Vec<Delta>),
}

/// Serves what was found and keeps it on disk; returns the result's name.
async fn serve(shared: &Arc<Shared>, zone: &Arc<Secondary>, state: &mut State, found: Found) -> String {
    let (new, result, keep) = match found {
        Found::UpToDate => {
            store::touch(&zone.file);
            if !state.expired {
                return "up to date".into();
            }
            (state.data.clone(), "up to date", Keep::Nothing)
        }
        Found::Full(new) => (Some(Arc::new(new)), "transferred (AXFR)", Keep::Zone),
        Found::Incremental(new, deltas) => (Some(Arc::new(new)), "transferred (IXFR)", Keep::Changes(deltas)),
    };
    let Some(new) = new else {
        return result.into();
    };
    swap_in(shared, zone, state, new.clone(), result).await;
    // Written once the version is served: the disk is off the path from
    // the primary's commit to the first new answer. This task writes in
    // order (the next refresh waits for it); a crash in between leaves the
    // version before on disk, which is then served and brought up to date.
    let file = zone.file.clone();
    let kept = match keep {
        Keep::Nothing => return result.into(),
        Keep::Zone => tokio::task::spawn_blocking(move || store::write_zone(&file, &new)).await,
        Keep::Changes(deltas) => tokio::task::spawn_blocking(move || store::append_changes(&file, &deltas, &new)).await,
    };
    report_store_error(zone, kept);
    result.into()
}

/// Makes `new` the version served (or, for a catalog, read for its members).
async fn swap_in(shared: &Arc<Shared>, zone: &Arc<Secondary>, state: &mut State, new: Arc<Zone>, result: &str) {
    if zone.catalog {
        // Read for its members, never served.
        tracing::info!(catalog = %zone.origin, serial = new.serial, result, "new catalog version");
        state.data = Some(new.clone());
        state.expired = false;
        super::members::catalog_version(shared, &zone.origin, &new).await;
        return;
    }
    tracing::info!(zone = %zone.origin, serial = new.serial, result, "new version served");
    let live = shared.catalog.load();
    let budget = live.budget().clone();
    // Derived from the version served (an IXFR, or an AXFR sharing its
    // unchanged names): the XDP maps then rewrite only the changed names.
    let version = match live.zone(zone.origin.as_wire()).and_then(|z| z.version.as_ref()) {
        Some(served) => ZoneVersion::replacing(served, new.clone(), Vec::new(), &budget),
        None => ZoneVersion::new(new.clone(), Vec::new(), &budget),
    };
    drop(live);
    state.data = Some(new);
    state.expired = false;
    let mut served = ServedZone::loaded(version, Some(zone.file.clone()));
    served.status = ZoneStatus::Loaded;
    publish(shared, served, zone.clone()).await;
}

fn report_store_error(zone: &Secondary, kept: Result<std::io::Result<()>, tokio::task::JoinError>) {
    let error = match kept {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tracing::error!(zone = %zone.origin, file = %zone.file.display(), %error, "transferred zone not kept on disk (served anyway)");
}

/// Records the outcome, expires the zone when its time has come, and
/// returns how long to wait before the next refresh.
async fn schedule(
    shared: &Arc<Shared>,
    zone: &Arc<Secondary>,
    state: &mut State,
    started: SystemTime,
    outcome: Result<(String, SocketAddr, Expire), String>,
) -> Duration {
    let now = SystemTime::now();
    let timers = state.timers();
    let succeeded = outcome.is_ok();
    if let Ok((_, _, expire)) = &outcome {
        state.last_success = Some(started);
        if let Some(t) = timers {
            let left = state
                .expires_at
                .and_then(|at| at.duration_since(started).ok())
                .unwrap_or_default();
            state.expires_at = Some(started + expire_timer(*expire, left, t.expire));
        }
    }
    let expires_at = state.expires_at;
    // An expired catalog keeps its members (each expires on its own timers).
    if !succeeded && !state.expired && !zone.catalog && expires_at.is_some_and(|at| at <= now) {
        tracing::error!(zone = %zone.origin, "zone expired: not refreshed within its SOA expire time; SERVFAIL until a refresh succeeds");
        state.expired = true;
        publish(
            shared,
            ServedZone {
                origin: zone.origin.clone(),
                file: Some(zone.file.clone()),
                version: None,
                status: ZoneStatus::Expired("not refreshed within the SOA expire time".into()),
            },
            zone.clone(),
        )
        .await;
    }
    let mut wait = match (succeeded, timers) {
        (true, Some(t)) => t.refresh,
        (false, Some(t)) => t.retry,
        (_, None) => FIRST_RETRY,
    };
    if let Some(at) = expires_at.filter(|_| !state.expired)
        && let Ok(left) = at.duration_since(now)
    {
        // Wake at expiry at the latest, so the zone stops being served on time.
        wait = wait.min(left.max(Duration::from_millis(100)));
    }
    {
        let mut report = zone.report();
        report.last_refresh = Some(epoch(started));
        report.next_refresh = Some(epoch(now + wait));
        report.expires = expires_at.map(epoch);
        report.expired = state.expired;
        match outcome {
            Ok((result, primary, _)) => {
                report.last_result = Some(result);
                report.primary = Some(primary.to_string());
            }
            Err(error) => {
                report.last_result = Some("failed".into());
                report.last_error = Some(error);
            }
        }
    }
    super::write_state(shared);
    wait
}

/// How long a refreshed zone has before it expires (RFC 7314 4): what the
/// primary's EXPIRE option said (after a transfer), or the larger of that
/// and the time `left` (when the SOA query found the zone current), never
/// more than the SOA's `expire`; the SOA's `expire` without the option.
fn expire_timer(expire: Expire, left: Duration, soa_expire: Duration) -> Duration {
    let secs = |v: u32| Duration::from_secs(u64::from(v));
    let timer = match expire {
        Expire::Refreshed(Some(v)) => secs(v).max(left),
        Expire::Transferred(Some(v)) => secs(v),
        Expire::Refreshed(None) | Expire::Transferred(None) => soa_expire,
    };
    timer.min(soa_expire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expire_timer_follows_the_primarys_option() {
        let (s, soa) = (Duration::from_secs, Duration::from_secs(1000));
        // Without the option: the SOA's expire, as RFC 1034 has it.
        assert_eq!(expire_timer(Expire::Refreshed(None), s(10), soa), soa);
        assert_eq!(expire_timer(Expire::Transferred(None), s(10), soa), soa);
        // A transfer from a secondary with 300 s left: 300 s left here too.
        assert_eq!(expire_timer(Expire::Transferred(Some(300)), s(900), soa), s(300));
        // An SOA check never shortens what we have, and nothing goes past the SOA's.
        assert_eq!(expire_timer(Expire::Refreshed(Some(300)), s(900), soa), s(900));
        assert_eq!(expire_timer(Expire::Refreshed(Some(600)), s(100), soa), s(600));
        assert_eq!(expire_timer(Expire::Transferred(Some(5000)), s(0), soa), soa);
    }
}

//! RFC 5011 2.3 active refresh: each tracked trust point's DNSKEY RRset is
//! fetched again on a timer of its own, not only when a query happens to
//! need the keys after the cached copy expired, so a key roll is seen (and
//! its add hold-down runs) even for a zone nobody asks about. The interval
//! comes from the set's original TTL and its signatures' expiry, bounded to
//! [1 hour, 15 days]; a failed fetch is tried again after the retry time.
//! [`Schedule`] is the clock arithmetic alone (unit-tested with a fake
//! clock); [`start`] runs it against the resolver.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use dns_wire::wire::rtype;

use super::verify::Rrsig;
use crate::{
    name::Name,
    resolver::{Budget, Resolver, validate::ZoneKeys},
};

/// RFC 5011 2.3: never more often than hourly.
const MIN_INTERVAL: u64 = 3600;
/// ... and at least every 15 days.
const MAX_INTERVAL: u64 = 15 * 86_400;
/// A failed fetch is retried within a day.
const MAX_RETRY: u64 = 86_400;
/// The first refresh after start: soon, once the server is up (a restart
/// after a long stop must not wait a whole interval to see a roll).
const FIRST_REFRESH: u64 = 5;

/// What a successful fetch told of the DNSKEY RRset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fetched {
    /// The set's original TTL (from its RRSIGs; else the TTL it came with).
    pub original_ttl: u32,
    /// The earliest expiration of its RRSIGs, Unix seconds.
    pub expiration: u64,
}

/// RFC 5011 2.3 queryInterval: MAX(1 hr, MIN(15 days, 1/2 OrigTTL,
/// 1/2 RRSigExpirationInterval)), in seconds from `now`.
pub(crate) fn query_interval(fetched: &Fetched, now: u64) -> u64 {
    let expires_in = fetched.expiration.saturating_sub(now);
    (u64::from(fetched.original_ttl) / 2)
        .min(expires_in / 2)
        .clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// RFC 5011 2.3 retryTime: MAX(1 hour, MIN(1 day, .1 OrigTTL, .1
/// RRSigExpirationInterval)), from the last successful fetch; an hour when
/// none has succeeded yet.
pub(crate) fn retry_time(last: Option<&Fetched>, now: u64) -> u64 {
    let Some(fetched) = last else {
        return MIN_INTERVAL;
    };
    let expires_in = fetched.expiration.saturating_sub(now);
    (u64::from(fetched.original_ttl) / 10)
        .min(expires_in / 10)
        .clamp(MIN_INTERVAL, MAX_RETRY)
}

/// When each tracked zone is fetched next, in Unix seconds.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    next: BTreeMap<Name, u64>,
    last: BTreeMap<Name, Fetched>,
}

impl Schedule {
    /// Every zone due at `first`.
    pub(crate) fn new(zones: impl IntoIterator<Item = Name>, first: u64) -> Schedule {
        Schedule {
            next: zones.into_iter().map(|z| (z, first)).collect(),
            last: BTreeMap::new(),
        }
    }

    /// The zones due at `now`.
    pub(crate) fn due(&self, now: u64) -> Vec<Name> {
        self.next
            .iter()
            .filter(|&(_, &at)| at <= now)
            .map(|(zone, _)| zone.clone())
            .collect()
    }

    /// The earliest time any zone is due.
    pub(crate) fn next_due(&self) -> Option<u64> {
        self.next.values().copied().min()
    }

    /// Records `zone`'s fetch at `now` (`None`: it failed); returns the
    /// seconds until its next one.
    pub(crate) fn refreshed(&mut self, zone: &Name, now: u64, fetched: Option<Fetched>) -> u64 {
        let wait = match fetched {
            Some(fetched) => {
                self.last.insert(zone.clone(), fetched);
                query_interval(&fetched, now)
            }
            None => retry_time(self.last.get(zone), now),
        };
        self.next.insert(zone.clone(), now + wait);
        wait
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the RRSIGs over a DNSKEY RRset say: the original TTL and the
/// earliest expiration (serial arithmetic from `now`, RFC 4034 3.1.5).
fn fetched(ttl: u32, sigs: &[Vec<u8>], now: u64) -> Fetched {
    let parsed: Vec<Rrsig> = sigs
        .iter()
        .filter_map(|s| Rrsig::parse(s))
        .filter(|s| s.type_covered == rtype::DNSKEY)
        .collect();
    let original_ttl = parsed.iter().map(|s| s.original_ttl).min().unwrap_or(ttl);
    let expiration = parsed
        .iter()
        .map(|s| {
            let ahead = s.expiration.wrapping_sub(now as u32) as i32;
            now.saturating_add_signed(i64::from(ahead))
        })
        .min()
        .unwrap_or(now + u64::from(ttl));
    Fetched {
        original_ttl,
        expiration,
    }
}

impl Resolver {
    /// Fetches `zone`'s DNSKEY RRset again past the cache and proves it
    /// from what the tracking trusts now (which updates the tracking, as a
    /// query's fetch would); `None` when it is not secure.
    pub(crate) async fn refresh_trust_point(&self, zone: &Name) -> Option<Fetched> {
        self.refresh(zone, rtype::DNSKEY).await;
        let mut budget = Budget::new(self.config.limits);
        let (keys, ttl) = self.prove_keys(zone, &mut budget, 0).await;
        self.keys.put(zone.clone(), keys.clone(), ttl, Instant::now());
        if !matches!(keys, ZoneKeys::Secure(_)) {
            tracing::info!(%zone, ?keys, "RFC 5011: the refreshed DNSKEY set does not validate");
            return None;
        }
        let (found, _) = self.peek_cached(zone, rtype::DNSKEY)?;
        let ttl = found.answer.iter().map(|(_, t)| *t).min().unwrap_or(0);
        let sigs: Vec<Vec<u8>> = found.sigs.into_iter().map(|(r, _)| r.rdata).collect();
        Some(fetched(ttl, &sigs, unix_now()))
    }
}

/// Runs the active refresh of every tracked trust point for as long as the
/// resolver serves; `None` without RFC 5011 tracking (or without validation).
pub(crate) fn start(resolver: Arc<Resolver>) -> Option<tokio::task::JoinHandle<()>> {
    let config = &resolver.config;
    // Keys nothing is validated with need no tracking.
    let validating = config.validation && (config.forwarders.is_empty() || config.validate_forwarded);
    let zones: Vec<Name> = config.auto_trust.iter().map(|a| a.zone().clone()).collect();
    if zones.is_empty() || !validating {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut schedule = Schedule::new(zones, unix_now() + FIRST_REFRESH);
        loop {
            for zone in schedule.due(unix_now()) {
                let fetched = resolver.refresh_trust_point(&zone).await;
                let ok = fetched.is_some();
                let wait = schedule.refreshed(&zone, unix_now(), fetched);
                tracing::info!(%zone, ok, next_in_s = wait, "RFC 5011 active refresh");
            }
            // Woken at least hourly: a wall clock set forward is noticed.
            let next = schedule.next_due().unwrap_or(u64::MAX);
            let sleep = next.saturating_sub(unix_now()).clamp(1, MIN_INTERVAL);
            tokio::time::sleep(Duration::from_secs(sleep)).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn zone(text: &str) -> Name {
        Name::parse(text, None).expect("a name")
    }

    #[test]
    fn the_query_interval_is_half_the_ttl_or_the_expiry_within_an_hour_and_15_days() {
        let now = 1_000_000;
        let at = |ttl: u32, expires_in: u64| {
            query_interval(
                &Fetched {
                    original_ttl: ttl,
                    expiration: now + expires_in,
                },
                now,
            )
        };
        assert_eq!(at(172_800, 30 * DAY), DAY, "half the root's 2-day TTL");
        assert_eq!(at(172_800, DAY), DAY / 2, "half the time to the signatures' expiry");
        assert_eq!(at(60, 30 * DAY), 3600, "never more often than hourly");
        assert_eq!(at(u32::MAX, 90 * DAY), 15 * DAY, "at least every 15 days");
        assert_eq!(at(172_800, 0), 3600, "expired signatures: hourly");
    }

    #[test]
    fn the_retry_time_is_a_tenth_within_an_hour_and_a_day() {
        let now = 1_000_000;
        let last = |ttl: u32, expires_in: u64| Fetched {
            original_ttl: ttl,
            expiration: now + expires_in,
        };
        assert_eq!(retry_time(None, now), 3600, "nothing known yet: hourly");
        assert_eq!(retry_time(Some(&last(172_800, 30 * DAY)), now), 17_280);
        assert_eq!(retry_time(Some(&last(172_800, 2 * DAY)), now), 17_280);
        assert_eq!(retry_time(Some(&last(3_000_000, 30 * DAY)), now), DAY, "at most a day");
        assert_eq!(retry_time(Some(&last(600, 30 * DAY)), now), 3600, "at least an hour");
    }

    #[test]
    fn the_schedule_runs_on_a_fake_clock() {
        let (root, other) = (Name::root(), zone("example."));
        let mut clock = 1_000;
        let mut schedule = Schedule::new([root.clone(), other.clone()], clock + FIRST_REFRESH);
        assert!(schedule.due(clock).is_empty(), "not before the first refresh");
        clock += FIRST_REFRESH;
        assert_eq!(schedule.due(clock), vec![root.clone(), other.clone()]);
        // The root fetched: two-day TTL, signatures good for ten more days.
        let good = Fetched {
            original_ttl: 172_800,
            expiration: clock + 10 * DAY,
        };
        assert_eq!(schedule.refreshed(&root, clock, Some(good)), DAY);
        // The other zone's fetch failed, nothing known of it: an hour.
        assert_eq!(schedule.refreshed(&other, clock, None), 3600);
        assert!(schedule.due(clock).is_empty());
        assert_eq!(schedule.next_due(), Some(clock + 3600));
        clock += 3600;
        assert_eq!(schedule.due(clock), vec![other.clone()]);
        assert_eq!(
            schedule.refreshed(
                &other,
                clock,
                Some(Fetched {
                    original_ttl: 7200,
                    expiration: clock + DAY,
                })
            ),
            3600,
            "a one-hour half TTL"
        );
        clock = 1_000 + FIRST_REFRESH + DAY;
        assert_eq!(schedule.due(clock), vec![root.clone(), other.clone()]);
        // The root failing now: a tenth of its TTL, from what the last fetch said.
        assert_eq!(schedule.refreshed(&root, clock, None), 17_280);
        assert_eq!(schedule.next_due(), Some(1_000 + FIRST_REFRESH + 3600 + 3600));
    }

    #[test]
    fn the_signatures_give_the_original_ttl_and_the_earliest_expiry() {
        // An RRSIG over DNSKEY: algorithm 13, 0 labels, original TTL, expiration, inception, tag, root signer.
        let rrsig = |original_ttl: u32, expiration: u32| {
            let mut rdata = rtype::DNSKEY.to_be_bytes().to_vec();
            rdata.extend([13, 0]);
            rdata.extend(original_ttl.to_be_bytes());
            rdata.extend(expiration.to_be_bytes());
            rdata.extend(1_000u32.to_be_bytes());
            rdata.extend([0x12, 0x34, 0]);
            rdata.extend([7u8; 64]);
            rdata
        };
        let now = 1_700_000_000;
        let f = fetched(50, &[rrsig(172_800, 1_700_864_000), rrsig(172_800, 1_700_500_000)], now);
        assert_eq!(
            f,
            Fetched {
                original_ttl: 172_800,
                expiration: 1_700_500_000
            }
        );
        // An expiry past 2106 (serial arithmetic across the wrap).
        let wrapped = fetched(50, &[rrsig(3600, 100)], u64::from(u32::MAX) - 1000);
        assert_eq!(wrapped.expiration, u64::from(u32::MAX) + 101);
        // No signature: what the set's TTL says.
        assert_eq!(
            fetched(50, &[], now),
            Fetched {
                original_ttl: 50,
                expiration: now + 50
            }
        );
    }
}

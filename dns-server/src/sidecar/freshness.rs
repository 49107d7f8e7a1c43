//! The zone-freshness check: the serial this PoP serves against its primary's, judged as a local and a shared fault.
//!
//! One probe asks our server (the service addresses) and the zone's
//! primaries for the zone's SOA at the same time, then decides:
//! - our serial equal to the primary's, or behind it by at most
//!   `max_lag_serial`, or behind for at most `max_lag_seconds` → fresh;
//! - behind by more while the primary answered, or the zone expired or not
//!   served here (SERVFAIL, or an EDNS EXPIRE of 0) → a **local** fault:
//!   this PoP alone is stale, so it may withdraw;
//! - no primary answered → a **shared** fault: every PoP pulls from the same
//!   primaries, so it only drains, and it never counts against the local side
//!   (the zone keeps serving from what was transferred until it expires).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::time::timeout;

use super::{config::CheckKind, probe::ProbeError};
use crate::{
    name::Name,
    secondary::{
        client::{self, Limits, PrimarySoa},
        serial::newer,
    },
    tsig::Key,
};

/// Bytes an SOA answer may bring (the client needs a bound; an SOA answer is tiny).
const SOA_ANSWER_BYTES: u64 = 64 * 1024;

/// What one probe found: the local verdict, the shared one, and the serials seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Our server's side: fresh, or stale/expired (may withdraw).
    pub local: Result<(), ProbeError>,
    /// The primaries' side: answered, or unreachable (may only drain).
    pub shared: Result<(), ProbeError>,
    /// The serial we serve, when our server answered.
    pub ours: Option<u32>,
    /// The primary's serial, when one answered.
    pub primary: Option<u32>,
}

/// One zone-freshness check and what it remembers between probes.
#[derive(Debug)]
pub(crate) struct Freshness {
    zone: Name,
    servers: Vec<SocketAddr>,
    primaries: Vec<SocketAddr>,
    key: Option<Arc<Key>>,
    max_lag_serial: u32,
    max_lag: Duration,
    /// Since when our serial has been behind the primary's (None: not behind).
    behind_since: Option<Instant>,
}

impl Freshness {
    /// The check for `kind` (a zone-freshness kind), asking `servers` for our serial.
    pub(crate) fn new(kind: &CheckKind, servers: Vec<SocketAddr>) -> Result<Freshness, String> {
        let CheckKind::ZoneFreshness {
            zone,
            primaries,
            tsig,
            max_lag_serial,
            max_lag_seconds,
            ..
        } = kind
        else {
            return Err("not a zone-freshness check".into());
        };
        let zone = Name::parse(zone, None).map_err(|e| format!("zone {zone:?}: {e}"))?;
        let key = match tsig {
            Some(t) => Some(Arc::new(
                Key::from_text(&t.name, &t.algorithm, &t.secret).map_err(|e| format!("tsig key {:?}: {e}", t.name))?,
            )),
            None => None,
        };
        if primaries.is_empty() {
            return Err("a zone-freshness check needs at least one primary".into());
        }
        Ok(Freshness {
            zone,
            servers,
            primaries: primaries.clone(),
            key,
            max_lag_serial: *max_lag_serial,
            max_lag: Duration::from_secs(*max_lag_seconds),
            behind_since: None,
        })
    }

    /// Asks our server and the primaries at once, each side within `limit`, and judges.
    pub(crate) async fn probe(&mut self, limit: Duration) -> Verdict {
        let (ours, primary) = tokio::join!(self.our_serial(limit), self.primary_serial(limit));
        self.judge(ours, primary, Instant::now())
    }

    /// The oldest serial among our service addresses; an error when one of
    /// them does not serve the zone, or serves it expired.
    async fn our_serial(&self, limit: Duration) -> Result<u32, ProbeError> {
        let limits = limits(limit);
        let mut oldest: Option<u32> = None;
        for server in &self.servers {
            let answer = timeout(limit, client::soa_serial(*server, &self.zone, None, &limits))
                .await
                .map_err(|_| ProbeError(format!("{server}: no SOA answer within {} ms", limit.as_millis())))?
                .map_err(|e| ProbeError(format!("{server}: {e} (zone expired or not served?)")))?;
            if answer.expire == Some(0) {
                return Err(ProbeError(format!("{server}: the zone has expired (EDNS EXPIRE 0)")));
            }
            oldest = Some(match oldest {
                Some(o) if newer(answer.serial, o) => o,
                _ => answer.serial,
            });
        }
        oldest.ok_or_else(|| ProbeError("no server to ask".into()))
    }

    /// The first primary's answer, tried in order; the whole walk within `limit`.
    async fn primary_serial(&self, limit: Duration) -> Result<u32, ProbeError> {
        let per_primary = limit / u32::try_from(self.primaries.len()).unwrap_or(1).max(1);
        let limits = limits(per_primary);
        let mut errors = Vec::new();
        for primary in &self.primaries {
            match timeout(
                per_primary,
                client::soa_serial(*primary, &self.zone, self.key.as_ref(), &limits),
            )
            .await
            {
                Ok(Ok(PrimarySoa { serial, .. })) => return Ok(serial),
                Ok(Err(e)) => errors.push(format!("{primary}: {e}")),
                Err(_) => errors.push(format!("{primary}: no answer within {} ms", per_primary.as_millis())),
            }
        }
        Err(ProbeError(format!("no primary answered: {}", errors.join("; "))))
    }

    /// The decision, from what each side said, at `now`.
    fn judge(&mut self, ours: Result<u32, ProbeError>, primary: Result<u32, ProbeError>, now: Instant) -> Verdict {
        let mut verdict = Verdict {
            local: Ok(()),
            shared: primary.as_ref().map(|_| ()).map_err(Clone::clone),
            ours: ours.as_ref().ok().copied(),
            primary: primary.as_ref().ok().copied(),
        };
        let (ours, primary) = match (ours, primary) {
            (Err(e), _) => {
                verdict.local = Err(e);
                return verdict;
            }
            // The primary unreachable: nothing says we are behind, and that
            // fault is shared (reported on the shared side only).
            (Ok(_), Err(_)) => return verdict,
            (Ok(ours), Ok(primary)) => (ours, primary),
        };
        if !newer(primary, ours) {
            // Equal, or ahead (a primary restored from an older copy): nothing to fetch.
            self.behind_since = None;
            return verdict;
        }
        let since = *self.behind_since.get_or_insert(now);
        let behind = primary.wrapping_sub(ours);
        let for_how_long = now.saturating_duration_since(since);
        if behind > self.max_lag_serial && for_how_long > self.max_lag {
            verdict.local = Err(ProbeError(format!(
                "serial {ours} is {behind} behind the primary's {primary} for {} s (at most {} behind or {} s allowed)",
                for_how_long.as_secs(),
                self.max_lag_serial,
                self.max_lag.as_secs()
            )));
        }
        verdict
    }
}

fn limits(message: Duration) -> Limits {
    Limits {
        message,
        transfer: message,
        max_bytes: SOA_ANSWER_BYTES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::config::TsigSpec;

    fn check(max_lag_serial: u32, max_lag_seconds: u64) -> Freshness {
        let kind = CheckKind::ZoneFreshness {
            zone: "example.com.".into(),
            servers: vec![],
            primaries: vec!["127.0.0.1:53".parse().unwrap()],
            tsig: None,
            max_lag_serial,
            max_lag_seconds,
        };
        Freshness::new(&kind, vec!["127.0.0.1:5353".parse().unwrap()]).expect("a valid check")
    }

    fn unreachable() -> Result<u32, ProbeError> {
        Err(ProbeError("no primary answered".into()))
    }

    #[test]
    fn equal_or_ahead_is_fresh() {
        let mut c = check(0, 0);
        let now = Instant::now();
        let v = c.judge(Ok(7), Ok(7), now);
        assert_eq!(
            (v.local, v.shared),
            (Ok(()), Ok(())),
            "expected equal serials to be fresh"
        );
        let v = c.judge(Ok(8), Ok(7), now);
        assert_eq!(v.local, Ok(()), "expected a serial ahead of the primary's to be fresh");
        let v = c.judge(Ok(1), Ok(u32::MAX), now);
        assert_eq!(v.local, Ok(()), "expected 1 to be after 2^32-1 (RFC 1982)");
    }

    #[test]
    fn behind_fails_only_past_both_lags() {
        let mut c = check(2, 10);
        let start = Instant::now();
        assert_eq!(
            c.judge(Ok(5), Ok(7), start).local,
            Ok(()),
            "2 behind is within the serial lag"
        );
        assert_eq!(
            c.judge(Ok(5), Ok(9), start + Duration::from_secs(5)).local,
            Ok(()),
            "4 behind but for 5 s is within the time lag"
        );
        let v = c.judge(Ok(5), Ok(9), start + Duration::from_secs(11));
        let error = v.local.expect_err("expected 4 behind for 11 s to be a local fault");
        assert!(error.0.contains("4 behind"), "{error}");
        assert_eq!(v.shared, Ok(()), "expected the primary's side to be healthy");
        assert_eq!(
            c.judge(Ok(9), Ok(9), start + Duration::from_secs(12)).local,
            Ok(()),
            "expected catching up to clear it"
        );
        assert_eq!(
            c.judge(Ok(9), Ok(20), start + Duration::from_secs(13)).local,
            Ok(()),
            "expected the time lag to restart after catching up"
        );
    }

    #[test]
    fn an_unreachable_primary_is_shared_and_never_local() {
        let mut c = check(0, 0);
        let start = Instant::now();
        c.judge(Ok(5), Ok(9), start);
        let v = c.judge(Ok(5), unreachable(), start + Duration::from_secs(100));
        assert_eq!(v.local, Ok(()), "expected no local fault while the primary is away");
        assert!(v.shared.is_err(), "expected a shared fault");
        assert_eq!((v.ours, v.primary), (Some(5), None));
    }

    #[test]
    fn our_server_failing_is_local_whatever_the_primary() {
        let mut c = check(0, 60);
        let expired = || Err(ProbeError("SERVFAIL".into()));
        let v = c.judge(expired(), Ok(3), Instant::now());
        assert!(v.local.is_err() && v.shared.is_ok(), "{v:?}");
        let v = c.judge(expired(), unreachable(), Instant::now());
        assert!(v.local.is_err() && v.shared.is_err(), "{v:?}");
    }

    #[test]
    fn refuses_a_bad_key_or_no_primary() {
        let kind = |primaries: Vec<SocketAddr>, tsig| CheckKind::ZoneFreshness {
            zone: "example.com.".into(),
            servers: vec![],
            primaries,
            tsig,
            max_lag_serial: 0,
            max_lag_seconds: 0,
        };
        assert!(Freshness::new(&kind(vec![], None), vec![]).is_err());
        let bad = TsigSpec {
            name: "k".into(),
            algorithm: "hmac-md5".into(),
            secret: "AAAA".into(),
        };
        let primaries = vec!["127.0.0.1:53".parse().unwrap()];
        assert!(Freshness::new(&kind(primaries, Some(bad)), vec![]).is_err());
    }
}

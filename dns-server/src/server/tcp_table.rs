//! The TCP connection table (RFC 7766 6.2.3): a per-source limit, the
//! idlest connection closed to admit a new one when full, and an idle
//! timeout that shrinks as the table fills.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use super::TcpLimits;

/// The idle timeout never shrinks below this (unless configured lower): a
/// client on another continent still gets its next query in.
const MIN_IDLE: Duration = Duration::from_millis(500);

/// Whom a limit applies to: an IPv4 address, or an IPv6 /64 (one site's
/// share; a host can pick any address in its /64).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Source {
    /// One IPv4 address (or an IPv4-mapped IPv6 one).
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
}

impl Source {
    /// The source of a peer address.
    pub(crate) fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.into()),
                None => Source::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// What one connection shares with the table: when it last finished an
/// exchange (written by its own task only), and the signal to close.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Milliseconds since the table's epoch.
    last_ms: AtomicU64,
    /// Notified when the table closes the connection to admit another.
    pub evicted: Notify,
}

#[derive(Debug)]
struct Entry {
    source: Source,
    activity: Arc<Activity>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    connections: HashMap<u64, Entry>,
    per_source: HashMap<Source, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its source already holds `tcp_max_per_source` connections.
    PerSource,
}

/// The connections being served.
#[derive(Debug)]
pub(crate) struct Table {
    limits: TcpLimits,
    epoch: Instant,
    inner: Mutex<Inner>,
    /// Connections in the table, written under the lock (once per connection)
    /// and read without it (once per query) for the idle timeout.
    open: AtomicUsize,
}

/// A connection's place in the table; leaving it (drop) frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    table: Arc<Table>,
    id: u64,
    /// Shared with the table.
    pub activity: Arc<Activity>,
}

impl Table {
    /// An empty table.
    pub(crate) fn new(limits: TcpLimits) -> Arc<Table> {
        Arc::new(Table {
            limits,
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
            open: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Admits a connection from `peer`; when the table is full, the idlest
    /// connection is told to close (and leaves the table at once). Returns
    /// the slot and whether a connection was evicted for it.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<(Slot, bool), Refused> {
        let source = Source::of(peer);
        let mut inner = self.lock();
        let from_source = inner.per_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.limits.max_per_source {
            return Err(Refused::PerSource);
        }
        let mut evicted = false;
        if inner.connections.len() >= self.limits.max_connections {
            let idlest = inner
                .connections
                .iter()
                .min_by_key(|(_, e)| e.activity.last_ms.load(Relaxed))
                .map(|(&id, _)| id);
            if let Some(entry) = idlest.and_then(|id| remove(&mut inner, id)) {
                // A stored permit: the task closes at its next await even if not waiting now.
                entry.activity.evicted.notify_one();
                evicted = true;
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let activity = Arc::new(Activity::default());
        activity.last_ms.store(self.now_ms(), Relaxed);
        inner.connections.insert(
            id,
            Entry {
                source,
                activity: activity.clone(),
            },
        );
        *inner.per_source.entry(source).or_insert(0) += 1;
        self.open.store(inner.connections.len(), Relaxed);
        Ok((
            Slot {
                table: self.clone(),
                id,
                activity,
            },
            evicted,
        ))
    }

    /// Connections in the table.
    pub(crate) fn len(&self) -> usize {
        self.open.load(Relaxed)
    }

    /// The idle timeout now: the configured one while at most half the
    /// table is used, then shrinking in proportion to the room left, down
    /// to [`MIN_IDLE`] when full, so idle connections make way under load.
    pub(crate) fn idle_timeout(&self) -> Duration {
        shrunk_idle(self.limits.idle_timeout, self.len(), self.limits.max_connections)
    }
}

fn remove(inner: &mut Inner, id: u64) -> Option<Entry> {
    let entry = inner.connections.remove(&id)?;
    if let Some(count) = inner.per_source.get_mut(&entry.source) {
        *count -= 1;
        if *count == 0 {
            inner.per_source.remove(&entry.source);
        }
    }
    Some(entry)
}

/// See [`Table::idle_timeout`].
fn shrunk_idle(idle: Duration, open: usize, max: usize) -> Duration {
    let half = max.div_ceil(2);
    if open <= half {
        return idle;
    }
    let room = max.saturating_sub(open) as u32;
    let scaled = idle * room / (max - half).max(1) as u32;
    scaled.max(MIN_IDLE.min(idle))
}

impl Slot {
    /// Notes that the connection just finished an exchange.
    pub(crate) fn touch(&self) {
        self.activity.last_ms.store(self.table.now_ms(), Relaxed);
    }

    /// The table's current idle timeout.
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.table.idle_timeout()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        remove(&mut inner, self.id);
        self.table.open.store(inner.connections.len(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_per_source: usize) -> TcpLimits {
        TcpLimits {
            idle_timeout: Duration::from_secs(10),
            max_connections,
            max_per_source,
            message_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(2),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn sources_are_addresses_and_slash_64s() {
        assert_eq!(Source::of(ip("192.0.2.1")), Source::of(ip("::ffff:192.0.2.1")));
        assert_ne!(Source::of(ip("192.0.2.1")), Source::of(ip("192.0.2.2")));
        assert_eq!(Source::of(ip("2001:db8::1")), Source::of(ip("2001:db8::ffff:1")));
        assert_ne!(Source::of(ip("2001:db8::1")), Source::of(ip("2001:db8:0:1::1")));
    }

    #[test]
    fn a_source_over_its_limit_is_refused_and_others_are_not() {
        let table = Table::new(limits(10, 2));
        let a = table.admit(ip("192.0.2.1")).expect("first");
        let _b = table.admit(ip("192.0.2.1")).expect("second");
        assert_eq!(table.admit(ip("192.0.2.1")).err(), Some(Refused::PerSource));
        let _c = table.admit(ip("192.0.2.2")).expect("another source");
        drop(a);
        table.admit(ip("192.0.2.1")).expect("a freed slot is usable again");
    }

    #[test]
    fn when_full_the_idlest_is_evicted() {
        let table = Table::new(limits(2, 2));
        let (old, _) = table.admit(ip("192.0.2.1")).expect("first");
        std::thread::sleep(Duration::from_millis(5));
        let (busy, _) = table.admit(ip("192.0.2.2")).expect("second");
        std::thread::sleep(Duration::from_millis(5));
        busy.touch();
        let (_new, evicted) = table.admit(ip("192.0.2.3")).expect("admitted by eviction");
        assert!(evicted, "a connection made room");
        assert_eq!(table.len(), 2, "the table stays at its size");
        let told = {
            let notified = old.activity.evicted.notified();
            tokio::pin!(notified);
            futures_ready(notified.as_mut())
        };
        assert!(told, "the idlest (oldest activity) was told to close");
        drop(old);
        assert_eq!(table.len(), 2, "dropping an evicted slot removes nothing more");
    }

    /// Whether a pinned `Notified` is ready (a permit was stored).
    fn futures_ready(notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>) -> bool {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        std::future::Future::poll(notified, &mut cx).is_ready()
    }

    #[test]
    fn the_idle_timeout_shrinks_past_half_full() {
        let idle = Duration::from_secs(10);
        assert_eq!(shrunk_idle(idle, 1, 100), idle);
        assert_eq!(shrunk_idle(idle, 50, 100), idle);
        assert_eq!(shrunk_idle(idle, 75, 100), Duration::from_secs(5));
        assert_eq!(shrunk_idle(idle, 100, 100), MIN_IDLE);
        assert_eq!(
            shrunk_idle(Duration::from_millis(100), 100, 100),
            Duration::from_millis(100)
        );
    }
}

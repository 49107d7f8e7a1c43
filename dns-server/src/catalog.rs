//! The set of zones served, each at its own version, and the most-specific-zone match for a query name.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{
    answer_cache::{AnswerCache, CacheBudget},
    name::{Name, suffixes},
    zone::{source::FileRead, tree::Zone},
};

/// One immutable generation of served data: every configured zone, at its
/// version. A reload builds a new one and swaps it in whole, so a query
/// never sees a mix of old and new data; a zone the reload did not change
/// keeps its [`ZoneVersion`] (data and cached answers) from the previous one.
pub(crate) struct Catalog {
    zones: HashMap<Box<[u8]>, ServedZone>,
    budget: Arc<CacheBudget>,
    generation: u64,
}

/// A configured zone: the version served, or why there is none.
#[derive(Clone)]
pub(crate) struct ServedZone {
    /// The apex, lower-cased.
    pub origin: Name,
    /// The master file, when it is read from one.
    pub file: Option<PathBuf>,
    /// What is answered from; `None` when the zone failed to load and had
    /// no earlier version: its names get SERVFAIL.
    pub version: Option<ZoneVersion>,
    /// How its last load went.
    pub status: ZoneStatus,
}

/// One version of a zone's data with the answers cached from it.
#[derive(Clone)]
pub(crate) struct ZoneVersion {
    pub zone: Arc<Zone>,
    /// Responses built from `zone`, by question.
    pub answers: Arc<AnswerCache>,
    /// Different for every version loaded in this process and never 0:
    /// what the XDP fast path tags an answer copied from it with.
    pub id: u64,
    /// Every file read to build it (empty when not read from files).
    pub files: Arc<[FileRead]>,
    /// When it was loaded (for `dns_server_zone_load_timestamp_seconds`).
    pub loaded_at: std::time::SystemTime,
    /// How it differs from the version it replaced, when that is known:
    /// what lets the XDP maps rewrite only the answers the change reaches.
    pub change: Option<Arc<Change>>,
}

/// The names that changed from one version of a zone to the next.
pub(crate) struct Change {
    /// The [`ZoneVersion::id`] of the version before.
    pub from: u64,
    /// Lower-cased, in canonical order (see [`Zone::changed_names`]).
    pub names: Vec<Name>,
}

/// How a zone's last load went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ZoneStatus {
    /// Loaded (or found unchanged) and served.
    Loaded,
    /// Failed (the error, with its `file:line`) with no earlier version: not served.
    Failed(String),
    /// Failed (the error), and the version loaded before keeps serving.
    KeptOld(String),
    /// A secondary zone not refreshed within its SOA expire time: not
    /// served (SERVFAIL) until a refresh succeeds.
    Expired(String),
}

impl ZoneStatus {
    /// One word for logs and the state file.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ZoneStatus::Loaded => "loaded",
            ZoneStatus::Failed(_) => "failed",
            ZoneStatus::KeptOld(_) => "failed-keeping-old",
            ZoneStatus::Expired(_) => "expired",
        }
    }

    /// The error of the last load, if it failed.
    pub(crate) fn error(&self) -> Option<&str> {
        match self {
            ZoneStatus::Loaded => None,
            ZoneStatus::Failed(e) | ZoneStatus::KeptOld(e) | ZoneStatus::Expired(e) => Some(e),
        }
    }
}

/// The last generation number given out.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);
/// The last zone version number given out.
static VERSIONS: AtomicU64 = AtomicU64::new(0);

impl ZoneVersion {
    /// A new version of `zone` read from `files`, with an empty answer cache drawing on `budget`.
    pub(crate) fn new(zone: Arc<Zone>, files: Vec<FileRead>, budget: &Arc<CacheBudget>) -> ZoneVersion {
        ZoneVersion {
            zone,
            answers: Arc::new(AnswerCache::within(budget.clone())),
            id: VERSIONS.fetch_add(1, Ordering::Relaxed) + 1,
            files: files.into(),
            loaded_at: std::time::SystemTime::now(),
            change: None,
        }
    }

    /// A new version of `zone` replacing `previous`, which recorded which
    /// names changed between the two; with an empty answer cache.
    pub(crate) fn replacing(
        previous: &ZoneVersion,
        zone: Arc<Zone>,
        files: Vec<FileRead>,
        budget: &Arc<CacheBudget>,
    ) -> ZoneVersion {
        let names = Zone::changed_names(&previous.zone, &zone);
        ZoneVersion {
            change: Some(Arc::new(Change {
                from: previous.id,
                names,
            })),
            ..ZoneVersion::new(zone, files, budget)
        }
    }
}

impl ServedZone {
    /// A zone served at `version`.
    pub(crate) fn loaded(version: ZoneVersion, file: Option<PathBuf>) -> ServedZone {
        ServedZone {
            origin: version.zone.origin.to_lowercase(),
            file,
            version: Some(version),
            status: ZoneStatus::Loaded,
        }
    }

    /// The version id served, 0 for none.
    pub(crate) fn version_id(&self) -> u64 {
        self.version.as_ref().map_or(0, |v| v.id)
    }
}

impl Catalog {
    /// A catalog of `zones`, all loaded, with empty answer caches sharing `cache_entries`.
    pub(crate) fn new(zones: impl IntoIterator<Item = Arc<Zone>>, cache_entries: usize) -> Self {
        let budget = CacheBudget::new(cache_entries);
        let zones = zones
            .into_iter()
            .map(|zone| ServedZone::loaded(ZoneVersion::new(zone, Vec::new(), &budget), None))
            .collect();
        Catalog::of(zones, budget)
    }

    /// A catalog of `zones` whose caches draw on `budget`.
    pub(crate) fn of(zones: Vec<ServedZone>, budget: Arc<CacheBudget>) -> Self {
        let zones = zones
            .into_iter()
            .map(|z| (z.origin.to_lowercase().as_wire().into(), z))
            .collect();
        Catalog {
            zones,
            budget,
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// A new generation with `zone` added or put in place of the zone of its origin.
    pub(crate) fn with_zone(&self, zone: ServedZone) -> Catalog {
        let mut zones: Vec<ServedZone> = self
            .zones
            .values()
            .filter(|z| z.origin != zone.origin)
            .cloned()
            .collect();
        zones.push(zone);
        Catalog::of(zones, self.budget.clone())
    }

    /// A new generation without the zones of `origins` (lower-cased).
    pub(crate) fn without_zones(&self, origins: &[Name]) -> Catalog {
        let zones = self
            .zones
            .values()
            .filter(|z| !origins.contains(&z.origin))
            .cloned()
            .collect();
        Catalog::of(zones, self.budget.clone())
    }

    /// The budget every zone's answer cache draws on.
    pub(crate) fn budget(&self) -> &Arc<CacheBudget> {
        &self.budget
    }

    /// This catalog's number, different for every catalog built in this
    /// process, increasing, and never 0: the XDP fast path writes no answer
    /// copied from a catalog older than the one its maps were last refilled from.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The most specific zone containing `lower` (a lower-cased wire name).
    pub(crate) fn find(&self, lower: &[u8]) -> Option<&ServedZone> {
        suffixes(lower).find_map(|s| self.zones.get(s))
    }

    /// The zone to answer `lower`/`qtype` from: the most specific, except
    /// that DS at the apex of a zone is answered from its parent when we
    /// serve that too (RFC 4035 3.1.4.1).
    pub(crate) fn find_for(&self, lower: &[u8], qtype: u16) -> Option<&ServedZone> {
        let zone = self.find(lower)?;
        if qtype == dns_wire::wire::rtype::DS && zone.origin.as_wire().eq_ignore_ascii_case(lower) {
            let parent = crate::name::parent(lower).and_then(|p| self.find(p));
            return parent.or(Some(zone));
        }
        Some(zone)
    }

    /// The zone whose apex is exactly `origin` (lower-cased wire name).
    pub(crate) fn zone(&self, origin: &[u8]) -> Option<&ServedZone> {
        self.zones.get(origin)
    }

    /// Every configured zone, in no particular order.
    pub(crate) fn zones(&self) -> impl Iterator<Item = &ServedZone> {
        self.zones.values()
    }
}

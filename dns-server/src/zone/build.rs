//! Building a zone as records stream in from the parser, in linear memory.
//!
//! Records are packed into two byte arenas as they arrive (a run of records
//! of one owner stores the owner once), so a million records never exist as
//! a million `Record`s. [`Builder::finish`] sorts the runs by canonical key
//! (then file position, so records of one owner keep file order; a file
//! already in canonical order sorts in linear time), merges each name's
//! RRsets, drops duplicate records with a hash per large RRset (linear,
//! where a scan per record was quadratic), adds empty non-terminals, and
//! checks the zone on the way. Only when a check fails are the records
//! unpacked again and handed to [`super::validate`], so that the error
//! names the same record, file and line it always has.
//!
//! A reload builds the new version of a changed file as changes to the
//! version it replaces ([`Builder::replacing`]): each node built is
//! compared with the old one of its name and, when equal, is that node;
//! the old tree, cloned, gets only the nodes that differ, appeared or went.
//! The new version then shares all but the changed names' nodes and tree
//! paths with the old, so a reload needs little memory beside the version
//! served, and what changed is known without comparing the two whole.

use std::{collections::HashSet, path::Path, sync::Arc};

use dns_wire::wire::rtype;

use super::{
    Location, Record, ZoneError,
    canonical::{Key, key_is_within, wire_of},
    names::Names,
    node::{Node, NodeWriter, set_kind},
    tree::Zone,
    validate,
};
use crate::name::Name;

/// An RRset this large is deduplicated with a hash set rather than a scan.
const SCAN_LIMIT: usize = 16;

/// Fixed bytes of a packed record: type, class, TTL, file, line, RDATA length.
const RECORD_FIXED: usize = 2 + 2 + 4 + 4 + 4 + 2;

/// Consecutive records of one owner: 24 bytes, one per run of a file,
/// so its size counts in the memory a load of millions of names needs.
#[derive(Clone, Copy)]
struct Run {
    /// The first 8 key bytes below the apex: most comparisons of the sort
    /// end here, without reaching into the arena.
    prefix: u64,
    /// Where its first record starts in `records`.
    first: usize,
    /// Where the key (then the owner as written) starts in `names` (which
    /// holds at most 4 GiB: see [`Builder::push`]).
    name: u32,
    /// How many records.
    count: u32,
}

const _: () = assert!(std::mem::size_of::<Run>() == 24);

impl Run {
    fn name(&self) -> usize {
        self.name as usize
    }
}

/// Collects the records of one zone and builds it.
pub(crate) struct Builder {
    /// The origin as given, for messages.
    given: Name,
    origin: Name,
    origin_key: Vec<u8>,
    /// Per run: key length u16, key, owner length u8, owner.
    names: Vec<u8>,
    /// Per record: see [`RECORD_FIXED`], then RDATA.
    records: Vec<u8>,
    runs: Vec<Run>,
    files: Vec<Arc<Path>>,
    class: Option<u16>,
    /// A check that failed as records arrived (out of zone, foreign class).
    suspect: bool,
    /// The version being replaced, whose equal nodes the new one shares.
    previous: Option<Zone>,
    /// The owner names outgrew what a run can point into.
    too_many_names: bool,
}

/// One packed record, read back.
struct Packed<'a> {
    rtype: u16,
    class: u16,
    ttl: u32,
    file: u32,
    line: u32,
    rdata: &'a [u8],
}

fn read_record(b: &[u8], at: usize) -> (Packed<'_>, usize) {
    let u16_at = |i: usize| u16::from_be_bytes([b[at + i], b[at + i + 1]]);
    let u32_at = |i: usize| u32::from_be_bytes([b[at + i], b[at + i + 1], b[at + i + 2], b[at + i + 3]]);
    let len = usize::from(u16_at(16));
    let rdata = &b[at + RECORD_FIXED..at + RECORD_FIXED + len];
    (
        Packed {
            rtype: u16_at(0),
            class: u16_at(2),
            ttl: u32_at(4),
            file: u32_at(8),
            line: u32_at(12),
            rdata,
        },
        at + RECORD_FIXED + len,
    )
}

impl Builder {
    /// An empty zone at `origin`.
    pub(crate) fn new(origin: &Name) -> Builder {
        let given = origin.clone();
        let origin = origin.to_lowercase();
        let origin_key = Key::of(origin.as_wire())
            .map(|k| k.as_bytes().to_vec())
            .unwrap_or_default();
        Builder {
            given,
            origin,
            origin_key,
            names: Vec::new(),
            records: Vec::new(),
            runs: Vec::new(),
            files: Vec::new(),
            class: None,
            suspect: false,
            previous: None,
            too_many_names: false,
        }
    }

    /// Builds the new version of `previous` (a reload): every node equal to
    /// one of `previous`'s is that node, shared, not a copy.
    pub(crate) fn replacing(mut self, previous: &Zone) -> Builder {
        self.previous = Some(previous.clone());
        self
    }

    fn key_at(&self, at: usize) -> &[u8] {
        let len = usize::from(u16::from_be_bytes([self.names[at], self.names[at + 1]]));
        &self.names[at + 2..at + 2 + len]
    }

    fn owner_at(&self, at: usize) -> &[u8] {
        let at = at + 2 + self.key_at(at).len();
        &self.names[at + 1..at + 1 + usize::from(self.names[at])]
    }

    /// Adds one record, as the parser reads it.
    pub(crate) fn push(&mut self, record: Record) {
        self.push_wire(
            record.owner.as_wire(),
            record.rtype,
            record.class,
            record.ttl,
            &record.rdata,
            &record.location.file,
            record.location.line,
        );
    }

    /// Adds one record given in wire form (a zone transfer's, read from
    /// its message without a [`Record`] made for it); `file` and `line`
    /// say where it came from, for the checks' messages.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_wire(
        &mut self,
        owner: &[u8],
        rtype: u16,
        class: u16,
        ttl: u32,
        rdata: &[u8],
        file: &Arc<Path>,
        line: u32,
    ) {
        let same_owner = self.runs.last().is_some_and(|run| self.owner_at(run.name()) == owner);
        if !same_owner {
            let key = Key::of(owner);
            let key = key.as_ref().map_or(&[][..], |k| k.as_bytes());
            self.suspect |= !key_is_within(key, &self.origin_key);
            let Ok(name) = u32::try_from(self.names.len()) else {
                // Four billion bytes of owner names: far past any zone file
                // within zone_max_bytes' default; refused, not wrapped.
                self.too_many_names = true;
                return;
            };
            self.names.extend_from_slice(&(key.len() as u16).to_be_bytes());
            self.names.extend_from_slice(key);
            self.names.push(owner.len() as u8);
            self.names.extend_from_slice(owner);
            let below_apex = key.get(self.origin_key.len()..).unwrap_or_default();
            let mut prefix = [0u8; 8];
            let n = below_apex.len().min(8);
            prefix[..n].copy_from_slice(&below_apex[..n]);
            self.runs.push(Run {
                prefix: u64::from_be_bytes(prefix),
                name,
                first: self.records.len(),
                count: 0,
            });
        }
        let first_class = *self.class.get_or_insert(class);
        self.suspect |= first_class != class;
        let file = match self.files.iter().rposition(|f| Arc::ptr_eq(f, file)) {
            Some(i) => i,
            None => {
                self.files.push(file.clone());
                self.files.len() - 1
            }
        };
        let r = &mut self.records;
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&class.to_be_bytes());
        r.extend_from_slice(&ttl.to_be_bytes());
        r.extend_from_slice(&(file as u32).to_be_bytes());
        r.extend_from_slice(&line.to_be_bytes());
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        if let Some(run) = self.runs.last_mut() {
            run.count += 1;
        }
    }

    /// Indexes and checks the records; the first error in file order, as
    /// [`validate::validate`] words it, if the zone cannot be served.
    pub(crate) fn finish(mut self) -> Result<Zone, ZoneError> {
        if self.too_many_names {
            return Err(ZoneError {
                location: None,
                message: format!("zone {}: more than 4 GiB of owner names", self.given),
            });
        }
        if self.runs.is_empty() {
            // An empty zone: the checks say so in their words.
            validate::validate(&self.given, &[])?;
        }
        self.names.shrink_to_fit();
        self.records.shrink_to_fit();
        let mut runs = std::mem::take(&mut self.runs);
        // A shorter key pads its prefix with zeros, so equal prefixes may
        // still differ further on but a smaller prefix is a smaller key.
        // Runs of one name stay in file order; an unstable sort needs no
        // buffer beside them.
        runs.sort_unstable_by(|a, b| {
            a.prefix
                .cmp(&b.prefix)
                .then_with(|| self.key_at(a.name()).cmp(self.key_at(b.name())))
                .then_with(|| a.first.cmp(&b.first))
        });
        let previous_zone = self.previous.take();
        let previous = previous_zone.as_ref().map(|z| z.names().clone());
        let mut writer = NodeWriter::sharing(previous.clone());
        let patched = previous.and_then(|old| self.patch(&runs, &old, &mut writer));
        let (names, mut checks) = match patched {
            Some(done) => done,
            None => self.fresh(&runs, &mut writer),
        };
        checks.finish(&names);
        if checks.failed {
            // Back to file order for the checks that report the first failing record.
            runs.sort_by_key(|r| r.first);
            let records = self.unpack(&runs);
            drop(names);
            let mut records = records;
            validate::dedup(&mut records);
            validate::validate(&self.given, &records)?;
            return Err(ZoneError {
                location: None,
                message: format!("zone {} failed a check: {}", self.given, checks.why),
            });
        }
        Zone::from_nodes_after(&self.origin, names, previous_zone.as_ref())
    }

    /// Every node in canonical order, empty non-terminals included, each
    /// checked and handed to `emit` (which returns false to stop early).
    fn walk(&self, runs: &[Run], writer: &mut NodeWriter, checks: &mut Checks<'_>, emit: &mut dyn FnMut(Node) -> bool) {
        let mut previous: Vec<u8> = Vec::new();
        let mut group_start = 0;
        while group_start < runs.len() && !checks.failed {
            let key = self.key_at(runs[group_start].name());
            let group_end = group_start
                + runs[group_start..]
                    .iter()
                    .take_while(|r| self.key_at(r.name()) == key)
                    .count();
            for ancestor in ancestors_below_apex(key, &self.origin_key) {
                // Those the previous name did not already bring (RFC 4592 2.2.2).
                if !key_is_within(&previous, ancestor) && !emit(writer.finish(ancestor, &wire_of(ancestor))) {
                    return;
                }
            }
            let node = self.node(&runs[group_start..group_end], writer);
            checks.node(&node);
            if !emit(node) {
                return;
            }
            previous.clear();
            previous.extend_from_slice(key);
            group_start = group_end;
        }
    }

    /// The nodes in a new tree.
    fn fresh(&self, runs: &[Run], writer: &mut NodeWriter) -> (Names, Checks<'_>) {
        let mut checks = Checks::new(&self.origin_key);
        checks.failed = self.suspect;
        let mut names = Names::new(&self.origin_key);
        self.walk(runs, writer, &mut checks, &mut |node| {
            names.insert(node);
            true
        });
        (names, checks)
    }

    /// The new version as changes to `old`, the version a reload replaces:
    /// its tree with the nodes that differ, appeared or went replaced,
    /// sharing everything else (structure included), so the reload holds
    /// little beside the old version. `None` when so much changed that a
    /// new tree costs less.
    fn patch(&self, runs: &[Run], old: &Names, writer: &mut NodeWriter) -> Option<(Names, Checks<'_>)> {
        let limit = old.len() / 8 + 64;
        let mut checks = Checks::new(&self.origin_key);
        checks.failed = self.suspect;
        let mut olds = old.iter().peekable();
        // By key: the new node, or none for a name gone.
        let mut changes: Vec<(Vec<u8>, Option<Node>)> = Vec::new();
        let mut complete = true;
        self.walk(runs, writer, &mut checks, &mut |node| {
            while let Some(gone) = olds.next_if(|o| o.key() < node.key()) {
                changes.push((gone.key().to_vec(), None));
            }
            match olds.next_if(|o| o.key() == node.key()) {
                Some(same) if same.ptr_eq(&node) => {}
                _ => changes.push((node.key().to_vec(), Some(node))),
            }
            complete = changes.len() <= limit;
            complete
        });
        if !complete {
            return None;
        }
        if !checks.failed {
            changes.extend(olds.map(|gone| (gone.key().to_vec(), None)));
            if changes.len() > limit {
                return None;
            }
        }
        let mut names = old.clone();
        for (key, node) in changes {
            names.remove(&key);
            if let Some(node) = node {
                names.insert(node);
            }
        }
        Some((names, checks))
    }

    /// The node of one name from its runs (in file order): RRsets in the
    /// order their types first appear, duplicates dropped, lowest TTL each.
    fn node(&self, runs: &[Run], writer: &mut NodeWriter) -> Node {
        let first = runs[0].name();
        if let [
            Run {
                count: 1, first: at, ..
            },
        ] = runs
        {
            // Most names own one record: no grouping to do.
            let (r, _) = read_record(&self.records, *at);
            writer.begin_set(r.rtype, r.class, r.ttl);
            writer.push_rdata(r.rdata);
            return writer.finish(self.key_at(first), self.owner_at(first));
        }
        let mut records: Vec<Packed<'_>> = Vec::new();
        for run in runs {
            let mut at = run.first;
            for _ in 0..run.count {
                let (record, next) = read_record(&self.records, at);
                records.push(record);
                at = next;
            }
        }
        // RRSIGs make one RRset per type covered, each with its own TTL (RFC 4034 3).
        let mut kinds: Vec<(u16, Option<u16>)> = Vec::new();
        for r in &records {
            let kind = set_kind(r.rtype, r.rdata);
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        for kind in kinds {
            let set: Vec<&Packed<'_>> = records.iter().filter(|r| set_kind(r.rtype, r.rdata) == kind).collect();
            let ttl = set.iter().map(|r| r.ttl).min().unwrap_or(0);
            writer.begin_set(kind.0, set[0].class, ttl);
            if set.len() <= SCAN_LIMIT {
                for (i, r) in set.iter().enumerate() {
                    if !set[..i].iter().any(|e| e.rdata == r.rdata) {
                        writer.push_rdata(r.rdata);
                    }
                }
            } else {
                let mut seen: HashSet<&[u8]> = HashSet::with_capacity(set.len());
                for r in &set {
                    if seen.insert(r.rdata) {
                        writer.push_rdata(r.rdata);
                    }
                }
            }
        }
        writer.finish(self.key_at(first), self.owner_at(first))
    }

    /// The records again, in the order of `runs`, for the error path.
    fn unpack(&self, runs: &[Run]) -> Vec<Record> {
        let mut out = Vec::new();
        for run in runs {
            let owner = Name::from_wire(self.owner_at(run.name())).unwrap_or_else(Name::root);
            let mut at = run.first;
            for _ in 0..run.count {
                let (r, next) = read_record(&self.records, at);
                out.push(Record {
                    owner: owner.clone(),
                    rtype: r.rtype,
                    class: r.class,
                    ttl: r.ttl,
                    rdata: r.rdata.into(),
                    location: Location {
                        file: self.files[r.file as usize].clone(),
                        line: r.line,
                    },
                });
                at = next;
            }
        }
        out
    }
}

/// The keys of the strict ancestors of `key` from the apex (included) down.
pub(crate) fn ancestors_below_apex<'k>(key: &'k [u8], apex: &[u8]) -> impl Iterator<Item = &'k [u8]> {
    let apex_len = apex.len();
    key.iter()
        .enumerate()
        .filter(move |&(i, &b)| b == 0 && i + 1 >= apex_len && i + 1 < key.len())
        .map(move |(i, _)| &key[..i + 1])
}

/// The zone checks of [`validate::validate`], made on built nodes in
/// canonical order; they only say whether something failed.
struct Checks<'o> {
    apex: &'o [u8],
    failed: bool,
    why: &'static str,
    /// The last DNAME owner seen, while names below it follow.
    dname: Option<Vec<u8>>,
}

impl<'o> Checks<'o> {
    fn new(apex: &'o [u8]) -> Self {
        Checks {
            apex,
            failed: false,
            why: "",
            dname: None,
        }
    }

    fn fail(&mut self, why: &'static str) {
        if !self.failed {
            self.failed = true;
            self.why = why;
        }
    }

    fn node(&mut self, node: &Node) {
        if let Some(why) = node_problem(node, self.apex) {
            self.fail(why);
        }
        if let Some(dname) = &self.dname {
            if key_is_within(node.key(), dname) {
                if has_data_below_dname(node) {
                    self.fail("data below a DNAME");
                }
                return;
            }
            self.dname = None;
        }
        if node.has(rtype::DNAME) {
            self.dname = Some(node.key().to_vec());
        }
    }

    fn finish(&mut self, names: &Names) {
        let apex = names.get(self.apex);
        if !apex.is_some_and(|a| a.has(rtype::SOA) && a.has(rtype::NS)) {
            self.fail("no SOA or NS at the apex");
        }
    }
}

/// What is wrong with one node on its own, if anything: an SOA off the
/// apex or twice, a CNAME beside other data or twice, a second DNAME.
pub(crate) fn node_problem(node: &Node, apex: &[u8]) -> Option<&'static str> {
    let at_apex = node.key() == apex;
    if let Some(soa) = node.get(rtype::SOA)
        && (!at_apex || soa.len() > 1)
    {
        return Some("an SOA off the apex, or two");
    }
    let cname = node.has(rtype::CNAME);
    if cname
        && node
            .rrsets()
            .any(|s| !matches!(s.rtype, rtype::CNAME | rtype::RRSIG | rtype::NSEC))
    {
        return Some("a CNAME beside other data (RFC 2181 10.1)");
    }
    for t in [rtype::CNAME, rtype::DNAME] {
        if let Some(set) = node.get(t) {
            let mut rdatas = set.rdatas();
            let first = rdatas.next().unwrap_or_default();
            if rdatas.any(|r| !r.eq_ignore_ascii_case(first)) {
                return Some("a second CNAME or DNAME (RFC 1034 3.6.2, RFC 6672 2.4)");
            }
        }
    }
    None
}

/// Whether a node below a DNAME holds data RFC 6672 2.4 forbids there
/// (NSEC3 chains and their signatures are exempt).
pub(crate) fn has_data_below_dname(node: &Node) -> bool {
    node.rrsets().any(|s| match s.rtype {
        rtype::NSEC3 => false,
        rtype::RRSIG => s.rdatas().any(|r| r.get(..2) != Some(&rtype::NSEC3.to_be_bytes()[..])),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use std::{path::Path, time::Instant};

    use super::*;
    use crate::zone::{load, parse};

    #[test]
    fn one_rrset_of_100k_records_loads_in_linear_time() {
        let mut text = String::from("$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n");
        for i in 0..100_000u32 {
            text.push_str(&format!("big TXT \"record {i}\"\n"));
        }
        // A few duplicates, which a set drops.
        text.push_str("big TXT \"record 7\"\nbig TXT \"record 99999\"\n");
        let origin = Name::parse("example.com.", None).expect("origin");
        let started = Instant::now();
        let zone = load::from_str(&origin, &text, Path::new("big.zone")).expect("the zone loads");
        let took = started.elapsed();
        let big = zone
            .node(b"\x03big\x07example\x03com\x00")
            .expect("the big name exists");
        let txt = big.get(rtype::TXT).expect("the TXT set exists");
        assert_eq!(txt.len(), 100_000, "every distinct record once");
        assert_eq!(txt.first(), Some(&b"\x08record 0"[..]), "file order is kept");
        eprintln!("one RRset of 100,000 records loaded in {took:?}");
    }

    #[test]
    fn empty_non_terminals_are_made_once() {
        let text = "$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
                    a.b.c A 192.0.2.2\nx.b.c A 192.0.2.3\ny.c A 192.0.2.4\n";
        let origin = Name::parse("example.com.", None).expect("origin");
        let zone = load::from_str(&origin, text, Path::new("t")).expect("loads");
        let owners: Vec<String> = zone
            .nodes()
            .map(|n| Name::from_wire(n.owner()).expect("owners are names").to_string())
            .collect();
        assert_eq!(
            owners,
            [
                "example.com.",
                "c.example.com.",
                "b.c.example.com.",
                "a.b.c.example.com.",
                "x.b.c.example.com.",
                "y.c.example.com.",
                "ns1.example.com.",
            ],
            "canonical order, with c and b.c as empty non-terminals"
        );
        assert!(
            zone.node(b"\x01b\x01c\x07example\x03com\x00")
                .is_some_and(Node::is_empty)
        );
        let before = zone
            .at_or_before(b"\x01z\x01c\x07example\x03com\x00")
            .expect("a name before");
        assert_eq!(before.owner(), b"\x01y\x01c\x07example\x03com\x00");
    }

    /// A reload's new version shares the unchanged names' nodes (empty
    /// non-terminals included) with the version it replaces, answers as a
    /// fresh load of the same file, and differs from it only in the names
    /// that changed.
    #[test]
    fn a_new_version_shares_the_unchanged_nodes_of_the_old() {
        let origin = Name::parse("example.com.", None).expect("origin");
        let old_text = "$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
                        www A 192.0.2.2\na.b.c A 192.0.2.3\nmail A 192.0.2.4\n";
        let new_text = old_text
            .replace("host 1 2", "host 2 2")
            .replace("www A 192.0.2.2", "www A 192.0.2.22")
            .replace("mail A 192.0.2.4\n", "MAIL A 192.0.2.4\nnew A 192.0.2.5\n");
        let old = load::from_str(&origin, old_text, Path::new("old")).expect("loads");
        let mut builder = Builder::new(&origin).replacing(&old);
        parse::parse_str_each(&new_text, Path::new("new"), &origin, &mut |r| builder.push(r)).expect("parses");
        let new = builder.finish().expect("builds");
        let fresh = load::from_str(&origin, &new_text, Path::new("fresh")).expect("loads");
        assert_eq!(
            new.nodes().map(|n| format!("{n:?}")).collect::<Vec<_>>(),
            fresh.nodes().map(|n| format!("{n:?}")).collect::<Vec<_>>(),
            "the same nodes as a fresh load"
        );
        let shared = |name: &str| {
            let wire = Name::parse(name, Some(&origin)).expect("name");
            let (a, b) = (old.node(wire.as_wire()), new.node(wire.as_wire()));
            a.zip(b).is_some_and(|(a, b)| a.ptr_eq(b))
        };
        assert!(
            shared("ns1") && shared("a.b.c") && shared("b.c") && shared("c"),
            "unchanged: shared"
        );
        assert!(
            !shared("@") && !shared("www") && !shared("new"),
            "changed or new: not shared"
        );
        assert!(!shared("mail"), "the owner's spelling changed: a new node");
        let changed: Vec<String> = Zone::changed_names(&old, &new).iter().map(Name::to_string).collect();
        assert_eq!(
            changed,
            [
                "example.com.",
                "mail.example.com.",
                "new.example.com.",
                "www.example.com."
            ]
        );
    }

    /// Reloads along the store's random walk of updates: each new file,
    /// built as a new version of the one before, has the nodes of a fresh
    /// load of it (or fails as it does), and shares every node that did not change.
    #[test]
    fn reloads_along_a_random_walk_build_what_a_fresh_load_builds() {
        use crate::zone::update::walk::{Walk, origin};
        let mut walk = Walk::new();
        let mut old = load::from_str(&origin(), &walk.text(), Path::new("start")).expect("loads");
        let (mut reloads, mut refused) = (0, 0);
        for step in 0..200 {
            let (_, next) = walk.propose();
            let text = next.text();
            let mut builder = Builder::new(&origin()).replacing(&old);
            parse::parse_str_each(&text, Path::new("next"), &origin(), &mut |r| builder.push(r)).expect("parses");
            let fresh = load::from_str(&origin(), &text, Path::new("fresh"));
            match (builder.finish(), fresh) {
                (Ok(new), Ok(fresh)) => {
                    let nodes = |z: &Zone| z.nodes().map(|n| format!("{n:?}")).collect::<Vec<_>>();
                    assert_eq!(nodes(&new), nodes(&fresh), "step {step}: nodes\n{text}");
                    assert_eq!(new.serial, fresh.serial, "step {step}: serial");
                    let changed = Zone::changed_names(&old, &new);
                    for node in new.nodes() {
                        let owner = Name::from_wire(node.owner()).expect("owner").to_lowercase();
                        if !changed.contains(&owner) {
                            let before = old.node(node.owner()).expect("an unchanged name was there");
                            assert!(before.ptr_eq(node), "step {step}: {owner} unchanged but not shared");
                        }
                    }
                    old = new;
                    walk.accept(next);
                    reloads += 1;
                }
                (Err(_), Err(_)) => refused += 1,
                (got, want) => panic!(
                    "step {step}: a reload and a fresh load disagree: {:?} vs {:?}\n{text}",
                    got.map(|z| z.serial),
                    want.map(|z| z.serial)
                ),
            }
        }
        assert!(reloads > 100 && refused > 5, "{reloads} reloads, {refused} refused");
    }
}

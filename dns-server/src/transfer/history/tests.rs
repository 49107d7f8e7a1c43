//! Histories against full loads: the differences recorded between versions,
//! applied to the oldest, give the newest record for record.

use std::{path::Path, sync::Arc};

use super::*;
use crate::{
    name::Name,
    transfer::records::{self, Rr},
    zone::{
        load,
        update::{Change, Update},
    },
};

const ORIGIN: &str = "hist.test.";

fn zone(serial: u32, body: &str) -> Arc<Zone> {
    let text = format!("$ORIGIN {ORIGIN}\n$TTL 60\n@ SOA ns1 h {serial} 3600 600 86400 60\n@ NS ns1\n{body}");
    let origin = Name::parse(ORIGIN, None).expect("origin");
    Arc::new(load::from_str(&origin, &text, Path::new("hist.zone")).expect("a valid zone"))
}

fn catalog(zone: &Arc<Zone>) -> Catalog {
    Catalog::new([zone.clone()], 100)
}

fn id(catalog: &Catalog) -> u64 {
    catalog.zones().next().expect("one zone").version_id()
}

fn origin() -> Vec<u8> {
    Name::parse(ORIGIN, None).expect("origin").as_wire().to_vec()
}

/// Every record of a zone, sorted, as comparable values.
fn content(zone: &Zone) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
    let mut all: Vec<_> = records::axfr(zone)
        .map(|rr: Rr<'_>| (rr.owner.to_ascii_lowercase(), rr.rtype, rr.ttl, rr.rdata.to_vec()))
        .collect();
    all.sort();
    all.dedup();
    all
}

fn applied(zone: &Zone, deltas: &[Arc<Delta>]) -> Zone {
    let change = |rr: &OwnedRr| {
        let rr = rr.as_rr();
        Change {
            owner: Name::from_wire(rr.owner).expect("owner"),
            rtype: rr.rtype,
            class: rr.class,
            ttl: rr.ttl,
            rdata: rr.rdata.into(),
        }
    };
    let mut now = zone.clone();
    for delta in deltas {
        let mut update = Update {
            remove: delta.removed.iter().map(change).collect(),
            add: delta.added.iter().map(change).collect(),
        };
        update.remove.push(change(&delta.from_soa));
        update.add.push(change(&delta.to_soa));
        now = now.apply(&update).expect("a delta applies");
    }
    now
}

#[test]
fn differences_chain_from_any_recorded_serial_to_the_current_version() {
    let z1 = zone(1, "ns1 A 192.0.2.53\nwww A 192.0.2.1\nold TXT \"gone soon\"\n");
    let z2 = zone(
        2,
        "ns1 A 192.0.2.53\nwww A 192.0.2.2\nold TXT \"gone soon\"\nnew.deep TXT \"new\"\n",
    );
    let z3 = zone(3, "ns1 300 A 192.0.2.53\nwww A 192.0.2.2\nnew.deep TXT \"new\"\n");
    let (c1, c2, c3) = (catalog(&z1), catalog(&z2), catalog(&z3));
    let histories = Histories::default();
    let announced = histories.record(&c1, &c2);
    assert_eq!(announced.len(), 1, "a new serial is announced");
    let first = histories.since(&origin(), 1, id(&c2)).expect("1 -> 2 recorded");
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].removed.len(), first[0].added.len()),
        (1, 2),
        "www changed, a TXT added"
    );
    histories.record(&c2, &c3);

    let from_one = histories.since(&origin(), 1, id(&c3)).expect("1 -> 3");
    assert_eq!(from_one.len(), 2);
    assert_eq!(content(&applied(&z1, &from_one)), content(&z3), "1 + deltas = 3");
    let from_two = histories.since(&origin(), 2, id(&c3)).expect("2 -> 3");
    assert_eq!(content(&applied(&z2, &from_two)), content(&z3), "2 + delta = 3");
    assert!(histories.since(&origin(), 7, id(&c3)).is_none(), "never served");
    assert!(
        histories.since(&origin(), 1, id(&c2)).is_none(),
        "a history that does not end at the version asked about is not used"
    );

    let ixfr: Vec<Rr<'_>> = records::ixfr(&z3, &from_two).collect();
    let soa = |rr: &Rr<'_>| (rr.rtype == rtype::SOA).then(|| crate::zone::tree::soa_fields(rr.rdata).map(|f| f.serial));
    let serials: Vec<_> = ixfr.iter().filter_map(soa).flatten().collect();
    assert_eq!(serials, [3, 2, 3, 3], "current, old, new, current (RFC 1995 4)");
}

#[test]
fn a_serial_that_does_not_grow_clears_the_history() {
    let z1 = zone(5, "ns1 A 192.0.2.53\n");
    let z2 = zone(6, "ns1 A 192.0.2.54\n");
    let same = zone(6, "ns1 A 192.0.2.55\n");
    let (c1, c2, c3) = (catalog(&z1), catalog(&z2), catalog(&same));
    let histories = Histories::default();
    histories.record(&c1, &c2);
    assert!(histories.since(&origin(), 5, id(&c2)).is_some());
    assert!(
        histories.record(&c2, &c3).is_empty(),
        "the same serial is not announced"
    );
    assert!(
        histories.since(&origin(), 5, id(&c3)).is_none(),
        "and nothing is sent as a difference"
    );
}

#[test]
fn serial_arithmetic_wraps() {
    assert!(serial_newer(1, u32::MAX), "RFC 1982: 1 follows 2^32-1");
    assert!(!serial_newer(u32::MAX, 1));
    assert!(!serial_newer(4, 4));
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dns-history-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn versions(count: u32) -> Vec<Arc<Zone>> {
    (1..=count)
        .map(|serial| {
            zone(
                serial,
                &format!(
                    "ns1 A 192.0.2.53\nwww A 192.0.2.{}\nv{serial} TXT \"at {serial}\"\n",
                    serial % 250
                ),
            )
        })
        .collect()
}

#[test]
fn a_restart_takes_the_history_back_from_disk() {
    let dir = temp_dir("restart");
    let zones = versions(3);
    let catalogs: Vec<Catalog> = zones.iter().map(catalog).collect();
    let before = Histories::kept_in(dir.clone());
    for pair in catalogs.windows(2) {
        before.record(&pair[0], &pair[1]);
        before.save(|_| true);
    }
    // Restarted: the same zone loaded again, as a version of a new id.
    let restarted = catalog(&zones[2]);
    let after = Histories::kept_in(dir.clone());
    after.restore(&restarted, |_| true);
    let deltas = after
        .since(&origin(), 1, id(&restarted))
        .expect("1 -> 3 after the restart");
    assert_eq!(deltas.len(), 2);
    assert_eq!(
        content(&applied(&zones[0], &deltas)),
        content(&zones[2]),
        "1 + deltas = 3"
    );
    assert!(after.since(&origin(), 2, id(&restarted)).is_some());

    // It goes on from there, appending.
    let next = catalog(&zone(4, "ns1 A 192.0.2.53\n"));
    after.record(&restarted, &next);
    after.save(|_| true);
    let again = Histories::kept_in(dir.clone());
    let reloaded = catalog(&zone(4, "ns1 A 192.0.2.53\n"));
    again.restore(&reloaded, |_| true);
    let deltas = again.since(&origin(), 1, id(&reloaded)).expect("1 -> 4");
    assert_eq!(
        content(&applied(&zones[0], &deltas)),
        content(&zone(4, "ns1 A 192.0.2.53\n"))
    );

    // Not selected, or loaded at another version: nothing is taken back.
    let none = Histories::kept_in(dir.clone());
    none.restore(&reloaded, |_| false);
    assert!(none.since(&origin(), 1, id(&reloaded)).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_history_on_disk_that_ends_elsewhere_or_is_torn_is_not_used() {
    let dir = temp_dir("elsewhere");
    let zones = versions(3);
    let catalogs: Vec<Catalog> = zones.iter().map(catalog).collect();
    let before = Histories::kept_in(dir.clone());
    before.record(&catalogs[0], &catalogs[1]);
    before.record(&catalogs[1], &catalogs[2]);
    before.save(|_| true);

    // Serial 3 again, but another SOA (a file edited while we were down).
    let other_soa = {
        let text =
            format!("$ORIGIN {ORIGIN}\n$TTL 60\n@ SOA ns1 other 3 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n");
        let origin = Name::parse(ORIGIN, None).expect("origin");
        Arc::new(load::from_str(&origin, &text, Path::new("h.zone")).expect("zone"))
    };
    let after = Histories::kept_in(dir.clone());
    let moved = catalog(&other_soa);
    after.restore(&moved, |_| true);
    assert!(after.since(&origin(), 1, id(&moved)).is_none(), "the last SOA differs");

    // A torn last block: the chain ends at 2, not at the 3 served.
    let file = disk::path(&dir, &origin()).expect("a path");
    let text = std::fs::read_to_string(&file).expect("written");
    std::fs::write(&file, &text[..text.len() - 10]).expect("torn");
    let torn = Histories::kept_in(dir.clone());
    let served = catalog(&zones[2]);
    torn.restore(&served, |_| true);
    assert!(
        torn.since(&origin(), 1, id(&served)).is_none(),
        "a torn history ends elsewhere"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_file_stays_bounded_and_a_cleared_history_removes_it() {
    let dir = temp_dir("bounded");
    let zones = versions(3 * HISTORY_VERSIONS as u32);
    let catalogs: Vec<Catalog> = zones.iter().map(catalog).collect();
    let histories = Histories::kept_in(dir.clone());
    let file = disk::path(&dir, &origin()).expect("a path");
    let blocks = || {
        std::fs::read_to_string(&file)
            .map(|t| t.matches(";; change ").count())
            .unwrap_or(0)
    };
    let mut most = 0;
    for pair in catalogs.windows(2) {
        histories.record(&pair[0], &pair[1]);
        histories.save(|_| true);
        most = most.max(blocks());
    }
    assert!(
        most <= 2 * HISTORY_VERSIONS,
        "at most twice the history on disk, saw {most}"
    );
    let last = catalogs.last().expect("versions");
    let restarted = Histories::kept_in(dir.clone());
    let again = catalog(zones.last().expect("versions"));
    restarted.restore(&again, |_| true);
    let first_kept = zones.len() as u32 - HISTORY_VERSIONS as u32;
    assert!(
        restarted.since(&origin(), first_kept, id(&again)).is_some(),
        "the last {HISTORY_VERSIONS} kept"
    );
    assert!(
        restarted.since(&origin(), first_kept - 1, id(&again)).is_none(),
        "and no more"
    );

    // A serial that goes back clears the history, and its file.
    let back = catalog(&zone(1, "ns1 A 192.0.2.53\n"));
    histories.record(last, &back);
    histories.save(|_| true);
    assert!(!file.exists(), "a cleared history leaves no file");
    let _ = std::fs::remove_dir_all(&dir);
}

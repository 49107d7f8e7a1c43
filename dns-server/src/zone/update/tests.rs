//! Updates against full loads: random adds and removes, applied one update
//! at a time, must answer byte for byte as a fresh load of the same records.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use super::{
    Change, Update,
    walk::{ORIGIN, QNAMES, QTYPES, Walk, change, origin},
};
use crate::{
    catalog::Catalog,
    name::Name,
    query::{Identity, Responder, Transport},
    stats::Stats,
    zone::{load, tree::Zone},
};

fn answers(zone: &Zone) -> Vec<Vec<u8>> {
    let catalog = Catalog::new([Arc::new(zone.clone())], 1000);
    let identity = Identity {
        identity: "prop".into(),
        version: None,
        udp_payload: 1232,
    };
    let stats = Stats::default();
    let responder = Responder {
        catalog: &catalog,
        identity: &identity,
        stats: &stats,
        fast_path: &crate::fast_path::NoFastPath,
        secondaries: None,
    };
    let mut all = Vec::new();
    for qname in QNAMES {
        for &qtype in QTYPES {
            for transport in [Transport::Udp, Transport::Tcp] {
                let q = test_support::Query::new(qname, qtype).id(7).edns(1232).to_wire();
                let mut out = Vec::new();
                let _ = responder.respond(&q, transport, &mut out);
                all.push(out);
            }
        }
    }
    all
}

/// Node keys and contents, to find the changed names by brute force.
fn contents(zone: &Zone) -> BTreeMap<Vec<u8>, String> {
    zone.nodes()
        .map(|n| (n.owner().to_ascii_lowercase(), format!("{n:?}")))
        .collect()
}

#[test]
fn random_updates_answer_as_a_full_load_of_the_same_records() {
    let mut walk = Walk::new();
    let mut zone = load::from_str(&origin(), &walk.text(), Path::new("start")).expect("the start loads");
    let (mut applied, mut refused) = (0, 0);
    for step in 0..300 {
        let (update, next) = walk.propose();
        let text = next.text();
        let loaded = load::from_str(&origin(), &text, Path::new("final"));
        match (zone.apply(&update), loaded) {
            (Ok(updated), Ok(loaded)) => {
                assert_eq!(updated.serial, loaded.serial, "step {step}: serial");
                assert_eq!(
                    updated.nodes().map(|n| format!("{n:?}")).collect::<Vec<_>>(),
                    loaded.nodes().map(|n| format!("{n:?}")).collect::<Vec<_>>(),
                    "step {step}: the same nodes in the same order, after {update:?}\n{text}"
                );
                let (got, want) = (answers(&updated), answers(&loaded));
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        g,
                        w,
                        "step {step}: answer {i} ({} type {}) differs after {update:?}\n{text}",
                        QNAMES[i / (QTYPES.len() * 2)],
                        QTYPES[i / 2 % QTYPES.len()]
                    );
                }
                // The diff names exactly the names whose nodes changed.
                let (before, after) = (contents(&zone), contents(&updated));
                let mut expected: Vec<Vec<u8>> = before
                    .keys()
                    .chain(after.keys())
                    .filter(|k| before.get(*k) != after.get(*k))
                    .cloned()
                    .collect();
                expected.sort_by(|a, b| crate::zone::canonical::compare(a, b));
                expected.dedup();
                let changed: Vec<Vec<u8>> = Zone::changed_names(&zone, &updated)
                    .iter()
                    .map(|n| n.as_wire().to_vec())
                    .collect();
                assert_eq!(changed, expected, "step {step}: changed names after {update:?}");
                zone = updated;
                walk.accept(next);
                applied += 1;
            }
            (Err(_), Err(_)) => refused += 1,
            (got, want) => panic!(
                "step {step}: an update and a full load disagree on whether {update:?} is valid: \
                 update {:?}, load {:?}\n{text}",
                got.map(|z| z.serial),
                want.map(|z| z.serial)
            ),
        }
    }
    eprintln!("{applied} updates applied, {refused} refused by both");
    assert!(
        applied > 150 && refused > 5,
        "the walk should mostly apply and sometimes be refused: {applied} applied, {refused} refused"
    );
}

#[test]
fn an_update_shares_the_old_version_and_leaves_it_whole() {
    let text = "$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n";
    let old = load::from_str(&origin(), text, Path::new("t")).expect("loads");
    let update = Update {
        remove: vec![change("www", "A", "192.0.2.2")],
        add: vec![change("a.b.c", "A", "192.0.2.3")],
    };
    let new = old.apply(&update).expect("applies");
    assert!(
        old.node(b"\x03www\x04prop\x04test\x00").is_some(),
        "the old version is unchanged"
    );
    assert!(new.node(b"\x03www\x04prop\x04test\x00").is_none(), "www went");
    assert!(
        new.node(b"\x01b\x01c\x04prop\x04test\x00")
            .is_some_and(|n| n.is_empty()),
        "b.c came as an empty non-terminal"
    );
    let ns1 = b"\x03ns1\x04prop\x04test\x00";
    assert!(
        old.node(ns1).expect("ns1").ptr_eq(new.node(ns1).expect("ns1")),
        "an untouched node is shared"
    );
    let changed: Vec<String> = Zone::changed_names(&old, &new).iter().map(Name::to_string).collect();
    assert_eq!(
        changed,
        ["c.prop.test.", "b.c.prop.test.", "a.b.c.prop.test.", "www.prop.test."],
        "canonical order"
    );
    let back = new
        .apply(&Update {
            remove: update.add.clone(),
            add: update.remove,
        })
        .expect("applies");
    assert_eq!(
        back.node_count(),
        old.node_count(),
        "the empty non-terminals went with a.b.c"
    );
    let out = Update {
        remove: vec![],
        add: vec![Change {
            owner: Name::parse("www.example.org.", None).expect("name"),
            ..change("www", "A", "192.0.2.2")
        }],
    };
    let e = old.apply(&out).expect_err("out of zone");
    assert!(e.message.contains("out of the zone"), "{e}");
}

/// A million records: 250,000 hosts with A and AAAA, 250,000 TXT names and
/// 250,000 delegations, for the measurements below.
fn big_zone_text() -> String {
    let mut text = String::from("$TTL 3600\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n");
    for i in 0..250_000u32 {
        text.push_str(&format!(
            "h{i} A 10.{}.{}.{}\nh{i} AAAA 2001:db8::{:x}:{:x}\nt{i} TXT \"text {i}\"\nd{i} NS ns.d{i}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255,
            i >> 16,
            i & 0xffff
        ));
    }
    text
}

/// Timings for the case (d), in release mode:
/// `cargo test --release -p dns-server --lib one_record_change_in_a_big_zone -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: a million records, run by hand in release mode"]
fn one_record_change_in_a_big_zone() {
    use std::time::Instant;
    let text = big_zone_text();
    let started = Instant::now();
    let zone = load::from_str(&origin(), &text, Path::new("big")).expect("loads");
    let loaded = started.elapsed();
    let names: Vec<Vec<u8>> = (0..250_000u32)
        .map(|i| {
            Name::parse(&format!("h{}.{ORIGIN}", i * 7 % 250_000), None)
                .expect("name")
                .as_wire()
                .to_vec()
        })
        .collect();
    let started = Instant::now();
    let found = names.iter().filter(|n| zone.node(n).is_some()).count();
    let per_lookup = started.elapsed() / names.len() as u32;
    assert_eq!(found, names.len());
    let update = Update {
        remove: vec![change("h777", "A", "10.0.3.9")],
        add: vec![change("h777", "A", "192.0.2.77"), change("new.name", "TXT", "\"new\"")],
    };
    let started = Instant::now();
    let new = zone.apply(&update).expect("applies");
    let applied = started.elapsed();
    let started = Instant::now();
    let changed = Zone::changed_names(&zone, &new);
    let diffed = started.elapsed();
    let started = Instant::now();
    drop(zone);
    let dropped = started.elapsed();
    eprintln!(
        "1M records ({} names): load {loaded:?}; exact lookup {per_lookup:?}; one update {applied:?}; \
         changed names {diffed:?} ({} names); old version dropped in {dropped:?}",
        new.node_count(),
        changed.len()
    );
    assert_eq!(
        changed.len(),
        3,
        "h777, new.name and its empty parent name: {changed:?}"
    );
}

/// Memory and time of reloading a changed file of a million records while
/// the old version is served, and of diffing the two versions (what a
/// reload does to update only the changed names' XDP answers), in release mode:
/// `cargo test --release -p dns-server --lib reload_of_a_big_zone -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: a million records, run by hand in release mode"]
fn reload_of_a_big_zone() {
    use std::time::Instant;

    use crate::zone::source::ReadLimits;

    fn status(field: &str) -> u64 {
        let text = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = text.lines().find(|l| l.starts_with(field)).expect("field");
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("kB")
    }
    let text = big_zone_text();
    let dir = test_support::TempDir::new("big-reload");
    let file = dir.path().join("big.zone");
    std::fs::write(&file, &text).expect("written");
    let changed_text = text.replace("h777 A 10.0.3.9\n", "h777 A 192.0.2.77\n");
    drop(text);
    let limits = ReadLimits::default();
    crate::service::tune_allocator();
    let before = status("VmRSS:");
    let (old, _) = load::from_file_read(&origin(), &file, &limits, None).expect("loads");
    crate::service::release_freed_memory();
    let steady = status("VmRSS:") - before;
    std::fs::write(&file, &changed_text).expect("rewritten");
    drop(changed_text);
    std::fs::write("/proc/self/clear_refs", "5").expect("peak reset");
    let base = status("VmRSS:");
    let started = Instant::now();
    let (new, _) = load::from_file_read(&origin(), &file, &limits, Some(&old)).expect("reloads");
    let reloaded = started.elapsed();
    let peak = status("VmHWM:") - base + steady;
    let started = Instant::now();
    let changed = Zone::changed_names(&old, &new);
    let diffed = started.elapsed();
    eprintln!(
        "1M records: steady {} MiB; reload {reloaded:?}, peak {} MiB ({:.2}x steady); \
         diff of two loads {diffed:?} ({} changed)",
        steady / 1024,
        peak / 1024,
        peak as f64 / steady as f64,
        changed.len()
    );
    assert_eq!(changed.len(), 1, "h777 only: {changed:?}");
}

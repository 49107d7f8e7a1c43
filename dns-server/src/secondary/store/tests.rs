//! The copy on disk: written, read back, journal replayed, torn and compacted.

use std::path::Path;

use super::*;

const ZONE: &str = "$ORIGIN example.\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\nwww TXT \"hello world\" \"two\"\nMixed.Case AAAA 2001:db8::1\n";

fn origin() -> Name {
    Name::parse("example.", None).expect("name")
}

fn zone() -> Zone {
    load::from_str(&origin(), ZONE, Path::new("test.zone")).expect("zone")
}

fn limits() -> ReadLimits {
    ReadLimits::default()
}

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dns-secondary-store-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("temp dir");
    dir.join("example.zone")
}

fn soa(serial: u32) -> Change {
    let text = format!("@ 300 SOA ns admin {serial} 3600 600 86400 300\n");
    change_of(parse_str(&text, Path::new("t"), &origin()).expect("soa").remove(0))
}

fn txt(owner: &str, text: &str) -> Change {
    let line = format!("{owner} 300 TXT \"{text}\"\n");
    change_of(parse_str(&line, Path::new("t"), &origin()).expect("txt").remove(0))
}

fn delta(from: u32, to: u32, remove: Vec<Change>, add: Vec<Change>) -> Delta {
    let mut update = Update::default();
    update.remove.push(soa(from));
    update.remove.extend(remove);
    update.add.push(soa(to));
    update.add.extend(add);
    Delta { from, to, update }
}

fn same_records(a: &Zone, b: &Zone) -> bool {
    zone_text(a) == zone_text(b)
}

#[test]
fn a_zone_reads_back_byte_for_byte() {
    let file = temp("roundtrip");
    let z = zone();
    write_zone(&file, &z).expect("written");
    let stored = load(&origin(), &file, &limits()).expect("reads").expect("there");
    assert_eq!(stored.replayed, 0);
    assert!(same_records(&stored.zone, &z), "{}", zone_text(&stored.zone));
    assert!(zone_text(&z).contains("Mixed.Case.example."), "owner case kept");
    assert!(
        load(&origin(), &file.with_file_name("none.zone"), &limits())
            .expect("fine")
            .is_none()
    );
    let _ = fs::remove_dir_all(file.parent().expect("dir"));
}

#[test]
fn the_journal_is_replayed_and_a_torn_end_left_out() {
    let file = temp("journal");
    let z1 = zone();
    write_zone(&file, &z1).expect("written");
    let d2 = delta(1, 2, vec![], vec![txt("new", "two")]);
    let z2 = apply_checked(&z1, &d2).expect("applies");
    append_changes(&file, std::slice::from_ref(&d2), &z2).expect("journal");
    let d3 = delta(2, 3, vec![txt("new", "two")], vec![txt("newer", "three")]);
    let z3 = apply_checked(&z2, &d3).expect("applies");
    append_changes(&file, std::slice::from_ref(&d3), &z3).expect("journal");

    let stored = load(&origin(), &file, &limits()).expect("reads").expect("there");
    assert_eq!((stored.zone.serial, stored.replayed), (3, 2));
    assert!(same_records(&stored.zone, &z3));

    // A crash in the middle of the last change: the one before stands.
    let journal = journal_path(&file);
    let text = fs::read_to_string(&journal).expect("journal");
    fs::write(&journal, &text[..text.len() - 10]).expect("torn");
    let stored = load(&origin(), &file, &limits()).expect("reads").expect("there");
    assert_eq!((stored.zone.serial, stored.replayed), (2, 1));
    let _ = fs::remove_dir_all(file.parent().expect("dir"));
}

#[test]
fn a_large_journal_is_compacted_into_the_zone_file() {
    let file = temp("compact");
    let mut z = zone();
    write_zone(&file, &z).expect("written");
    let big = "x".repeat(200);
    for serial in 1..400u32 {
        let d = delta(serial, serial + 1, vec![], vec![txt(&format!("n{serial}"), &big)]);
        z = apply_checked(&z, &d).expect("applies");
        append_changes(&file, std::slice::from_ref(&d), &z).expect("journal");
    }
    let journal_len = fs::metadata(journal_path(&file)).map_or(0, |m| m.len());
    assert!(journal_len <= JOURNAL_MIN_COMPACT.max(fs::metadata(&file).expect("file").len() / 2));
    let stored = load(&origin(), &file, &limits()).expect("reads").expect("there");
    assert_eq!(stored.zone.serial, 400);
    assert!(stored.replayed < 399, "the zone file was rewritten on the way");
    assert!(same_records(&stored.zone, &z));
    let _ = fs::remove_dir_all(file.parent().expect("dir"));
}

#[test]
fn a_change_removing_what_is_not_there_is_refused() {
    let z = zone();
    let d = delta(1, 2, vec![txt("www", "not there")], vec![]);
    let e = apply_checked(&z, &d).expect_err("refused");
    assert!(e.contains("does not have"), "{e}");
    let d = delta(7, 8, vec![], vec![]);
    assert!(apply_checked(&z, &d).is_err(), "from another serial");
}

use std::sync::Arc;

use super::*;
use crate::zone::load;

const ZONE: &str = "$ORIGIN example.\n$TTL 300\n\
@ SOA ns1 hostmaster 4294967295 3600 600 86400 60\n\
@ NS ns1\n\
ns1 A 192.0.2.1\n\
www A 192.0.2.80\n\
www A 192.0.2.81\n\
alias CNAME www\n";

fn base() -> Arc<Zone> {
    let origin = Name::parse("example.", None).expect("origin");
    Arc::new(load::from_str(&origin, ZONE, std::path::Path::new("t")).expect("zone"))
}

fn name(text: &str) -> Name {
    Name::parse(text, None).expect("name")
}

fn lines(t: &Transaction) -> Vec<String> {
    t.diff_text().lines().map(String::from).collect()
}

#[test]
fn set_then_unset_leaves_no_trace_and_the_serial_wraps() {
    let zone = base();
    let mut t = Transaction::new(zone.clone(), 1);
    assert!(t.is_empty());
    t.set(&name("new.example."), rtype::A, None, Box::new([192, 0, 2, 9]))
        .expect("set");
    assert_eq!(lines(&t), ["+new.example. 3600 IN A 192.0.2.9"]);
    t.unset(&name("new.example."), Some(rtype::A), None).expect("unset");
    assert!(t.is_empty(), "{:?}", lines(&t));

    t.unset(&name("www.example."), Some(rtype::A), Some(&[192, 0, 2, 80]))
        .expect("one record");
    t.set(&name("www.example."), rtype::A, Some(60), Box::new([192, 0, 2, 82]))
        .expect("set with a TTL");
    assert_eq!(
        lines(&t),
        [
            "-www.example. 300 IN A 192.0.2.80",
            "-www.example. 300 IN A 192.0.2.81",
            "+www.example. 60 IN A 192.0.2.81",
            "+www.example. 60 IN A 192.0.2.82",
        ],
        "the new TTL is the whole RRset's"
    );
    let new = zone.apply(&t.update()).expect("applies");
    assert_eq!(new.serial, 0, "RFC 1982: 2^32 - 1 plus one is 0");
    let www = new.node(name("www.example.").as_wire()).expect("www");
    let a = www.get(rtype::A).expect("A");
    assert_eq!((a.ttl, a.len()), (60, 2));
}

#[test]
fn errors_and_checks_come_where_knot_gives_them() {
    let zone = base();
    let mut t = Transaction::new(zone.clone(), 1);
    let error = t.unset(&name("nope.example."), None, None).expect_err("nothing there");
    assert!(error.contains("no records at nope.example."), "{error}");
    let error = t
        .unset(&name("www.example."), Some(rtype::A), Some(&[192, 0, 2, 99]))
        .expect_err("no such record");
    assert!(error.contains("no such A record"), "{error}");

    // A CNAME beside other data passes set, and is refused at commit.
    t.set(&name("alias.example."), rtype::A, None, Box::new([192, 0, 2, 5]))
        .expect("set");
    let error = zone.apply(&t.update()).expect_err("CNAME and other data");
    assert!(error.message.contains("alias.example."), "{}", error.message);
    // Replacing it (unset the owner, then set) is fine.
    t.unset(&name("alias.example."), None, None).expect("whole owner");
    t.set(&name("alias.example."), rtype::A, None, Box::new([192, 0, 2, 5]))
        .expect("set");
    let new = zone.apply(&t.update()).expect("applies");
    let alias = new.node(name("alias.example.").as_wire()).expect("alias");
    assert!(alias.has(rtype::A) && !alias.has(rtype::CNAME));

    // An SOA set by the transaction is kept as given: no increment.
    let mut t = Transaction::new(zone.clone(), 1);
    let soa = zone.soa().rdatas().next().expect("soa").to_vec();
    t.set(
        &name("example."),
        rtype::SOA,
        None,
        with_serial(&soa, 7).expect("soa").into(),
    )
    .expect("set SOA");
    assert_eq!(zone.apply(&t.update()).expect("applies").serial, 7);
    // Removing the apex NS is refused at commit.
    let mut t = Transaction::new(zone.clone(), 1);
    t.unset(&name("example."), Some(rtype::NS), None).expect("unset");
    assert!(zone.apply(&t.update()).is_err(), "no NS at the apex");
}

//! The stream parser on whole zones, difference sequences and broken streams.

use super::*;

fn name(text: &str) -> Name {
    Name::parse(text, None).expect("name")
}

fn soa(serial: u32) -> XfrRecord {
    let mut rdata = name("ns.example.").as_wire().to_vec();
    rdata.extend_from_slice(name("admin.example.").as_wire());
    for v in [serial, 3600, 600, 86400, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    XfrRecord {
        owner: name("Example."),
        rtype: rtype::SOA,
        class: 1,
        ttl: 3600,
        rdata: rdata.into(),
    }
}

fn a(owner: &str, last: u8) -> XfrRecord {
    XfrRecord {
        owner: name(owner),
        rtype: rtype::A,
        class: 1,
        ttl: 60,
        rdata: vec![192, 0, 2, last].into(),
    }
}

fn ns(target: &str) -> XfrRecord {
    XfrRecord {
        owner: name("example."),
        rtype: rtype::NS,
        class: 1,
        ttl: 3600,
        rdata: name(target).as_wire().into(),
    }
}

fn parser(max_bytes: u64, previous: Option<Arc<Zone>>) -> StreamParser {
    StreamParser::new(
        name("example."),
        max_bytes,
        previous,
        Arc::from(Path::new("AXFR, record")),
    )
}

fn parse(records: Vec<XfrRecord>) -> Result<Transfer, StreamError> {
    parse_replacing(records, None)
}

fn parse_replacing(records: Vec<XfrRecord>, previous: Option<Arc<Zone>>) -> Result<Transfer, StreamError> {
    let mut p = parser(1 << 20, previous);
    for r in &records {
        p.push(r.as_ref())?;
    }
    p.finish()
}

fn whole(records: Vec<XfrRecord>) -> Result<Zone, ZoneError> {
    let t = parse(records).expect("a good stream");
    let Transfer::Full(whole) = t else { panic!("{t:?}") };
    whole.finish()
}

#[test]
fn a_whole_zone() {
    let t = parse(vec![
        soa(5),
        ns("ns.example."),
        a("www.example.", 1),
        a("mail.example.", 2),
        soa(5),
    ])
    .expect("good");
    let Transfer::Full(whole) = t else { panic!("{t:?}") };
    assert_eq!(whole.records, 4, "the SOA once, and the records");
    let zone = whole.finish().expect("valid");
    assert_eq!(zone.serial, 5);
    let www = zone.node(name("www.example.").as_wire()).expect("www");
    assert_eq!(
        www.get(rtype::A).and_then(|s| s.first().map(<[u8]>::to_vec)),
        Some(vec![192, 0, 2, 1])
    );
}

#[test]
fn a_whole_zone_is_checked_as_a_zone_file_is() {
    // No NS at the apex: the builder's checks refuse it, naming the stream.
    let error = whole(vec![soa(5), a("www.example.", 1), soa(5)]).expect_err("no NS");
    assert!(error.to_string().contains("no NS records"), "{error}");
    // A CNAME beside other data, record 3 of the stream.
    let mut cname = a("www.example.", 1);
    cname.rtype = rtype::CNAME;
    cname.rdata = name("mail.example.").as_wire().into();
    let error = whole(vec![soa(5), ns("ns.example."), a("www.example.", 1), cname, soa(5)]).expect_err("CNAME and A");
    assert!(error.to_string().contains("AXFR, record"), "{error}");
    // Nothing but the SOA, twice.
    assert!(whole(vec![soa(5), soa(5)]).is_err());
}

#[test]
fn a_whole_zone_shares_the_unchanged_names_of_the_version_it_replaces() {
    let first = whole(vec![
        soa(5),
        ns("ns.example."),
        a("www.example.", 1),
        a("mail.example.", 2),
        soa(5),
    ])
    .expect("valid");
    let first = Arc::new(first);
    let t = parse_replacing(
        vec![
            soa(6),
            ns("ns.example."),
            a("www.example.", 9),
            a("mail.example.", 2),
            soa(6),
        ],
        Some(first.clone()),
    )
    .expect("good");
    let Transfer::Full(whole) = t else { panic!("{t:?}") };
    let second = whole.finish().expect("valid");
    let node = |z: &Zone, n: &str| z.node(name(n).as_wire()).cloned().expect("node");
    assert!(
        node(&second, "mail.example.").ptr_eq(&node(&first, "mail.example.")),
        "unchanged: shared"
    );
    assert!(
        !node(&second, "www.example.").ptr_eq(&node(&first, "www.example.")),
        "changed: new"
    );
}

#[test]
fn difference_sequences() {
    // RFC 1995 7's example shape: 1 -> 2 -> 3.
    let t = parse(vec![
        soa(3),
        soa(1),
        a("old.example.", 1),
        soa(2),
        a("new.example.", 2),
        soa(2),
        soa(3),
        a("newer.example.", 3),
        soa(3),
    ])
    .expect("good");
    let Transfer::Incremental(deltas) = t else {
        panic!("{t:?}")
    };
    assert_eq!(
        deltas.iter().map(|d| (d.from, d.to)).collect::<Vec<_>>(),
        [(1, 2), (2, 3)]
    );
    assert_eq!(deltas[0].update.remove.len(), 2, "old SOA and a record");
    assert_eq!(deltas[0].update.add.len(), 2, "new SOA and a record");
    assert_eq!(deltas[1].update.remove.len(), 1, "only the SOA");
}

#[test]
fn a_lone_soa_is_up_to_date() {
    assert!(matches!(parse(vec![soa(7)]), Ok(Transfer::UpToDate(7))));
}

#[test]
fn broken_streams() {
    assert_eq!(
        parse(vec![a("www.example.", 1), soa(1)]).err(),
        Some(StreamError::FirstNotSoa)
    );
    assert_eq!(parse(vec![]).err(), Some(StreamError::Unfinished));
    assert_eq!(
        parse(vec![soa(5), a("www.example.", 1)]).err(),
        Some(StreamError::Unfinished),
        "no final SOA"
    );
    assert_eq!(
        parse(vec![soa(5), a("www.example.", 1), soa(5), a("x.example.", 1)]).err(),
        Some(StreamError::AfterEnd)
    );
    assert!(matches!(
        parse(vec![soa(5), a("www.other.", 1), soa(5)]),
        Err(StreamError::OutOfZone(_))
    ));
    assert!(matches!(
        parse(vec![soa(5), a("www.example.", 1), soa(6)]),
        Err(StreamError::BadSequence(_))
    ));
    // A change that goes backwards, and one that does not follow the previous.
    assert!(matches!(
        parse(vec![soa(3), soa(2), soa(1), soa(3)]),
        Err(StreamError::BadSequence(_))
    ));
    assert!(matches!(
        parse(vec![soa(4), soa(1), soa(2), soa(3), soa(4), soa(4)]),
        Err(StreamError::BadSequence(_))
    ));
}

#[test]
fn a_stream_past_its_limit_stops() {
    let mut p = parser(1000, None);
    p.push(soa(1).as_ref()).expect("first");
    let mut error = None;
    for i in 0..1000u32 {
        if let Err(e) = p.push(a(&format!("h{i}.example."), 1).as_ref()) {
            error = Some((i, e));
            break;
        }
    }
    let (at, e) = error.expect("stopped");
    assert_eq!(e, StreamError::TooLarge(1000));
    assert!(at < 50, "stopped early: {at}");
}

//! Every proof shape on zones signed for these tests (testdata/denial-*):
//! NSEC by ldns-signzone, NSEC3 (salt, 5 iterations) by ldns-signzone, and
//! NSEC3 Opt-Out by BIND's dnssec-signzone, which leaves the unsigned
//! delegation `deleg.example.` out of the chain. Each is also broken.
//!
//! The zone: `www` and `ns` (A), `*.wild` (A), `a.b.ent` (A, so `b.ent` and
//! `ent` are empty non-terminals), `cname` (CNAME), `deleg` (NS, no DS) and
//! `secdeleg` (NS and DS).

use super::*;

fn records(text: &str) -> Vec<CachedRecord> {
    let mut all = fixture_records(text);
    all.retain(|r| matches!(r.rtype, rtype::NSEC | rtype::NSEC3));
    all
}

fn nsec() -> Vec<CachedRecord> {
    records(include_str!("testdata/denial-nsec.signed"))
}

fn nsec3() -> Vec<CachedRecord> {
    records(include_str!("testdata/denial-nsec3.signed"))
}

fn optout() -> Vec<CachedRecord> {
    records(include_str!("testdata/denial-optout.signed"))
}

fn name(text: &str) -> Name {
    Name::parse(text, None).expect("name")
}

fn proof(records: &[CachedRecord]) -> Proof {
    Proof::new(&name("example."), records)
}

/// Only the NSEC records owned by `owners`.
fn only(records: &[CachedRecord], owners: &[&str]) -> Vec<CachedRecord> {
    records
        .iter()
        .filter(|r| owners.iter().any(|o| same(&r.owner, &name(o))))
        .cloned()
        .collect()
}

/// Every NSEC3 record but the one whose span holds `name`'s hash.
fn without_cover(records: &[CachedRecord], of: &str) -> Vec<CachedRecord> {
    let full = proof(records);
    let cover = full
        .nsec3_cover(&name(of))
        .expect("a record covers it")
        .owner_hash
        .clone();
    records
        .iter()
        .filter(|r| read_nsec3(r).is_none_or(|n| n.owner_hash != cover))
        .cloned()
        .collect()
}

/// Every NSEC3 record with `edit` applied to its RDATA.
fn edited(records: &[CachedRecord], edit: impl Fn(&mut Vec<u8>)) -> Vec<CachedRecord> {
    records
        .iter()
        .cloned()
        .map(|mut r| {
            edit(&mut r.rdata);
            r
        })
        .collect()
}

const SECURE: Verdict = Verdict::Secure;
const BOGUS: Verdict = Verdict::Bogus(ede::BOGUS);

#[test]
fn bitmaps_are_read_by_window() {
    // Window 0: A (1), NS (2); window 1: CAA (257).
    let bitmap = [0, 1, 0x60, 1, 1, 0x40];
    assert!(has_type(&bitmap, rtype::A) && has_type(&bitmap, rtype::NS));
    assert!(has_type(&bitmap, 257));
    assert!(!has_type(&bitmap, rtype::SOA) && !has_type(&bitmap, 256) && !has_type(&bitmap, rtype::DS));
    assert!(!has_type(&[0, 40], rtype::A), "a truncated bitmap holds nothing");
}

#[test]
fn nsec_name_errors() {
    let all = nsec();
    // nope. sorts between a.b.ent. and ns.; *.example. between the apex and cname.
    assert_eq!(proof(&all).nxdomain(&name("nope.example.")), SECURE);
    let two = only(&all, &["a.b.ent.example.", "example."]);
    assert_eq!(proof(&two).nxdomain(&name("nope.example.")), SECURE);
    assert_eq!(
        proof(&only(&all, &["a.b.ent.example."])).nxdomain(&name("nope.example.")),
        BOGUS,
        "without the wildcard's denial"
    );
    assert_eq!(
        proof(&only(&all, &["www.example.", "example."])).nxdomain(&name("nope.example.")),
        BOGUS,
        "a range that does not cover the name"
    );
    assert_eq!(proof(&all).nxdomain(&name("www.example.")), BOGUS, "the name exists");
    assert_eq!(
        proof(&all).nxdomain(&name("x.deleg.example.")),
        BOGUS,
        "an NSEC at a delegation proves nothing below it"
    );
    assert_eq!(
        proof(&all).nxdomain(&name("zzz.example.")),
        SECURE,
        "past the last name"
    );
    assert_eq!(
        proof(&[]).nxdomain(&name("nope.example.")),
        Verdict::Bogus(ede::NSEC_MISSING)
    );
    let other_zone = Proof::new(&name("other."), &all);
    assert_eq!(
        other_zone.nxdomain(&name("nope.other.")),
        Verdict::Bogus(ede::NSEC_MISSING),
        "another zone's records"
    );
}

#[test]
fn nsec_no_data() {
    let all = nsec();
    assert_eq!(proof(&all).nodata(&name("www.example."), rtype::AAAA), SECURE);
    assert_eq!(
        proof(&all).nodata(&name("www.example."), rtype::A),
        BOGUS,
        "the bitmap has A"
    );
    assert_eq!(
        proof(&all).nodata(&name("cname.example."), rtype::AAAA),
        BOGUS,
        "the bitmap has CNAME"
    );
    assert_eq!(
        proof(&only(&all, &["deleg.example."])).nodata(&name("b.ent.example."), rtype::A),
        SECURE,
        "an empty non-terminal"
    );
    assert_eq!(
        proof(&only(&all, &["ns.example."])).nodata(&name("b.ent.example."), rtype::A),
        BOGUS
    );
    let wild = only(&all, &["*.wild.example."]);
    assert_eq!(
        proof(&wild).nodata(&name("x.wild.example."), rtype::AAAA),
        SECURE,
        "a wildcard without the type"
    );
    assert_eq!(proof(&wild).nodata(&name("x.wild.example."), rtype::A), BOGUS);
    assert_eq!(
        proof(&only(&all, &["secdeleg.example."])).nodata(&name("x.wild.example."), rtype::AAAA),
        BOGUS,
        "the wildcard's own NSEC is missing"
    );
}

#[test]
fn nsec_ds_denials_come_from_the_parent_side() {
    let all = nsec();
    assert_eq!(proof(&all).nodata(&name("deleg.example."), rtype::DS), SECURE);
    assert_eq!(proof(&all).nodata(&name("secdeleg.example."), rtype::DS), BOGUS);
    assert_eq!(
        proof(&all).nodata(&name("example."), rtype::DS),
        BOGUS,
        "the child's apex NSEC"
    );
    assert_eq!(
        proof(&all).nodata(&name("deleg.example."), rtype::A),
        BOGUS,
        "a delegation's NSEC denies only DS"
    );
}

#[test]
fn nsec_wildcard_expansions() {
    let all = nsec();
    let wild = only(&all, &["*.wild.example."]);
    assert_eq!(proof(&wild).wildcard_answer(&name("x.wild.example."), 2), SECURE);
    assert_eq!(proof(&wild).wildcard_answer(&name("a.b.wild.example."), 2), SECURE);
    assert_eq!(
        proof(&only(&all, &["www.example."])).wildcard_answer(&name("x.wild.example."), 2),
        BOGUS
    );
    assert_eq!(
        proof(&[]).wildcard_answer(&name("x.wild.example."), 2),
        Verdict::Bogus(ede::NSEC_MISSING)
    );
}

#[test]
fn nsec3_name_errors() {
    let all = nsec3();
    assert_eq!(proof(&all).nxdomain(&name("nope.example.")), SECURE);
    assert_eq!(
        proof(&without_cover(&all, "*.example.")).nxdomain(&name("nope.example.")),
        BOGUS,
        "without the wildcard's denial"
    );
    assert_eq!(
        proof(&without_cover(&all, "nope.example.")).nxdomain(&name("nope.example.")),
        BOGUS,
        "without the next closer name's denial"
    );
    assert_eq!(proof(&all).nxdomain(&name("www.example.")), BOGUS, "the name exists");
    assert_eq!(
        proof(&all).nxdomain(&name("x.nope.example.")),
        SECURE,
        "the closest encloser is two labels up"
    );
    assert_eq!(
        proof(&all).nxdomain(&name("x.deleg.example.")),
        BOGUS,
        "a delegation is no closest encloser"
    );
}

#[test]
fn nsec3_hashes_must_match() {
    let all = nsec3();
    assert_eq!(proof(&all).nodata(&name("www.example."), rtype::AAAA), SECURE);
    // Another salt: every hash differs, nothing matches or covers as it should.
    let resalted = edited(&all, |rdata| rdata[5] ^= 0xff);
    assert_eq!(proof(&resalted).nodata(&name("www.example."), rtype::AAAA), BOGUS);
    // One owner label altered: www's record no longer matches www.
    let www = nsec3::hash(
        name("www.example.").as_wire(),
        &nsec3::Params::of(&all[0].rdata).expect("params"),
    );
    let label = data_encoding::BASE32_DNSSEC.encode(&www);
    let renamed: Vec<CachedRecord> = all
        .iter()
        .cloned()
        .map(|mut r| {
            if r.owner.to_lowercase().as_wire()[1..].starts_with(label.as_bytes()) {
                let mut wire = r.owner.as_wire().to_vec();
                wire[1] = if wire[1] == b'0' { b'1' } else { b'0' };
                r.owner = Name::from_wire(&wire).expect("name");
            }
            r
        })
        .collect();
    assert_ne!(renamed, all, "expected www's record to be renamed");
    assert_eq!(proof(&renamed).nodata(&name("www.example."), rtype::AAAA), BOGUS);
}

#[test]
fn nsec3_no_data() {
    let all = nsec3();
    assert_eq!(
        proof(&all).nodata(&name("www.example."), rtype::A),
        BOGUS,
        "the bitmap has A"
    );
    assert_eq!(proof(&all).nodata(&name("cname.example."), rtype::A), BOGUS, "CNAME");
    assert_eq!(
        proof(&all).nodata(&name("b.ent.example."), rtype::A),
        SECURE,
        "an empty non-terminal"
    );
    assert_eq!(
        proof(&all).nodata(&name("x.wild.example."), rtype::AAAA),
        SECURE,
        "wildcard"
    );
    assert_eq!(proof(&all).nodata(&name("x.wild.example."), rtype::A), BOGUS);
    assert_eq!(proof(&all).nodata(&name("deleg.example."), rtype::DS), SECURE);
    assert_eq!(proof(&all).nodata(&name("secdeleg.example."), rtype::DS), BOGUS);
    assert_eq!(proof(&all).nodata(&name("deleg.example."), rtype::A), BOGUS);
    assert_eq!(
        proof(&all).nodata(&name("nope.example."), rtype::DS),
        BOGUS,
        "no DS by a span without Opt-Out"
    );
    assert_eq!(proof(&all).wildcard_answer(&name("x.wild.example."), 2), SECURE);
    assert_eq!(
        proof(&without_cover(&all, "x.wild.example.")).wildcard_answer(&name("x.wild.example."), 2),
        BOGUS
    );
}

#[test]
fn nsec3_opt_out_makes_unsigned_delegations_insecure_and_nothing_else() {
    let all = optout();
    assert!(
        proof(&all).nsec3_match(&name("deleg.example.")).is_none(),
        "expected BIND to leave the unsigned delegation out"
    );
    assert_eq!(
        proof(&all).nodata(&name("deleg.example."), rtype::DS),
        Verdict::Insecure,
        "an Opt-Out span"
    );
    assert_eq!(proof(&all).nodata(&name("secdeleg.example."), rtype::DS), BOGUS);
    assert_eq!(
        proof(&all).nxdomain(&name("nope.example.")),
        Verdict::Insecure,
        "a name in an Opt-Out span may be an unsigned delegation"
    );
    assert_eq!(
        proof(&all).nodata(&name("nope.example."), rtype::A),
        BOGUS,
        "Opt-Out proves no data but DS"
    );
    // The flag cleared: the same span now says there is no such delegation at all.
    let cleared = edited(&all, |rdata| rdata[1] &= !OPT_OUT);
    assert_eq!(proof(&cleared).nodata(&name("deleg.example."), rtype::DS), BOGUS);
    assert_eq!(proof(&cleared).nxdomain(&name("nope.example.")), SECURE);
}

#[test]
fn nsec3_beyond_the_iteration_limit_or_hash_is_insecure() {
    let many = edited(&nsec3(), |rdata| rdata[2..4].copy_from_slice(&200u16.to_be_bytes()));
    assert_eq!(proof(&many).nxdomain(&name("nope.example.")), Verdict::Insecure);
    assert_eq!(proof(&many).nodata(&name("www.example."), rtype::A), Verdict::Insecure);
    let limit = edited(&nsec3(), |rdata| {
        rdata[2..4].copy_from_slice(&MAX_NSEC3_ITERATIONS.to_be_bytes())
    });
    assert_eq!(
        proof(&limit).nxdomain(&name("nope.example.")),
        BOGUS,
        "at the limit it is checked (and these hashes no longer hold)"
    );
    let unknown = edited(&nsec3(), |rdata| rdata[0] = 2);
    assert_eq!(proof(&unknown).nxdomain(&name("nope.example.")), Verdict::Insecure);
}

#[test]
fn an_insecure_delegation_needs_a_delegation() {
    for (records, deleg) in [(nsec(), SECURE), (nsec3(), SECURE), (optout(), Verdict::Insecure)] {
        assert_eq!(proof(&records).insecure_delegation(&name("deleg.example.")), deleg);
        assert_eq!(
            proof(&records).insecure_delegation(&name("secdeleg.example.")),
            BOGUS,
            "it has a DS"
        );
        assert_eq!(
            proof(&records).insecure_delegation(&name("www.example.")),
            BOGUS,
            "no zone cut there: no DS, but no child either"
        );
        assert_eq!(proof(&records).insecure_delegation(&name("example.")), BOGUS, "an apex");
    }
    assert_eq!(
        proof(&nsec()).insecure_delegation(&name("nope.example.")),
        BOGUS,
        "a name that does not exist"
    );
    assert_eq!(
        proof(&[]).insecure_delegation(&name("deleg.example.")),
        Verdict::Bogus(ede::NSEC_MISSING)
    );
}

#[test]
fn a_proof_may_not_hash_without_end() {
    // 40 labels above a name in the zone: its closest-encloser proof would
    // hash each ancestor; past the limit it fails instead.
    let long = format!("{}nope.example.", "a.".repeat(40));
    assert_eq!(proof(&nsec3()).nxdomain(&name(&long)), BOGUS);
    let short = format!("{}nope.example.", "a.".repeat(8));
    assert_eq!(proof(&nsec3()).nxdomain(&name(&short)), SECURE, "an honest depth");
}

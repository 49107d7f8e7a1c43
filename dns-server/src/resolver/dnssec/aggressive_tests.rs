//! Tests of the validated-cache synthesis: denials from NSEC and NSEC3
//! ranges, and answers expanded from cached wildcards.

use super::*;

/// The NSEC-signed denial fixture's records (see denial_tests.rs).
fn fixture() -> Vec<CachedRecord> {
    super::super::denial::fixture_records(include_str!("testdata/denial-nsec.signed"))
}

fn name(text: &str) -> Name {
    Name::parse(text, None).expect("name")
}

/// The records a server sends with the NXDOMAIN for nope.example.: the
/// NSEC covering it (a.b.ent. to ns.), the apex's (covering *.example.),
/// their RRSIGs and the SOA's.
fn nope_answer(all: &[CachedRecord]) -> (CachedRecord, Vec<CachedRecord>) {
    let soa = all.iter().find(|r| r.rtype == rtype::SOA).expect("SOA").clone();
    let owners = [name("a.b.ent.example."), name("example.")];
    let proof = all
        .iter()
        .filter(|r| {
            (r.rtype == rtype::NSEC && owners.contains(&r.owner.to_lowercase()))
                || (r.rtype == rtype::RRSIG
                    && (covered(r) == Some(rtype::NSEC) && owners.contains(&r.owner.to_lowercase())
                        || covered(r) == Some(rtype::SOA)))
        })
        .cloned()
        .collect();
    (soa, proof)
}

#[test]
fn names_in_a_cached_range_are_denied_without_asking() {
    let all = fixture();
    let (soa, proof) = nope_answer(&all);
    let cache = NsecCache::default();
    let now = Instant::now();
    cache.store(Some(&soa), &proof, 300, now);
    let zone = name("example.");
    assert_eq!(cache.zone_of(&name("x.y.example.")), Some(zone.clone()));
    assert_eq!(cache.zone_of(&name("other.")), None);

    // Another name in the same range, and below it.
    for other in ["nope2.example.", "new.example.", "a.nope.example."] {
        let s = cache.synthesise(&zone, &name(other), rtype::A, now).expect(other);
        assert!(s.nxdomain, "{other}");
        assert_eq!(s.ttl, 300);
        assert!(s.proof.iter().any(|r| r.rtype == rtype::NSEC));
        assert!(s.proof.iter().any(|r| covered(r) == Some(rtype::SOA)));
    }
    // The apex's NSEC says it has no AAAA.
    let s = cache
        .synthesise(&zone, &zone, rtype::AAAA, now)
        .expect("NODATA at the apex");
    assert!(!s.nxdomain);
    // Names outside the cached ranges, types the bitmap has, and DS: asked.
    assert!(cache.synthesise(&zone, &name("www.example."), rtype::A, now).is_none());
    assert!(cache.synthesise(&zone, &zone, rtype::SOA, now).is_none());
    assert!(
        cache
            .synthesise(&zone, &name("nope.example."), rtype::DS, now)
            .is_none()
    );
    // Nor after the TTL.
    let later = now + Duration::from_secs(301);
    assert!(
        cache
            .synthesise(&zone, &name("nope2.example."), rtype::A, later)
            .is_none()
    );
}

#[test]
fn unsigned_ranges_are_not_kept() {
    let all = fixture();
    let (soa, proof) = nope_answer(&all);
    let unsigned: Vec<CachedRecord> = proof.into_iter().filter(|r| r.rtype != rtype::RRSIG).collect();
    let cache = NsecCache::default();
    cache.store(Some(&soa), &unsigned, 300, Instant::now());
    assert_eq!(cache.zone_of(&name("nope.example.")), None);
}

/// Every NSEC3 record of an NSEC3 fixture, with the RRSIGs over them and
/// over the SOA, and the SOA: all a resolver would have kept after
/// enough negative answers.
fn nsec3_answers(text: &str) -> (CachedRecord, Vec<CachedRecord>) {
    let all = super::super::denial::fixture_records(text);
    let soa = all.iter().find(|r| r.rtype == rtype::SOA).expect("SOA").clone();
    let proof = all
        .iter()
        .filter(|r| {
            r.rtype == rtype::NSEC3
                || (r.rtype == rtype::RRSIG && matches!(covered(r), Some(rtype::NSEC3 | rtype::SOA)))
        })
        .cloned()
        .collect();
    (soa, proof)
}

#[test]
fn names_an_nsec3_chain_proves_absent_are_denied_without_asking() {
    let (soa, proof) = nsec3_answers(include_str!("testdata/denial-nsec3.signed"));
    let cache = NsecCache::default();
    let now = Instant::now();
    cache.store(Some(&soa), &proof, 300, now);
    let zone = name("example.");
    assert_eq!(cache.zone_of(&name("nope.example.")), Some(zone.clone()));
    for nx in ["nope.example.", "NoPe2.example.", "x.nope.example.", "a.b.c.example."] {
        let s = cache.synthesise(&zone, &name(nx), rtype::A, now).expect(nx);
        assert!(s.nxdomain, "{nx}");
        assert!(s.proof.iter().any(|r| r.rtype == rtype::NSEC3), "{nx}: with its NSEC3");
        assert!(
            s.proof.iter().any(|r| covered(r) == Some(rtype::NSEC3)),
            "{nx}: and RRSIGs"
        );
    }
    // NODATA: a matching NSEC3, an empty non-terminal's, a wildcard's.
    for (nodata, qtype) in [
        ("www.example.", rtype::AAAA),
        ("b.ent.example.", rtype::A),
        ("x.wild.example.", rtype::AAAA),
    ] {
        let s = cache.synthesise(&zone, &name(nodata), qtype, now).expect(nodata);
        assert!(!s.nxdomain, "{nodata}");
    }
    // What exists is asked for: a type the bitmap has, a wildcard's answer, DS.
    assert!(cache.synthesise(&zone, &name("www.example."), rtype::A, now).is_none());
    assert!(
        cache
            .synthesise(&zone, &name("x.wild.example."), rtype::A, now)
            .is_none()
    );
    assert!(
        cache
            .synthesise(&zone, &name("nope.example."), rtype::DS, now)
            .is_none()
    );
    // Nor below a delegation, nor after the TTL.
    assert!(
        cache
            .synthesise(&zone, &name("x.deleg.example."), rtype::A, now)
            .is_none()
    );
    let later = now + Duration::from_secs(301);
    assert!(
        cache
            .synthesise(&zone, &name("nope.example."), rtype::A, later)
            .is_none()
    );
}

#[test]
fn an_nsec3_chain_with_a_span_missing_proves_nothing_there() {
    let (soa, proof) = nsec3_answers(include_str!("testdata/denial-nsec3.signed"));
    let zone = name("example.");
    let params =
        nsec3::Params::of(&proof.iter().find(|r| r.rtype == rtype::NSEC3).expect("NSEC3").rdata).expect("params");
    // Take away the span covering the wildcard at the apex.
    let wildcard = nsec3::hash(name("*.example.").as_wire(), &params);
    let full = NsecCache::default();
    full.store(Some(&soa), &proof, 300, Instant::now());
    let (owner, _) = {
        let map = full.0.lock().expect("lock");
        let set = map[&zone].nsec3.as_ref().expect("NSEC3 kept");
        let (owner, range) = set
            .ranges
            .range(..=wildcard)
            .next_back()
            .or_else(|| set.ranges.iter().next_back())
            .expect("a span");
        (*owner, range.records[0].owner.clone())
    };
    let label = data_encoding::BASE32_DNSSEC.encode(&owner);
    let without: Vec<CachedRecord> = proof
        .into_iter()
        .filter(|r| !r.owner.to_lowercase().as_wire()[1..].starts_with(label.as_bytes()))
        .collect();
    let cache = NsecCache::default();
    let now = Instant::now();
    cache.store(Some(&soa), &without, 300, now);
    assert!(
        cache.synthesise(&zone, &name("nope.example."), rtype::A, now).is_none(),
        "the wildcard is not proven absent"
    );
}

#[test]
fn opt_out_spans_deny_no_name() {
    let (soa, proof) = nsec3_answers(include_str!("testdata/denial-optout.signed"));
    let cache = NsecCache::default();
    let now = Instant::now();
    cache.store(Some(&soa), &proof, 300, now);
    let zone = name("example.");
    assert!(
        cache.synthesise(&zone, &name("nope.example."), rtype::A, now).is_none(),
        "an Opt-Out span may hide an unsigned delegation"
    );
    let s = cache
        .synthesise(&zone, &name("www.example."), rtype::AAAA, now)
        .expect("a matching NSEC3 still proves NODATA");
    assert!(!s.nxdomain);
}

#[test]
fn nsec3_past_the_iteration_limit_is_not_kept() {
    let (soa, mut proof) = nsec3_answers(include_str!("testdata/denial-nsec3.signed"));
    for r in proof.iter_mut().filter(|r| r.rtype == rtype::NSEC3) {
        r.rdata[2..4].copy_from_slice(&200u16.to_be_bytes());
    }
    let cache = NsecCache::default();
    let now = Instant::now();
    cache.store(Some(&soa), &proof, 300, now);
    assert!(
        cache
            .synthesise(&name("example."), &name("nope.example."), rtype::A, now)
            .is_none()
    );
}

/// The fixture's DNSKEY RDATA (for checking synthesised answers).
fn keys(all: &[CachedRecord]) -> Vec<Vec<u8>> {
    all.iter()
        .filter(|r| r.rtype == rtype::DNSKEY)
        .map(|r| r.rdata.clone())
        .collect()
}

/// What a server sends for `qname` A when `*.wild.example.` answers it:
/// the A RRset and its RRSIG owned by `qname`, and (among the sigs) the
/// denial records `proof` picks, with their RRSIGs.
fn wild_answer(
    all: &[CachedRecord],
    qname: &Name,
    proof: impl Fn(&CachedRecord) -> bool,
) -> (Vec<CachedRecord>, Vec<CachedRecord>) {
    let wildcard = name("*.wild.example.");
    let of_wildcard = |r: &&CachedRecord| r.owner.to_lowercase() == wildcard;
    let rrset = all
        .iter()
        .filter(of_wildcard)
        .filter(|r| r.rtype == rtype::A)
        .map(|r| owned_by(r, qname))
        .collect();
    let mut sigs: Vec<CachedRecord> = all
        .iter()
        .filter(of_wildcard)
        .filter(|r| r.rtype == rtype::RRSIG && covered(r) == Some(rtype::A))
        .map(|r| owned_by(r, qname))
        .collect();
    sigs.extend(all.iter().filter(|r| proof(r)).cloned());
    (rrset, sigs)
}

/// Whether `r` is an NSEC3 record or an RRSIG over one.
fn nsec3_or_sig(r: &CachedRecord) -> bool {
    r.rtype == rtype::NSEC3 || (r.rtype == rtype::RRSIG && covered(r) == Some(rtype::NSEC3))
}

/// Checks an expansion for `qname` as a validator downstream would: the
/// RRSIG (owned by `qname`, 2 labels) holds and the proof shows the next
/// closer name absent.
fn assert_valid_expansion(x: &Expansion, all: &[CachedRecord], qname: &str) {
    let (zone, qname) = (name("example."), name(qname));
    assert!(x.records.iter().all(|r| r.owner == qname && r.rdata == [192, 0, 2, 6]));
    assert!(
        x.sigs.iter().any(|s| s.owner == qname && covered(s) == Some(rtype::A)),
        "the RRSIG owned by the name asked"
    );
    assert_eq!(
        crate::resolver::validate::verify_set(&zone, &x.records, &x.sigs, &keys(all)),
        Ok(2),
        "the RRSIG holds over the expansion"
    );
    assert_eq!(
        Proof::new(&zone, &x.sigs).wildcard_answer(&qname, 2),
        Verdict::Secure,
        "the proof shows the next closer name absent"
    );
}

#[test]
fn names_under_a_validated_wildcard_are_answered_from_the_cache() {
    let all = fixture();
    let asked = name("x.wild.example.");
    // The NSEC covering x.wild.example. runs from *.wild.example. to www.example.
    let wild_nsec = name("*.wild.example.");
    let (rrset, sigs) = wild_answer(&all, &asked, |r| {
        r.owner.to_lowercase() == wild_nsec
            && (r.rtype == rtype::NSEC || (r.rtype == rtype::RRSIG && covered(r) == Some(rtype::NSEC)))
    });
    let cache = NsecCache::default();
    let now = Instant::now();
    cache.store_wildcard(&asked, &rrset, &sigs, 300, now);
    let zone = name("example.");
    assert_eq!(cache.zone_of(&name("y.wild.example.")), Some(zone.clone()));
    for other in [
        "y.wild.example.",
        "Y.Wild.EXAMPLE.",
        "a.b.wild.example.",
        "zzz.wild.example.",
    ] {
        let x = cache.expand(&zone, &name(other), rtype::A, now).expect(other);
        assert_valid_expansion(&x, &all, other);
        assert_eq!(x.ttl, 300);
        assert!(x.sigs.iter().any(|r| r.rtype == rtype::NSEC), "{other}: with its NSEC");
    }
    // A type the wildcard was not seen with, DS, names not under it, the
    // wildcard's parent itself: asked.
    let asked_for = |n: &str, t: u16| cache.expand(&zone, &name(n), t, now).is_none();
    assert!(asked_for("y.wild.example.", rtype::AAAA));
    assert!(asked_for("y.wild.example.", rtype::DS));
    assert!(asked_for("wild.example.", rtype::A));
    assert!(asked_for("www.example.", rtype::A));
    assert!(asked_for("y.www.example.", rtype::A));
    // Nor after the TTL.
    assert!(
        cache
            .expand(
                &zone,
                &name("y.wild.example."),
                rtype::A,
                now + Duration::from_secs(301)
            )
            .is_none()
    );
}

#[test]
fn a_wildcard_without_its_signed_proof_or_an_answer_no_wildcard_made_is_not_kept() {
    let all = fixture();
    let asked = name("x.wild.example.");
    let now = Instant::now();
    let zone = name("example.");
    // No denial records: nothing proves another name absent.
    let (rrset, sigs) = wild_answer(&all, &asked, |_| false);
    let cache = NsecCache::default();
    cache.store_wildcard(&asked, &rrset, &sigs, 300, now);
    assert!(cache.expand(&zone, &name("y.wild.example."), rtype::A, now).is_none());
    // Unsigned NSEC records.
    let (rrset, sigs) = wild_answer(&all, &asked, |r| r.rtype == rtype::NSEC);
    cache.store_wildcard(&asked, &rrset, &sigs, 300, now);
    assert!(cache.expand(&zone, &name("y.wild.example."), rtype::A, now).is_none());
    // An answer signed with its own name's label count is no expansion:
    // www.example.'s A, with every NSEC of the zone.
    let www = name("www.example.");
    let rrset: Vec<CachedRecord> = all
        .iter()
        .filter(|r| r.owner == www && r.rtype == rtype::A)
        .cloned()
        .collect();
    let sigs: Vec<CachedRecord> = all
        .iter()
        .filter(|r| (r.owner == www && r.rtype == rtype::RRSIG) || r.rtype == rtype::NSEC)
        .cloned()
        .collect();
    cache.store_wildcard(&www, &rrset, &sigs, 300, now);
    assert!(cache.expand(&zone, &name("x.www.example."), rtype::A, now).is_none());
    assert!(cache.expand(&zone, &name("y.wild.example."), rtype::A, now).is_none());
}

#[test]
fn names_under_a_validated_wildcard_are_answered_from_nsec3_spans() {
    let all = super::super::denial::fixture_records(include_str!("testdata/denial-nsec3.signed"));
    let asked = name("x.wild.example.");
    let (rrset, sigs) = wild_answer(&all, &asked, nsec3_or_sig);
    let cache = NsecCache::default();
    let now = Instant::now();
    cache.store_wildcard(&asked, &rrset, &sigs, 300, now);
    let zone = name("example.");
    for other in ["y.wild.example.", "a.b.wild.example."] {
        let x = cache.expand(&zone, &name(other), rtype::A, now).expect(other);
        assert_valid_expansion(&x, &all, other);
        assert_eq!(
            x.sigs.iter().filter(|r| r.rtype == rtype::NSEC3).count(),
            1,
            "{other}: the span covering the next closer name"
        );
    }
    assert!(cache.expand(&zone, &name("y.wild.example."), rtype::TXT, now).is_none());
}

#[test]
fn opt_out_spans_expand_no_wildcard() {
    let all = super::super::denial::fixture_records(include_str!("testdata/denial-optout.signed"));
    let asked = name("x.wild.example.");
    let (rrset, sigs) = wild_answer(&all, &asked, nsec3_or_sig);
    let cache = NsecCache::default();
    let now = Instant::now();
    cache.store_wildcard(&asked, &rrset, &sigs, 300, now);
    assert!(
        cache
            .expand(&name("example."), &name("y.wild.example."), rtype::A, now)
            .is_none(),
        "an unsigned delegation may hide at the next closer name"
    );
}

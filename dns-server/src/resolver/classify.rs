//! Deciding what an upstream answer means, trusting only what is in bailiwick.

use dns_wire::wire::{FLAG_AA, rcode, rtype};

use super::cache::CachedRecord;
use crate::{
    message::{Section, read::Message, read::WireRecord},
    name::Name,
};

/// What a server's answer to our question says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Records of the asked name and type (an RRset, maybe several), and
    /// the RRSIGs over them followed by the authority's NSEC/NSEC3 records
    /// and their RRSIGs (a wildcard expansion's proof, see [`denial`]).
    Answer(Vec<CachedRecord>, u32, Vec<CachedRecord>),
    /// The name is an alias: follow the target ourselves (with the CNAME's
    /// RRSIGs, and any denial records as for `Answer`).
    Cname(CachedRecord, u32, Name, Vec<CachedRecord>),
    /// The name is below a DNAME (RFC 6672): the DNAME, the CNAME synthesised
    /// from it for the name, the lower TTL, the target to follow, and the
    /// DNAME's RRSIGs (the CNAME, made by the server, has none).
    Dname {
        dname: CachedRecord,
        cname: CachedRecord,
        ttl: u32,
        target: Name,
        sigs: Vec<CachedRecord>,
    },
    /// A delegation to `child`, with NS names and in-bailiwick glue addresses.
    Referral {
        /// The child zone.
        child: Name,
        /// Its NS records.
        ns: Vec<CachedRecord>,
        /// NS TTL.
        ttl: u32,
        /// A and AAAA records of NS names, in the asked server's bailiwick.
        glue: Vec<(CachedRecord, u32)>,
        /// The child's DS RRset, or the NSEC/NSEC3 records proving it has
        /// none, with their RRSIGs (RFC 4035 3.1.4), and their lowest TTL.
        ds: (Vec<CachedRecord>, u32),
    },
    /// The name does not exist: the SOA, the negative TTL, and the denial
    /// (NSEC/NSEC3 records, their RRSIGs and the SOA's).
    NxDomain(Option<CachedRecord>, u32, Vec<CachedRecord>),
    /// The name exists without that type (SOA, TTL and denial as for `NxDomain`).
    NoData(Option<CachedRecord>, u32, Vec<CachedRecord>),
    /// Lame, refused, failed or nonsense: ask another server.
    Unusable(&'static str),
}

fn cached(r: &WireRecord) -> CachedRecord {
    CachedRecord {
        owner: r.owner.clone(),
        rtype: r.rtype,
        class: r.class,
        rdata: r.rdata.clone(),
    }
}

fn same(a: &Name, b: &Name) -> bool {
    a.as_wire().eq_ignore_ascii_case(b.as_wire())
}

/// The negative TTL of RFC 2308 5: min(SOA TTL, SOA MINIMUM).
fn negative(m: &Message, cut: &Name) -> (Option<CachedRecord>, u32) {
    let soa = m
        .section(Section::Authority)
        .find(|r| r.rtype == rtype::SOA && r.owner.is_within(cut));
    match soa {
        Some(soa) => {
            let minimum = soa
                .rdata
                .len()
                .checked_sub(4)
                .and_then(|at| soa.rdata.get(at..))
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            (Some(cached(soa)), soa.ttl.min(minimum))
        }
        None => (None, 0),
    }
}

/// The RRSIGs among `answers` owned by `owner` over `covered` records.
fn sigs(answers: &[&WireRecord], owner: &Name, covered: u16) -> Vec<CachedRecord> {
    answers
        .iter()
        .filter(|r| {
            r.rtype == rtype::RRSIG && same(&r.owner, owner) && r.rdata.get(..2) == Some(&covered.to_be_bytes()[..])
        })
        .map(|r| cached(r))
        .collect()
}

/// The authority section's NSEC and NSEC3 records inside `cut`, with the
/// RRSIGs over them and, when `soa` is set, over the SOA: what proves a
/// negative answer or a wildcard expansion (RFC 4035 3.1.3).
fn denial(m: &Message, cut: &Name, soa: bool) -> Vec<CachedRecord> {
    let proves = |t: u16| t == rtype::NSEC || t == rtype::NSEC3 || (soa && t == rtype::SOA);
    m.section(Section::Authority)
        .filter(|r| r.owner.is_within(cut))
        .filter(|r| match r.rtype {
            rtype::RRSIG => r
                .rdata
                .get(..2)
                .is_some_and(|t| proves(u16::from_be_bytes([t[0], t[1]]))),
            t => t != rtype::SOA && proves(t),
        })
        .map(cached)
        .collect()
}

/// Classifies `m`, the answer of a server authoritative for `cut`, to `qname`/`qtype`.
pub(crate) fn classify(m: &Message, cut: &Name, qname: &Name, qtype: u16) -> Outcome {
    let code = m.rcode();
    let in_bailiwick = |r: &&WireRecord| r.owner.is_within(cut);
    let answers: Vec<&WireRecord> = m.section(Section::Answer).filter(in_bailiwick).collect();
    let cname = answers
        .iter()
        .find(|r| r.rtype == rtype::CNAME && same(&r.owner, qname) && qtype != rtype::CNAME);
    if let Some(cname) = cname
        && matches!(code, rcode::NOERROR | rcode::NXDOMAIN)
    {
        let Some(target) = Name::from_wire(&cname.rdata) else {
            return Outcome::Unusable("bad cname target");
        };
        // A CNAME synthesised from a DNAME above the name goes to the client
        // with its DNAME (RFC 6672 3.4), which says why the alias exists.
        if let Some(dname) = answers
            .iter()
            .find(|r| r.rtype == rtype::DNAME && qname.is_within(&r.owner) && !same(&r.owner, qname))
        {
            return Outcome::Dname {
                dname: cached(dname),
                cname: cached(cname),
                ttl: dname.ttl.min(cname.ttl),
                target,
                sigs: sigs(&answers, &dname.owner, rtype::DNAME),
            };
        }
        let mut sigs = sigs(&answers, qname, rtype::CNAME);
        sigs.extend(denial(m, cut, false));
        return Outcome::Cname(cached(cname), cname.ttl, target, sigs);
    }
    match code {
        rcode::NOERROR => {}
        rcode::NXDOMAIN => {
            let (soa, ttl) = negative(m, cut);
            return Outcome::NxDomain(soa, ttl, denial(m, cut, true));
        }
        _ => return Outcome::Unusable("error rcode"),
    }
    let matching: Vec<&&WireRecord> = answers
        .iter()
        .filter(|r| same(&r.owner, qname) && (r.rtype == qtype || qtype == rtype::ANY) && r.rtype != rtype::RRSIG)
        .collect();
    if !matching.is_empty() {
        let ttl = matching.iter().map(|r| r.ttl).min().unwrap_or(0);
        let covered = matching[0].rtype;
        let mut sigs = sigs(&answers, qname, covered);
        sigs.extend(denial(m, cut, false));
        return Outcome::Answer(matching.into_iter().map(|r| cached(r)).collect(), ttl, sigs);
    }
    if let Some(referral) = referral(m, cut, qname) {
        return referral;
    }
    let (soa, ttl) = negative(m, cut);
    if soa.is_some() || m.header.has(FLAG_AA) {
        return Outcome::NoData(soa, ttl, denial(m, cut, true));
    }
    // Records of the name, but of another type than asked (an A for an
    // AAAA question): the server knows the name and has no such type.
    if answers.iter().any(|r| same(&r.owner, qname) && r.rtype != rtype::RRSIG) {
        return Outcome::NoData(None, 0, denial(m, cut, true));
    }
    Outcome::Unusable("lame: no answer, referral or authority")
}

/// A delegation strictly below `cut` towards `qname`, with its glue.
fn referral(m: &Message, cut: &Name, qname: &Name) -> Option<Outcome> {
    let ns: Vec<&WireRecord> = m.section(Section::Authority).filter(|r| r.rtype == rtype::NS).collect();
    let child = &ns.first()?.owner;
    // Progress and bailiwick: below the zone we asked, above or at the name.
    if same(child, cut) || !child.is_within(cut) || !qname.is_within(child) {
        return None;
    }
    let ns: Vec<&WireRecord> = ns.into_iter().filter(|r| same(&r.owner, child)).collect();
    let ttl = ns.iter().map(|r| r.ttl).min().unwrap_or(0);
    let names: Vec<Name> = ns.iter().filter_map(|r| Name::from_wire(&r.rdata)).collect();
    let is_ds = |r: &WireRecord| {
        same(&r.owner, child)
            && (r.rtype == rtype::DS
                || (r.rtype == rtype::RRSIG && r.rdata.get(..2) == Some(&rtype::DS.to_be_bytes()[..])))
    };
    let mut ds: Vec<CachedRecord> = m.section(Section::Authority).filter(|r| is_ds(r)).map(cached).collect();
    ds.extend(denial(m, cut, false));
    let ds_ttl = m
        .section(Section::Authority)
        .filter(|r| r.owner.is_within(cut) && matches!(r.rtype, rtype::DS | rtype::NSEC | rtype::NSEC3))
        .map(|r| r.ttl)
        .min()
        .unwrap_or(0);
    let glue = m
        .section(Section::Additional)
        .filter(|r| matches!(r.rtype, rtype::A | rtype::AAAA))
        .filter(|r| r.owner.is_within(cut) && names.iter().any(|n| same(n, &r.owner)))
        .map(|r| (cached(r), r.ttl))
        .collect();
    Some(Outcome::Referral {
        child: child.to_lowercase(),
        ns: ns.into_iter().map(cached).collect(),
        ttl,
        glue,
        ds: (ds, ds_ttl),
    })
}

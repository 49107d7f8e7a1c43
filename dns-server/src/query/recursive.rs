//! Answers for resolved queries: the resolver's records written as a
//! response with RA set, truncated over UDP like any other answer.

use dns_wire::{
    query::{Edns, Query},
    wire::{FLAG_AD, FLAG_CD, FLAG_RA, FLAG_TC, rcode},
};

use super::{Identity, cookies::Judged, encode, response_flags};
use crate::{
    message::{Section, Writer},
    name::Name,
    resolver::{Resolution, dnssec::Security},
};

/// A query waiting for the resolver, owning what its response needs.
#[derive(Debug)]
pub(crate) struct Pending {
    /// Query ID.
    pub id: u16,
    /// Query flags.
    pub flags: u16,
    /// The name as the client wrote it.
    pub qname: Name,
    /// TYPE asked.
    pub qtype: u16,
    /// CLASS asked.
    pub qclass: u16,
    /// The client's EDNS parameters.
    pub edns: Option<Edns>,
    /// Largest response allowed.
    pub limit: usize,
    /// Its place among the resolutions allowed in flight, held until it is answered.
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The client's DNS cookie, added to the response (`limit` keeps room for it).
    pub cookie: Judged,
}

impl Pending {
    /// Captures `q`.
    pub(crate) fn new(q: &Query<'_>, limit: usize) -> Self {
        Pending {
            id: q.id,
            flags: q.flags,
            qname: Name::from_wire(q.qname).expect("the parser only yields valid names"),
            qtype: q.qtype,
            qclass: q.qclass,
            edns: q.edns,
            limit,
            permit: None,
            cookie: Judged::None,
        }
    }

    /// The same, answered with the client's cookie.
    pub(crate) fn with_cookie(self, cookie: Judged) -> Self {
        Pending { cookie, ..self }
    }

    fn start<'b>(&self, out: &'b mut Vec<u8>, code: u16, identity: &Identity) -> Writer<'b> {
        let flags = response_flags(self.flags) | FLAG_RA | (code & 0x0f);
        let limit = self.limit.saturating_sub(encode::edns_len(self.edns, identity));
        let question = (self.qname.as_wire(), self.qtype, self.qclass);
        Writer::new(out, limit, self.id, flags, Some(question))
    }

    /// Writes the response carrying `resolution`.
    /// Bogus data is SERVFAIL with its extended error unless the client set
    /// CD (RFC 4035 3.2.2); secure data gets AD when the client set DO or AD
    /// (RFC 6840 5.7); DO clients get the answer's RRSIGs and the denial proofs.
    pub(crate) fn write(&self, out: &mut Vec<u8>, resolution: &Resolution, identity: &Identity) {
        let checking_disabled = self.flags & FLAG_CD != 0;
        if let Security::Bogus(code) = resolution.security
            && !checking_disabled
        {
            let mut w = self.start(out, rcode::SERVFAIL, identity);
            encode::finish_with_edns(&mut w, self.edns, rcode::SERVFAIL, identity, Some(code), None);
            w.finish();
            self.cookie.append(out);
            return;
        }
        let dnssec_ok = self.edns.is_some_and(|e| e.dnssec_ok);
        let mut w = self.start(out, resolution.rcode, identity);
        if resolution.security == Security::Secure && (dnssec_ok || self.flags & FLAG_AD != 0) {
            w.set_flags(FLAG_AD, 0);
        }
        let after_question = w.mark();
        let no_sigs = Vec::new();
        let sigs = if dnssec_ok { &resolution.sigs } else { &no_sigs };
        let proof = if dnssec_ok { &resolution.proof } else { &no_sigs };
        let sections = [
            (Section::Answer, &resolution.answer),
            (Section::Answer, sigs),
            (Section::Authority, &resolution.authority),
            (Section::Authority, proof),
        ];
        'sections: for (section, records) in sections {
            for (record, ttl) in records {
                let written = w.record(
                    section,
                    record.owner.as_wire(),
                    record.rtype,
                    record.class,
                    *ttl,
                    &record.rdata,
                );
                if written.is_err() {
                    w.rollback(after_question);
                    w.set_flags(FLAG_TC, 0);
                    break 'sections;
                }
            }
        }
        encode::finish_with_edns(&mut w, self.edns, resolution.rcode, identity, None, None);
        w.finish();
        self.cookie.append(out);
    }

    /// Writes SERVFAIL.
    pub(crate) fn write_servfail(&self, out: &mut Vec<u8>, identity: &Identity) {
        let mut w = self.start(out, rcode::SERVFAIL, identity);
        encode::finish_with_edns(&mut w, self.edns, rcode::SERVFAIL, identity, None, None);
        w.finish();
        self.cookie.append(out);
    }
}

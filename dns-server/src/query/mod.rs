//! From the bytes of one query to the bytes of its response, whatever the transport.
//!
//! Order of decisions: drop what must not be answered, refuse what we do
//! not do (opcode, EDNS version), a malformed cookie, BADCOOKIE when cookies
//! are required, refuse TSIG and meta types, CHAOS identity, the answer
//! cache, then the zone walk and its encoding. The client's DNS cookie is
//! added last, to whatever response was written (see [`cookies`]).

pub(crate) mod chaos;
pub(crate) mod cookies;
pub(crate) mod encode;
pub(crate) mod recursive;
pub(crate) mod signed;

use std::{net::IpAddr, sync::Arc};

use dns_wire::{
    query::{self, Query, QueryError},
    wire::{self, FLAG_CD, FLAG_QR, FLAG_RD, OPCODE_MASK, class, opcode, rcode, rtype},
};

use crate::{
    answer_cache::Key,
    authority,
    catalog::Catalog,
    fast_path::FastPathSink,
    resolver::{Recursion, Resolution},
    stats::Stats,
};

pub(crate) use cookies::{Asker, CookieSecrets, Judged};
pub(crate) use recursive::Pending;

/// RFC 8914 INFO-CODE for a query outside every zone we serve.
const EDE_NOT_AUTHORITATIVE: u16 = 20;
/// RFC 8914 INFO-CODE for a name in a zone that could not be loaded (Knot sends it).
const EDE_INVALID_DATA: u16 = 24;

/// How the query arrived; it sets the size limit and ANY handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// UDP: size limited by EDNS, answers may be truncated.
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

/// What the server says about itself.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    /// This PoP's name: `id.server`, `hostname.bind` and NSID.
    pub identity: String,
    /// `version.bind` answer; `None` refuses it.
    pub version: Option<String>,
    /// Our EDNS UDP payload size (advertised, and the cap on UDP answers).
    pub udp_payload: u16,
}

/// Why a packet got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drop {
    /// Too short for a header.
    TooShort,
    /// A response, not a query.
    NotAQuery,
}

/// What became of a query that was not dropped.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The response is in the output buffer.
    Ready,
    /// The response is in the output buffer, and it answers for recursion
    /// (from the resolver's cache, or SERVFAIL when too many are in flight).
    Resolved,
    /// The name is outside our zones and the client may recurse: resolve, then answer.
    Recurse(Pending),
}

/// Answers queries from one catalog generation.
pub(crate) struct Responder<'c> {
    /// Zones and answer cache.
    pub catalog: &'c Catalog,
    /// Identity and EDNS settings.
    pub identity: &'c Identity,
    pub stats: &'c Stats,
    /// Told of each answer newly cached (the XDP fast path copies it).
    pub fast_path: &'c dyn FastPathSink,
    /// The secondary zones, for the time each has left in an EDNS EXPIRE
    /// answer (RFC 7314 3); without them every zone answers as its primary.
    pub secondaries: Option<&'c crate::secondary::Registry>,
}

impl Responder<'_> {
    /// Writes the response to `packet` into `out`, or says why there is none.
    /// Names outside our zones are refused (no recursion).
    pub(crate) fn respond(&self, packet: &[u8], transport: Transport, out: &mut Vec<u8>) -> Result<(), Drop> {
        self.respond_or_recurse(packet, transport, || false, out).map(|_| ())
    }

    /// As [`Responder::respond`], but a query for a name outside our zones
    /// becomes [`Reply::Recurse`] when `may_recurse()` says the client is
    /// allowed (asked only then, so authoritative answers skip the ACL).
    pub(crate) fn respond_or_recurse(
        &self,
        packet: &[u8],
        transport: Transport,
        may_recurse: impl Fn() -> bool,
        out: &mut Vec<u8>,
    ) -> Result<Reply, Drop> {
        self.respond_to(packet, transport, None, may_recurse, out)
    }

    /// As [`Responder::respond_or_recurse`], for a query from `asker`: its
    /// DNS cookie is judged, and echoed with our server cookie. Without an
    /// asker (answers computed ahead for the XDP maps) no cookie is made.
    pub(crate) fn respond_to(
        &self,
        packet: &[u8],
        transport: Transport,
        asker: Option<&Asker<'_>>,
        may_recurse: impl Fn() -> bool,
        out: &mut Vec<u8>,
    ) -> Result<Reply, Drop> {
        let q = match query::parse(packet) {
            Ok(q) => q,
            Err(QueryError::TooShort) => {
                Stats::bump(&self.stats.dropped_too_short);
                return Err(Drop::TooShort);
            }
            Err(QueryError::NotAQuery) => {
                Stats::bump(&self.stats.dropped_response);
                return Err(Drop::NotAQuery);
            }
            Err(QueryError::Malformed { id, flags } | QueryError::QuestionCount { id, flags }) => {
                // The opcode before the counts, as NSD and Knot: an opcode we
                // do not implement is NOTIMP however its sections look.
                let code = if (flags & OPCODE_MASK) >> 11 == u16::from(opcode::QUERY) {
                    rcode::FORMERR
                } else {
                    rcode::NOTIMP
                };
                encode::header_only(out, id, flags, code);
                self.stats.count_rcode(code);
                return Ok(Reply::Ready);
            }
            Err(QueryError::NoQuestion {
                id,
                flags,
                edns,
                cookie,
            }) => {
                let code = self.no_question(id, flags, edns, &cookie, asker, transport, out);
                self.stats.count_rcode(code);
                return Ok(Reply::Ready);
            }
        };
        let cookie = Judged::new(&q.cookie, asker, self.stats);
        // Room for the cookie, added after the response is written (and cached).
        let limit = size_limit(&q, transport, self.identity.udp_payload) - cookie.reserve();
        match self.answer(&q, packet, transport, &cookie, limit, may_recurse, out) {
            Some(rcode) => {
                cookie.append(out);
                self.stats.count_rcode(rcode);
                Ok(Reply::Ready)
            }
            None => Ok(Reply::Recurse(Pending::new(&q, limit).with_cookie(cookie))),
        }
    }

    /// A query without a question. With EDNS and a client cookie it asks
    /// for a server cookie (RFC 7873 5.4): NOERROR and the cookie option,
    /// or BADCOOKIE over UDP when `require_cookies` turns it away. An opcode
    /// we lack is NOTIMP (the opcode before the counts, as NSD and Knot); a
    /// malformed cookie FORMERR with OPT; anything else FORMERR, header only.
    #[allow(clippy::too_many_arguments)]
    fn no_question(
        &self,
        id: u16,
        flags: u16,
        edns: Option<query::Edns>,
        cookie: &dns_wire::cookie::CookieOption,
        asker: Option<&Asker<'_>>,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> u16 {
        if (flags & OPCODE_MASK) >> 11 != u16::from(opcode::QUERY) {
            encode::header_only(out, id, flags, rcode::NOTIMP);
            return rcode::NOTIMP;
        }
        let Some(edns) = edns else {
            encode::header_only(out, id, flags, rcode::FORMERR);
            return rcode::FORMERR;
        };
        let judged = Judged::new(cookie, asker, self.stats);
        let code = match judged {
            Judged::Echo { .. } if transport == Transport::Udp && judged.is_turned_away() => rcode::BADCOOKIE,
            Judged::Echo { .. } => rcode::NOERROR,
            Judged::None | Judged::Malformed => rcode::FORMERR,
        };
        encode::no_question(out, id, flags, Some(edns), code, self.identity);
        judged.append(out);
        code
    }

    /// Builds the response and returns its RCODE, or `None` when the query is to be resolved.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        q: &Query<'_>,
        packet: &[u8],
        transport: Transport,
        cookie: &Judged,
        limit: usize,
        may_recurse: impl Fn() -> bool,
        out: &mut Vec<u8>,
    ) -> Option<u16> {
        if q.opcode() != opcode::QUERY {
            return Some(self.error(q, rcode::NOTIMP, limit, out));
        }
        if q.edns.is_some_and(|e| e.version != 0) {
            return Some(self.error(q, rcode::BADVERS, limit, out));
        }
        if *cookie == Judged::Malformed {
            // RFC 7873 5.2.2, with the OPT record (as BIND and Knot answer).
            return Some(self.error(q, rcode::FORMERR, limit, out));
        }
        // RFC 7873 5.2.3: over UDP, a client without a valid server cookie
        // gets one to retry with; TCP already proved the client's address.
        if transport == Transport::Udp && cookie.is_turned_away() {
            return Some(self.error(q, rcode::BADCOOKIE, limit, out));
        }
        if q.has_tsig {
            return Some(self.error(q, rcode::NOTAUTH, limit, out));
        }
        match (q.qtype, transport) {
            // AXFR is TCP only (RFC 5936 4.2): NOTIMP over UDP, as Knot and NSD.
            (rtype::AXFR, Transport::Udp) => return Some(self.error(q, rcode::NOTIMP, limit, out)),
            // Transfers the transports did not serve (see `transfer::serve`):
            // not allowed, or not a zone's apex.
            (rtype::AXFR | rtype::IXFR, _) => {
                Stats::bump(&self.stats.transfers_refused);
                return Some(self.error(q, rcode::REFUSED, limit, out));
            }
            _ => {}
        }
        match q.qclass {
            // Class ANY is answered from the IN data, as Knot does.
            class::IN | class::ANY => {}
            class::CH => return Some(chaos::answer(q, self.identity, limit, out)),
            _ => return Some(self.error(q, rcode::REFUSED, limit, out)),
        }

        // ANY differs between UDP and TCP; NSID and EXPIRE carry per-query options.
        let cacheable = q.qtype != rtype::ANY && q.edns.is_none_or(|e| !e.nsid && !e.expire);
        let key = cacheable.then(|| Key::new(q));
        let lowered;
        let lower = match &key {
            Some(key) => key.name(),
            None => {
                lowered = q.qname.to_ascii_lowercase();
                &lowered[..]
            }
        };
        let Some(served) = self.catalog.find_for(lower, q.qtype) else {
            // Our zones always win; recursion only for what none of them holds.
            if q.flags & FLAG_RD != 0 && q.qclass == class::IN && may_recurse() {
                return None;
            }
            return Some(self.refuse_not_authoritative(q, limit, out));
        };
        let Some(version) = &served.version else {
            // A zone we could not load: ours, so never recursed, but nothing to answer from.
            Stats::bump(&self.stats.zone_unloaded_servfail);
            return Some(self.servfail_zone_unloaded(q, limit, out));
        };
        if let Some(key) = &key
            && let Some(hit) = version.answers.get_into(key, limit, out)
        {
            // `out` holds the answer as cached (ID 0, RD and CD clear) until patched.
            if hit.to_offer && self.fast_path.copy_answer(self.catalog, q, out) {
                version.answers.offered(key);
            }
            encode::patch_cached(out, q, packet);
            Stats::bump(&self.stats.cache_hits);
            return Some(u16::from(out[3] & 0x0f));
        }
        Stats::bump(&self.stats.cache_misses);

        let dnssec_ok = q.edns.is_some_and(|e| e.dnssec_ok);
        let answer = authority::lookup(&version.zone, q.qname, q.qtype, dnssec_ok, transport == Transport::Udp);
        // RFC 7314 3: an SOA query asking EXPIRE gets the zone's (never cached: it counts down).
        let expire = (q.qtype == rtype::SOA && answer.authoritative && q.edns.is_some_and(|e| e.expire))
            .then(|| crate::transfer::expire::value(self.secondaries, &version.zone));
        let truncated = encode::answer(out, q, &answer, limit, self.identity, expire);
        if truncated {
            Stats::bump(&self.stats.truncated);
        } else if let Some(key) = &key
            && matches!(answer.rcode, rcode::NOERROR | rcode::NXDOMAIN)
        {
            let mut stored = out.clone();
            encode::clear_per_query_fields(&mut stored);
            if version.answers.insert(key, &stored) && !self.fast_path.copy_answer(self.catalog, q, &stored) {
                version.answers.offer_again(key);
            }
        }
        Some(answer.rcode)
    }

    /// A response with only the question (and OPT): errors and refusals.
    fn error(&self, q: &Query<'_>, code: u16, limit: usize, out: &mut Vec<u8>) -> u16 {
        let mut w = encode::start(out, q, code, false, limit);
        encode::finish_with_opt(&mut w, q, code, self.identity, None);
        w.finish();
        code
    }

    /// SERVFAIL for a name in a zone that failed to load, as Knot answers
    /// it: AA clear, no records, EDE 24 "Invalid Data" (RFC 8914) with EDNS.
    fn servfail_zone_unloaded(&self, q: &Query<'_>, limit: usize, out: &mut Vec<u8>) -> u16 {
        let mut w = encode::start(out, q, rcode::SERVFAIL, false, limit);
        encode::finish_with_opt(&mut w, q, rcode::SERVFAIL, self.identity, Some(EDE_INVALID_DATA));
        w.finish();
        rcode::SERVFAIL
    }

    /// REFUSED for a name in none of our zones, with EDE 20 "Not Authoritative" (RFC 8914).
    fn refuse_not_authoritative(&self, q: &Query<'_>, limit: usize, out: &mut Vec<u8>) -> u16 {
        let mut w = encode::start(out, q, rcode::REFUSED, false, limit);
        encode::finish_with_opt(&mut w, q, rcode::REFUSED, self.identity, Some(EDE_NOT_AUTHORITATIVE));
        w.finish();
        rcode::REFUSED
    }
}

/// Largest response allowed for this query (RFC 6891 6.2.5, RFC 1035 4.2.1).
fn size_limit(q: &Query<'_>, transport: Transport, our_payload: u16) -> usize {
    match (transport, q.edns) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, None) => wire::CLASSIC_UDP_PAYLOAD as usize,
        (Transport::Udp, Some(e)) => e.udp_payload.clamp(wire::CLASSIC_UDP_PAYLOAD, our_payload.max(512)) as usize,
    }
}

/// Flags of a response to `q`: QR, the query's opcode, RD and CD copied.
pub(crate) fn response_flags(query_flags: u16) -> u16 {
    FLAG_QR | (query_flags & (OPCODE_MASK | FLAG_RD | FLAG_CD))
}

/// Shared, swappable state the transports answer from.
pub(crate) struct Shared {
    /// The current catalog generation.
    pub catalog: arc_swap::ArcSwap<Catalog>,
    /// Identity and EDNS settings (fixed for the process).
    pub identity: Identity,
    /// DNS cookie secrets and policy, swapped at a reload.
    pub cookies: arc_swap::ArcSwap<CookieSecrets>,
    pub stats: Stats,
    /// Recursion, when configured.
    pub recursion: Option<Recursion>,
    /// Transfers out: who may, and each zone's history for IXFR.
    pub transfers: crate::transfer::Outbound,
    /// Where answers flow back into the XDP fast path: each new catalog
    /// before it is swapped in, each answer newly cached, each question
    /// answered from the resolver's cache.
    pub fast_path: Arc<dyn FastPathSink>,
    /// The secondary zones (NOTIFY goes to them) and the lock every catalog swap takes.
    pub secondaries: Arc<crate::secondary::Registry>,
    /// The per-thread query counters, when metrics are served.
    pub metrics: Option<crate::metrics::QueryCounters>,
    /// The dnstap query log, when configured.
    pub dnstap: Option<Arc<crate::dnstap::Dnstap>>,
}

impl Shared {
    /// Answers `packet` from `client` from the current catalog generation;
    /// [`Reply::Recurse`] asks the transport to call [`Shared::resolve`].
    pub(crate) fn respond(
        &self,
        packet: &[u8],
        transport: Transport,
        client: IpAddr,
        out: &mut Vec<u8>,
    ) -> Result<Reply, Drop> {
        if crate::secondary::notify::answer(self, packet, client, out) {
            return Ok(Reply::Ready);
        }
        if transport == Transport::Udp
            && crate::transfer::request::asks_transfer(packet)
            && crate::transfer::serve::over_udp(packet, client, self, out)
        {
            return Ok(Reply::Ready);
        }
        let catalog: arc_swap::Guard<Arc<Catalog>> = self.catalog.load();
        let secrets = self.cookies.load();
        let asker = Asker::now(client, &secrets);
        let may_recurse = || self.recursion.as_ref().is_some_and(|r| r.allows(client));
        let responder = Responder {
            catalog: &catalog,
            identity: &self.identity,
            stats: &self.stats,
            fast_path: &*self.fast_path,
            secondaries: Some(&*self.secondaries),
        };
        let mut reply = responder.respond_to(packet, transport, Some(&asker), may_recurse, out)?;
        if signed::refused_as_signed(out) {
            let keys = self.transfers.policies.load().keys.clone();
            if let signed::Signature::Good { unsigned, verified } = signed::check(packet, &keys, out) {
                // Signed queries are answered from our zones only, never recursed.
                reply = responder.respond_to(&unsigned, transport, Some(&asker), || false, out)?;
                signed::sign(out, &verified);
            }
        }
        let (Reply::Recurse(mut pending), Some(recursion)) = (reply, &self.recursion) else {
            return Ok(Reply::Ready);
        };
        Stats::bump(&self.stats.recursions);
        // A complete answer in the cache is written here, without a task.
        if let Some(resolution) = recursion.resolver.resolve_cached(&pending.qname, pending.qtype) {
            self.fast_path.offer_resolved(&pending);
            self.answer_resolved(recursion, &pending, &resolution, out);
            return Ok(Reply::Resolved);
        }
        // Bound the resolutions in flight before a task exists: past it, fail fast.
        match recursion.in_flight.clone().try_acquire_owned() {
            Ok(permit) => {
                pending.permit = Some(permit);
                Ok(Reply::Recurse(pending))
            }
            Err(_) => {
                self.overloaded(&pending, out);
                Ok(Reply::Resolved)
            }
        }
    }

    /// Writes SERVFAIL for `pending`, which cannot be resolved now (too
    /// many resolutions in flight), and counts it.
    pub(crate) fn overloaded(&self, pending: &Pending, out: &mut Vec<u8>) {
        Stats::bump(&self.stats.recursion_overloaded);
        self.stats.count_rcode(rcode::SERVFAIL);
        pending.write_servfail(out, &self.identity);
    }

    /// Resolves a pending query and writes its response into `out`.
    pub(crate) async fn resolve(&self, pending: &Pending, out: &mut Vec<u8>) {
        let Some(recursion) = &self.recursion else {
            return pending.write_servfail(out, &self.identity);
        };
        let resolution = recursion.resolver.resolve(&pending.qname, pending.qtype).await;
        self.answer_resolved(recursion, pending, &resolution, out);
    }

    /// Resolves a query a UDP transport took in from `peer` at `arrived`
    /// (logged to dnstap as `logged`), writes its response into `out` and
    /// logs and counts it as answered.
    pub(crate) async fn resolve_for(
        &self,
        pending: &Pending,
        peer: std::net::SocketAddr,
        arrived: std::time::Instant,
        logged: Option<crate::dnstap::Exchange>,
        out: &mut Vec<u8>,
    ) {
        self.resolve(pending, out).await;
        if let (Some(tap), Some(exchange)) = (&self.dnstap, logged) {
            tap.response(exchange, out);
        }
        if let Some(metrics) = &self.metrics {
            metrics.record_qtype(false, peer.ip(), pending.qtype, out, arrived.elapsed());
        }
    }

    /// Writes a resolution's response; refreshes a popular entry near expiry behind it.
    fn answer_resolved(&self, recursion: &Recursion, pending: &Pending, resolution: &Resolution, out: &mut Vec<u8>) {
        if resolution.prefetch {
            let (resolver, name, qtype) = (recursion.resolver.clone(), pending.qname.clone(), pending.qtype);
            tokio::spawn(async move { resolver.refresh(&name, qtype).await });
        }
        self.stats.count_rcode(resolution.rcode);
        pending.write(out, resolution, &self.identity);
    }
}

#[cfg(test)]
mod tests;

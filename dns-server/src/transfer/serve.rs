//! Serving a transfer request: the whole stream over TCP (AXFR, IXFR), a
//! single SOA over UDP (IXFR, as Knot answers it), each message written
//! under the TCP write deadline.

use std::{io, net::IpAddr, time::Duration};

use dns_wire::wire::{rcode, rtype};
use tokio::{io::AsyncWriteExt, net::TcpStream, time::timeout};

use super::{
    history::serial_newer,
    message::{self, Head},
    records::{self, Rr},
    request::{self, Kind, Request},
};
use crate::{
    catalog::{Catalog, ZoneVersion},
    message::Section,
    query::{Shared, encode},
    stats::Stats,
};

/// How a transfer request on TCP went.
#[derive(Debug)]
pub(crate) enum Served {
    /// Every message was written.
    Done,
    /// Not ours to serve (refused, malformed, not a zone's apex): the
    /// responder answers it as any query.
    Declined,
    /// A message was not taken within the write deadline.
    SlowReader,
    /// The socket failed, or the zone held a record no message can carry.
    Failed(io::Error),
}

/// A zone version the client may transfer, or `None` to let the responder refuse it.
fn permitted(shared: &Shared, catalog: &Catalog, request: &Request<'_>, client: IpAddr) -> Option<ZoneVersion> {
    if request.query.has_tsig {
        // Keys are not checked yet: the responder answers NOTAUTH.
        return None;
    }
    let origin = request.query.qname.to_ascii_lowercase();
    let zone = catalog.zone(&origin)?;
    if !shared.transfers.policies.load().zone(&origin).allows(client) {
        return None;
    }
    zone.version.clone()
}

/// Serves the transfer `packet` asks for on `stream`; `progress` is called
/// after each message is taken (the connection is not idle meanwhile).
pub(crate) async fn over_tcp(
    stream: &mut TcpStream,
    packet: &[u8],
    client: IpAddr,
    shared: &Shared,
    write_timeout: Duration,
    progress: impl Fn(),
) -> Served {
    let Some(request) = request::parse(packet) else {
        return Served::Declined;
    };
    let catalog = shared.catalog.load_full();
    let Some(version) = permitted(shared, &catalog, &request, client) else {
        return Served::Declined;
    };
    drop(catalog);
    let zone = version.zone.clone();
    let q = &request.query;
    let head = Head {
        id: q.id,
        query_flags: q.flags,
        question: (q.qname, q.qtype, q.qclass),
        edns: q.edns,
        reserve: 0,
    };
    let stats = &shared.stats;
    let deltas;
    let records: Box<dyn Iterator<Item = Rr<'_>> + Send> = match request.kind {
        Kind::Axfr => {
            Stats::bump(&stats.axfr_out);
            Box::new(records::axfr(&zone))
        }
        Kind::Ixfr { serial } if !serial_newer(zone.serial, serial) => {
            // Current (or ahead of us): the SOA alone says so (RFC 1995 2).
            Stats::bump(&stats.ixfr_out_current);
            Box::new(std::iter::once(records::soa(&zone)))
        }
        Kind::IxfrWithoutSoa => {
            let mut body = Vec::new();
            formerr(q, shared, &mut body);
            return send_one(stream, &body, write_timeout).await;
        }
        Kind::Ixfr { serial } => {
            let origin = zone.origin.as_wire();
            match shared.transfers.histories.since(origin, serial, version.id) {
                Some(found) => {
                    Stats::bump(&stats.ixfr_out);
                    deltas = found;
                    Box::new(records::ixfr(&zone, &deltas))
                }
                None => {
                    // Not in the history: the whole zone, in IXFR's clothes (RFC 1995 4).
                    Stats::bump(&stats.ixfr_out_full);
                    Box::new(records::axfr(&zone))
                }
            }
        }
    };
    tracing::debug!(zone = %zone.origin, serial = zone.serial, %client, kind = ?request.kind, "transfer out");
    let served = send(stream, &head, records, shared, write_timeout, progress).await;
    if !matches!(served, Served::Done) {
        Stats::bump(&stats.transfers_aborted);
        tracing::info!(zone = %zone.origin, %client, ?served, "transfer out not completed");
    }
    served
}

/// Writes the records as a stream of messages, one buffer's worth at a time.
async fn send<'r>(
    stream: &mut TcpStream,
    head: &Head<'_>,
    records: impl Iterator<Item = Rr<'r>>,
    shared: &Shared,
    write_timeout: Duration,
    progress: impl Fn(),
) -> Served {
    let mut records = records.peekable();
    let (mut body, mut framed) = (Vec::new(), Vec::new());
    let mut first = true;
    while first || records.peek().is_some() {
        if message::fill(&mut body, head, &mut records, &shared.identity).is_err() {
            let error = io::Error::new(io::ErrorKind::InvalidData, "a record too large for a message");
            return Served::Failed(error);
        }
        framed.clear();
        framed.extend_from_slice(&(body.len() as u16).to_be_bytes());
        framed.extend_from_slice(&body);
        match timeout(write_timeout, stream.write_all(&framed)).await {
            Err(_) => return Served::SlowReader,
            Ok(Err(e)) => return Served::Failed(e),
            Ok(Ok(())) => progress(),
        }
        first = false;
    }
    shared.stats.count_rcode(rcode::NOERROR);
    Served::Done
}

/// FORMERR with the question (and OPT) for a malformed request.
fn formerr(q: &dns_wire::query::Query<'_>, shared: &Shared, out: &mut Vec<u8>) {
    let mut w = encode::start(out, q, rcode::FORMERR, false, message::MESSAGE_MAX);
    encode::finish_with_opt(&mut w, q, rcode::FORMERR, &shared.identity, None);
    w.finish();
    shared.stats.count_rcode(rcode::FORMERR);
}

/// Writes one framed message under the write deadline.
async fn send_one(stream: &mut TcpStream, body: &[u8], write_timeout: Duration) -> Served {
    let mut framed = (body.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(body);
    match timeout(write_timeout, stream.write_all(&framed)).await {
        Err(_) => Served::SlowReader,
        Ok(Err(e)) => Served::Failed(e),
        Ok(Ok(())) => Served::Done,
    }
}

/// Answers an IXFR over UDP from a permitted client with the zone's SOA
/// alone, as Knot does (RFC 1995 2: the client then asks over TCP); returns
/// false to let the responder answer (AXFR: NOTIMP; refused: REFUSED).
pub(crate) fn over_udp(packet: &[u8], client: IpAddr, shared: &Shared, out: &mut Vec<u8>) -> bool {
    let Some(request) = request::parse(packet) else {
        return false;
    };
    if request.kind == Kind::Axfr {
        return false;
    }
    let catalog = shared.catalog.load();
    let Some(version) = permitted(shared, &catalog, &request, client) else {
        return false;
    };
    let q = &request.query;
    if request.kind == Kind::IxfrWithoutSoa {
        formerr(q, shared, out);
        return true;
    }
    let soa = records::soa(&version.zone);
    let limit = usize::from(q.edns.map_or(512, |e| e.udp_payload.max(512)));
    let mut w = encode::start(
        out,
        q,
        rcode::NOERROR,
        true,
        limit - encode::opt_len(q, &shared.identity),
    );
    if w.record(Section::Answer, soa.owner, rtype::SOA, soa.class, soa.ttl, soa.rdata)
        .is_err()
    {
        return false;
    }
    encode::finish_with_opt(&mut w, q, rcode::NOERROR, &shared.identity, None);
    w.finish();
    Stats::bump(&shared.stats.ixfr_out_udp);
    shared.stats.count_rcode(rcode::NOERROR);
    true
}

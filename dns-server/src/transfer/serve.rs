//! Serving a transfer request: the whole stream over TCP (AXFR, IXFR), a
//! single SOA over UDP (IXFR, as Knot answers it), each message written
//! under the TCP write deadline, and each signed when the request was
//! (RFC 8945 5.3.1: every message of the stream carries its TSIG).

use std::{io, net::IpAddr, time::Duration};

use dns_wire::{
    query::Query,
    wire::{rcode, rtype},
};
use tokio::{io::AsyncWriteExt, net::TcpStream, time::timeout};

use super::{
    expire,
    history::serial_newer,
    message::{self, Head},
    records::{self, Rr},
    request::{self, Kind, Request},
};
use crate::{
    catalog::ZoneVersion,
    message::Section,
    query::{Shared, encode},
    stats::Stats,
    tsig::{self, Rejection, StreamSigner, Verified},
};

/// Room kept free in a signed message for its TSIG record (RFC 8945 4.2):
/// the key's name and the algorithm's, TYPE, CLASS, TTL and RDLENGTH, the
/// time, fudge and MAC size, the MAC, the original ID, the error, and
/// other data (the 6 bytes of a BADTIME answer at most).
fn tsig_room(signed: Option<&Verified>) -> usize {
    signed.map_or(0, |v| {
        let algorithm = v.key.algorithm();
        v.key.name().as_wire().len() + algorithm.name().len() + 2 + 10 + 10 + algorithm.mac_len() + 6 + 6
    })
}

/// How a transfer request on TCP went.
#[derive(Debug)]
pub(crate) enum Served {
    /// Every message was written (the transfer, or an error of its own).
    Done,
    /// Not ours to answer (unsigned and refused, malformed, not a zone's
    /// apex): the responder answers it as any query.
    Declined,
    /// A message was not taken within the write deadline.
    SlowReader,
    /// The socket failed, or the zone held a record no message can carry.
    Failed(io::Error),
}

/// What a request gets.
enum Verdict {
    /// The responder's answer (REFUSED for an unsigned request not allowed).
    Decline,
    /// An error answered here, so that it can carry a TSIG record: the
    /// RFC 8945 rejection of a bad signature, or REFUSED, FORMERR, SERVFAIL
    /// to a signed request (signed back).
    Error(u16, Option<Rejection>),
    /// The transfer, from this version.
    Serve(ZoneVersion),
}

/// A request read and judged, with the key it was signed with.
struct Judged<'p> {
    request: Request<'p>,
    signed: Option<Verified>,
    verdict: Verdict,
}

/// Reads and judges `packet` from `client`.
fn judge<'p>(packet: &'p [u8], client: IpAddr, shared: &Shared) -> Option<Judged<'p>> {
    let request = request::parse(packet)?;
    let (signed, verdict) = verdict(&request, packet, client, shared);
    Some(Judged {
        request,
        signed,
        verdict,
    })
}

/// The request's TSIG, then the zone and the zone's transfer policy (the
/// order Knot checks them in).
fn verdict(request: &Request<'_>, packet: &[u8], client: IpAddr, shared: &Shared) -> (Option<Verified>, Verdict) {
    let policies = shared.transfers.policies.load();
    let signed = if request.query.has_tsig {
        match tsig::verify_request(packet, &policies.keys, tsig::now()) {
            Ok(signed) => signed,
            Err(rejection) => {
                Stats::bump(&shared.stats.transfers_refused);
                tracing::info!(%client, error = %rejection.error, "transfer request with a bad TSIG");
                return (None, Verdict::Error(rejection.error.rcode(), Some(rejection)));
            }
        }
    } else {
        None
    };
    let origin = request.query.qname.to_ascii_lowercase();
    let catalog = shared.catalog.load();
    let key = signed.as_ref().map(|v| &*v.key);
    let Some(zone) = catalog
        .zone(&origin)
        .filter(|_| policies.zone(&origin).allows(client, key))
    else {
        return match signed {
            // Refused by the responder, which counts it.
            None => (None, Verdict::Decline),
            Some(_) => {
                Stats::bump(&shared.stats.transfers_refused);
                (signed, Verdict::Error(rcode::REFUSED, None))
            }
        };
    };
    let verdict = match (&zone.version, request.kind) {
        (_, Kind::IxfrWithoutSoa) => Verdict::Error(rcode::FORMERR, None),
        (None, _) => Verdict::Error(rcode::SERVFAIL, None),
        (Some(version), _) => Verdict::Serve(version.clone()),
    };
    (signed, verdict)
}

/// Writes an error response of our own into `out`, with its TSIG record.
fn error_response(
    q: &Query<'_>,
    code: u16,
    judged: &Judged<'_>,
    rejection: Option<&Rejection>,
    shared: &Shared,
    out: &mut Vec<u8>,
) {
    let mut w = encode::start(out, q, code, false, message::MESSAGE_MAX);
    encode::finish_with_opt(&mut w, q, code, &shared.identity, None);
    w.finish();
    if let Some(rejection) = rejection {
        rejection.append_to(out, tsig::now());
    } else if let Some(signed) = &judged.signed {
        tsig::sign_response(out, &signed.key, tsig::now(), &signed.mac);
    }
    shared.stats.count_rcode(code);
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
    let Some(judged) = judge(packet, client, shared) else {
        return Served::Declined;
    };
    let q = &judged.request.query;
    let version = match &judged.verdict {
        Verdict::Decline => return Served::Declined,
        Verdict::Error(code, rejection) => {
            let mut body = Vec::new();
            error_response(q, *code, &judged, rejection.as_ref(), shared, &mut body);
            return send_one(stream, &body, write_timeout).await;
        }
        Verdict::Serve(version) => version,
    };
    // Held until the last message is taken.
    let Ok(_slot) = shared.transfers.slots.try_acquire() else {
        shared
            .transfers
            .refused_busy
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Stats::bump(&shared.stats.transfers_refused);
        tracing::warn!(zone = %version.zone.origin, %client, "transfer refused: transfers_out_max transfers are being served");
        let mut body = Vec::new();
        error_response(q, rcode::REFUSED, &judged, None, shared, &mut body);
        return send_one(stream, &body, write_timeout).await;
    };
    let zone = version.zone.clone();
    // RFC 7314: the zone's EXPIRE, in the first message, when asked.
    let expire = (q.edns.is_some() && expire::asked(packet)).then(|| expire::value(Some(&shared.secondaries), &zone));
    let head = Head {
        id: q.id,
        query_flags: q.flags,
        question: (q.qname, q.qtype, q.qclass),
        edns: q.edns,
        reserve: tsig_room(judged.signed.as_ref()) + if expire.is_some() { EXPIRE_LEN } else { 0 },
    };
    let stats = &shared.stats;
    let deltas;
    let records: Box<dyn Iterator<Item = Rr<'_>> + Send> = match judged.request.kind {
        Kind::Axfr => {
            Stats::bump(&stats.axfr_out);
            Box::new(records::axfr(&zone))
        }
        Kind::Ixfr { serial } if !serial_newer(zone.serial, serial) => {
            // Current (or ahead of us): the SOA alone says so (RFC 1995 2).
            Stats::bump(&stats.ixfr_out_current);
            Box::new(std::iter::once(records::soa(&zone)))
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
        Kind::IxfrWithoutSoa => return Served::Declined, // judged an error above
    };
    let key = judged.signed.as_ref().map(|v| v.key.name().to_string());
    tracing::debug!(zone = %zone.origin, serial = zone.serial, %client, kind = ?judged.request.kind, ?key, "transfer out");
    let mut signer = judged.signed.map(|v| StreamSigner::new(v.key, v.mac));
    let out = Out {
        head: &head,
        expire,
        write_timeout,
    };
    let served = send(stream, &out, records, shared, signer.as_mut(), progress).await;
    if !matches!(served, Served::Done) {
        Stats::bump(&stats.transfers_aborted);
        tracing::info!(zone = %zone.origin, %client, ?served, "transfer out not completed");
    }
    served
}

/// The bytes an EXPIRE option takes: code, length, four bytes.
const EXPIRE_LEN: usize = 8;

/// How the messages of one transfer are written.
struct Out<'h> {
    head: &'h Head<'h>,
    /// The EXPIRE option's value, for the first message.
    expire: Option<u32>,
    write_timeout: Duration,
}

/// Writes the records as a stream of messages, one buffer's worth at a
/// time, each signed when `signer` is given.
async fn send<'r>(
    stream: &mut TcpStream,
    out: &Out<'_>,
    records: impl Iterator<Item = Rr<'r>>,
    shared: &Shared,
    mut signer: Option<&mut StreamSigner>,
    progress: impl Fn(),
) -> Served {
    let (head, write_timeout) = (out.head, out.write_timeout);
    let mut records = records.peekable();
    let mut body = Vec::new();
    let mut first = true;
    while first || records.peek().is_some() {
        if message::fill(&mut body, head, &mut records, &shared.identity).is_err() {
            let error = io::Error::new(io::ErrorKind::InvalidData, "a record too large for a message");
            return Served::Failed(error);
        }
        if first && let Some(expire) = out.expire {
            // Room was kept for it (Head::reserve).
            crate::message::write::append_option(
                &mut body,
                crate::secondary::client::EDNS_EXPIRE,
                &expire.to_be_bytes(),
            );
        }
        if let Some(signer) = signer.as_deref_mut() {
            signer.sign(&mut body, tsig::now());
        }
        match send_one(stream, &body, write_timeout).await {
            Served::Done => progress(),
            failed => return failed,
        }
        first = false;
    }
    shared.stats.count_rcode(rcode::NOERROR);
    Served::Done
}

/// Writes one framed message under the write deadline.
async fn send_one(stream: &mut TcpStream, body: &[u8], write_timeout: Duration) -> Served {
    let mut framed = Vec::with_capacity(body.len() + 2);
    framed.extend_from_slice(&(body.len() as u16).to_be_bytes());
    framed.extend_from_slice(body);
    match timeout(write_timeout, stream.write_all(&framed)).await {
        Err(_) => Served::SlowReader,
        Ok(Err(e)) => Served::Failed(e),
        Ok(Ok(())) => Served::Done,
    }
}

/// Answers an IXFR over UDP from a permitted client with the zone's SOA
/// alone, as Knot does (RFC 1995 2: the client then asks over TCP); returns
/// false to let the responder answer (AXFR: NOTIMP; unsigned and refused:
/// REFUSED).
pub(crate) fn over_udp(packet: &[u8], client: IpAddr, shared: &Shared, out: &mut Vec<u8>) -> bool {
    let Some(judged) = judge(packet, client, shared) else {
        return false;
    };
    let q = &judged.request.query;
    if judged.request.kind == Kind::Axfr && matches!(judged.verdict, Verdict::Serve(_)) {
        return false;
    }
    let version = match &judged.verdict {
        Verdict::Decline => return false,
        Verdict::Error(code, rejection) => {
            error_response(q, *code, &judged, rejection.as_ref(), shared, out);
            return true;
        }
        Verdict::Serve(version) => version,
    };
    let soa = records::soa(&version.zone);
    let payload = usize::from(q.edns.map_or(512, |e| e.udp_payload.max(512)));
    let reserve = encode::opt_len(q, &shared.identity) + tsig_room(judged.signed.as_ref());
    let mut w = encode::start(out, q, rcode::NOERROR, true, payload.saturating_sub(reserve));
    if w.record(Section::Answer, soa.owner, rtype::SOA, soa.class, soa.ttl, soa.rdata)
        .is_err()
    {
        return false;
    }
    encode::finish_with_opt(&mut w, q, rcode::NOERROR, &shared.identity, None);
    w.finish();
    if let Some(signed) = &judged.signed {
        tsig::sign_response(out, &signed.key, tsig::now(), &signed.mac);
    }
    Stats::bump(&shared.stats.ixfr_out_udp);
    shared.stats.count_rcode(rcode::NOERROR);
    true
}

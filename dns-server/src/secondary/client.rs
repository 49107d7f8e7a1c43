//! Asking a primary: the SOA query, and the IXFR or AXFR over TCP, under time and size limits.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use dns_wire::wire::{FLAG_QR, FLAG_TC, HEADER_LEN, class, rcode, rtype};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    time::timeout,
};

use super::{
    serial::{Timers, newer},
    stream::{StreamParser, Transfer, XfrRecord},
};
use crate::{
    message::{Section, Writer, read},
    name::Name,
    tsig::{self, Key, StreamVerifier},
    zone::tree::Zone,
};

/// The EDNS EXPIRE option (RFC 7314): sent empty in our queries; a
/// primary's answer carries, in seconds, how long the zone has before it
/// expires (its SOA expire, or a secondary's time left).
pub(crate) const EDNS_EXPIRE: u16 = 9;

/// UDP payload size offered in our queries' OPT record.
const UDP_PAYLOAD: u16 = 1232;

/// How long a primary may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// For an SOA answer, a TCP connection, and each message of a transfer.
    pub message: Duration,
    /// For a whole transfer: a primary that dribbles is cut off here.
    pub transfer: Duration,
    /// Bytes of records one transfer may bring.
    pub max_bytes: u64,
}

/// Why asking a primary failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum XfrError {
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("answered {}", rcode_name(*.0))]
    Rcode(u16),
    #[error("TSIG: {0}")]
    Tsig(#[from] tsig::TsigError),
    #[error("bad transfer: {0}")]
    Stream(#[from] super::stream::StreamError),
}

impl From<read::ReadError> for XfrError {
    fn from(e: read::ReadError) -> XfrError {
        XfrError::Malformed(e.to_string())
    }
}

fn rcode_name(code: u16) -> String {
    match code {
        rcode::FORMERR => "FORMERR".into(),
        rcode::SERVFAIL => "SERVFAIL".into(),
        rcode::NXDOMAIN => "NXDOMAIN".into(),
        rcode::NOTIMP => "NOTIMP".into(),
        rcode::REFUSED => "REFUSED".into(),
        rcode::NOTAUTH => "NOTAUTH".into(),
        other => format!("RCODE {other}"),
    }
}

/// A request and what its answers are checked against.
struct Request {
    bytes: Vec<u8>,
    id: u16,
    qtype: u16,
    /// The TSIG key and our request's MAC, when signed.
    signed: Option<(Arc<Key>, Vec<u8>)>,
}

fn request(origin: &Name, qtype: u16, ours: Option<&XfrRecord>, key: Option<&Arc<Key>>) -> Request {
    let id: u16 = rand::random();
    let mut bytes = Vec::with_capacity(512);
    let mut w = Writer::new(
        &mut bytes,
        u16::MAX as usize,
        id,
        0,
        Some((origin.as_wire(), qtype, class::IN)),
    );
    if let Some(soa) = ours {
        // IXFR carries the SOA we have (RFC 1995 3).
        let _ = w.record(
            Section::Authority,
            soa.owner.as_wire(),
            rtype::SOA,
            soa.class,
            soa.ttl,
            &soa.rdata,
        );
    }
    // Asking for the primary's EXPIRE (RFC 7314 2), as Knot and BIND do.
    w.opt(UDP_PAYLOAD, 0, false, &[(EDNS_EXPIRE, &[])]);
    w.finish();
    let signed = key.map(|key| (key.clone(), tsig::sign_request(&mut bytes, key, tsig::now())));
    Request {
        bytes,
        id,
        qtype,
        signed,
    }
}

/// Checks a response's header; hands its answer records to `each`.
/// Returns the EXPIRE option's value when the message has one.
fn each_answer(
    msg: &[u8],
    req: &Request,
    first: bool,
    mut each: impl FnMut(read::RecordRef<'_>) -> Result<(), XfrError>,
) -> Result<Option<u32>, XfrError> {
    let mut expire = None;
    let head = read::head(msg, u16::MAX as usize)?;
    if head.header.id != req.id || !head.header.has(FLAG_QR) {
        return Err(XfrError::Malformed("not an answer to our request".into()));
    }
    if head.header.rcode() != rcode::NOERROR {
        return Err(XfrError::Rcode(head.header.rcode()));
    }
    if first && head.question.as_ref().is_none_or(|q| q.1 != req.qtype) {
        return Err(XfrError::Malformed("the question is not ours".into()));
    }
    head.each_record(msg, |r| match r.section {
        Section::Answer => each(r),
        // The upper RCODE bits (RFC 6891 6.1.3): an error all the same.
        _ if r.rtype == rtype::OPT && r.ttl >> 24 != 0 => {
            Err(XfrError::Rcode(((r.ttl >> 24) as u16) << 4 | head.header.rcode()))
        }
        _ if r.rtype == rtype::OPT => {
            expire = expire_option(r.rdata).or(expire);
            Ok(())
        }
        _ => Ok(()),
    })?;
    Ok(expire)
}

/// The value of the EXPIRE option in OPT RDATA (RFC 7314 3: four bytes,
/// seconds); `None` without one, or with one of another length.
pub(crate) fn expire_option(mut options: &[u8]) -> Option<u32> {
    while options.len() >= 4 {
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = usize::from(u16::from_be_bytes([options[2], options[3]]));
        let data = options.get(4..4 + len)?;
        if code == EDNS_EXPIRE {
            return data.try_into().ok().map(u32::from_be_bytes);
        }
        options = &options[4 + len..];
    }
    None
}

/// What a primary's SOA answer said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PrimarySoa {
    pub serial: u32,
    /// Its EXPIRE option, in seconds, when it sent one.
    pub expire: Option<u32>,
}

fn check_tsig(verifier: &mut Option<StreamVerifier>, msg: &[u8]) -> Result<(), XfrError> {
    if let Some(v) = verifier {
        v.verify(msg, tsig::now())?;
    }
    Ok(())
}

/// The primary's SOA serial for `origin` (and its EXPIRE option): over
/// UDP, over TCP when truncated.
pub(crate) async fn soa_serial(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&Arc<Key>>,
    limits: &Limits,
) -> Result<PrimarySoa, XfrError> {
    let req = request(origin, rtype::SOA, None, key);
    let bind: SocketAddr = if primary.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .expect("literal address");
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(primary).await?;
    socket.send(&req.bytes).await?;
    let mut buf = vec![0u8; 65535];
    let msg = loop {
        let len = timeout(limits.message, socket.recv(&mut buf))
            .await
            .map_err(|_| XfrError::Timeout(limits.message))??;
        // Stray datagrams (late answers to an earlier try) are skipped.
        if len >= HEADER_LEN && u16::from_be_bytes([buf[0], buf[1]]) == req.id {
            break buf[..len].to_vec();
        }
    };
    // Truncated, or refused over UDP: Knot answers a catalog zone's SOA
    // over TCP only (catalogs are for transfers, not for queries).
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    let msg = if flags & FLAG_TC != 0 || flags & 0x000f == dns_wire::wire::rcode::REFUSED {
        let mut conn = connect(primary, limits).await?;
        send(&mut conn, &req.bytes).await?;
        read_message(&mut conn, limits).await?
    } else {
        msg
    };
    let mut verifier = req.signed.clone().map(|(k, mac)| StreamVerifier::new(k, mac));
    check_tsig(&mut verifier, &msg)?;
    if let Some(v) = &verifier {
        v.finish()?;
    }
    let mut serial = None;
    let expire = each_answer(&msg, &req, true, |r| {
        if serial.is_none() && r.rtype == rtype::SOA && r.owner.eq_ignore_ascii_case(origin.as_wire()) {
            let soa = Timers::of_soa(r.rdata).ok_or_else(|| XfrError::Malformed("bad SOA".into()))?;
            serial = Some(soa.serial);
        }
        Ok(())
    })?;
    let serial = serial.ok_or_else(|| XfrError::Malformed("no SOA in the answer".into()))?;
    Ok(PrimarySoa { serial, expire })
}

async fn connect(primary: SocketAddr, limits: &Limits) -> Result<TcpStream, XfrError> {
    timeout(limits.message, TcpStream::connect(primary))
        .await
        .map_err(|_| XfrError::Timeout(limits.message))?
        .map_err(XfrError::Io)
}

async fn send(conn: &mut TcpStream, msg: &[u8]) -> Result<(), XfrError> {
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    framed.extend_from_slice(msg);
    conn.write_all(&framed).await?;
    Ok(())
}

/// One length-prefixed message, within the per-message time limit.
async fn read_message(conn: &mut TcpStream, limits: &Limits) -> Result<Vec<u8>, XfrError> {
    let read = async {
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).await?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut msg).await?;
        Ok::<_, std::io::Error>(msg)
    };
    match timeout(limits.message, read).await {
        Ok(Ok(msg)) => Ok(msg),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(XfrError::Malformed("the connection closed inside the transfer".into()))
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(XfrError::Timeout(limits.message)),
    }
}

/// What a transfer asks for, and of whom.
pub(crate) struct Ask<'a> {
    pub primary: SocketAddr,
    pub origin: &'a Name,
    pub key: Option<&'a Arc<Key>>,
    /// Our SOA: IXFR from its serial; AXFR when `None`.
    pub ours: Option<&'a XfrRecord>,
    /// The version we have: a whole zone sent is built as its successor,
    /// sharing the names that did not change.
    pub previous: Option<Arc<Zone>>,
}

/// Transfers `ask.origin` from `ask.primary`: IXFR from `ask.ours` when
/// given, else AXFR. A whole zone is built as its messages arrive. The
/// whole transfer is cut off at `limits.transfer`. Returns what was sent
/// and the primary's EXPIRE option, if it sent one.
pub(crate) async fn transfer(ask: Ask<'_>, limits: &Limits) -> Result<(Transfer, Option<u32>), XfrError> {
    timeout(limits.transfer, transfer_within(ask, limits))
        .await
        .map_err(|_| XfrError::Timeout(limits.transfer))?
}

async fn transfer_within(ask: Ask<'_>, limits: &Limits) -> Result<(Transfer, Option<u32>), XfrError> {
    let primary = ask.primary;
    let kind = if ask.ours.is_some() { "IXFR" } else { "AXFR" };
    let source: Arc<Path> = Arc::from(Path::new(&format!("{kind} of {} from {primary}, record", ask.origin)));
    let mut receiving = Receiving::new(ask, limits.max_bytes, source);
    let mut conn = connect(primary, limits).await?;
    send(&mut conn, &receiving.req.bytes).await?;
    loop {
        let msg = read_message(&mut conn, limits).await?;
        if receiving.message(&msg, tsig::now())? {
            break;
        }
    }
    receiving.finish()
}

/// A transfer's answers, read as they arrive and with no network: what
/// [`transfer`] does with each message it receives, and what the fuzz
/// target feeds directly.
pub(crate) struct Receiving {
    req: Request,
    /// The serial of the SOA our IXFR carries.
    ours: Option<u32>,
    verifier: Option<StreamVerifier>,
    parser: StreamParser,
    first: bool,
    expire: Option<u32>,
}

impl Receiving {
    /// Ready for the answers to a new request for `ask` (its `primary` is
    /// not used); `source` names the stream in the zone builder's errors.
    pub(crate) fn new(ask: Ask<'_>, max_bytes: u64, source: Arc<Path>) -> Receiving {
        let qtype = if ask.ours.is_some() { rtype::IXFR } else { rtype::AXFR };
        let req = request(ask.origin, qtype, ask.ours, ask.key);
        let verifier = req.signed.clone().map(|(k, mac)| StreamVerifier::new(k, mac));
        Receiving {
            ours: ask.ours.and_then(|o| Timers::of_soa(&o.rdata)).map(|t| t.serial),
            verifier,
            parser: StreamParser::new(ask.origin.clone(), max_bytes, ask.previous, source),
            first: true,
            expire: None,
            req,
        }
    }

    /// The request to send: its ID is the one the answers must carry.
    pub(crate) fn request(&self) -> &[u8] {
        &self.req.bytes
    }

    /// Takes the next message of the answer, signed by the time `now`
    /// when the request was; returns whether the transfer is complete.
    pub(crate) fn message(&mut self, msg: &[u8], now: u64) -> Result<bool, XfrError> {
        if let Some(v) = &mut self.verifier {
            v.verify(msg, now)?;
        }
        let parser = &mut self.parser;
        self.expire = each_answer(msg, &self.req, self.first, |r| Ok(parser.push(r)?))?.or(self.expire);
        self.first = false;
        // An IXFR is answered with one SOA alone when the primary has
        // nothing newer than ours (RFC 1995 4).
        let up_to_date = match (self.ours, self.parser.lone_soa_serial()) {
            (Some(have), Some(theirs)) => !newer(theirs, have),
            _ => false,
        };
        Ok(self.parser.is_done() || up_to_date)
    }

    /// What was sent, and the primary's EXPIRE option if it sent one,
    /// once the answer has ended.
    pub(crate) fn finish(self) -> Result<(Transfer, Option<u32>), XfrError> {
        if let Some(v) = &self.verifier {
            v.finish()?;
        }
        Ok((self.parser.finish()?, self.expire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_ask_for_expire() {
        let origin = Name::parse("example.", None).expect("name");
        for qtype in [rtype::SOA, rtype::AXFR] {
            let req = request(&origin, qtype, None, None);
            let m = read::parse(&req.bytes).expect("reads");
            let opt = m.records.iter().find(|r| r.rtype == rtype::OPT).expect("an OPT record");
            assert_eq!(opt.rdata, [0, 9, 0, 0], "EXPIRE, empty");
        }
    }

    #[test]
    fn reads_the_expire_option() {
        assert_eq!(expire_option(&[0, 9, 0, 4, 0, 0, 0x0e, 0x10]), Some(3600));
        // After another option; one of a bad length is ignored.
        assert_eq!(expire_option(&[0, 3, 0, 1, 7, 0, 9, 0, 4, 0, 1, 0, 0]), Some(65536));
        assert_eq!(expire_option(&[0, 9, 0, 0]), None);
        assert_eq!(expire_option(&[0, 9, 0, 8, 0]), None, "truncated");
        assert_eq!(expire_option(&[]), None);
    }
}

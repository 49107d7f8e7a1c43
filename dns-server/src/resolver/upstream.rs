//! One exchange with an upstream server: a fresh random source port and ID
//! per query, answers accepted only from the server asked and only when they
//! match the question (0x20 case included), TCP when the answer is truncated.

use std::{io, net::SocketAddr, time::Duration};

use dns_wire::wire::{FLAG_CD, FLAG_QR, FLAG_RD, FLAG_TC};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    time::timeout,
};

use crate::{
    dnstap::{Dnstap, Role},
    message::{Writer, read},
    name::Name,
};

/// Our EDNS payload size upstream (DNS flag day 2020).
const EDNS_PAYLOAD: u16 = 1232;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No matching answer in time.
    #[error("timed out")]
    Timeout,
    /// A socket error.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The answer could not be read.
    #[error("malformed answer: {0}")]
    Malformed(#[from] read::ReadError),
}

/// What to ask and how.
#[derive(Debug, Clone)]
pub(crate) struct Ask<'a> {
    /// The name, case as it should go on the wire (0x20 randomised or not).
    pub name: &'a Name,
    pub rtype: u16,
    /// Send an OPT record.
    pub edns: bool,
    /// Set RD (forwarding mode).
    pub recursion_desired: bool,
    /// Set DO, asking for RRSIGs (when validating).
    pub dnssec_ok: bool,
    /// Set CD: a validating forwarder passes on what it would call bogus,
    /// which we judge ourselves (RFC 4035 3.2.2).
    pub checking_disabled: bool,
}

/// Builds the query bytes.
pub(crate) fn query_bytes(ask: &Ask<'_>, id: u16) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    let rd = if ask.recursion_desired { FLAG_RD } else { 0 };
    let flags = rd | if ask.checking_disabled { FLAG_CD } else { 0 };
    let mut w = Writer::new(
        &mut buf,
        usize::MAX,
        id,
        flags,
        Some((ask.name.as_wire(), ask.rtype, 1)),
    );
    if ask.edns {
        w.opt(EDNS_PAYLOAD, 0, ask.dnssec_ok, &[]);
    }
    w.finish();
    buf
}

/// Asks `server`; retries over TCP when the UDP answer is truncated.
/// Each query, and the answer accepted for it, goes to `dnstap` when given.
pub(crate) async fn exchange(
    server: SocketAddr,
    ask: &Ask<'_>,
    wait: Duration,
    dnstap: Option<&Dnstap>,
) -> Result<read::Message, UpstreamError> {
    let id: u16 = rand::random();
    let query = query_bytes(ask, id);
    let answer = timeout(wait, udp(server, &query, ask, id, dnstap))
        .await
        .map_err(|_| UpstreamError::Timeout)??;
    if answer.header.has(FLAG_TC) {
        let id: u16 = rand::random();
        let query = query_bytes(ask, id);
        return timeout(wait, tcp(server, &query, ask, id, dnstap))
            .await
            .map_err(|_| UpstreamError::Timeout)?;
    }
    Ok(answer)
}

/// Logs `query` (RESOLVER_QUERY) now; the returned function logs the answer
/// accepted for it (RESOLVER_RESPONSE), when it is sampled.
fn logger<'t>(
    dnstap: Option<&'t Dnstap>,
    tcp: bool,
    local: Option<SocketAddr>,
    server: SocketAddr,
    query: &[u8],
) -> impl Fn(&[u8]) + use<'t> {
    let logged = dnstap.and_then(|tap| Some((tap, tap.query(Role::Resolver, tcp, local, Some(server), query)?)));
    move |answer: &[u8]| {
        if let Some((tap, exchange)) = logged {
            tap.response(exchange, answer);
        }
    }
}

/// Whether `m` answers our query `id` for `ask` (same ID, QR, same question, same case).
fn matches(m: &read::Message, ask: &Ask<'_>, id: u16) -> bool {
    m.header.id == id
        && m.header.has(FLAG_QR)
        && m.question
            .as_ref()
            .is_some_and(|(n, t, c)| n.as_wire() == ask.name.as_wire() && *t == ask.rtype && *c == 1)
}

async fn udp(
    server: SocketAddr,
    query: &[u8],
    ask: &Ask<'_>,
    id: u16,
    dnstap: Option<&Dnstap>,
) -> Result<read::Message, UpstreamError> {
    let local: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .expect("literal");
    // Port 0: the kernel picks a random ephemeral port for every query.
    let socket = UdpSocket::bind(local).await?;
    // connect(): the kernel drops datagrams from any other address or port.
    socket.connect(server).await?;
    // Our address, for the log only (a system call, made only when logging).
    let ours = dnstap.and_then(|_| socket.local_addr().ok());
    let log = logger(dnstap, false, ours, server, query);
    socket.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        // A spoofed or stray datagram: ignore it and keep waiting.
        if let Ok(m) = read::parse(&buf[..n])
            && matches(&m, ask, id)
        {
            log(&buf[..n]);
            return Ok(m);
        }
    }
}

async fn tcp(
    server: SocketAddr,
    query: &[u8],
    ask: &Ask<'_>,
    id: u16,
    dnstap: Option<&Dnstap>,
) -> Result<read::Message, UpstreamError> {
    let mut stream = TcpStream::connect(server).await?;
    let ours = dnstap.and_then(|_| stream.local_addr().ok());
    let log = logger(dnstap, true, ours, server, query);
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await? as usize;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    let m = read::parse(&buf)?;
    if matches(&m, ask, id) {
        log(&buf);
        Ok(m)
    } else {
        Err(UpstreamError::Malformed(read::ReadError::BadRdata))
    }
}

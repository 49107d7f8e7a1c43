//! TCP with RFC 7766 framing: pipelined queries answered in order, under
//! deadlines for idleness, for a whole query to arrive and for its answer to
//! be taken, in a table that limits each source and makes room (see
//! [`tcp_table`](super::tcp_table)).
//!
//! No buffer outlives a message: the query's is allocated when its length
//! prefix has arrived, sized to it, and dropped with the answer, so an idle
//! or slow connection holds only its socket.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    time::{Instant, timeout, timeout_at},
};

use dns_wire::wire::rcode;

use super::{
    TcpLimits, keepalive,
    tcp_table::{Refused, Slot, Table},
};
use crate::{
    dnstap::Role,
    query::{Reply, Shared, Transport, encode},
    stats::Stats,
    transfer::{self, serve::Served},
};

/// Pending connections the kernel may queue.
const BACKLOG: i32 = 1024;

/// A non-blocking listening socket.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Accepts connections until the task is cancelled.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, limits: TcpLimits, table: Arc<Table>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match table.admit(peer.ip()) {
            Ok((slot, evicted)) => {
                Stats::bump(&shared.stats.tcp_admitted);
                if evicted {
                    Stats::bump(&shared.stats.tcp_closed_evicted);
                }
                slot
            }
            Err(Refused::PerSource) => {
                Stats::bump(&shared.stats.tcp_refused_per_source);
                drop(stream);
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let evicted = slot.activity.clone();
            let close = tokio::select! {
                close = connection(stream, peer, &shared, limits, &slot) => close,
                () = evicted.evicted.notified() => Close::Evicted,
            };
            close.count(&shared.stats, peer);
            drop(slot);
        });
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum Close {
    /// The client closed it between messages.
    Peer,
    /// Nothing arrived within the idle timeout.
    Idle,
    /// A query began but did not arrive whole in time (a slow sender).
    SlowQuery,
    /// An answer was not taken in time (a client that does not read).
    SlowReader,
    /// The table was full and this was the idlest connection.
    Evicted,
    /// Not a query (a response, a runt): RFC 7766 lets us close.
    NotAQuery,
    /// A socket error, or the client closed it in the middle of a message.
    Error(io::Error),
}

impl Close {
    /// One count per connection closed, by reason (evictions are counted
    /// where they are decided).
    fn count(&self, stats: &Stats, peer: SocketAddr) {
        let counter = match self {
            Close::Peer => &stats.tcp_closed_by_peer,
            Close::Idle => &stats.tcp_idle_closed,
            Close::SlowQuery => &stats.tcp_closed_slow_query,
            Close::SlowReader => &stats.tcp_closed_slow_reader,
            Close::Evicted => return,
            Close::NotAQuery => &stats.tcp_closed_not_a_query,
            Close::Error(e) => {
                tracing::debug!(%peer, error = %e, "tcp connection ended with an error");
                &stats.tcp_closed_error
            }
        };
        Stats::bump(counter);
    }
}

/// Answers length-prefixed queries in order until the client closes or a deadline passes.
async fn connection(mut stream: TcpStream, peer: SocketAddr, shared: &Shared, limits: TcpLimits, slot: &Slot) -> Close {
    let _ = stream.set_nodelay(true);
    // The address dnstap logs as the responder's (asked only when logging).
    let local = shared.dnstap.as_ref().and_then(|_| stream.local_addr().ok());
    loop {
        // Idle: waiting for the first byte of the next length prefix.
        let idle = slot.idle_timeout();
        let first = match timeout(idle, stream.read_u8()).await {
            Err(_) => return Close::Idle,
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Close::Peer,
            Ok(Err(e)) => return Close::Error(e),
            Ok(Ok(byte)) => byte,
        };
        // From its first byte, the whole query has `message_timeout` to arrive.
        let deadline = Instant::now() + limits.message_timeout;
        let query = match timeout_at(deadline, read_rest(&mut stream, first)).await {
            Err(_) => return Close::SlowQuery,
            Ok(Err(e)) => return Close::Error(e),
            Ok(Ok(query)) => query,
        };
        Stats::bump(&shared.stats.tcp_queries);
        if transfer::request::asks_transfer(&query) {
            let progress = || slot.touch();
            match transfer::serve::over_tcp(&mut stream, &query, peer.ip(), shared, limits.write_timeout, progress)
                .await
            {
                Served::Done => continue,
                Served::SlowReader => return Close::SlowReader,
                Served::Failed(e) => return Close::Error(e),
                // Refused and the rest: answered below like any query.
                Served::Declined => {}
            }
        }
        let arrived = std::time::Instant::now();
        let framed = answer(&query, peer, local, shared, idle).await;
        if let Some(metrics) = &shared.metrics {
            let response = framed.as_ref().map_or(&[][..], |f| &f[2..]);
            metrics.record(true, peer.ip(), &query, response, arrived.elapsed());
            metrics.record_zone(&shared.catalog, &query, response);
        }
        let Some(framed) = framed else {
            return Close::NotAQuery;
        };
        drop(query);
        match timeout(limits.write_timeout, stream.write_all(&framed)).await {
            Err(_) => return Close::SlowReader,
            Ok(Err(e)) => return Close::Error(e),
            Ok(Ok(())) => {}
        }
        slot.touch();
    }
}

/// The rest of a message whose length prefix starts with `first`.
async fn read_rest(stream: &mut TcpStream, first: u8) -> io::Result<Vec<u8>> {
    let len = u16::from_be_bytes([first, stream.read_u8().await?]);
    let mut query = vec![0u8; usize::from(len)];
    stream.read_exact(&mut query).await?;
    Ok(query)
}

/// The framed answer to `query`, or `None` when it gets none.
async fn answer(
    query: &[u8],
    peer: SocketAddr,
    local: Option<SocketAddr>,
    shared: &Shared,
    idle: Duration,
) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let keepalive = keepalive::requested(query);
    if keepalive == keepalive::Request::Malformed {
        // RFC 7828 3.2.1: a client sends the option empty. `requested` saw a header.
        let flags = u16::from_be_bytes([query[2], query[3]]);
        encode::header_only(
            &mut body,
            u16::from_be_bytes([query[0], query[1]]),
            flags,
            rcode::FORMERR,
        );
        shared.stats.count_rcode(rcode::FORMERR);
    } else {
        let tap = shared.dnstap.as_deref();
        let log_query = |role| tap.and_then(|t| t.query(role, true, Some(peer), local, query));
        let logged = match shared.respond(query, Transport::Tcp, peer.ip(), &mut body) {
            Ok(Reply::Ready) => log_query(Role::Auth),
            Ok(Reply::Resolved) => log_query(Role::Client),
            Ok(Reply::Recurse(pending)) => {
                let logged = log_query(Role::Client);
                shared.resolve(&pending, &mut body).await;
                logged
            }
            Err(_) => return None,
        };
        if keepalive == keepalive::Request::Asked {
            keepalive::append(&mut body, idle);
        }
        if let (Some(tap), Some(exchange)) = (tap, logged) {
            tap.response(exchange, &body);
        }
    }
    let mut framed = Vec::with_capacity(body.len() + 2);
    framed.extend_from_slice(&(body.len() as u16).to_be_bytes());
    framed.extend_from_slice(&body);
    Some(framed)
}

//! UDP: batched receive and send (recvmmsg/sendmmsg) on SO_REUSEPORT sockets.

use std::{
    io,
    net::SocketAddr,
    os::fd::AsRawFd,
    sync::Arc,
    time::{Duration, Instant},
};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;

use super::mmsg::Batch;
use crate::{
    dnstap::{self, Exchange},
    query::{Pending, Reply, Shared, Transport},
    stats::Stats,
};

/// Batches answered in a row before the task yields to others.
const BATCHES_BEFORE_YIELD: usize = 8;

/// Kernel receive buffer per socket: room for bursts while a worker is busy.
const RECV_BUFFER: usize = 4 << 20;

/// How long a batch waits for a full send buffer to drain before the rest
/// of it is dropped: an interface that stopped taking packets must not
/// stop this socket's answers to peers reached through other interfaces.
const SEND_WAIT: Duration = Duration::from_millis(100);

/// A non-blocking UDP socket that shares its port with its siblings.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    // Best effort, as NSD and Knot do: never lower the path MTU on a forged
    // ICMP "fragmentation needed", which would make the kernel fragment our
    // answers (fragments are what cache-poisoning by fragmentation rides on).
    let _ = ignore_path_mtu(&socket, addr.is_ipv6());
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Sets IP(V6)_MTU_DISCOVER to PMTUDISC_OMIT: send at the interface MTU,
/// ignore PMTU updates.
fn ignore_path_mtu(socket: &Socket, v6: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let (level, name, value) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_OMIT)
    } else {
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_OMIT)
    };
    let value: libc::c_int = value;
    // SAFETY: a valid socket and an int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Answers datagrams on one socket until the task is cancelled.
pub(crate) async fn serve(socket: tokio::net::UdpSocket, shared: Arc<Shared>) {
    let socket = Arc::new(socket);
    let mut batch = Batch::new();
    let mut pending = Vec::new();
    let fd = socket.as_raw_fd();
    // The address dnstap logs as the responder's.
    let local = socket.local_addr().ok();
    loop {
        if let Err(e) = socket.readable().await {
            tracing::error!(error = %e, "udp socket failed");
            return;
        }
        // Under a flood the socket never drains: after a few batches, let the
        // runtime run the resolutions this loop has spawned.
        for _ in 0..BATCHES_BEFORE_YIELD {
            let received = match socket.try_io(Interest::READABLE, || batch.recv(fd)) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::warn!(error = %e, "udp receive failed");
                    break;
                }
            };
            answer_batch(&mut batch, received, &shared, local, &mut pending);
            // A full send buffer holds the batch back until the interface
            // has taken some of it: nothing more is read meanwhile, so the
            // backlog waits in the receive queue (or is dropped there, for
            // nothing) rather than as answers computed and then thrown away.
            loop {
                match socket.try_io(Interest::WRITABLE, || batch.send(fd)) {
                    Ok(failed) => {
                        for _ in 0..failed {
                            Stats::bump(&shared.stats.dropped_send_failed);
                        }
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        match tokio::time::timeout(SEND_WAIT, socket.writable()).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::error!(error = %e, "udp socket failed");
                                return;
                            }
                            Err(_) => {
                                for _ in 0..batch.discard() {
                                    Stats::bump(&shared.stats.dropped_send_failed);
                                }
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "udp send failed");
                        break;
                    }
                }
            }
            for (query, peer, arrived, logged) in pending.drain(..) {
                tokio::spawn(resolve_and_send(
                    socket.clone(),
                    shared.clone(),
                    query,
                    peer,
                    arrived,
                    logged,
                ));
            }
        }
        tokio::task::yield_now().await;
    }
}

/// A query set aside for the resolver: with its peer, its arrival time,
/// and its dnstap exchange when its response is to be logged.
type Set = (Pending, SocketAddr, Instant, Option<Exchange>);

/// Builds the response for each received datagram in place; queries to
/// resolve are set aside.
fn answer_batch(
    batch: &mut Batch,
    received: usize,
    shared: &Shared,
    local: Option<SocketAddr>,
    pending: &mut Vec<Set>,
) {
    // One clock read per batch for its arrival, and with metrics on one at
    // its end: every answer of the batch leaves with the batch, so that is
    // each one's latency (it waited for the answers after it, too).
    let arrived = Instant::now();
    let mut answered = 0;
    for i in 0..received {
        Stats::bump(&shared.stats.udp_queries);
        let Some(peer) = batch.peer(i) else { continue };
        let (query, out) = batch.slot(i);
        let role = match shared.respond(query, Transport::Udp, peer.ip(), out) {
            Ok(Reply::Ready) => Some(dnstap::Role::Auth),
            Ok(Reply::Resolved) => Some(dnstap::Role::Client),
            Ok(Reply::Recurse(pending_query)) => {
                out.clear();
                let logged = (shared.dnstap.as_ref())
                    .and_then(|tap| tap.query(dnstap::Role::Client, false, Some(peer), local, query));
                pending.push((pending_query, peer, arrived, logged));
                continue;
            }
            Err(_) => {
                out.clear();
                None
            }
        };
        if let (Some(tap), Some(role)) = (&shared.dnstap, role) {
            tap.exchange(role, false, peer, local, query, out);
        }
        if let Some(metrics) = &shared.metrics {
            answered += u64::from(metrics.record_in_batch(peer.ip(), query, out));
            metrics.record_zone(&shared.catalog, query, out);
        }
    }
    if let Some(metrics) = &shared.metrics {
        metrics.record_batch_latency(answered, arrived.elapsed());
    }
}

/// Resolves one query off the receive path and sends the answer.
async fn resolve_and_send(
    socket: Arc<tokio::net::UdpSocket>,
    shared: Arc<Shared>,
    query: Pending,
    peer: SocketAddr,
    arrived: Instant,
    logged: Option<Exchange>,
) {
    let mut out = Vec::with_capacity(512);
    shared.resolve_for(&query, peer, arrived, logged, &mut out).await;
    if socket.send_to(&out, peer).await.is_err() {
        Stats::bump(&shared.stats.dropped_send_failed);
    }
}

//! UDP: batched receive and send (recvmmsg/sendmmsg) on SO_REUSEPORT sockets.

use std::{io, net::SocketAddr, os::fd::AsRawFd, sync::Arc};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;

use super::mmsg::Batch;
use crate::{
    query::{Shared, Transport},
    stats::Stats,
};

/// Kernel receive buffer per socket: room for bursts while a worker is busy.
const RECV_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket that shares its port with its siblings.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Answers datagrams on one socket until the task is cancelled.
pub async fn serve(socket: tokio::net::UdpSocket, shared: Arc<Shared>) {
    let mut batch = Batch::new();
    let fd = socket.as_raw_fd();
    loop {
        if let Err(e) = socket.readable().await {
            tracing::error!(error = %e, "udp socket failed");
            return;
        }
        loop {
            let received = match socket.try_io(Interest::READABLE, || batch.recv(fd)) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::warn!(error = %e, "udp receive failed");
                    break;
                }
            };
            answer_batch(&mut batch, received, &shared);
            let unsent = batch.send(fd);
            for _ in 0..unsent {
                Stats::bump(&shared.stats.dropped_send_failed);
            }
        }
    }
}

/// Builds the response for each received datagram in place.
fn answer_batch(batch: &mut Batch, received: usize, shared: &Shared) {
    for i in 0..received {
        Stats::bump(&shared.stats.udp_queries);
        let (query, out) = batch.slot(i);
        if shared.respond(query, Transport::Udp, out).is_err() {
            out.clear();
        }
    }
}

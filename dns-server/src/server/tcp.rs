//! TCP with RFC 7766 framing: pipelined queries, idle timeout, connection limit.

use std::{io, net::SocketAddr, sync::Arc};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time::timeout,
};

use super::TcpLimits;
use crate::{
    query::{Reply, Shared, Transport},
    stats::Stats,
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
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, limits: TcpLimits, slots: Arc<Semaphore>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            Stats::bump(&shared.stats.tcp_refused_connections);
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, &shared, limits).await {
                tracing::debug!(%peer, error = %e, "tcp connection ended with an error");
            }
            drop(permit);
        });
    }
}

/// Answers length-prefixed queries in order until EOF, error or idleness.
async fn connection(stream: TcpStream, peer: SocketAddr, shared: &Shared, limits: TcpLimits) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut query = vec![0u8; u16::MAX as usize];
    let mut response = Vec::with_capacity(4096);
    loop {
        let len = match timeout(limits.idle_timeout, read.read_u16()).await {
            Err(_) => {
                Stats::bump(&shared.stats.tcp_idle_closed);
                return Ok(());
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(result) => result? as usize,
        };
        // A slow sender of the body is idle too.
        timeout(limits.idle_timeout, read.read_exact(&mut query[..len]))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "query body not received in time"))??;
        Stats::bump(&shared.stats.tcp_queries);
        response.clear();
        response.extend_from_slice(&[0, 0]);
        let mut body = Vec::new();
        match shared.respond(&query[..len], Transport::Tcp, peer.ip(), &mut body) {
            Ok(Reply::Ready) => {}
            Ok(Reply::Recurse(pending)) => shared.resolve(&pending, &mut body).await,
            // Not a query: RFC 7766 lets us close; a peer sending responses is confused.
            Err(_) => return Ok(()),
        }
        response[..2].copy_from_slice(&(body.len() as u16).to_be_bytes());
        response.extend_from_slice(&body);
        timeout(limits.idle_timeout, write.write_all(&response))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "response not taken in time"))??;
    }
}

//! Transports: UDP and TCP listeners feeding the shared [`Responder`](crate::query::Responder).

pub(crate) mod keepalive;
pub(crate) mod mmsg;
pub(crate) mod tcp;
pub(crate) mod tcp_table;
pub(crate) mod udp;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::task::JoinSet;

use crate::query::Shared;

/// Sockets bound before serving starts, so that binding errors surface early
/// and tests can bind port 0.
pub(crate) struct Listeners {
    /// UDP sockets; several per address with SO_REUSEPORT, one per worker.
    pub udp: Vec<std::net::UdpSocket>,
    /// TCP listeners, one per address.
    pub tcp: Vec<std::net::TcpListener>,
}

/// TCP limits (RFC 7766 6.2.3).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpLimits {
    /// Idle time before a connection is closed (shrinking as the table fills).
    pub idle_timeout: Duration,
    /// Connections served at once; when full, the idlest is closed for a new one.
    pub max_connections: usize,
    /// Connections one IPv4 address or IPv6 /64 may hold.
    pub max_per_source: usize,
    /// Time for a whole query to arrive once its first byte has.
    pub message_timeout: Duration,
    /// Time for an answer to be taken by the client.
    pub write_timeout: Duration,
}

impl Listeners {
    /// Binds UDP (`per_address` sockets each) and TCP on every address.
    pub(crate) fn bind(addrs: &[SocketAddr], per_address: usize) -> std::io::Result<Listeners> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for &addr in addrs {
            let first = udp::bind(addr)?;
            // Port 0 picks a port: the siblings must share the first socket's.
            let bound = first.local_addr()?;
            udp.push(first);
            for _ in 1..per_address.max(1) {
                udp.push(udp::bind(bound)?);
            }
            tcp.push(tcp::bind(SocketAddr::new(addr.ip(), bound.port()))?);
        }
        Ok(Listeners { udp, tcp })
    }

    /// The addresses actually bound (TCP side), e.g. to learn a port-0 choice.
    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp.iter().filter_map(|l| l.local_addr().ok()).collect()
    }
}

/// Serves until `shutdown` completes, then stops accepting and returns.
/// TCP connections are held in `table` (made with [`tcp_table::Table::new`]).
pub(crate) async fn run(
    listeners: Listeners,
    shared: Arc<Shared>,
    limits: TcpLimits,
    table: Arc<tcp_table::Table>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut tasks = JoinSet::new();
    for socket in listeners.udp {
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        tasks.spawn(udp::serve(socket, shared.clone()));
    }
    for listener in listeners.tcp {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tasks.spawn(tcp::serve(listener, shared.clone(), limits, table.clone()));
    }
    tokio::select! {
        () = shutdown => {}
        Some(ended) = tasks.join_next() => {
            tracing::error!(?ended, "a listener stopped unexpectedly");
        }
    }
    tasks.shutdown().await;
    Ok(())
}

//! Query logging with dnstap: client and resolver messages, sampled, handed
//! to a writer thread that sends them as Frame Streams to a Unix socket
//! (`fstrm_capture`, a collector) or writes them to a file (`dnstap-read`).
//!
//! The query path never waits on the log: whether a query is logged (1 in
//! `sample`) is decided before anything is copied, and a sampled message
//! goes into a bounded queue with `try_send`; when the queue is full, or the
//! socket is down, the message is dropped and the drop counted
//! (`dns_server_dnstap_dropped_total`). Answers XDP sends never reach
//! userspace: they are counted by the XDP counters, not logged.
//!
//! - [`schema`]: the dnstap protobuf messages;
//! - [`fstrm`]: the Frame Streams framing and handshake;
//! - [`writer`]: the thread that encodes, frames and writes, reconnecting
//!   to the socket with back-off.

pub(crate) mod fstrm;
pub(crate) mod schema;
mod writer;

use std::{
    cell::Cell,
    fmt,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        mpsc::{self, SyncSender, TrySendError},
    },
    time::{Duration, SystemTime},
};

use prometheus_client::encoding::DescriptorEncoder;

use crate::{
    config::{DnstapSection, DnstapSink},
    metrics::counters::Sharded,
};
use schema::MessageType;

/// Messages queued for the writer. At 100k sampled queries a second (two
/// messages each) this is a tenth of a second of slack for a slow reader;
/// past it messages are dropped and counted rather than memory grown.
const QUEUE: usize = 16 * 1024;

/// How long `close` waits for the writer to write STOP and end.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Who a logged exchange is between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A client, answered from our zones (AUTH_QUERY, AUTH_RESPONSE).
    Auth,
    /// A client, answered by recursion (CLIENT_QUERY, CLIENT_RESPONSE).
    Client,
    /// Our resolver and an upstream server (RESOLVER_QUERY, RESOLVER_RESPONSE).
    Resolver,
}

impl Role {
    fn types(self) -> (MessageType, MessageType) {
        match self {
            Role::Auth => (MessageType::AuthQuery, MessageType::AuthResponse),
            Role::Client => (MessageType::ClientQuery, MessageType::ClientResponse),
            Role::Resolver => (MessageType::ResolverQuery, MessageType::ResolverResponse),
        }
    }
}

/// A sampled query whose response is to be logged too.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange {
    role: Role,
    tcp: bool,
    /// The initiator (a client, or our resolver when known).
    query_addr: Option<SocketAddr>,
    /// The responder (our listening address, or the upstream server).
    response_addr: Option<SocketAddr>,
    query_time: SystemTime,
}

/// One message for the writer.
#[derive(Debug)]
pub(crate) struct Event {
    kind: MessageType,
    exchange: Exchange,
    /// Set for a response.
    response_time: Option<SystemTime>,
    /// The DNS message, verbatim.
    bytes: Vec<u8>,
}

/// What the writer is asked to do.
#[derive(Debug)]
enum Command {
    Log(Event),
    /// Write STOP and end.
    Stop,
}

/// The query-path side of the log.
pub(crate) struct Dnstap {
    sample: u64,
    client_queries: bool,
    client_responses: bool,
    resolver_queries: bool,
    resolver_responses: bool,
    queue: SyncSender<Command>,
    counters: Arc<Counters>,
    /// Told when the writer has ended.
    ended: Mutex<Option<mpsc::Receiver<()>>>,
}

impl fmt::Debug for Dnstap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dnstap")
            .field("sample", &self.sample)
            .finish_non_exhaustive()
    }
}

/// What the identity and version fields say.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub identity: Vec<u8>,
    pub version: Option<Vec<u8>>,
}

/// Starts the log `section` asks for (`None` when it names no socket or
/// file). A file is created (truncated) here, so that a bad path stops the
/// start; a socket is connected to by the writer, which keeps trying.
pub(crate) fn start(section: &DnstapSection, origin: Origin) -> std::io::Result<Option<Arc<Dnstap>>> {
    let Some(sink) = section.sink() else {
        return Ok(None);
    };
    Dnstap::start(section, sink, origin, QUEUE).map(Some)
}

impl Dnstap {
    fn start(section: &DnstapSection, sink: DnstapSink, origin: Origin, queue: usize) -> std::io::Result<Arc<Dnstap>> {
        let (tx, rx) = mpsc::sync_channel(queue);
        let (ended_tx, ended_rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let output = writer::Output::open(&sink)?;
        let writer = writer::Writer::new(sink.clone(), output, origin, counters.clone());
        std::thread::Builder::new().name("dnstap".into()).spawn(move || {
            writer.run(rx);
            let _ = ended_tx.send(());
        })?;
        tracing::info!(sink = %sink, sample = section.sample, "dnstap logging on");
        Ok(Arc::new(Dnstap {
            sample: u64::from(section.sample.max(1)),
            client_queries: section.client_queries,
            client_responses: section.client_responses,
            resolver_queries: section.resolver_queries,
            resolver_responses: section.resolver_responses,
            queue: tx,
            counters,
            ended: Mutex::new(Some(ended_rx)),
        }))
    }

    /// Logs `query` (when its role's queries are logged and it is sampled);
    /// returns the exchange to log its response with, when responses are.
    pub(crate) fn query(
        &self,
        role: Role,
        tcp: bool,
        query_addr: Option<SocketAddr>,
        response_addr: Option<SocketAddr>,
        query: &[u8],
    ) -> Option<Exchange> {
        let (queries, responses) = match role {
            Role::Auth | Role::Client => (self.client_queries, self.client_responses),
            Role::Resolver => (self.resolver_queries, self.resolver_responses),
        };
        if !(queries || responses) || !self.sampled(role == Role::Resolver) {
            return None;
        }
        let exchange = Exchange {
            role,
            tcp,
            query_addr,
            response_addr,
            query_time: SystemTime::now(),
        };
        if queries {
            self.send(Event {
                kind: role.types().0,
                exchange,
                response_time: None,
                bytes: query.to_vec(),
            });
        }
        responses.then_some(exchange)
    }

    /// Logs the response to a sampled query (none when it got none).
    pub(crate) fn response(&self, exchange: Exchange, response: &[u8]) {
        if response.is_empty() {
            return;
        }
        self.send(Event {
            kind: exchange.role.types().1,
            exchange,
            response_time: Some(SystemTime::now()),
            bytes: response.to_vec(),
        });
    }

    /// Logs a query and its response at once (one answered without waiting).
    pub(crate) fn exchange(
        &self,
        role: Role,
        tcp: bool,
        client: SocketAddr,
        local: Option<SocketAddr>,
        query: &[u8],
        response: &[u8],
    ) {
        if let Some(exchange) = self.query(role, tcp, Some(client), local, query) {
            self.response(exchange, response);
        }
    }

    /// 1 in `sample`, counted per thread so that no cache line is shared.
    /// Client and resolver queries are counted apart: a thread that sends
    /// one upstream query per client query must sample both kinds alike.
    fn sampled(&self, resolver: bool) -> bool {
        if self.sample == 1 {
            return true;
        }
        thread_local! {
            static SEEN: [Cell<u64>; 2] = const { [Cell::new(0), Cell::new(0)] };
        }
        SEEN.with(|seen| {
            let seen = &seen[usize::from(resolver)];
            let n = seen.get();
            seen.set(n.wrapping_add(1));
            n % self.sample == 0
        })
    }

    fn send(&self, event: Event) {
        match self.queue.try_send(Command::Log(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.counters.shards.local().queue_full.fetch_add(1, Relaxed);
            }
            // The writer has ended (at shutdown): nothing is connected any more.
            Err(TrySendError::Disconnected(_)) => {
                self.counters.not_connected.fetch_add(1, Relaxed);
            }
        }
    }

    /// Asks the writer to end the stream (STOP) and waits a little for it.
    pub(crate) fn close(&self) {
        let Some(ended) = self.ended.lock().ok().and_then(|mut e| e.take()) else {
            return;
        };
        // A blocking send: at shutdown the queue drains, and a writer stuck
        // on a reader that does not read gives up within its write timeout.
        if self.queue.send(Command::Stop).is_ok() && ended.recv_timeout(CLOSE_WAIT).is_err() {
            tracing::warn!("dnstap writer did not end in time");
        }
        let t = self.counters.totals();
        tracing::info!(
            written = t.written,
            dropped_queue_full = t.queue_full,
            dropped_not_connected = t.not_connected,
            dropped_write_failed = t.write_failed,
            "dnstap logging stopped"
        );
    }

    /// The `dns_server_dnstap_*` families.
    pub(crate) fn encode_metrics(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        use crate::metrics::families::{Labels, counter, gauge};
        let t = self.counters.totals();
        counter(
            e,
            "dns_server_dnstap_written",
            "dnstap messages written to the socket or file.",
            [(Labels::new(), t.written)],
        )?;
        counter(
            e,
            "dns_server_dnstap_dropped",
            "dnstap messages dropped, by reason: the queue to the writer was full, the socket was not connected, or a write failed.",
            [
                ("queue_full", t.queue_full),
                ("not_connected", t.not_connected),
                ("write_failed", t.write_failed),
            ]
            .map(|(reason, n)| (vec![("reason", reason.to_string())], n)),
        )?;
        counter(
            e,
            "dns_server_dnstap_connections",
            "Connections made to the dnstap socket (or the file opened).",
            [(Labels::new(), t.connections)],
        )?;
        gauge(
            e,
            "dns_server_dnstap_connected",
            "1 while the dnstap socket is connected (or the file open), else 0.",
            [(Labels::new(), if t.connected { 1.0 } else { 0.0 })],
        )
    }
}

/// One thread's drop counter, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    queue_full: AtomicU64,
}

/// The log's counters: the query path's per thread, the writer's (one thread) plain.
struct Counters {
    shards: Sharded<Shard>,
    written: AtomicU64,
    not_connected: AtomicU64,
    write_failed: AtomicU64,
    connections: AtomicU64,
    connected: AtomicBool,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            shards: Sharded::default(),
            written: AtomicU64::new(0),
            not_connected: AtomicU64::new(0),
            write_failed: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            connected: AtomicBool::new(false),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Totals {
    written: u64,
    queue_full: u64,
    not_connected: u64,
    write_failed: u64,
    connections: u64,
    connected: bool,
}

impl Counters {
    fn totals(&self) -> Totals {
        Totals {
            written: self.written.load(Relaxed),
            queue_full: self.shards.sum(|s| &s.queue_full),
            not_connected: self.not_connected.load(Relaxed),
            write_failed: self.write_failed.load(Relaxed),
            connections: self.connections.load(Relaxed),
            connected: self.connected.load(Relaxed),
        }
    }
}

impl fmt::Display for DnstapSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnstapSink::Socket(path) => write!(f, "unix:{}", path.display()),
            DnstapSink::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests;

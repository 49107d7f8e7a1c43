//! The dnstap writer thread: encodes each message, frames it and writes it,
//! in batches; reconnects to the socket with back-off, and counts what it
//! could not write.

use std::{
    fs::File,
    io::{self, BufWriter, Write as _},
    net::SocketAddr,
    os::unix::net::UnixStream,
    sync::{
        Arc,
        atomic::Ordering::Relaxed,
        mpsc::{Receiver, RecvTimeoutError},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use prost::Message as _;

use super::{
    Command, Counters, Event, Origin,
    fstrm::{self, Control},
    schema::{self, DnstapType, SocketFamily, SocketProtocol},
};
use crate::config::DnstapSink;

/// Messages taken from the queue before one write.
const BATCH: usize = 256;

/// A socket write (or handshake read) slower than this means the reader
/// is stuck: the connection is dropped and made again later, so the queue
/// behind it drains (into counted drops) rather than waiting.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Back-off between connection attempts: doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_LAST: Duration = Duration::from_secs(30);

/// How long the writer sleeps when there is nothing to do.
const IDLE: Duration = Duration::from_secs(1);

/// Where frames go once the stream has started.
pub(super) enum Output {
    File(BufWriter<File>),
    Socket(UnixStream),
}

impl Output {
    /// Creates the file and writes START; a socket is connected later, by the thread.
    pub(super) fn open(sink: &DnstapSink) -> io::Result<Option<Output>> {
        match sink {
            DnstapSink::File(path) => {
                let file = File::create(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", path.display())))?;
                let mut out = BufWriter::with_capacity(64 * 1024, file);
                out.write_all(&fstrm::control(Control::Start, Some(fstrm::CONTENT_TYPE)))?;
                out.flush()?;
                Ok(Some(Output::File(out)))
            }
            DnstapSink::Socket(_) => Ok(None),
        }
    }

    fn connect(path: &std::path::Path) -> io::Result<Output> {
        let mut stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        fstrm::open(&mut stream)?;
        Ok(Output::Socket(stream))
    }

    fn write(&mut self, frames: &[u8]) -> io::Result<()> {
        match self {
            Output::File(f) => {
                f.write_all(frames)?;
                f.flush()
            }
            Output::Socket(s) => s.write_all(frames),
        }
    }

    /// Ends the stream: STOP (and, on a socket, the reader's FINISH).
    fn close(self) -> io::Result<()> {
        match self {
            Output::File(mut f) => {
                f.write_all(&fstrm::control(Control::Stop, None))?;
                f.flush()?;
                f.get_ref().sync_data()
            }
            Output::Socket(mut s) => fstrm::close(&mut s),
        }
    }
}

/// The writer's state.
pub(super) struct Writer {
    sink: DnstapSink,
    output: Option<Output>,
    origin: Origin,
    counters: Arc<Counters>,
    /// When to try connecting next, and the wait after that.
    next_attempt: Instant,
    backoff: Duration,
    /// Frames of the batch being built.
    frames: Vec<u8>,
}

impl Writer {
    pub(super) fn new(sink: DnstapSink, output: Option<Output>, origin: Origin, counters: Arc<Counters>) -> Writer {
        if output.is_some() {
            counters.connections.fetch_add(1, Relaxed);
            counters.connected.store(true, Relaxed);
        }
        Writer {
            sink,
            output,
            origin,
            counters,
            next_attempt: Instant::now(),
            backoff: BACKOFF_FIRST,
            frames: Vec::with_capacity(64 * 1024),
        }
    }

    /// Writes what arrives until told to stop (or every sender is gone).
    pub(super) fn run(mut self, queue: Receiver<Command>) {
        loop {
            self.reconnect();
            let wait = match &self.output {
                Some(_) => IDLE,
                None => self.next_attempt.saturating_duration_since(Instant::now()).min(IDLE),
            };
            let first = match queue.recv_timeout(wait) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => Command::Stop,
            };
            let mut stop = false;
            let mut messages = 0u64;
            for command in std::iter::once(first).chain(queue.try_iter().take(BATCH - 1)) {
                match command {
                    Command::Log(event) => {
                        if self.output.is_some() {
                            self.frame(event);
                        }
                        messages += 1;
                    }
                    Command::Stop => {
                        stop = true;
                        break;
                    }
                }
            }
            self.flush(messages);
            if stop {
                self.finish();
                return;
            }
        }
    }

    /// Connects to the socket when it is down and the back-off has passed.
    fn reconnect(&mut self) {
        let DnstapSink::Socket(path) = &self.sink else {
            return;
        };
        if self.output.is_some() || Instant::now() < self.next_attempt {
            return;
        }
        match Output::connect(path) {
            Ok(output) => {
                tracing::info!(socket = %path.display(), "dnstap connected");
                self.output = Some(output);
                self.backoff = BACKOFF_FIRST;
                self.counters.connections.fetch_add(1, Relaxed);
                self.counters.connected.store(true, Relaxed);
            }
            Err(e) => {
                // Once per back-off step, so a missing reader does not flood the log.
                tracing::warn!(socket = %path.display(), error = %e, retry_in = ?self.backoff, "dnstap socket unavailable");
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_LAST);
            }
        }
    }

    /// Writes the batch's frames; counts its messages written or dropped.
    fn flush(&mut self, messages: u64) {
        let Some(output) = &mut self.output else {
            self.counters.not_connected.fetch_add(messages, Relaxed);
            return;
        };
        if messages == 0 {
            return;
        }
        match output.write(&self.frames) {
            Ok(()) => {
                self.counters.written.fetch_add(messages, Relaxed);
            }
            Err(e) => {
                tracing::warn!(sink = %self.sink, error = %e, "dnstap write failed; connection dropped");
                self.counters.write_failed.fetch_add(messages, Relaxed);
                self.output = None;
                self.counters.connected.store(false, Relaxed);
                // A file cannot be taken up again mid-stream; a socket is, after the back-off.
                self.next_attempt = Instant::now() + self.backoff;
            }
        }
        self.frames.clear();
    }

    fn finish(&mut self) {
        if let Some(output) = self.output.take()
            && let Err(e) = output.close()
        {
            tracing::debug!(sink = %self.sink, error = %e, "dnstap stream not closed cleanly");
        }
        self.counters.connected.store(false, Relaxed);
    }

    /// Appends `event` as one data frame.
    fn frame(&mut self, event: Event) {
        let payload = encode(event, &self.origin);
        fstrm::data(&payload, &mut self.frames);
    }
}

/// The dnstap protobuf of one event.
pub(super) fn encode(event: Event, origin: &Origin) -> Vec<u8> {
    let x = &event.exchange;
    let v6 = x
        .query_addr
        .or(x.response_addr)
        .is_some_and(|a| a.ip().to_canonical().is_ipv6());
    let (query_address, query_port) = address(x.query_addr);
    let (response_address, response_port) = address(x.response_addr);
    let (query_time_sec, query_time_nsec) = time(x.query_time);
    let response = event.response_time.map(time);
    let (query_message, response_message) = match event.response_time {
        None => (Some(event.bytes), None),
        Some(_) => (None, Some(event.bytes)),
    };
    let message = schema::Message {
        r#type: event.kind as i32,
        socket_family: Some(if v6 { SocketFamily::Inet6 } else { SocketFamily::Inet } as i32),
        socket_protocol: Some(if x.tcp {
            SocketProtocol::Tcp
        } else {
            SocketProtocol::Udp
        } as i32),
        query_address,
        response_address,
        query_port,
        response_port,
        query_time_sec: Some(query_time_sec),
        query_time_nsec: Some(query_time_nsec),
        query_message,
        response_time_sec: response.map(|r| r.0),
        response_time_nsec: response.map(|r| r.1),
        response_message,
    };
    schema::Dnstap {
        identity: Some(origin.identity.clone()),
        version: origin.version.clone(),
        r#type: DnstapType::Message as i32,
        message: Some(message),
    }
    .encode_to_vec()
}

/// An address's bytes (4 or 16) and port.
fn address(a: Option<SocketAddr>) -> (Option<Vec<u8>>, Option<u32>) {
    let Some(a) = a else {
        return (None, None);
    };
    let ip = match a.ip().to_canonical() {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    (Some(ip), Some(u32::from(a.port())))
}

/// Seconds and nanoseconds since the epoch.
fn time(t: SystemTime) -> (u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

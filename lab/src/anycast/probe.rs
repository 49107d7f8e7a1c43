//! The client: asks the anycast addresses `pop.lab.example. TXT` every 100 ms from inside its namespace.
//!
//! One thread per address family enters the client's namespace (setns(2) moves
//! only the calling thread) and keeps one UDP socket there, so every probe is
//! stamped with the same monotonic clock as the rest of the timeline.
use std::{
    net::{SocketAddr, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use test_support::{Query, netns};

use super::{config::PROBE_NAME, sys::mono};

/// TYPE TXT.
const TYPE_TXT: u16 = 16;

/// How often the client asks: the rate the failover target assumes.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// How long it waits for an answer before counting the probe as failed.
pub const TIMEOUT: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Family {
    V4,
    V6,
}

/// One probe: when it was sent and which PoP answered (`None`: no answer within [`TIMEOUT`]).
#[derive(Clone, Debug)]
pub struct Probe {
    pub at: Duration,
    pub family: Family,
    pub answer: Option<String>,
}

/// The probing threads and what they recorded; dropping it stops them.
pub struct Prober {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    probes: Arc<Mutex<Vec<Probe>>>,
}

impl Prober {
    /// Starts probing `targets` (port 53) from namespace `ns`.
    pub fn start(ns: &str, targets: &[(Family, SocketAddr)]) -> Result<Prober> {
        let mut prober = Prober {
            stop: Arc::default(),
            threads: Vec::new(),
            probes: Arc::default(),
        };
        for &(family, target) in targets {
            let (stop, probes) = (prober.stop.clone(), prober.probes.clone());
            let (ready_tx, ready_rx) = mpsc::channel();
            let thread = netns::spawn_in(ns, move || match socket_to(target) {
                Ok(socket) => {
                    let _ = ready_tx.send(Ok(()));
                    probe_loop(&socket, family, &stop, &probes);
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            })
            .with_context(|| format!("namespace {ns}"))?;
            prober.threads.push(thread);
            ready_rx.recv().context("the probing thread ended at once")??;
        }
        Ok(prober)
    }

    /// Probes of `family` sent from `from` on.
    pub fn since(&self, family: Family, from: Duration) -> Vec<Probe> {
        let probes = self.probes.lock().expect("probe lock");
        probes
            .iter()
            .filter(|probe| probe.family == family && probe.at >= from)
            .cloned()
            .collect()
    }

    /// Whether the last `n` probes of `family` were all answered by `pop`.
    pub fn answered_by(&self, family: Family, pop: &str, n: usize) -> bool {
        let probes = self.probes.lock().expect("probe lock");
        let mine: Vec<&Probe> = probes.iter().rev().filter(|p| p.family == family).take(n).collect();
        mine.len() == n && mine.iter().all(|p| p.answer.as_deref() == Some(pop))
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A UDP socket connected to `target`, in the calling thread's namespace.
fn socket_to(target: SocketAddr) -> Result<UdpSocket> {
    let any: SocketAddr = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
    let socket = UdpSocket::bind(any)?;
    socket.connect(target)?;
    Ok(socket)
}

fn probe_loop(socket: &UdpSocket, family: Family, stop: &AtomicBool, probes: &Mutex<Vec<Probe>>) {
    let start = Instant::now();
    let mut id: u16 = if family == Family::V4 { 0x4000 } else { 0x6000 };
    for n in 1u32.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        id = id.wrapping_add(1);
        let at = mono();
        let answer = ask(socket, id);
        probes.lock().expect("probe lock").push(Probe { at, family, answer });
        // On a fixed grid, so a slow answer does not stretch the interval.
        let next = start + INTERVAL * n;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Sends one query and waits up to [`TIMEOUT`] for its answer; late answers to earlier probes are skipped.
fn ask(socket: &UdpSocket, id: u16) -> Option<String> {
    let deadline = Instant::now() + TIMEOUT;
    socket.send(&query(id)).ok()?;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())?;
        socket.set_read_timeout(Some(left)).ok()?;
        // An ICMP error (port unreachable) ends the probe as failed, like a timeout.
        let n = socket.recv(&mut buf).ok()?;
        if let Some(identity) = identity(&buf[..n], id) {
            return Some(identity);
        }
    }
}

/// Asks `target` for `name` TXT from an unconnected `socket`, waiting up to
/// [`TIMEOUT`]; the answer's first TXT string (the fleet scenario's reader).
pub(crate) fn ask_txt(socket: &UdpSocket, target: SocketAddr, name: &str, id: u16) -> Option<String> {
    let deadline = Instant::now() + TIMEOUT;
    socket
        .send_to(&Query::new(name, TYPE_TXT).id(id).to_wire(), target)
        .ok()?;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())?;
        socket.set_read_timeout(Some(left)).ok()?;
        let (n, from) = socket.recv_from(&mut buf).ok()?;
        if from == target
            && let Some(text) = identity(&buf[..n], id)
        {
            return Some(text);
        }
    }
}

/// `PROBE_NAME IN TXT`, no recursion wanted, no EDNS: what XDP answers from its map.
fn query(id: u16) -> Vec<u8> {
    Query::new(PROBE_NAME, TYPE_TXT).id(id).to_wire()
}

/// The first TXT string of the answer to query `id`, if `reply` is that answer with NOERROR.
fn identity(reply: &[u8], id: u16) -> Option<String> {
    let header = reply.get(..12)?;
    let (qr, rcode) = (header[2] & 0x80 != 0, header[3] & 0x0f);
    let ancount = u16::from_be_bytes([header[6], header[7]]);
    if header[..2] != id.to_be_bytes() || !qr || rcode != 0 || ancount == 0 {
        return None;
    }
    let question_end = skip_name(reply, 12)? + 4;
    let rdata = skip_name(reply, question_end)? + 10;
    let len = usize::from(*reply.get(rdata)?);
    let text = reply.get(rdata + 1..rdata + 1 + len)?;
    Some(String::from_utf8_lossy(text).into_owned())
}

/// The offset just past the (possibly compressed) name at `at` (the
/// benches read answers with it too).
pub(crate) fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_identity_from_an_answer() {
        let mut reply = query(7);
        reply[2] = 0x84; // QR, AA
        reply[7] = 1; // ANCOUNT
        // pop.lab.example. TXT "pop-a", owner compressed to the question's name.
        reply.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 6, 5]);
        reply.extend_from_slice(b"pop-a");
        assert_eq!(identity(&reply, 7).as_deref(), Some("pop-a"), "expected the TXT string");
        assert_eq!(
            identity(&reply, 8),
            None,
            "expected another query's answer to be skipped"
        );
        assert_eq!(
            identity(&reply[..reply.len() - 1], 7),
            None,
            "expected a truncated answer to be refused"
        );
    }
}

//! Waiting, from inside a namespace, until a server gives the answers
//! expected: a new serial, a changed address. Polls over one UDP socket every
//! few milliseconds, so that times of a few ms can be told apart.
use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow, bail};
use test_support::{netns, query::Query};

use crate::{anycast::probe::skip_name, signals::check_interrupt};

const TYPE_A: u16 = 1;
const TYPE_SOA: u16 = 6;
/// The NSID option (RFC 5001): our XDP program passes such queries to
/// userspace, so they ask the userspace server.
const OPTION_NSID: u16 = 3;

/// Time between two queries for one question.
const POLL: Duration = Duration::from_millis(2);
/// How long one query waits for its answer.
const QUERY_WAIT: Duration = Duration::from_millis(100);

/// What a question's answer must hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expect {
    /// An A record with this address.
    A(Ipv4Addr),
    /// A SOA record with this serial.
    Serial(u32),
}

/// One question and the answer awaited.
#[derive(Clone, Debug)]
pub struct Question {
    pub name: String,
    pub expect: Expect,
    /// Sent with an NSID option (asks our userspace server past XDP).
    pub nsid: bool,
}

impl Question {
    pub fn new(name: impl Into<String>, expect: Expect) -> Question {
        Question {
            name: name.into(),
            expect,
            nsid: false,
        }
    }

    pub fn with_nsid(mut self) -> Question {
        self.nsid = true;
        self
    }

    fn qtype(&self) -> u16 {
        match self.expect {
            Expect::A(_) => TYPE_A,
            Expect::Serial(_) => TYPE_SOA,
        }
    }

    fn wire(&self, id: u16) -> Vec<u8> {
        let query = Query::new(&self.name, self.qtype()).id(id);
        if self.nsid {
            query.option(OPTION_NSID, &[]).to_wire()
        } else {
            query.to_wire()
        }
    }
}

/// A thread asking a server until it answers as expected; dropping it
/// stops the thread at its next query.
pub struct Waiting {
    handle: Option<JoinHandle<Result<Duration>>>,
    stop: Arc<AtomicBool>,
}

impl Waiting {
    /// Starts a thread in namespace `ns` that asks `server` each of
    /// `questions` in turn until it is answered as expected; it returns the
    /// time from `since` to the last expected answer, or fails at `since + timeout`.
    pub fn start(
        ns: &str,
        server: SocketAddr,
        questions: Vec<Question>,
        since: Instant,
        timeout: Duration,
    ) -> Result<Waiting> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = netns::spawn_in(ns, move || wait(server, &questions, since, since + timeout, &stopped))?;
        Ok(Waiting {
            handle: Some(handle),
            stop,
        })
    }

    /// Whether the answers came (or the wait failed).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The time until the last expected answer.
    pub fn join(mut self) -> Result<Duration> {
        let handle = self.handle.take().context("joined twice")?;
        handle
            .join()
            .map_err(|_| anyhow!("the thread asking the server panicked"))?
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// [`Waiting`], waited for here.
pub fn wait_here(
    ns: &str,
    server: SocketAddr,
    questions: Vec<Question>,
    since: Instant,
    timeout: Duration,
) -> Result<Duration> {
    Waiting::start(ns, server, questions, since, timeout)?.join()
}

fn wait(
    server: SocketAddr,
    questions: &[Question],
    since: Instant,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Duration> {
    let any: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
    let socket = UdpSocket::bind(any).context("binding the asking socket")?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(QUERY_WAIT))?;
    let mut id: u16 = 0;
    for question in questions {
        while !ask(&socket, question, &mut id) {
            check_interrupt()?;
            if stop.load(Ordering::Relaxed) {
                bail!("stopped");
            }
            if Instant::now() >= deadline {
                bail!(
                    "{server} did not answer {} {:?} within {:?}",
                    question.name,
                    question.expect,
                    deadline - since
                );
            }
            thread::sleep(POLL);
        }
    }
    Ok(since.elapsed())
}

/// Asks `question` once: whether the answer holds what is expected. A server
/// not yet listening makes the send or the receive fail (ICMP port
/// unreachable), which counts as a wrong answer.
fn ask(socket: &UdpSocket, question: &Question, id: &mut u16) -> bool {
    *id = id.wrapping_add(1);
    if socket.send(&question.wire(*id)).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        // Another query's late answer: keep reading.
        if buf[..n].get(..2) != Some(&id.to_be_bytes()[..]) {
            continue;
        }
        return answers(&buf[..n], *id, question.qtype()).is_some_and(|found| found.contains(&question.expect));
    }
    false
}

/// The records of type `qtype` in the answer section of `reply`, if it is
/// the NOERROR answer to query `id`.
fn answers(reply: &[u8], id: u16, qtype: u16) -> Option<Vec<Expect>> {
    let header = reply.get(..12)?;
    let (qr, rcode) = (header[2] & 0x80 != 0, header[3] & 0x0f);
    if header[..2] != id.to_be_bytes() || !qr || rcode != 0 {
        return None;
    }
    let ancount = u16::from_be_bytes([header[6], header[7]]);
    let mut at = skip_name(reply, 12)? + 4;
    let mut found = Vec::new();
    for _ in 0..ancount {
        at = skip_name(reply, at)?;
        let fixed = reply.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = reply.get(at + 10..at + 10 + len)?;
        if rtype == qtype {
            match rtype {
                TYPE_A => found.push(Expect::A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?))),
                TYPE_SOA => {
                    // MNAME and RNAME (possibly compressed), then the serial.
                    let serial_at = skip_name(reply, skip_name(reply, at + 10)?)?;
                    let serial = reply.get(serial_at..serial_at + 4)?;
                    found.push(Expect::Serial(u32::from_be_bytes(serial.try_into().ok()?)));
                }
                _ => {}
            }
        }
        at += 10 + len;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer to `question` with `records` (type, RDATA) under the question's name.
    fn reply(question: &Question, id: u16, rcode: u8, records: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut msg = Query::new(&question.name, question.qtype()).id(id).to_wire();
        msg[2] = 0x84;
        msg[3] = rcode;
        msg[7] = records.len() as u8;
        for (rtype, rdata) in records {
            msg.extend_from_slice(&[0xc0, 12]);
            msg.extend_from_slice(&rtype.to_be_bytes());
            msg.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            msg.extend_from_slice(rdata);
        }
        msg
    }

    #[test]
    fn reads_addresses_and_serials() {
        let q = Question::new("late.large.test.", Expect::A(Ipv4Addr::new(192, 0, 2, 1)));
        let msg = reply(&q, 9, 0, &[(TYPE_A, vec![192, 0, 2, 1]), (TYPE_A, vec![192, 0, 2, 2])]);
        let found = answers(&msg, 9, TYPE_A).expect("an answer");
        assert!(found.contains(&q.expect));
        assert_eq!(answers(&msg, 10, TYPE_A), None, "another query's answer");
        let servfail = reply(&q, 9, 2, &[]);
        assert_eq!(answers(&servfail, 9, TYPE_A), None, "SERVFAIL is no answer");

        let soa = Question::new("large.test.", Expect::Serial(1_000_000_007));
        // ns1 (compressed to the apex), hostmaster, serial, then four times.
        let mut rdata = vec![3, b'n', b's', b'1', 0xc0, 12, 10];
        rdata.extend_from_slice(b"hostmaster");
        rdata.extend_from_slice(&[0xc0, 12]);
        rdata.extend_from_slice(&1_000_000_007u32.to_be_bytes());
        rdata.extend_from_slice(&[0; 16]);
        let msg = reply(&soa, 3, 0, &[(TYPE_SOA, rdata)]);
        assert_eq!(answers(&msg, 3, TYPE_SOA), Some(vec![Expect::Serial(1_000_000_007)]));
    }
}

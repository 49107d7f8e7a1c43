//! Timed single queries from the client namespace at a fixed rate: the
//! latency of each, from send to answer (open loop, so slow answers do not
//! slow the sending down).
use std::{
    net::{SocketAddr, UdpSocket},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use test_support::{Query, netns};

use super::rig::End;

/// TYPE A.
const TYPE_A: u16 = 1;

/// How long after the last query an answer still counts.
const GRACE: Duration = Duration::from_secs(3);

/// What one series of queries came to.
pub struct Latencies {
    pub sent: usize,
    /// Answers with NOERROR and at least one answer record.
    pub answered: usize,
    /// Answers of another kind (SERVFAIL, empty).
    pub failed: usize,
    /// Milliseconds to each good answer, in ascending order.
    pub ms: Vec<f64>,
}

impl Latencies {
    /// The `p`th percentile (0 < p <= 100) of the good answers' latencies, nearest rank.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let rank = (p / 100.0 * self.ms.len() as f64).ceil() as usize;
        self.ms.get(rank.max(1) - 1).copied()
    }
}

/// Asks `server` for the A record of each of `names` (at most 65536), `rate`
/// per second, from inside `client`'s namespace.
pub fn measure(client: &End, server: SocketAddr, names: &[String], rate: u32) -> Result<Latencies> {
    if names.len() > usize::from(u16::MAX) + 1 {
        bail!("at most 65536 queries per series (one DNS ID each)");
    }
    let queries: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(id, name)| query(id as u16, name))
        .collect();
    // A thread of its own inside the client's namespace.
    let series = netns::spawn_in(&client.name, move || -> Result<Latencies> {
        let socket = UdpSocket::bind(if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
        socket.connect(server)?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let receiver = socket.try_clone()?;
        let count = queries.len();
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let until = Instant::now() + interval * count as u32 + GRACE;
        let answers = thread::spawn(move || receive(&receiver, count, until));
        let start = Instant::now();
        let mut sent_at = Vec::with_capacity(count);
        for (i, query) in queries.iter().enumerate() {
            let due = start + interval * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            sent_at.push(Instant::now());
            socket.send(query)?;
        }
        let answers = answers
            .join()
            .map_err(|_| anyhow::anyhow!("the receiving thread panicked"))?;
        let mut latencies = Latencies {
            sent: count,
            answered: 0,
            failed: 0,
            ms: Vec::new(),
        };
        for (id, at, good) in answers {
            if !good {
                latencies.failed += 1;
                continue;
            }
            latencies.answered += 1;
            let since = at.saturating_duration_since(sent_at[usize::from(id)]);
            latencies.ms.push(since.as_secs_f64() * 1000.0);
        }
        latencies.ms.sort_by(f64::total_cmp);
        Ok(latencies)
    })?;
    series
        .join()
        .map_err(|_| anyhow::anyhow!("the query thread panicked"))?
}

/// Collects the first answer to each ID below `count` until all came or `until`.
fn receive(socket: &UdpSocket, count: usize, until: Instant) -> Vec<(u16, Instant, bool)> {
    let mut seen = vec![false; count];
    let mut answers = Vec::with_capacity(count);
    let mut buf = [0u8; 4096];
    while answers.len() < count && Instant::now() < until {
        let Ok(len) = socket.recv(&mut buf) else { continue };
        let at = Instant::now();
        let Some((id, good)) = judge(&buf[..len]) else { continue };
        if usize::from(id) < count && !std::mem::replace(&mut seen[usize::from(id)], true) {
            answers.push((id, at, good));
        }
    }
    answers
}

/// The ID of a response, and whether it is NOERROR with an answer.
fn judge(message: &[u8]) -> Option<(u16, bool)> {
    let header = message.get(..12)?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    let is_response = header[2] & 0x80 != 0;
    let rcode = header[3] & 0x0f;
    let answers = u16::from_be_bytes([header[6], header[7]]);
    is_response.then_some((id, rcode == 0 && answers > 0))
}

/// A recursive query (RD) for `name` A IN, without EDNS.
fn query(id: u16, name: &str) -> Vec<u8> {
    Query::new(name, TYPE_A).id(id).rd().to_wire()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_in_wire_format() {
        let q = query(0x1234, "a.bc.");
        assert_eq!(
            q,
            [
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1
            ]
        );
    }

    #[test]
    fn responses_are_judged_by_rcode_and_answers() {
        let good = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        let servfail = [0x12, 0x34, 0x81, 0x82, 0, 1, 0, 0, 0, 0, 0, 0];
        let query = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(judge(&good), Some((0x1234, true)));
        assert_eq!(judge(&servfail), Some((0x1234, false)));
        assert_eq!(judge(&query), None);
        assert_eq!(judge(&good[..11]), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let l = Latencies {
            sent: 100,
            answered: 100,
            failed: 0,
            ms: (1..=100).map(f64::from).collect(),
        };
        assert_eq!(l.percentile(50.0), Some(50.0));
        assert_eq!(l.percentile(99.0), Some(99.0));
    }
}

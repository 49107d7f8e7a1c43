//! NOTIFY (RFC 1996) to a zone's secondaries when a new version is served
//! (and at start for the zones we are the primary of), retried until each
//! answers; signed (RFC 8945) for the targets that share a key with us.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use dns_wire::wire::{FLAG_AA, FLAG_QR, OPCODE_MASK, class, opcode, rtype};
use tokio::net::UdpSocket;

use super::records;
use crate::{
    message::{Section, Writer},
    query::Shared,
    stats::Stats,
    tsig::{self, Key},
    zone::tree::Zone,
};

/// Tries per secondary: the first and this many retries less one.
pub(crate) const ATTEMPTS: u32 = 5;
/// Wait for an answer to the first try; doubled for each retry (1+2+4+8+16 s
/// in all, where Knot waits 60 s between its retries: a secondary that is
/// down also refreshes on its own timers).
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// Sends a NOTIFY for `zone`'s current version to each of `targets`, each
/// from its own task.
pub(crate) fn announce(shared: &Arc<Shared>, zone: &Arc<Zone>, targets: &[SocketAddr]) {
    let policies = shared.transfers.policies.load();
    for &target in targets {
        let (shared, zone) = (shared.clone(), zone.clone());
        let key = policies.notify_keys.get(&target).cloned();
        tokio::spawn(async move {
            let id = rand::random::<u16>();
            let mut message = notify_message(&zone, id);
            let signed = key.map(|key| {
                let mac = tsig::sign_request(&mut message, &key, tsig::now());
                (key, mac)
            });
            match send(target, &message, id, signed.as_ref()).await {
                Ok(0) => {
                    Stats::bump(&shared.stats.notify_answered);
                    tracing::info!(zone = %zone.origin, serial = zone.serial, %target, "NOTIFY answered");
                }
                Ok(code) => {
                    Stats::bump(&shared.stats.notify_refused);
                    tracing::warn!(zone = %zone.origin, serial = zone.serial, %target, rcode = code, "NOTIFY answered with an error");
                }
                Err(error) => {
                    Stats::bump(&shared.stats.notify_unanswered);
                    tracing::warn!(zone = %zone.origin, serial = zone.serial, %target, %error, "NOTIFY not answered");
                }
            }
        });
    }
}

/// The NOTIFY message: AA, the zone's SOA as the question and, as Knot and
/// BIND send it, in the answer section (RFC 1996 3.7).
fn notify_message(zone: &Zone, id: u16) -> Vec<u8> {
    let soa = records::soa(zone);
    let flags = (u16::from(opcode::NOTIFY) << 11) | FLAG_AA;
    let mut out = Vec::with_capacity(128);
    let mut w = Writer::new(
        &mut out,
        usize::MAX,
        id,
        flags,
        Some((soa.owner, rtype::SOA, class::IN)),
    );
    // An SOA always fits an unbounded message.
    let _ = w.record(Section::Answer, soa.owner, rtype::SOA, soa.class, soa.ttl, soa.rdata);
    w.finish();
    out
}

/// Sends `message` until `target` answers it; returns the answer's RCODE.
/// A signed NOTIFY (`signed`: the key and our MAC) wants a signed answer:
/// one that fails the check counts as an error (RCODE NOTAUTH).
async fn send(
    target: SocketAddr,
    message: &[u8],
    id: u16,
    signed: Option<&(Arc<Key>, Vec<u8>)>,
) -> std::io::Result<u16> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    // Connected: the kernel drops datagrams from anyone else.
    socket.connect(target).await?;
    let mut wait = FIRST_WAIT;
    let mut buf = vec![0u8; 4096];
    for _ in 0..ATTEMPTS {
        socket.send(message).await?;
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            // A refused port (ICMP) shows as an error: wait out the try.
            let Ok(len) = received else { continue };
            if let Some(code) = answer_code(&buf[..len], id) {
                if let Some((key, mac)) = signed
                    && let Err(error) = tsig::verify_response(&buf[..len], key, tsig::now(), mac)
                {
                    tracing::warn!(%target, %error, "NOTIFY answer's TSIG does not check");
                    return Ok(code.max(dns_wire::wire::rcode::NOTAUTH));
                }
                return Ok(code);
            }
        }
        wait *= 2;
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer after {ATTEMPTS} tries"),
    ))
}

/// The RCODE of a response to our NOTIFY `id`, or `None` for anything else.
fn answer_code(response: &[u8], id: u16) -> Option<u16> {
    let header = response.get(..12)?;
    let flags = u16::from_be_bytes([header[2], header[3]]);
    let ours = u16::from_be_bytes([header[0], header[1]]) == id
        && flags & FLAG_QR != 0
        && (flags & OPCODE_MASK) >> 11 == u16::from(opcode::NOTIFY);
    ours.then_some(flags & 0x000f)
}

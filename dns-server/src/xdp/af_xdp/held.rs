//! Queries an AF_XDP thread holds, frame and all, while the resolver
//! answers them: a resolver's entry the program redirected (no room to
//! grow the frame) whose answer the cache no longer has. The thread cannot
//! wait for the resolution, and nothing else would answer the query (the
//! stack never saw it), so a task resolves it and hands the answer back;
//! the thread then writes it over the frame it kept, as for any reply.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        mpsc::{Receiver, Sender, channel},
    },
    time::Instant,
};

use crate::{
    dnstap,
    query::{Pending, Shared},
};

/// Frames a socket holds at most; past it, a query that needs resolving
/// gets SERVFAIL, as from the UDP server when too many resolutions are in
/// flight, so that the fill ring keeps most of the umem's frames.
pub(super) const MAX_HELD: usize = 256;

/// An answer for a frame the thread holds.
pub(super) struct Resolved {
    /// The frame's address in the umem.
    pub(super) addr: u64,
    /// The query frame's length.
    pub(super) len: u32,
    /// The DNS response; empty when there is none to send.
    pub(super) answer: Vec<u8>,
}

/// The frames one thread holds, and where their answers come back.
pub(super) struct Held {
    count: usize,
    tx: Sender<Resolved>,
    rx: Receiver<Resolved>,
}

impl Held {
    pub(super) fn new() -> Held {
        let (tx, rx) = channel();
        Held { count: 0, tx, rx }
    }

    /// How many frames wait for an answer.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Resolves `pending` (asked by `peer` of `local` in the frame at
    /// `addr`, `len` bytes) on the runtime; the frame is held until
    /// [`Held::answered`] returns its answer. Without a runtime or past
    /// [`MAX_HELD`], writes SERVFAIL into `out` at once and returns false.
    pub(super) fn resolve(
        &mut self,
        shared: &Arc<Shared>,
        pending: Pending,
        (peer, local): (SocketAddr, SocketAddr),
        (addr, len): (u64, u32),
        query: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let runtime = tokio::runtime::Handle::try_current().ok();
        let Some(runtime) = runtime.filter(|_| self.count < MAX_HELD) else {
            shared.overloaded(&pending, out);
            return false;
        };
        let logged = (shared.dnstap.as_ref())
            .and_then(|tap| tap.query(dnstap::Role::Client, false, Some(peer), Some(local), query));
        let (shared, tx, arrived) = (shared.clone(), self.tx.clone(), Instant::now());
        self.count += 1;
        runtime.spawn(async move {
            let mut answer = Vec::with_capacity(512);
            shared.resolve_for(&pending, peer, arrived, logged, &mut answer).await;
            // The thread may have stopped meanwhile: its frames went with its socket.
            let _ = tx.send(Resolved { addr, len, answer });
        });
        true
    }

    /// The next answer that came back, if any; its frame is no longer held.
    pub(super) fn answered(&mut self) -> Option<Resolved> {
        let resolved = self.rx.try_recv().ok()?;
        self.count -= 1;
        Some(resolved)
    }
}

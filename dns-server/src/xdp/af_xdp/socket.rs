//! One AF_XDP socket on one RX queue (its umem, its four rings), and the
//! loop of the thread that answers the frames the program redirects to it.
//!
//! Every frame of the umem goes round one cycle: fill ring, RX ring (a
//! query), TX ring (its reply, written over it), completion ring, fill
//! ring again. A frame that gets no reply goes straight back to the fill
//! ring, so the thread never has to look for a free one; a frame whose
//! query the resolver must answer first is held meanwhile (`held`).

use std::{
    ffi::CString,
    io,
    num::NonZeroU32,
    ptr::NonNull,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use xdpilone::{DeviceQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, Umem, UmemConfig, xdp::XdpDesc};

use super::{
    frame::{self, Unsent},
    held::{Held, Resolved},
};
use crate::{
    dnstap,
    query::{Reply, Shared, Transport},
    stats::Stats,
};

/// Bytes of a umem frame: a page, as Knot's and the kernel's samples use;
/// room for any answer an Ethernet MTU allows.
pub(super) const FRAME_SIZE: u32 = 4096;
/// Frames per socket (16 MiB): some milliseconds of queries at full rate.
/// The thread shares its CPU with the kernel's receive work (a threaded
/// NAPI poll, or softirqs), which may run for a scheduler slice while the
/// thread waits: the frames must last that long, or the kernel finds the
/// fill ring empty and drops queries it has already done the work for
/// (with 1,024, a fifth of those redirected on the signed bench, issue 14).
const FRAMES: u32 = 4096;
/// Descriptors taken from the RX ring at a time, and replies sent per
/// wake-up of the kernel (see [`send_room`]): fewer system calls per reply
/// when the ring has a backlog.
const BATCH: u32 = 256;
/// How long the thread sleeps in `poll` for a frame before it looks at its stop flag.
const IDLE_POLL_MS: i32 = 100;

/// `XDP_MAX_TX_SKB_BUDGET` (linux/if_xdp.h, Linux 6.17): how many frames
/// copy mode sends per wake-up (32 without it). Not in the libc crate yet.
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// Lets copy mode send a whole batch per wake-up and keep every frame of
/// the umem in flight: the send buffer's default (`wmem_default`, about
/// 90 replies' socket buffers) would otherwise hold replies on the TX ring
/// while the peer takes the earlier ones, and with them their frames away
/// from the fill ring. The umem already bounds what is in flight. Either
/// may fail (an older kernel, no `CAP_NET_ADMIN` for the buffer beyond
/// `wmem_max`): the thread then wakes the kernel more often ([`send`]).
fn send_room(fd: libc::c_int) {
    let set = |level, name, value: libc::c_int| {
        // SAFETY: a valid int option of `size_of::<c_int>()` bytes on our socket.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&raw const value).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // The kernel doubles it for the skbs' overhead.
    let sndbuf = (FRAMES * FRAME_SIZE) as libc::c_int;
    if let Err(error) =
        set(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, sndbuf).or_else(|_| set(libc::SOL_SOCKET, libc::SO_SNDBUF, sndbuf))
    {
        tracing::debug!(%error, "AF_XDP send buffer left at its default");
    }
    if let Err(error) = set(libc::SOL_XDP, XDP_MAX_TX_SKB_BUDGET, BATCH as libc::c_int) {
        tracing::debug!(%error, "AF_XDP copy mode sends its default budget per wake-up");
    }
}

fn errno(e: xdpilone::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.get_raw())
}

/// The umem's memory: anonymous pages, unmapped on drop.
struct Area {
    ptr: NonNull<u8>,
    len: usize,
}

impl Area {
    fn new(len: usize) -> io::Result<Area> {
        // SAFETY: an anonymous private mapping; no file, no fixed address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap gave a null pointer"))?;
        Ok(Area { ptr, len })
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; the umem that
        // used it was dropped before (see `Xsk`'s field order).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A bound socket with its rings. Fields drop in order: the rings and the
/// socket (which close its descriptor), the umem, then its memory.
pub(super) struct Xsk {
    rx: RingRx,
    tx: RingTx,
    device: DeviceQueue,
    _umem: Umem,
    area: Area,
}

impl Xsk {
    /// A socket bound to `queue` of `iface` (copy mode where the driver
    /// has no zero-copy, as veth), its fill ring full.
    pub(super) fn open(iface: &str, queue: u32) -> io::Result<Xsk> {
        let area = Area::new((FRAMES * FRAME_SIZE) as usize)?;
        let config = UmemConfig {
            fill_size: FRAMES,
            complete_size: FRAMES,
            frame_size: FRAME_SIZE,
            headroom: 0,
            flags: 0,
        };
        // SAFETY: the area is page-aligned (mmap), FRAMES * FRAME_SIZE bytes,
        // and outlives the umem (`Xsk`'s field order).
        let umem = unsafe { Umem::new(config, NonNull::slice_from_raw_parts(area.ptr, area.len)) }.map_err(errno)?;
        let name = CString::new(iface).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut info = IfInfo::invalid();
        info.from_name(&name).map_err(errno)?;
        info.set_queue(queue);
        let socket = Socket::with_shared(&info, &umem).map_err(errno)?;
        let mut device = umem.fq_cq(&socket).map_err(errno)?;
        let rings = SocketConfig {
            rx_size: NonZeroU32::new(FRAMES),
            tx_size: NonZeroU32::new(FRAMES),
            bind_flags: SocketConfig::XDP_BIND_NEED_WAKEUP,
        };
        let user = umem.rx_tx(&socket, &rings).map_err(errno)?;
        let rx = user.map_rx().map_err(errno)?;
        let tx = user.map_tx().map_err(errno)?;
        umem.bind(&user).map_err(errno)?;
        send_room(rx.as_raw_fd());
        {
            let mut fill = device.fill(FRAMES);
            fill.insert((0..FRAMES).map(|i| u64::from(i) * u64::from(FRAME_SIZE)));
            fill.commit();
        }
        Ok(Xsk {
            rx,
            tx,
            device,
            _umem: umem,
            area,
        })
    }

    /// The socket's descriptor, for the program's socket map.
    pub(super) fn fd(&self) -> i32 {
        self.rx.as_raw_fd()
    }

    /// The frame buffer a descriptor points into, from its address to its
    /// frame's end; `None` when the kernel gave an address outside the umem.
    fn buffer(&mut self, desc: &XdpDesc) -> Option<&mut [u8]> {
        let start = usize::try_from(desc.addr).ok()?;
        let end = (start / FRAME_SIZE as usize + 1) * FRAME_SIZE as usize;
        if end > self.area.len || start + desc.len as usize > end {
            return None;
        }
        // SAFETY: inside the area (checked above); the frame is ours from
        // the RX ring until it goes on the TX or fill ring, and the kernel
        // touches no other frame's bytes through it.
        Some(unsafe { std::slice::from_raw_parts_mut(self.area.ptr.as_ptr().add(start), end - start) })
    }
}

/// What the AF_XDP threads did, summed (each thread adds its own counts
/// once per batch, not per packet).
#[derive(Default)]
pub(crate) struct Counters {
    /// Replies put on a TX ring.
    pub answered: AtomicU64,
    /// Replies dropped: the TX ring was full.
    pub tx_full: AtomicU64,
    /// Frames that were no UDP datagram the thread could read.
    pub unparsable: AtomicU64,
    /// Replies sent once the resolver answered (the cache no longer held
    /// the answer of a resolver's entry the program redirected); also in `answered`.
    pub resolved: AtomicU64,
    /// Queries the responder dropped.
    pub unanswered: AtomicU64,
    /// Replies larger than the interface's MTU, or than a umem frame: dropped.
    pub too_big: AtomicU64,
    /// The kernel's counts for the sockets (`XDP_STATISTICS`), read by each
    /// thread once a second: frames the kernel dropped before
    /// they reached an RX ring (`rx_dropped`: e.g. larger than a frame),
    /// because the RX ring was full (`rx_ring_full`: the thread falls
    /// behind), or found the fill ring empty (`fill_ring_empty`: no free
    /// frame to receive into), and descriptors it refused as invalid.
    pub rx_dropped: AtomicU64,
    /// See [`Counters::rx_dropped`].
    pub rx_ring_full: AtomicU64,
    /// See [`Counters::rx_dropped`].
    pub fill_ring_empty: AtomicU64,
    /// See [`Counters::rx_dropped`] (fill and TX descriptors together).
    pub invalid_descs: AtomicU64,
}

/// How often a busy thread reads its socket's kernel counts.
const KERNEL_COUNTS_EVERY: Duration = Duration::from_secs(1);

/// The kernel's counts for one socket, as last read.
#[derive(Default)]
struct KernelCounts {
    rx_dropped: u64,
    rx_ring_full: u64,
    fill_ring_empty: u64,
    invalid_descs: u64,
    read_at: Option<Instant>,
    /// A read failed (said once in the log).
    failed: bool,
}

impl KernelCounts {
    /// Reads the socket's counts (if a second has passed since the last
    /// read) and adds what grew since then to `c`.
    fn update(&mut self, xsk: &Xsk, c: &Counters) {
        let now = Instant::now();
        if self
            .read_at
            .is_some_and(|at| now.duration_since(at) < KERNEL_COUNTS_EVERY)
        {
            return;
        }
        self.read_at = Some(now);
        let stats = match xsk.device.statistics_v2() {
            Ok(stats) => stats,
            Err(err) => {
                if !self.failed {
                    tracing::warn!(error = %errno(err), "cannot read an AF_XDP socket's kernel counts");
                    self.failed = true;
                }
                return;
            }
        };
        for (last, read, total) in [
            (&mut self.rx_dropped, stats.rx_dropped, &c.rx_dropped),
            (&mut self.rx_ring_full, stats.rx_ring_full, &c.rx_ring_full),
            (
                &mut self.fill_ring_empty,
                stats.rx_fill_ring_empty_descs,
                &c.fill_ring_empty,
            ),
            (
                &mut self.invalid_descs,
                stats.rx_invalid_descs + stats.tx_invalid_descs,
                &c.invalid_descs,
            ),
        ] {
            if read > *last {
                total.fetch_add(read - *last, Ordering::Relaxed);
            }
            *last = read;
        }
    }
}

/// One thread's counts since it last added them to [`Counters`].
#[derive(Default)]
struct Counts {
    answered: u64,
    tx_full: u64,
    unparsable: u64,
    resolved: u64,
    unanswered: u64,
    too_big: u64,
}

impl Counts {
    fn add_to(&mut self, c: &Counters) {
        for (mine, theirs) in [
            (&mut self.answered, &c.answered),
            (&mut self.tx_full, &c.tx_full),
            (&mut self.unparsable, &c.unparsable),
            (&mut self.resolved, &c.resolved),
            (&mut self.unanswered, &c.unanswered),
            (&mut self.too_big, &c.too_big),
        ] {
            if *mine > 0 {
                theirs.fetch_add(std::mem::take(mine), Ordering::Relaxed);
            }
        }
    }
}

/// Answers on `xsk` until `stop` is set.
pub(super) fn serve(mut xsk: Xsk, shared: Arc<Shared>, mtu: usize, stop: Arc<AtomicBool>, counters: Arc<Counters>) {
    let mut out = Vec::with_capacity(FRAME_SIZE as usize);
    let mut replies: Vec<XdpDesc> = Vec::with_capacity(BATCH as usize);
    let mut free: Vec<u64> = Vec::with_capacity(FRAMES as usize);
    let mut counts = Counts::default();
    let mut kernel = KernelCounts::default();
    let mut held = Held::new();
    while !stop.load(Ordering::Relaxed) {
        // Frames the kernel has sent: their queries' frames again.
        {
            let mut done = xsk.device.complete(FRAMES);
            while let Some(addr) = done.read() {
                free.push(addr);
            }
            done.release();
        }
        let mut descs = [None; BATCH as usize];
        {
            let mut received = xsk.rx.receive(BATCH);
            for slot in descs.iter_mut() {
                *slot = received.read();
                if slot.is_none() {
                    break;
                }
            }
            received.release();
        }
        let mut got = 0;
        for desc in descs.into_iter().map_while(|d| d) {
            got += 1;
            match answer(&mut xsk, &desc, &shared, mtu, &mut out, &mut held, &mut counts) {
                Answer::Reply(len) => replies.push(XdpDesc {
                    addr: desc.addr,
                    len,
                    options: 0,
                }),
                Answer::Held => {}
                Answer::None => free.push(desc.addr),
            }
        }
        // The resolver's answers for frames held.
        while let Some(resolved) = held.answered() {
            match reply_resolved(&mut xsk, &resolved, mtu, &mut counts) {
                Some(len) => replies.push(XdpDesc {
                    addr: resolved.addr,
                    len,
                    options: 0,
                }),
                None => free.push(resolved.addr),
            }
        }
        if !replies.is_empty() {
            let sent = put_all(&replies, |rest| {
                let mut tx = xsk.tx.transmit(rest.len() as u32);
                let put = tx.insert(rest.iter().copied());
                tx.commit();
                put
            });
            counts.answered += sent as u64;
            counts.tx_full += (replies.len() - sent) as u64;
            free.extend(replies[sent..].iter().map(|d| d.addr));
            replies.clear();
            send(&xsk.tx);
        }
        if !free.is_empty() {
            let put = put_all(&free, |rest| {
                let mut fill = xsk.device.fill(rest.len() as u32);
                let put = fill.insert(rest.iter().copied());
                fill.commit();
                put
            });
            free.drain(..put);
        }
        counts.add_to(&counters);
        kernel.update(&xsk, &counters);
        if got == 0 {
            // Nothing to do: sleep until a frame arrives (or a completion or
            // a resolution, shortly, while replies or resolutions are in flight).
            let wait = if xsk.tx.pending() > 0 || held.count() > 0 {
                1
            } else {
                IDLE_POLL_MS
            };
            let mut ready = libc::pollfd {
                fd: xsk.fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; the timeout bounds the wait.
            unsafe { libc::poll(&mut ready, 1, wait) };
        }
    }
}

/// Puts `items` on a ring with `put` (which puts what it can of a slice
/// and says how many) until all are on it or the ring is full; how many
/// are. One `put` may take fewer than there is room for: xdpilone reserves
/// by its cached view of the kernel's consumer and looks again only when
/// that view shows no room at all, so a single call would count replies as
/// dropped (TX ring full) or leave frames off the fill ring while the
/// kernel had already made room for them.
fn put_all<T>(items: &[T], mut put: impl FnMut(&[T]) -> u32) -> usize {
    let mut done = 0;
    while done < items.len() {
        match put(&items[done..]) {
            0 => break,
            n => done += n as usize,
        }
    }
    done
}

/// Wakes the kernel to send what the TX ring holds. Copy mode (veth, and
/// drivers without zero-copy) sends at most the socket's budget per
/// wake-up (32 frames where `XDP_MAX_TX_SKB_BUDGET` is unknown), so this
/// wakes it again while it takes more: replies left on the ring would hold
/// their frames away from the fill ring until the next turn. Stops when
/// the kernel takes nothing more (the device's queue or the socket's send
/// buffer is full): the next turn, or `poll`, tries again.
fn send(tx: &RingTx) {
    let mut pending = tx.pending();
    // A driver with zero-copy may not need the call at all.
    while pending > 0 && tx.needs_wakeup() {
        tx.wake();
        let left = tx.pending();
        if left >= pending {
            break;
        }
        pending = left;
    }
}

/// What became of a received frame.
enum Answer {
    /// Its reply, written over it, this long.
    Reply(u32),
    /// Held until the resolver answers (see `held`).
    Held,
    /// Nothing to send (counted): the frame is free again.
    None,
}

/// Answers the query in one received frame, writing the reply over it.
fn answer(
    xsk: &mut Xsk,
    desc: &XdpDesc,
    shared: &Arc<Shared>,
    mtu: usize,
    out: &mut Vec<u8>,
    held: &mut Held,
    counts: &mut Counts,
) -> Answer {
    let Some((buf, d)) = received(xsk, desc, counts) else {
        return Answer::None;
    };
    Stats::bump(&shared.stats.udp_queries);
    out.clear();
    let query = d.message(buf);
    // As the UDP server answers (server/udp.rs), with the same responder.
    let role = match shared.respond(query, Transport::Udp, d.peer.ip(), out) {
        Ok(Reply::Ready) => dnstap::Role::Auth,
        Ok(Reply::Resolved) => dnstap::Role::Client,
        // A resolver's entry whose answer left the cache since the program's
        // map was written (or a zone removed since, whose name the resolver
        // now answers): resolved while the frame waits, as the UDP server
        // would; nothing else would answer it, the stack never saw it.
        Ok(Reply::Recurse(pending)) => {
            out.clear();
            let frame = (desc.addr, desc.len);
            if held.resolve(shared, pending, (d.peer, d.local), frame, query, out) {
                return Answer::Held;
            }
            dnstap::Role::Client
        }
        Err(_) => {
            counts.unanswered += 1;
            return Answer::None;
        }
    };
    if out.is_empty() {
        counts.unanswered += 1;
        return Answer::None;
    }
    if let Some(tap) = &shared.dnstap {
        tap.exchange(role, false, d.peer, Some(d.local), query, out);
    }
    if let Some(metrics) = &shared.metrics {
        metrics.record_in_batch(d.peer.ip(), query, out);
        metrics.record_zone(&shared.catalog, query, out);
    }
    write_reply(buf, &d, out, mtu, counts).map_or(Answer::None, Answer::Reply)
}

/// A received frame's buffer and its datagram; `None` (counted as
/// unparsable) when it is out of the umem or no UDP datagram.
fn received<'x>(xsk: &'x mut Xsk, desc: &XdpDesc, counts: &mut Counts) -> Option<(&'x mut [u8], frame::Datagram)> {
    let parsed = xsk
        .buffer(desc)
        .and_then(|buf| frame::parse(&buf[..desc.len as usize]).map(|d| (buf, d)));
    if parsed.is_none() {
        counts.unparsable += 1;
    }
    parsed
}

/// Writes the answer the resolver gave for a held frame over it.
fn reply_resolved(xsk: &mut Xsk, resolved: &Resolved, mtu: usize, counts: &mut Counts) -> Option<u32> {
    let desc = XdpDesc {
        addr: resolved.addr,
        len: resolved.len,
        options: 0,
    };
    // The frame is as it was received (it was parsed then).
    let (buf, d) = received(xsk, &desc, counts)?;
    if resolved.answer.is_empty() {
        counts.unanswered += 1;
        return None;
    }
    let len = write_reply(buf, &d, &resolved.answer, mtu, counts)?;
    counts.resolved += 1;
    Some(len)
}

/// The reply frame's length, or `None` (counted) when it cannot be sent.
fn write_reply(buf: &mut [u8], d: &frame::Datagram, answer: &[u8], mtu: usize, counts: &mut Counts) -> Option<u32> {
    match frame::reply(buf, d, answer, mtu) {
        Ok(len) => Some(len as u32),
        Err(Unsent::TooBig | Unsent::NoRoom) => {
            counts.too_big += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::put_all;

    /// A ring that takes at most `per_call` items a call, `room` in all.
    fn ring(room: usize, per_call: usize) -> impl FnMut(&[u64]) -> u32 {
        let mut left = room;
        move |items: &[u64]| {
            let n = items.len().min(per_call).min(left);
            left -= n;
            n as u32
        }
    }

    #[test]
    fn puts_until_all_are_on_the_ring_or_it_is_full() {
        let items: Vec<u64> = (0..10).collect();
        for (room, per_call, expected) in [(10, 10, 10), (10, 3, 10), (100, 1, 10), (7, 3, 7), (0, 5, 0)] {
            assert_eq!(
                put_all(&items, ring(room, per_call)),
                expected,
                "room {room}, {per_call} a call: expected {expected} put"
            );
        }
        assert_eq!(put_all::<u64>(&[], ring(5, 5)), 0, "nothing to put: nothing put");
    }
}

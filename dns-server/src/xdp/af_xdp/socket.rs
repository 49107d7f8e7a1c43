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
/// Frames per socket (4 MiB): some milliseconds of queries at full rate.
const FRAMES: u32 = 1024;
/// Descriptors taken from the RX ring at a time.
const BATCH: u32 = 64;
/// How long the thread sleeps in `poll` for a frame before it looks at its stop flag.
const IDLE_POLL_MS: i32 = 100;

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
            let sent = {
                let mut tx = xsk.tx.transmit(replies.len() as u32);
                let sent = tx.insert(replies.iter().copied()) as usize;
                tx.commit();
                sent
            };
            counts.answered += sent as u64;
            counts.tx_full += (replies.len() - sent) as u64;
            free.extend(replies[sent..].iter().map(|d| d.addr));
            replies.clear();
            // Copy mode sends in this call; a driver with zero-copy may not need it.
            if xsk.tx.needs_wakeup() {
                xsk.tx.wake();
            }
        }
        if !free.is_empty() {
            let put = {
                let mut fill = xsk.device.fill(free.len() as u32);
                let put = fill.insert(free.iter().copied()) as usize;
                fill.commit();
                put
            };
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

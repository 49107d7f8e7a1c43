//! Sending prebuilt frames at full rate from a network namespace: one
//! thread, an AF_PACKET raw socket that skips the qdisc, `sendmmsg` batches,
//! bounded in packets and time.
use std::{
    ffi::CString,
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow, bail};

use test_support::netns;

use crate::signals;

/// Frames per `sendmmsg` call: enough to amortise the system call.
const BATCH: usize = 64;

/// The flood's niceness: the real queries' generator shares its CPU and must
/// keep its fixed rate, so the flood takes what CPU time is left.
const NICE: libc::c_int = 10;

/// Where and how much to send.
pub struct Plan {
    /// The network namespace (under /var/run/netns) and the interface in it.
    pub netns: String,
    pub iface: String,
    /// CPU to run on.
    pub cpu: u32,
    /// Stop after this many frames...
    pub max_packets: u64,
    /// ...or after this long, whichever comes first (or when stopped).
    pub max_time: Duration,
}

/// What a flood sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    pub packets: u64,
    /// Frames offered in a batch that the kernel did not send (a full
    /// transmit ring): not counted above.
    pub refused: u64,
    pub elapsed: Duration,
}

impl Sent {
    pub fn per_second(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A flood in progress; dropping it stops it.
pub struct Flood {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Sent>>>,
}

impl Flood {
    /// Starts sending `frames` round and round; returns once the socket is
    /// open and sending has begun, or with the reason it could not.
    pub fn start(plan: Plan, frames: Arc<Vec<Vec<u8>>>) -> Result<Flood> {
        if frames.is_empty() {
            bail!("no frames to send");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let stop = stop.clone();
            thread::Builder::new()
                .name("junk-flood".into())
                .spawn(move || -> Result<Sent> {
                    let (socket, address) = match open(&plan) {
                        Ok(opened) => {
                            let _ = ready_tx.send(Ok(()));
                            opened
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(format!("{err:#}")));
                            return Err(err);
                        }
                    };
                    send(&socket, &address, &frames, &plan, &stop)
                })
                .context("starting the junk flood's thread")?
        };
        let mut flood = Flood {
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(flood),
            Ok(Err(reason)) => {
                let _ = flood.finish();
                Err(anyhow!(reason))
            }
            Err(_) => Err(flood
                .finish()
                .err()
                .unwrap_or_else(|| anyhow!("the flood's thread ended early"))),
        }
    }

    /// Stops the flood and says what it sent.
    pub fn finish(&mut self) -> Result<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().context("the flood was finished already")?;
        thread.join().map_err(|_| anyhow!("the junk flood's thread panicked"))?
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

/// On this thread: enters the namespace, pins and renices itself, opens the
/// socket bound to the interface; returns it with the interface's address.
fn open(plan: &Plan) -> Result<(OwnedFd, libc::sockaddr_ll)> {
    let netns = netns::open(&plan.netns)?;
    netns::enter(&netns).context("entering the client namespace")?;
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(plan.cpu as usize, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
            return Err(io::Error::last_os_error()).context("pinning the flood's thread");
        }
        // On Linux, PRIO_PROCESS with a thread id renices that thread alone.
        let tid = libc::gettid() as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, NICE) != 0 {
            return Err(io::Error::last_os_error()).context("renicing the flood's thread");
        }
    }
    let name = CString::new(plan.iface.as_str())?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("interface {}", plan.iface));
    }
    // Protocol 0: this socket only sends, so it gets no copy of received frames.
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("opening an AF_PACKET socket");
    }
    // SAFETY: a new descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let address = link_address(ifindex);
    let on: libc::c_int = 1;
    // SAFETY: the option's value is a c_int that lives across the call; the
    // address is a sockaddr_ll of the size given.
    unsafe {
        // Straight to the driver, as pktgen would: the qdisc is not what is measured.
        if libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&raw const on).cast(),
            std::mem::size_of_val(&on) as libc::socklen_t,
        ) != 0
        {
            return Err(io::Error::last_os_error()).context("PACKET_QDISC_BYPASS");
        }
        if libc::bind(
            fd,
            (&raw const address).cast(),
            std::mem::size_of_val(&address) as libc::socklen_t,
        ) != 0
        {
            return Err(io::Error::last_os_error()).context("binding the AF_PACKET socket");
        }
    }
    Ok((socket, address))
}

/// The interface as a destination, for frames that carry IPv4.
fn link_address(ifindex: u32) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as libc::c_ushort;
    address.sll_protocol = (libc::ETH_P_IP as u16).to_be();
    address.sll_ifindex = ifindex as libc::c_int;
    address
}

/// Sends `frames` round and round in batches until a bound is reached. Each
/// message carries `address`, which tells the kernel the frames' protocol
/// (IPv4): the socket's own protocol, 0, does not.
fn send(
    socket: &OwnedFd,
    address: &libc::sockaddr_ll,
    frames: &[Vec<u8>],
    plan: &Plan,
    stop: &AtomicBool,
) -> Result<Sent> {
    let mut iovecs: Vec<libc::iovec> = frames
        .iter()
        .map(|f| libc::iovec {
            iov_base: f.as_ptr().cast_mut().cast(),
            iov_len: f.len(),
        })
        .collect();
    // One message per frame, built once; each batch is a window onto them.
    let mut messages: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .map(|iov| {
            // SAFETY: msghdr is plain data; zeroes are valid (no control data, no flags).
            let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
            header.msg_name = std::ptr::from_ref(address).cast_mut().cast();
            header.msg_namelen = std::mem::size_of_val(address) as libc::socklen_t;
            header.msg_iov = iov;
            header.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: header,
                msg_len: 0,
            }
        })
        .collect();

    let start = Instant::now();
    let deadline = start + plan.max_time;
    let mut sent = Sent::default();
    let mut next = 0;
    while sent.packets < plan.max_packets
        && !stop.load(Ordering::Relaxed)
        && signals::check_interrupt().is_ok()
        && Instant::now() < deadline
    {
        let left = usize::try_from(plan.max_packets - sent.packets).unwrap_or(usize::MAX);
        let batch = BATCH.min(messages.len() - next).min(left);
        // SAFETY: `batch` messages from `next` lie inside `messages`, whose
        // pointers (address, iovecs, frames) outlive the call.
        let n = unsafe { libc::sendmmsg(socket.as_raw_fd(), messages[next..].as_mut_ptr(), batch as u32, 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                // The device's queue is full: the receiver is behind. Offer the
                // next batch; what was refused was not sent.
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EBUSY) => {
                    sent.refused += batch as u64;
                    thread::yield_now();
                }
                Some(libc::EINTR) => {}
                _ => return Err(err).context("sendmmsg on the AF_PACKET socket"),
            }
        } else {
            sent.packets += n as u64;
            // A short count means the rest of the batch was refused.
            sent.refused += (batch - n as usize) as u64;
        }
        next = (next + batch) % messages.len();
    }
    sent.elapsed = start.elapsed();
    Ok(sent)
}

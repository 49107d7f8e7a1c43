//! The AF_XDP path (`[xdp] af_xdp`): a socket per RX queue of each XDP
//! interface, where the program redirects the hits whose answer the frame
//! has no room to grow to, as Knot's XDP mode answers through AF_XDP.
//!
//! Without it those frames go up the kernel's stack to the UDP server and
//! back down (on veth most signed answers do: see `Stat::NoRoom`). A thread
//! per socket answers them with the UDP server's responder, so the bytes
//! are the same, and writes each reply over its query's frame.
//!
//! - `frame`: finding the query in a frame, writing the reply.
//! - `socket`: one socket's umem and rings, and its thread's loop.
//! - `held`: the frames a thread holds while the resolver answers them.

mod frame;
mod held;
mod socket;

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use xdp_abi::{XSK_INTERFACES, XSK_QUEUES};

pub(crate) use socket::Counters;

use super::SharedMaps;
use crate::query::Shared;

/// The sockets and their threads; dropping it takes the sockets out of the
/// program's map (their frames go to the stack again), then stops the threads.
pub(crate) struct AfXdp {
    maps: SharedMaps,
    queues: Vec<Queue>,
    ifindexes: Vec<u32>,
    counters: Arc<Counters>,
}

/// One socket's thread and where it is in the program's map.
struct Queue {
    slot: u32,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AfXdp {
    /// Opens a socket on every RX queue of `interfaces` (those the program
    /// is attached to) and registers it with the program. `None`, with one
    /// warning per interface, where no socket can be made (a kernel without
    /// AF_XDP, a program without the socket map): those frames go to the
    /// stack, as without AF_XDP.
    pub(crate) fn start(maps: &SharedMaps, interfaces: &[&str], shared: &Arc<Shared>) -> Option<AfXdp> {
        let mut af_xdp = AfXdp {
            maps: maps.clone(),
            queues: Vec::new(),
            ifindexes: Vec::new(),
            counters: Arc::default(),
        };
        if interfaces.len() > XSK_INTERFACES as usize {
            tracing::warn!(
                interfaces = interfaces.len(),
                max = XSK_INTERFACES,
                "AF_XDP sockets on the first interfaces only"
            );
        }
        for (i, iface) in interfaces.iter().take(XSK_INTERFACES as usize).enumerate() {
            let first = i as u32 * XSK_QUEUES;
            match af_xdp.open_interface(iface, first, shared) {
                Ok(0) => {}
                Ok(queues) => tracing::info!(iface, queues, "AF_XDP sockets answer the hits without room"),
                Err(error) => tracing::warn!(
                    iface,
                    %error,
                    "no AF_XDP socket; hits without room to grow go to the stack, as without [xdp] af_xdp"
                ),
            }
        }
        (!af_xdp.queues.is_empty()).then_some(af_xdp)
    }

    /// Sockets on `iface`'s queues from 0 up to the first that cannot be
    /// bound (past the last queue, binding fails: that is how the count is
    /// learnt, in the server's network namespace); how many were made.
    fn open_interface(&mut self, iface: &str, first: u32, shared: &Arc<Shared>) -> io::Result<u32> {
        let ifindex = ifindex(iface)?;
        let mtu = mtu(iface)?;
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut opened = 0;
        for queue in 0..XSK_QUEUES {
            let (ready, result) = std::sync::mpsc::channel();
            let stop = Arc::new(AtomicBool::new(false));
            let (name, shared, counters, stopped) =
                (iface.to_string(), shared.clone(), self.counters.clone(), stop.clone());
            let runtime = runtime.clone();
            // The socket is made on its thread, which owns it (its umem is not Send).
            let thread = std::thread::Builder::new()
                .name(format!("af-xdp-{iface}-{queue}"))
                .spawn(move || {
                    let xsk = match socket::Xsk::open(&name, queue) {
                        Ok(xsk) => xsk,
                        Err(e) => return drop(ready.send(Err(e))),
                    };
                    let _ = ready.send(Ok(xsk.fd()));
                    // The responder may spawn (a prefetch): it needs the runtime.
                    let _entered = runtime.as_ref().map(|r| r.enter());
                    socket::serve(xsk, shared, mtu, stopped, counters);
                })?;
            let mut q = Queue {
                slot: first + queue,
                stop,
                thread: Some(thread),
            };
            let registered = match result.recv() {
                Ok(Ok(fd)) => self.register(q.slot, fd),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(io::Error::other("the AF_XDP thread ended")),
            };
            match registered {
                Ok(()) => {
                    self.queues.push(q);
                    opened += 1;
                }
                // Past the last queue: done (queue 0 always exists).
                Err(e) if queue > 0 => {
                    tracing::debug!(iface, queue, error = %e, "no AF_XDP socket on this queue");
                    q.stop();
                    break;
                }
                Err(e) => {
                    q.stop();
                    return Err(e);
                }
            }
        }
        if opened > 0 {
            let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
            let ifaces = maps.xsk_ifaces.as_mut().ok_or_else(old_program)?;
            ifaces.insert(ifindex, first, 0).map_err(io::Error::other)?;
            self.ifindexes.push(ifindex);
        }
        Ok(opened)
    }

    /// Puts the socket `fd` in the program's map at `slot`.
    fn register(&self, slot: u32, fd: i32) -> io::Result<()> {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let xsks = maps.xsks.as_mut().ok_or_else(old_program)?;
        // SAFETY: the socket's thread keeps `fd` open until it is stopped,
        // which happens after this call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        xsks.set(slot, fd, 0).map_err(io::Error::other)
    }

    /// What the threads did so far.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }
}

fn old_program() -> io::Error {
    io::Error::other("the loaded XDP program has no AF_XDP socket map")
}

impl Queue {
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for AfXdp {
    fn drop(&mut self) {
        {
            let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(ifaces) = maps.xsk_ifaces.as_mut() {
                for ifindex in &self.ifindexes {
                    let _ = ifaces.remove(ifindex);
                }
            }
            if let Some(xsks) = maps.xsks.as_mut() {
                for q in &self.queues {
                    let _ = xsks.unset(q.slot);
                }
            }
        }
        // Each thread's socket closes as its loop ends.
        for q in &mut self.queues {
            q.stop();
        }
        tracing::info!(sockets = self.queues.len(), "AF_XDP sockets closed");
    }
}

/// The interface's index, in this network namespace.
fn ifindex(iface: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(iface).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated name.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}

/// The interface's MTU (SIOCGIFMTU: sysfs may show another namespace's).
fn mtu(iface: &str) -> io::Result<usize> {
    // SAFETY: a plain socket call; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just made and is owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = iface.as_bytes();
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    for (to, from) in req.ifr_name.iter_mut().zip(name) {
        *to = *from as libc::c_char;
    }
    // SAFETY: a valid socket and ifreq; SIOCGIFMTU writes `ifru_mtu`.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the union's member the ioctl wrote.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).map_err(|_| io::Error::other("negative MTU"))
}

//! recvmmsg/sendmmsg batches: one system call for many datagrams.

use std::{io, mem, os::fd::RawFd, ptr};

/// Datagrams taken per system call.
const BATCH: usize = 32;
/// Largest query accepted; longer ones arrive truncated and are dropped.
const MAX_QUERY: usize = 4096;

/// Buffers for one batch: queries in, responses out, peer addresses.
pub(crate) struct Batch {
    rx: Vec<[u8; MAX_QUERY]>,
    rx_len: [usize; BATCH],
    addrs: [libc::sockaddr_storage; BATCH],
    addr_len: [libc::socklen_t; BATCH],
    tx: Vec<Vec<u8>>,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// Empty buffers.
    pub(crate) fn new() -> Batch {
        Batch {
            rx: vec![[0; MAX_QUERY]; BATCH],
            rx_len: [0; BATCH],
            // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
            addrs: unsafe { mem::zeroed() },
            addr_len: [0; BATCH],
            tx: (0..BATCH).map(|_| Vec::with_capacity(1232)).collect(),
        }
    }

    /// The query bytes of datagram `i` and the buffer for its response
    /// (left empty for no response).
    pub(crate) fn slot(&mut self, i: usize) -> (&[u8], &mut Vec<u8>) {
        (&self.rx[i][..self.rx_len[i]], &mut self.tx[i])
    }

    /// The peer that sent datagram `i`.
    pub(crate) fn peer(&self, i: usize) -> Option<std::net::SocketAddr> {
        use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
        let storage = &self.addrs[i];
        match i32::from(storage.ss_family) {
            libc::AF_INET if self.addr_len[i] as usize >= mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin: &libc::sockaddr_in = unsafe { &*ptr::from_ref(storage).cast() };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if self.addr_len[i] as usize >= mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6: &libc::sockaddr_in6 = unsafe { &*ptr::from_ref(storage).cast() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Receives up to a batch without blocking; `WouldBlock` when none waits.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: iovec is plain old data (a pointer and a length); all zeroes is valid.
        let mut iov: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        // SAFETY: mmsghdr is plain old data; all zeroes is valid.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        for i in 0..BATCH {
            iov[i] = libc::iovec {
                iov_base: self.rx[i].as_mut_ptr().cast(),
                iov_len: MAX_QUERY,
            };
            hdrs[i].msg_hdr.msg_name = ptr::from_mut(&mut self.addrs[i]).cast();
            hdrs[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every pointer refers to buffers that outlive the call, with the lengths given.
        let n = unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), BATCH as u32, libc::MSG_DONTWAIT, ptr::null_mut()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, hdr) in hdrs.iter().enumerate().take(n) {
            let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.rx_len[i] = if truncated { 0 } else { hdr.msg_len as usize };
            self.addr_len[i] = hdr.msg_hdr.msg_namelen;
            self.tx[i].clear();
        }
        Ok(n)
    }

    /// Sends the non-empty responses of the last batch to their peers;
    /// returns how many could not be sent.
    pub(crate) fn send(&mut self, fd: RawFd) -> usize {
        // SAFETY: as in `recv`.
        let mut iov: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        // SAFETY: as in `recv`.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        let mut count = 0;
        for i in 0..BATCH {
            if self.tx[i].is_empty() {
                continue;
            }
            iov[count] = libc::iovec {
                iov_base: self.tx[i].as_mut_ptr().cast(),
                iov_len: self.tx[i].len(),
            };
            hdrs[count].msg_hdr.msg_name = ptr::from_mut(&mut self.addrs[i]).cast();
            hdrs[count].msg_hdr.msg_namelen = self.addr_len[i];
            hdrs[count].msg_hdr.msg_iov = &mut iov[count];
            hdrs[count].msg_hdr.msg_iovlen = 1;
            count += 1;
        }
        let mut sent = 0;
        while sent < count {
            // SAFETY: the headers point at live buffers; `sent..count` are initialised.
            let n = unsafe { libc::sendmmsg(fd, hdrs[sent..].as_mut_ptr(), (count - sent) as u32, libc::MSG_DONTWAIT) };
            if n <= 0 {
                // Socket buffer full or a peer error: UDP is best effort, count and move on.
                break;
            }
            sent += n as usize;
        }
        for tx in &mut self.tx {
            tx.clear();
        }
        count - sent
    }
}

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
        }
        // Every slot, not only the `n` filled: nothing left from an earlier
        // batch may go out with this one.
        for tx in &mut self.tx {
            tx.clear();
        }
        Ok(n)
    }

    /// Drops the responses not sent yet; returns how many there were.
    pub(crate) fn discard(&mut self) -> usize {
        let left = self.tx.iter().filter(|tx| !tx.is_empty()).count();
        for tx in &mut self.tx {
            tx.clear();
        }
        left
    }

    /// Sends the non-empty responses of the last batch to their peers,
    /// emptying each one sent. Returns how many were dropped for an error of
    /// their own (a peer the kernel refuses to send to). `WouldBlock` when the
    /// socket's send buffer is full: the responses not sent yet stay, for a
    /// call once the socket is writable again (the kernel frees the buffer as
    /// the interface takes what was sent), so an answer already computed is
    /// not thrown away for a moment's backlog.
    pub(crate) fn send(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut failed = 0;
        loop {
            // SAFETY: as in `recv`.
            let mut iov: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
            // SAFETY: as in `recv`.
            let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
            let mut slots = [0usize; BATCH];
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
                slots[count] = i;
                count += 1;
            }
            if count == 0 {
                return Ok(failed);
            }
            // SAFETY: the headers point at live buffers; `0..count` are initialised.
            let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), count as u32, libc::MSG_DONTWAIT) };
            if n > 0 {
                for &i in &slots[..n as usize] {
                    self.tx[i].clear();
                }
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => return Err(err),
                io::ErrorKind::Interrupted => {}
                // The first one's own error (sendmmsg reports an error only
                // when nothing was sent): UDP is best effort, drop it and go on.
                _ => {
                    self.tx[slots[0]].clear();
                    failed += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{net::UdpSocket, os::fd::AsRawFd as _, time::Duration};

    use super::*;

    /// A server socket with `clients` sockets that have each sent it one datagram, all received.
    fn received(clients: usize) -> (UdpSocket, Vec<UdpSocket>, Batch) {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let clients: Vec<UdpSocket> = (0..clients)
            .map(|i| {
                let c = UdpSocket::bind("127.0.0.1:0").expect("bind");
                c.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
                c.send_to(&[i as u8; 12], server.local_addr().expect("addr"))
                    .expect("send");
                c
            })
            .collect();
        let mut batch = Batch::new();
        let mut got = 0;
        for _ in 0..100 {
            match batch.recv(server.as_raw_fd()) {
                Ok(n) if n == clients.len() => {
                    got = n;
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        assert_eq!(got, clients.len(), "every datagram in one batch");
        (server, clients, batch)
    }

    #[test]
    fn each_answer_goes_to_its_peer() {
        let (server, clients, mut batch) = received(3);
        for i in 0..3 {
            let (query, out) = batch.slot(i);
            out.extend_from_slice(query);
            out.push(0xaa);
        }
        assert_eq!(batch.send(server.as_raw_fd()).expect("sent"), 0);
        for (i, client) in clients.iter().enumerate() {
            let mut buf = [0u8; 64];
            let n = client.recv(&mut buf).expect("answer");
            assert_eq!(buf[..n].len(), 13);
            assert_eq!(buf[0], i as u8, "client {i} got its own answer");
        }
    }

    #[test]
    fn a_refused_peer_is_counted_and_the_rest_still_go() {
        let (server, clients, mut batch) = received(2);
        // Port 0: the kernel refuses to send there (EINVAL).
        // SAFETY: the peer is a sockaddr_in (IPv4 loopback).
        let sin: &mut libc::sockaddr_in = unsafe { &mut *ptr::from_mut(&mut batch.addrs[0]).cast() };
        sin.sin_port = 0;
        for i in 0..2 {
            batch.slot(i).1.extend_from_slice(b"answer");
        }
        assert_eq!(batch.send(server.as_raw_fd()).expect("no backlog on loopback"), 1);
        let mut buf = [0u8; 64];
        assert_eq!(clients[1].recv(&mut buf).expect("second answer"), 6);
    }

    #[test]
    fn discarding_counts_what_was_left() {
        let (_server, _clients, mut batch) = received(3);
        batch.slot(0).1.push(1);
        batch.slot(2).1.push(1);
        assert_eq!(batch.discard(), 2);
        assert!(batch.tx.iter().all(Vec::is_empty));
    }

    #[test]
    fn nothing_from_an_earlier_batch_goes_out_with_the_next() {
        let (server, _clients, mut batch) = received(1);
        batch.tx[5].extend_from_slice(b"stale");
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        client
            .send_to(b"query", server.local_addr().expect("addr"))
            .expect("send");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(batch.recv(server.as_raw_fd()).expect("received"), 1);
        assert!(batch.tx.iter().all(Vec::is_empty));
    }
}

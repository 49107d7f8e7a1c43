//! Raw sockets and response headers, for what dig cannot send: pipelining,
//! malformed packets. The queries come from test-support's builder.

use std::{
    io::{Read, Write},
    net::{TcpStream, UdpSocket},
    time::Duration,
};

pub use test_support::Query;

/// How long a raw exchange waits for a response that may legitimately never come.
pub const RAW_TIMEOUT: Duration = Duration::from_millis(1500);

/// Query types and classes used by the raw tests.
pub mod code {
    /// A record.
    pub const A: u16 = 1;
    /// SOA record.
    pub const SOA: u16 = 6;
    /// TXT record.
    pub const TXT: u16 = 16;
    /// Zone transfer.
    pub const AXFR: u16 = 252;
}

/// RCODE values.
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// Format error.
    pub const FORMERR: u8 = 1;
    /// Not implemented.
    pub const NOTIMP: u8 = 4;
    /// Refused.
    pub const REFUSED: u8 = 5;
    /// Not authoritative / not authorized (RFC 2845, RFC 8945).
    pub const NOTAUTH: u8 = 9;
}

/// Opcode values.
pub mod opcode {
    /// Dynamic update (RFC 2136).
    pub const UPDATE: u8 = 5;
}

/// The fixed 12-byte header of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message ID.
    pub id: u16,
    /// Flags word.
    pub flags: u16,
    /// QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    pub counts: [u16; 4],
}

impl Header {
    /// Reads the header; `None` when shorter than 12 bytes.
    pub fn parse(message: &[u8]) -> Option<Header> {
        let word = |i: usize| u16::from_be_bytes([message[i], message[i + 1]]);
        (message.len() >= 12).then(|| Header {
            id: word(0),
            flags: word(2),
            counts: [word(4), word(6), word(8), word(10)],
        })
    }

    /// QR bit.
    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// Opcode.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    /// The 4-bit header RCODE.
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// A UDP socket on 127.0.0.1 connected to the server's port.
pub fn udp_socket(port: u16) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("expected to bind a UDP socket on 127.0.0.1:0");
    socket
        .connect(("127.0.0.1", port))
        .expect("expected to connect the UDP socket");
    socket
        .set_read_timeout(Some(RAW_TIMEOUT))
        .expect("expected to set a read timeout");
    socket
}

/// Sends one datagram and waits for one response; `None` when none came within [`RAW_TIMEOUT`].
pub fn udp_exchange(port: u16, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = udp_socket(port);
    socket.send(packet).expect("expected to send a UDP datagram");
    let mut buf = vec![0; 65535];
    let n = socket.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// A TCP connection to 127.0.0.1:port with a read timeout.
pub fn tcp_connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("expected to connect over TCP");
    stream
        .set_read_timeout(Some(RAW_TIMEOUT))
        .expect("expected to set a read timeout");
    stream
}

/// Writes one message with its two-byte length prefix (RFC 1035 4.2.2).
pub fn tcp_send(stream: &mut TcpStream, message: &[u8]) {
    let len = u16::try_from(message.len()).expect("message fits a TCP frame");
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(message);
    stream.write_all(&frame).expect("expected to write a TCP frame");
}

/// Reads one length-prefixed message; `None` on timeout or when the server closed the connection.
pub fn tcp_recv(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0; 2];
    stream.read_exact(&mut len).ok()?;
    let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message).ok()?;
    Some(message)
}

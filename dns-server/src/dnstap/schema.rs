//! The dnstap protobuf messages (dnstap.proto, proto2), the fields we fill,
//! with the schema's field numbers.
//!
//! Written as prost derives rather than generated: the schema is small and
//! stable, and this keeps the build free of another proto file.

/// The top-level dnstap payload.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Dnstap {
    /// The server's identity (as NSID would say it).
    #[prost(bytes = "vec", optional, tag = "1")]
    pub identity: Option<Vec<u8>>,
    /// The server's version.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub version: Option<Vec<u8>>,
    /// Which payload is set: always [`DnstapType::Message`].
    #[prost(enumeration = "DnstapType", required, tag = "15")]
    pub r#type: i32,
    /// The message.
    #[prost(message, optional, tag = "14")]
    pub message: Option<Message>,
}

/// `Dnstap.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum DnstapType {
    /// A `Message` payload.
    Message = 1,
}

/// `SocketFamily`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum SocketFamily {
    /// IPv4.
    Inet = 1,
    /// IPv6.
    Inet6 = 2,
}

/// `SocketProtocol` (the two we speak).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum SocketProtocol {
    /// DNS over UDP.
    Udp = 1,
    /// DNS over TCP.
    Tcp = 2,
}

/// `Message.Type`: which end of which exchange a message was seen at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum MessageType {
    /// A query received by an authoritative server.
    AuthQuery = 1,
    /// Its response.
    AuthResponse = 2,
    /// A query our resolver sent upstream.
    ResolverQuery = 3,
    /// The upstream server's response to it.
    ResolverResponse = 4,
    /// A query received for recursion.
    ClientQuery = 5,
    /// Its response.
    ClientResponse = 6,
}

/// A DNS message and where and when it was seen.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Message {
    /// Which message this is.
    #[prost(enumeration = "MessageType", required, tag = "1")]
    pub r#type: i32,
    /// How to read the addresses.
    #[prost(enumeration = "SocketFamily", optional, tag = "2")]
    pub socket_family: Option<i32>,
    /// UDP or TCP.
    #[prost(enumeration = "SocketProtocol", optional, tag = "3")]
    pub socket_protocol: Option<i32>,
    /// The initiator's address (4 or 16 bytes).
    #[prost(bytes = "vec", optional, tag = "4")]
    pub query_address: Option<Vec<u8>>,
    /// The responder's address.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub response_address: Option<Vec<u8>>,
    /// The initiator's port.
    #[prost(uint32, optional, tag = "6")]
    pub query_port: Option<u32>,
    /// The responder's port.
    #[prost(uint32, optional, tag = "7")]
    pub response_port: Option<u32>,
    /// When the query was sent or received: seconds since the epoch.
    #[prost(uint64, optional, tag = "8")]
    pub query_time_sec: Option<u64>,
    /// And nanoseconds.
    #[prost(fixed32, optional, tag = "9")]
    pub query_time_nsec: Option<u32>,
    /// The query, verbatim.
    #[prost(bytes = "vec", optional, tag = "10")]
    pub query_message: Option<Vec<u8>>,
    /// When the response was sent or received: seconds since the epoch.
    #[prost(uint64, optional, tag = "12")]
    pub response_time_sec: Option<u64>,
    /// And nanoseconds.
    #[prost(fixed32, optional, tag = "13")]
    pub response_time_nsec: Option<u32>,
    /// The response, verbatim.
    #[prost(bytes = "vec", optional, tag = "14")]
    pub response_message: Option<Vec<u8>>,
}

//! One owner name and its RRsets, packed in a single shared buffer.
//!
//! A zone of a million names holds a million nodes, so a node is one
//! allocation (`Arc<[u8]>`): the canonical key, the owner as written, a
//! 12-byte head per RRset, then every RDATA in wire form, each behind its
//! 16-bit length. RRsets are contiguous and nothing is boxed per record.
//! Versions of a zone share nodes by reference count; a change rebuilds only
//! the nodes it touches.
//!
//! ```text
//! key_len u16 | owner_len u8 | sets u16 | key | owner |
//! (rtype u16, class u16, ttl u32, end u32) * sets | (len u16, rdata) *
//! ```

use std::{borrow::Cow, cmp::Ordering, fmt, sync::Arc};

use dns_wire::wire::rtype;

/// Bytes before the key: key length, owner length, RRset count.
const HEADER: usize = 5;
/// Bytes of one RRset head: type, class, TTL, end of its RDATAs.
const HEAD: usize = 12;

/// Everything owned by one name. A node with no RRsets is an empty
/// non-terminal: it exists because a name below it does (RFC 4592 2.2.2).
#[derive(Clone)]
pub(crate) struct Node(Arc<[u8]>);

/// The records of one owner and type; every record shares the RRset's TTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RRset<'a> {
    /// TYPE code.
    pub rtype: u16,
    /// CLASS code.
    pub class: u16,
    /// TTL (the lowest of the records when loaded, as RFC 2181 5.2 suggests).
    pub ttl: u32,
    /// The RDATAs, each behind its 16-bit length, uncompressed wire format.
    data: Cow<'a, [u8]>,
}

/// The type an RRSIG RDATA covers (its first field).
pub(crate) fn covered_type(rdata: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(rdata.get(..2)?.try_into().ok()?))
}

/// What makes records one RRset: the type, and for RRSIGs the type covered.
pub(crate) fn set_kind(rtype: u16, rdata: &[u8]) -> (u16, Option<u16>) {
    (
        rtype,
        if rtype == rtype::RRSIG {
            covered_type(rdata)
        } else {
            None
        },
    )
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Node {
    fn key_len(&self) -> usize {
        usize::from(u16_at(&self.0, 0))
    }

    fn owner_len(&self) -> usize {
        usize::from(self.0[2])
    }

    fn set_count(&self) -> usize {
        usize::from(u16_at(&self.0, 3))
    }

    fn heads_at(&self) -> usize {
        HEADER + self.key_len() + self.owner_len()
    }

    fn data_at(&self) -> usize {
        self.heads_at() + HEAD * self.set_count()
    }

    /// The canonical key (see [`super::canonical`]) this node sorts by.
    pub(crate) fn key(&self) -> &[u8] {
        &self.0[HEADER..HEADER + self.key_len()]
    }

    /// The owner in wire format, with the case of the zone file (lower case
    /// for an empty non-terminal, which no file spelled).
    pub(crate) fn owner(&self) -> &[u8] {
        let at = HEADER + self.key_len();
        &self.0[at..at + self.owner_len()]
    }

    /// Whether this is an empty non-terminal.
    pub(crate) fn is_empty(&self) -> bool {
        self.set_count() == 0
    }

    /// The RRsets, in the order their types were first seen.
    pub(crate) fn rrsets(&self) -> impl Iterator<Item = RRset<'_>> {
        (0..self.set_count()).map(|i| self.rrset_at(i))
    }

    fn rrset_at(&self, i: usize) -> RRset<'_> {
        let b = &self.0;
        let head = self.heads_at() + i * HEAD;
        let start = if i == 0 { 0 } else { u32_at(b, head - HEAD + 8) as usize };
        let end = u32_at(b, head + 8) as usize;
        let data = self.data_at();
        RRset {
            rtype: u16_at(b, head),
            class: u16_at(b, head + 2),
            ttl: u32_at(b, head + 4),
            data: Cow::Borrowed(&b[data + start..data + end]),
        }
    }

    /// The RRset of type `t`, if any.
    pub(crate) fn get(&self, t: u16) -> Option<RRset<'_>> {
        let heads = self.heads_at();
        (0..self.set_count())
            .find(|i| u16_at(&self.0, heads + i * HEAD) == t)
            .map(|i| self.rrset_at(i))
    }

    /// The signatures covering type `covered`: RRSIGs form one RRset per
    /// type covered, each with its own TTL (RFC 4034 3, RFC 4035 2.2).
    pub(crate) fn signatures(&self, covered: u16) -> Option<RRset<'_>> {
        let heads = self.heads_at();
        (0..self.set_count())
            .filter(|i| u16_at(&self.0, heads + i * HEAD) == rtype::RRSIG)
            .map(|i| self.rrset_at(i))
            .find(|set| set.first().and_then(covered_type) == Some(covered))
    }

    /// Whether the node has an RRset of type `t`.
    pub(crate) fn has(&self, t: u16) -> bool {
        let heads = self.heads_at();
        (0..self.set_count()).any(|i| u16_at(&self.0, heads + i * HEAD) == t)
    }

    /// Whether both are the same shared buffer (an unchanged node).
    pub(crate) fn ptr_eq(&self, other: &Node) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = crate::name::Name::from_wire(self.owner()).unwrap_or_else(crate::name::Name::root);
        f.debug_struct("Node")
            .field("owner", &owner.to_string())
            .field("rrsets", &self.rrsets().collect::<Vec<_>>())
            .finish()
    }
}

// Nodes sort by key; two nodes of one key (from two versions of a zone) by
// content, so that a diff of versions reports a changed node as removed and
// added. A zone holds one node per key, so lookups by key alone are exact.
impl Ord for Node {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.ptr_eq(other) {
            return Ordering::Equal;
        }
        self.key().cmp(other.key()).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Node {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Node {}

impl<'a> RRset<'a> {
    /// An RRset of one record, made for an answer (a CNAME synthesised from a DNAME).
    pub(crate) fn single(rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> RRset<'static> {
        let mut data = Vec::with_capacity(2 + rdata.len());
        data.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        data.extend_from_slice(rdata);
        RRset {
            rtype,
            class,
            ttl,
            data: Cow::Owned(data),
        }
    }

    /// Each RDATA, uncompressed wire format, in zone order.
    pub(crate) fn rdatas(&self) -> Rdatas<'_> {
        Rdatas { rest: &self.data }
    }

    /// The first RDATA, borrowed from the zone (`None` for a synthesised RRset).
    pub(crate) fn first_in_zone(&self) -> Option<&'a [u8]> {
        match self.data {
            Cow::Borrowed(data) => Rdatas { rest: data }.next(),
            Cow::Owned(_) => None,
        }
    }

    /// Each RDATA borrowed from the zone, so outliving this RRset value (a
    /// zone transfer walks them); none for a synthesised RRset.
    pub(crate) fn rdatas_in_zone(&self) -> Rdatas<'a> {
        match self.data {
            Cow::Borrowed(data) => Rdatas { rest: data },
            Cow::Owned(_) => Rdatas { rest: &[] },
        }
    }

    /// The first RDATA (a CNAME's, DNAME's or SOA's only one).
    pub(crate) fn first(&self) -> Option<&[u8]> {
        self.rdatas().next()
    }

    /// Number of records.
    pub(crate) fn len(&self) -> usize {
        self.rdatas().count()
    }
}

/// The RDATAs of an RRset.
pub(crate) struct Rdatas<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Rdatas<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(u16::from_be_bytes([*self.rest.first()?, *self.rest.get(1)?]));
        let rdata = self.rest.get(2..2 + len)?;
        self.rest = &self.rest[2 + len..];
        Some(rdata)
    }
}

/// Packs nodes; one writer is reused for every node of a load, so building
/// a node costs one allocation (its own buffer), or none when it is
/// shared with the version being replaced.
#[derive(Default)]
pub(crate) struct NodeWriter {
    heads: Vec<(u16, u16, u32, u32)>,
    rdata: Vec<u8>,
    buf: Vec<u8>,
    /// The names of the version a reload replaces: a node packed to the
    /// same bytes as its node there is that node, shared.
    previous: Option<super::names::Names>,
}

impl NodeWriter {
    /// A writer that shares every node equal to one of `previous`'s: a
    /// reload of a changed file then holds, beside the version it replaces,
    /// only the changed names' nodes and the new tree's own structure.
    pub(crate) fn sharing(previous: Option<super::names::Names>) -> NodeWriter {
        NodeWriter {
            previous,
            ..NodeWriter::default()
        }
    }

    /// Starts an RRset; the RDATAs pushed next belong to it.
    pub(crate) fn begin_set(&mut self, rtype: u16, class: u16, ttl: u32) {
        self.heads.push((rtype, class, ttl, self.rdata.len() as u32));
    }

    /// Adds one RDATA (at most 65535 bytes, as the parser ensures) to the current RRset.
    pub(crate) fn push_rdata(&mut self, rdata: &[u8]) {
        self.rdata.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.rdata.extend_from_slice(rdata);
        if let Some(head) = self.heads.last_mut() {
            head.3 = self.rdata.len() as u32;
        }
    }

    /// Drops the current RRset if it got no RDATA.
    pub(crate) fn end_set(&mut self) {
        let empty = match self.heads.len() {
            0 => false,
            n => self.heads[n - 1].3 == if n == 1 { 0 } else { self.heads[n - 2].3 },
        };
        if empty {
            self.heads.pop();
        }
    }

    /// The node of `key` and `owner` with the RRsets written so far; the
    /// writer is empty again afterwards.
    pub(crate) fn finish(&mut self, key: &[u8], owner: &[u8]) -> Node {
        self.end_set();
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(&(key.len() as u16).to_be_bytes());
        buf.push(owner.len() as u8);
        buf.extend_from_slice(&(self.heads.len() as u16).to_be_bytes());
        buf.extend_from_slice(key);
        buf.extend_from_slice(owner);
        for &(rtype, class, ttl, end) in &self.heads {
            buf.extend_from_slice(&rtype.to_be_bytes());
            buf.extend_from_slice(&class.to_be_bytes());
            buf.extend_from_slice(&ttl.to_be_bytes());
            buf.extend_from_slice(&end.to_be_bytes());
        }
        buf.extend_from_slice(&self.rdata);
        self.heads.clear();
        self.rdata.clear();
        if let Some(old) = self.previous.as_ref().and_then(|p| p.get(key))
            && old.0[..] == buf[..]
        {
            return old.clone();
        }
        Node(Arc::from(&buf[..]))
    }
}

/// A node unpacked for editing by an update; packed again with [`NodeWriter`].
#[allow(dead_code, reason = "updates are called by tests until reloads and IXFR use them")]
#[derive(Clone, Debug, Default)]
pub(crate) struct OpenNode {
    /// The owner as written.
    pub owner: Vec<u8>,
    /// RRsets in node order: type, class, TTL, RDATAs.
    pub sets: Vec<(u16, u16, u32, Vec<Vec<u8>>)>,
}

#[allow(dead_code, reason = "updates are called by tests until reloads and IXFR use them")]
impl OpenNode {
    /// The editable form of `node`.
    pub(crate) fn of(node: &Node) -> OpenNode {
        OpenNode {
            owner: node.owner().to_vec(),
            sets: node
                .rrsets()
                .map(|s| (s.rtype, s.class, s.ttl, s.rdatas().map(<[u8]>::to_vec).collect()))
                .collect(),
        }
    }

    /// Packs it again under `key`; RRsets left without records are dropped.
    pub(crate) fn pack(&self, key: &[u8], writer: &mut NodeWriter) -> Node {
        for (rtype, class, ttl, rdatas) in &self.sets {
            writer.begin_set(*rtype, *class, *ttl);
            for r in rdatas {
                writer.push_rdata(r);
            }
            writer.end_set();
        }
        writer.finish(key, &self.owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_node_reads_back() {
        let mut w = NodeWriter::default();
        w.begin_set(1, 1, 300);
        w.push_rdata(&[192, 0, 2, 1]);
        w.push_rdata(&[192, 0, 2, 2]);
        w.begin_set(99, 1, 60);
        w.end_set();
        w.begin_set(16, 1, 30);
        w.push_rdata(b"\x02hi");
        let node = w.finish(b"com\0www\0", b"\x03WWW\x03com\x00");
        assert_eq!(node.key(), b"com\0www\0");
        assert_eq!(node.owner(), b"\x03WWW\x03com\x00");
        let sets: Vec<_> = node
            .rrsets()
            .map(|s| (s.rtype, s.ttl, s.rdatas().map(<[u8]>::to_vec).collect::<Vec<_>>()))
            .collect();
        assert_eq!(
            sets,
            [
                (1, 300, vec![vec![192, 0, 2, 1], vec![192, 0, 2, 2]]),
                (16, 30, vec![b"\x02hi".to_vec()])
            ],
            "the empty type-99 set is dropped, the others keep their order"
        );
        assert!(node.has(16) && !node.has(99));
        assert_eq!(node.get(1).map(|s| s.len()), Some(2));
        let again = OpenNode::of(&node).pack(node.key(), &mut w);
        assert_eq!(again.cmp(&node), Ordering::Equal, "unpack and pack is the identity");
        let ent = w.finish(b"com\0", b"\x03com\x00");
        assert!(ent.is_empty());
    }
}

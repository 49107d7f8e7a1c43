//! DNS messages on the wire: [`write`] builds responses and queries, [`read`]
//! takes apart the responses of other servers (for recursion).

pub(crate) mod read;
pub(crate) mod write;

pub(crate) use write::{Full, OPT_LEN, Section, Writer};

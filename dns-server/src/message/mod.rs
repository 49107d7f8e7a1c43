//! DNS messages on the wire: [`write`] builds responses and queries, [`read`]
//! takes apart the responses of other servers (for recursion).

pub mod read;
pub mod write;

pub use write::{Full, Mark, OPT_LEN, Section, Writer};

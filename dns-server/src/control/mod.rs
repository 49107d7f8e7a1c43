//! The control socket and `dns-server ctl`: ask a running server how it is,
//! reload it, flush its resolver cache, change its XDP deny list.
//!
//! One JSON object per line each way over a Unix socket (mode 0600):
//! a [`protocol::Request`] in, a [`protocol::Reply`] out, then the server
//! closes. `server` answers; `commands` does the work; [`client`] is
//! `dns-server ctl`.

pub mod client;
pub(crate) mod commands;
pub mod protocol;
pub(crate) mod server;

//! The XDP program is the `xdp-dns` binary; this library target exists because
//! cargo needs one for `dns-server`'s build-dependency on this package.
#![no_std]

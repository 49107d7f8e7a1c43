//! Over-the-wire tests of the dns-server binary: real `dig`, raw sockets, and Knot DNS as a reference.

mod anycast_lab;
mod catalog;
mod chaos;
mod check;
mod cookies;
mod counters;
mod differential;
mod dnssec;
mod dnstap;
mod edns;
mod formats;
mod harness;
mod malformed;
mod operate;
mod packet;
mod recursion;
mod reload;
mod secondary;
mod sidecar;
mod sidecar_ctl;
mod tcp_pressure;
mod transfer;
mod udp_tcp;
mod xdp;
mod zone_edit;
mod zones;

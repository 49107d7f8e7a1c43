//! An XDP program that passes every frame, for the far end of a veth pair.
//!
//! On veth, frames that an XDP program sends back with `XDP_TX` reach the
//! peer end only when the peer has an XDP program of its own (its XDP ring
//! exists only then), so the lab attaches this one to the router's ends of
//! the PoP links. dns-server embeds it beside `xdp-dns` (`XDP_PASS_OBJECT`).
// Built for bpfel-unknown-none by dns-server's build.rs, like xdp-dns; on the
// host it compiles to a stub so the workspace checks.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

/// Every frame goes on to the kernel's stack, untouched.
#[xdp]
pub fn xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {
    eprintln!("xdp-pass is an eBPF program: it is built for bpfel-unknown-none and loaded by the lab");
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

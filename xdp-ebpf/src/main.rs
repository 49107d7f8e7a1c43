//! XDP entry point. For now it counts packets and passes them all to the
//! kernel; the DNS fast path is built on top of this (issue 3).
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::PerCpuArray,
    programs::XdpContext,
};

/// Packets seen, one slot per CPU.
#[map]
static PACKETS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The program attached to each configured interface.
#[xdp]
pub fn xdp_dns(_ctx: XdpContext) -> u32 {
    if let Some(count) = PACKETS.get_ptr_mut(0) {
        // SAFETY: a per-CPU slot is only touched by this CPU.
        unsafe { *count += 1 };
    }
    xdp_action::XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

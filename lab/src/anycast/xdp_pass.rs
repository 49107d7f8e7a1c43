//! An XDP program that passes every frame, for the router's ends of the PoP links.
//!
//! On veth, frames a PoP's XDP program sends back with `XDP_TX` reach the peer
//! end only when the peer has an XDP program of its own (see toolchain.md), so
//! the router's ends get `xdp_pass` from the `xdp-ebpf` crate, which
//! dns-server embeds; aya loads it and attaches it in native mode.
use anyhow::{Context as _, Result, anyhow};
use aya::{
    Ebpf,
    programs::{Xdp, XdpMode},
};
use dns_server::{XDP_PASS_OBJECT, XDP_PASS_PROGRAM};
use test_support::netns;

/// The loaded program; dropping it detaches it from every interface.
pub struct PassProgram {
    _ebpf: Ebpf,
}

/// Attaches the pass program to `ifaces` in namespace `ns`, native mode.
pub fn attach(ns: &str, ifaces: &[&str]) -> Result<PassProgram> {
    let ifaces: Vec<String> = ifaces.iter().map(|iface| iface.to_string()).collect();
    // Interface names are looked up, and the attachment made, in the calling
    // thread's namespace: a thread inside the router's does both.
    let loaded = netns::spawn_in(ns, move || -> Result<Ebpf> {
        let mut ebpf = Ebpf::load(XDP_PASS_OBJECT).context("loading the XDP pass program")?;
        let program: &mut Xdp = ebpf
            .program_mut(XDP_PASS_PROGRAM)
            .ok_or_else(|| anyhow!("no program {XDP_PASS_PROGRAM} in the pass object"))?
            .try_into()?;
        program.load().context("loading the XDP pass program")?;
        for iface in &ifaces {
            program
                .attach(iface, XdpMode::Driver)
                .with_context(|| format!("attaching the XDP pass program to {iface}"))?;
        }
        Ok(ebpf)
    })?
    .join()
    .map_err(|_| anyhow!("the thread attaching the XDP pass program panicked"))??;
    Ok(PassProgram { _ebpf: loaded })
}

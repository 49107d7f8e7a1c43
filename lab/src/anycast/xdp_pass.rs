//! An XDP program that passes every frame, for the router's ends of the PoP links.
//!
//! On veth, frames a PoP's XDP program sends back with `XDP_TX` reach the peer
//! end only when the peer has an XDP program of its own (see toolchain.md), so
//! the router's ends get `xdp_pass` from the `xdp-ebpf` crate. dns-server
//! embeds it and writes it out (`dns-server xdp-pass-object FILE`); aya loads
//! it and attaches it in native mode. The lab asks the server binary rather
//! than linking dns-server: xtask uses this crate, and xtask must build before
//! the toolchain that builds the XDP program is set up.
use std::{path::Path, process::Command};

use anyhow::{Context as _, Result, anyhow};
use aya::{
    Ebpf,
    programs::{Xdp, XdpMode},
};
use test_support::netns;

use crate::cmd;

/// The loaded program; dropping it detaches it from every interface.
pub struct PassProgram {
    _ebpf: Ebpf,
}

/// Attaches the pass program embedded in the dns-server binary `server` to
/// `ifaces` in namespace `ns`, native mode.
pub fn attach(server: &Path, ns: &str, ifaces: &[&str]) -> Result<PassProgram> {
    let object = std::env::temp_dir().join(format!("xdp-pass-{}-{ns}.o", std::process::id()));
    cmd::run(Command::new(server).arg("xdp-pass-object").arg(&object))
        .context("getting the XDP pass program from the server binary")?;
    let ifaces: Vec<String> = ifaces.iter().map(|iface| iface.to_string()).collect();
    // Interface names are looked up, and the attachment made, in the calling
    // thread's namespace: a thread inside the router's does both.
    let path = object.clone();
    let loaded = netns::spawn_in(ns, move || -> Result<Ebpf> {
        let mut ebpf = Ebpf::load_file(&path).context("loading the XDP pass object")?;
        let (_, program) = ebpf
            .programs_mut()
            .next()
            .ok_or_else(|| anyhow!("no program in the XDP pass object"))?;
        let program: &mut Xdp = program.try_into()?;
        program.load().context("loading the XDP pass program")?;
        for iface in &ifaces {
            program
                .attach(iface, XdpMode::Driver)
                .with_context(|| format!("attaching the XDP pass program to {iface}"))?;
        }
        Ok(ebpf)
    })?
    .join()
    .map_err(|_| anyhow!("the thread attaching the XDP pass program panicked"));
    let _ = std::fs::remove_file(&object);
    Ok(PassProgram { _ebpf: loaded?? })
}

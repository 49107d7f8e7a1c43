//! An XDP program that passes every frame, for the router's ends of the PoP links.
//!
//! On veth, frames a PoP's XDP program sends back with `XDP_TX` reach the peer
//! end only when the peer has an XDP program of its own (see toolchain.md), so
//! the router's ends get this one. It is two instructions, loaded with bpf(2)
//! and pinned just long enough for `ip link set ... xdpdrv pinned` to attach it.
use std::{ffi::CString, os::unix::ffi::OsStrExt as _, path::Path, process::Command};

use anyhow::{Result, bail};

use crate::cmd;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `r0 = XDP_PASS (2)`, then `exit`.
const PASS: [u64; 2] = [0x0000_0002_0000_00b7, 0x0000_0000_0000_0095];

/// The start of `union bpf_attr` for BPF_PROG_LOAD; the kernel zero-fills the rest.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// `union bpf_attr` for BPF_OBJ_PIN.
#[repr(C)]
struct ObjPin {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

fn bpf<T>(command: libc::c_long, attr: &mut T) -> std::io::Result<i32> {
    // SAFETY: `attr` is a live, initialised prefix of `union bpf_attr` for `command`, and its size is passed along.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, command, attr as *mut T, size_of::<T>()) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(rc as i32)
}

/// Attaches the pass program to `ifaces` in namespace `ns`, native mode; `pin` is a free bpffs path.
pub fn attach(ns: &str, ifaces: &[&str], pin: &Path) -> Result<()> {
    let license = c"GPL";
    let mut load = ProgLoad {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: PASS.len() as u32,
        insns: PASS.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..ProgLoad::default()
    };
    load.prog_name[..9].copy_from_slice(b"xlab_pass");
    let fd = bpf(BPF_PROG_LOAD, &mut load).map_err(|e| anyhow::anyhow!("loading the XDP pass program: {e}"))?;
    let path = CString::new(pin.as_os_str().as_bytes())?;
    let mut obj = ObjPin {
        pathname: path.as_ptr() as u64,
        bpf_fd: fd as u32,
        file_flags: 0,
    };
    let pinned = bpf(BPF_OBJ_PIN, &mut obj);
    // SAFETY: closing the program fd we own; the pin (then the attachments) hold the program.
    unsafe { libc::close(fd) };
    if let Err(e) = pinned {
        bail!("pinning the XDP pass program at {}: {e}", pin.display());
    }
    let pin_str = pin.to_string_lossy();
    // nsenter, not `ip -n`: that remounts /sys for the namespace, hiding the pin in /sys/fs/bpf.
    let netns = format!("--net=/run/netns/{ns}");
    let attached = ifaces.iter().try_for_each(|iface| {
        let attach = ["ip", "link", "set", "dev", iface, "xdpdrv", "pinned", &pin_str];
        cmd::stdout(Command::new("nsenter").arg(&netns).args(attach)).map(drop)
    });
    // The attachments hold the program now; they go with the namespace.
    let _ = std::fs::remove_file(pin);
    attached
}

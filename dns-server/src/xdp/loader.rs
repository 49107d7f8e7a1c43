//! Loading the embedded XDP object and attaching it to interfaces.

use std::path::PathBuf;

use aya::{
    Ebpf, EbpfLoader,
    programs::{ProgramError, TestRun, TestRunOptions, Xdp, XdpMode, xdp::XdpLinkId},
};

use super::{SharedMaps, XdpError, maps::Maps};
use crate::config::{AttachMode, ProgramLogLevel};

/// Name of the program in the object.
pub(crate) const PROGRAM: &str = xdp_abi::names::PROGRAM;

/// The object built by `build.rs` from `xdp-ebpf`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp-dns"));

/// What one [`FastPath::test_run`] gave.
#[derive(Debug)]
pub struct TestRunOutput {
    /// The program's action (`XDP_PASS`, `XDP_TX`, ...).
    pub action: u32,
    /// The frame after the program.
    pub frame: Vec<u8>,
    /// Mean time per run, as the kernel measured it (harness included).
    pub duration: std::time::Duration,
}

/// The loaded program and its maps; attached links are detached on drop.
pub struct FastPath {
    ebpf: Ebpf,
    links: Vec<(String, XdpLinkId)>,
    /// The program's maps.
    pub maps: SharedMaps,
    /// Where the maps are pinned (removed on drop), if they are.
    pin_dir: Option<PathBuf>,
}

/// Where the program's own log (aya-log) goes, from which level on.
pub struct ProgramLog {
    /// Statements above it are removed before the program is verified.
    pub level: ProgramLogLevel,
    /// The records' destination.
    pub sink: Box<dyn log::Log>,
}

/// A `log` sink forwarding to the process's logger (tracing, for `serve`).
pub(crate) struct ToGlobalLogger;

impl log::Log for ToGlobalLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        log::logger().enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        log::logger().log(record);
    }

    fn flush(&self) {
        log::logger().flush();
    }
}

impl FastPath {
    /// Removes the pinned maps' names (the maps live on while loaded).
    pub(crate) fn unpin(&self) {
        if let Some(dir) = &self.pin_dir {
            super::maps::unpin(dir);
        }
    }

    /// Loads the program (verifier included) with room for `cache_entries`
    /// responses per map; pins the counters and deny lists under `pin_dir`
    /// (a failure there is logged: the fast path works without pins).
    pub fn load(cache_entries: u32, pin_dir: Option<PathBuf>) -> Result<FastPath, XdpError> {
        Self::load_object(OBJECT, cache_entries, pin_dir)
    }

    /// [`FastPath::load`] with the program's own log on, from `log.level`.
    pub fn load_with_log(cache_entries: u32, pin_dir: Option<PathBuf>, log: ProgramLog) -> Result<FastPath, XdpError> {
        Self::load_inner(OBJECT, cache_entries, pin_dir, Some(log))
    }

    /// [`FastPath::load`] with another build of the program (`xdp_bench --against`).
    pub fn load_object(object: &[u8], cache_entries: u32, pin_dir: Option<PathBuf>) -> Result<FastPath, XdpError> {
        Self::load_inner(object, cache_entries, pin_dir, None)
    }

    fn load_inner(
        object: &[u8],
        cache_entries: u32,
        pin_dir: Option<PathBuf>,
        log: Option<ProgramLog>,
    ) -> Result<FastPath, XdpError> {
        let log = log.filter(|l| l.level != ProgramLogLevel::Off);
        let level = log.as_ref().map_or(0, |l| l.level.aya_level());
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(xdp_abi::names::CACHE_A, cache_entries)
            .map_max_entries(xdp_abi::names::CACHE_B, cache_entries)
            .override_global(aya_log::LEVEL, &level, true)
            .load(object)?;
        program(&mut ebpf)?.load()?;
        if let Some(log) = log {
            follow_log(&mut ebpf, log.sink)?;
        }
        let pin_dir = pin_dir.filter(|dir| match super::maps::pin(&ebpf, dir) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "XDP counters not pinned; `dns-server stats` will not see them");
                false
            }
        });
        let maps = Maps::take(&mut ebpf)?;
        Ok(FastPath {
            ebpf,
            links: Vec::new(),
            maps: std::sync::Arc::new(std::sync::Mutex::new(maps)),
            pin_dir,
        })
    }

    /// Attaches to `iface` as `mode` says; returns the mode used ([`XdpMode::Driver`]
    /// or [`XdpMode::Skb`]). `Auto` tries native mode and falls back to generic
    /// (skb) mode with a warning; `Native` fails where the driver lacks XDP.
    pub fn attach(&mut self, iface: &str, mode: AttachMode) -> Result<XdpMode, XdpError> {
        let prog = program(&mut self.ebpf)?;
        let (id, used) = match mode {
            AttachMode::Native => (prog.attach(iface, XdpMode::Driver)?, XdpMode::Driver),
            AttachMode::Generic => (prog.attach(iface, XdpMode::Skb)?, XdpMode::Skb),
            AttachMode::Auto => match prog.attach(iface, XdpMode::Driver) {
                Ok(id) => (id, XdpMode::Driver),
                // No mode helps with an interface that does not exist.
                Err(unknown @ ProgramError::UnknownInterface { .. }) => return Err(unknown.into()),
                Err(native) => {
                    tracing::warn!(
                        iface,
                        error = %super::error_chain(&native),
                        "native XDP not available; falling back to generic (skb) mode, which is slower"
                    );
                    (prog.attach(iface, XdpMode::Skb)?, XdpMode::Skb)
                }
            },
        };
        self.links.push((iface.to_string(), id));
        Ok(used)
    }

    /// Interfaces attached to.
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(|(i, _)| i.as_str())
    }

    /// Runs the loaded program `repeat` times on `frame` through
    /// `BPF_PROG_TEST_RUN` (aya's [`TestRun`]), attached or not: for the
    /// packet-in/packet-out tests and the `xdp_bench` example. The kernel
    /// does not reset the frame between runs, so a rewritten frame is what
    /// the next run sees.
    pub fn test_run(&self, frame: &[u8], repeat: u32) -> Result<TestRunOutput, XdpError> {
        let prog: &Xdp = self
            .ebpf
            .program(PROGRAM)
            .ok_or(XdpError::Program(ProgramError::NotLoaded))?
            .try_into()?;
        // Room for the largest response the program writes (it grows the frame at the front).
        let mut out = vec![0u8; 4096];
        let run = prog.test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat,
            ..TestRunOptions::default()
        })?;
        out.truncate(run.data_size_out as usize);
        Ok(TestRunOutput {
            action: run.return_value,
            frame: out,
            duration: run.duration,
        })
    }

    /// The kernel's view of the program: size, run-time statistics.
    pub fn program_info(&mut self) -> Result<aya::programs::ProgramInfo, XdpError> {
        Ok(program(&mut self.ebpf)?.info()?)
    }
}

/// The attach mode's name as the configuration spells it: `native` or `generic`.
pub(crate) fn mode_name(mode: XdpMode) -> &'static str {
    match mode {
        XdpMode::Driver => "native",
        XdpMode::Skb => "generic",
        XdpMode::Hardware => "offload",
        XdpMode::Default => "default",
    }
}

impl Drop for FastPath {
    fn drop(&mut self) {
        let links = std::mem::take(&mut self.links);
        if let Ok(prog) = program(&mut self.ebpf) {
            for (iface, id) in links {
                match prog.detach(id) {
                    Ok(()) => tracing::info!(iface, "XDP program detached"),
                    Err(error) => tracing::warn!(iface, %error, "detaching the XDP program"),
                }
            }
        }
        self.unpin();
    }
}

/// Copies the program's log records to `sink` from a thread of their own.
fn follow_log(ebpf: &mut Ebpf, sink: Box<dyn log::Log>) -> Result<(), XdpError> {
    use std::os::fd::AsRawFd;
    let mut logger = aya_log::EbpfLogger::init_with_logger(ebpf, sink).map_err(|e| XdpError::Log(e.to_string()))?;
    std::thread::Builder::new()
        .name("xdp-log".into())
        .spawn(move || {
            loop {
                let mut ready = libc::pollfd {
                    fd: logger.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; a timeout bounds the wait.
                unsafe { libc::poll(&mut ready, 1, 1000) };
                logger.flush();
            }
        })
        .map_err(|e| XdpError::Log(e.to_string()))?;
    Ok(())
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpError> {
    let prog = ebpf
        .program_mut(PROGRAM)
        .ok_or(XdpError::Program(aya::programs::ProgramError::NotLoaded))?;
    Ok(prog.try_into()?)
}

#[cfg(test)]
mod tests {
    use xdp_abi::names;

    /// Userspace finds maps by the names in `xdp_abi::names`, but aya's
    /// `#[map]` takes each name from its static in the program: check that
    /// both sides agree, in the object this build embeds.
    #[test]
    fn every_abi_name_is_in_the_embedded_object() {
        let object = aya_obj::Object::parse(super::OBJECT).expect("the embedded object parses");
        assert!(
            object.programs.contains_key(names::PROGRAM),
            "program {} not in the object (it has {:?})",
            names::PROGRAM,
            object.programs.keys().collect::<Vec<_>>()
        );
        for name in names::MAPS {
            assert!(
                object.maps.contains_key(name),
                "map {name} not in the object (it has {:?})",
                object.maps.keys().collect::<Vec<_>>()
            );
        }
        // And the other way: a map added to the program gets its name here too.
        for name in object.maps.keys() {
            let ours = names::MAPS.contains(&name.as_str());
            let aya_log = name == "AYA_LOGS";
            let globals = name.starts_with('.');
            assert!(
                ours || aya_log || globals,
                "map {name} has no constant in xdp_abi::names"
            );
        }
    }
}

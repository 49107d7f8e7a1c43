//! Network namespaces and veth pairs for tests, the lab and the benches:
//! unique names per run, and a guard that kills what still runs inside and
//! removes the namespace (its veth ends with it) on drop, also on a panic.
//!
//! Everything goes through `ip` (iproute2), and this is the one place that
//! calls setns(2): [`spawn_in`] for a thread, [`Netns::enter_on_spawn`] for a
//! child process.
use std::{
    collections::BTreeSet,
    fs::File,
    io,
    os::{fd::AsRawFd as _, unix::process::CommandExt as _},
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// How long the guard keeps killing what runs in a namespace before removing it anyway.
const KILL_LIMIT: Duration = Duration::from_secs(5);

/// `PREFIX`, this process's id and a counter: unique per run and per call, and
/// recognisable by [`remove_stale`] once the process is gone. Short (at most
/// 2 + 7 + 1 + 3 bytes for small prefixes), since interface names hold 15.
pub fn unique_tag(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}n{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `ip ARGS`; the error carries its standard error.
pub fn ip(args: &[&str]) -> io::Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::other(format!("cannot run `ip {}` (iproute2 needed): {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether this process runs as root (namespaces and XDP need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A network namespace this process made; killed empty and removed on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with its loopback up.
    pub fn create(name: &str) -> io::Result<Netns> {
        ip(&["netns", "add", name])?;
        // Owned from here on: a failure below still removes it.
        let ns = Netns { name: name.to_owned() };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (under /run/netns).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Adds `cidr` to `dev`; IPv6 addresses without duplicate detection, so usable at once.
    pub fn address(&self, dev: &str, cidr: &str) -> io::Result<()> {
        if cidr.contains(':') {
            self.ip(&["addr", "add", cidr, "dev", dev, "nodad"])?;
        } else {
            self.ip(&["addr", "add", cidr, "dev", dev])?;
        }
        Ok(())
    }

    /// Sets `dev` up.
    pub fn up(&self, dev: &str) -> io::Result<()> {
        self.ip(&["link", "set", dev, "up"]).map(drop)
    }

    /// `ip netns exec NAME PROGRAM`: a command that runs `program` inside.
    pub fn exec(&self, program: &str) -> Command {
        exec_in(&self.name, program)
    }

    /// Makes `command` enter this namespace between fork and exec (the
    /// program sees the mount namespace of this process, unlike `ip netns exec`).
    pub fn enter_on_spawn(&self, command: &mut Command) -> io::Result<()> {
        let file = open(&self.name)?;
        // SAFETY: only setns(2), which is async-signal-safe, runs between fork and exec;
        // the closure owns the namespace file, so its descriptor stays open until then.
        unsafe {
            command.pre_exec(move || enter(&file));
        }
        Ok(())
    }

    /// Runs `f` on a thread inside this namespace and returns its result.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
        spawn_in(&self.name, f)?
            .join()
            .map_err(|_| io::Error::other(format!("the thread in namespace {} panicked", self.name)))
    }

    /// Ids of the processes in this namespace.
    pub fn pids(&self) -> BTreeSet<u32> {
        pids(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        remove(&self.name);
    }
}

/// A veth pair: `a.1` in namespace `a.0`, its peer `b.1` in `b.0`; it goes with the namespaces.
pub fn veth(a: (&Netns, &str), b: (&Netns, &str)) -> io::Result<()> {
    ip(&[
        "link", "add", a.1, "netns", &a.0.name, "type", "veth", "peer", "name", b.1, "netns", &b.0.name,
    ])
    .map(drop)
}

/// `ip netns exec NS PROGRAM`.
pub fn exec_in(ns: &str, program: &str) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns, program]);
    command
}

/// The namespace file of `ns`.
pub fn open(ns: &str) -> io::Result<File> {
    let path = format!("/run/netns/{ns}");
    File::open(&path).map_err(|e| io::Error::other(format!("opening {path}: {e}")))
}

/// Moves the calling thread into the namespace of `file`.
pub fn enter(file: &File) -> io::Result<()> {
    // SAFETY: setns(2) with a namespace descriptor that `file` keeps open; it
    // changes only the calling thread's network namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Starts a thread inside namespace `ns` (setns(2) moves only the calling
/// thread, so it gets one of its own). The thread panics, before `f` runs,
/// if it cannot enter.
pub fn spawn_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> io::Result<JoinHandle<T>> {
    let file = open(ns)?;
    let ns = ns.to_owned();
    Ok(thread::spawn(move || {
        if let Err(e) = enter(&file) {
            panic!("setns into namespace {ns}: {e}");
        }
        drop(file);
        f()
    }))
}

/// Ids of the processes in namespace `ns`.
pub fn pids(ns: &str) -> BTreeSet<u32> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .stderr(Stdio::null())
        .output();
    out.map(|out| {
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// Kills whatever still runs in namespace `ns` (all of it started there by
/// its owner) and removes it.
pub fn remove(ns: &str) {
    let deadline = Instant::now() + KILL_LIMIT;
    loop {
        let pids = pids(ns);
        if pids.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in pids {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
}

/// Removes namespaces that an earlier run killed outright left behind: names
/// made by [`unique_tag`] with `prefix` whose process no longer exists.
/// Returns the names removed.
pub fn remove_stale(prefix: &str) -> Vec<String> {
    let list = ip(&["netns", "list"]).unwrap_or_default();
    let mut removed = Vec::new();
    for name in list.lines().filter_map(|line| line.split_whitespace().next()) {
        let pid = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('n'))
            .map(|(pid, _)| pid)
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !is_alive(pid)) {
            remove(name);
            removed.push(name.to_owned());
        }
    }
    removed
}

/// Whether process `pid` exists and has not yet exited (a zombie has).
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        state.is_some_and(|state| state != "Z")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_unique_and_short() {
        let (a, b) = (unique_tag("xt"), unique_tag("xt"));
        assert_ne!(a, b);
        assert!(a.len() <= 13, "{a}");
        assert!(a.starts_with(&format!("xt{}n", std::process::id())));
    }

    #[test]
    fn a_namespace_pair_talks_and_is_removed_on_drop() {
        if !is_root() {
            eprintln!("skipped: creating namespaces needs root");
            return;
        }
        let tag = unique_tag("ts");
        let (a_name, b_name) = {
            let a = Netns::create(&format!("{tag}a")).expect("namespace a");
            let b = Netns::create(&format!("{tag}b")).expect("namespace b");
            veth((&a, &format!("{tag}a")), (&b, &format!("{tag}b"))).expect("veth pair");
            for (ns, addr) in [(&a, "198.18.7.1/24"), (&b, "198.18.7.2/24")] {
                ns.address(ns.name(), addr).expect("address");
                ns.up(ns.name()).expect("up");
            }
            let sent = b
                .run(|| {
                    let socket = std::net::UdpSocket::bind("198.18.7.2:0").expect("bind inside b");
                    socket.send_to(b"x", "198.18.7.1:9").is_ok()
                })
                .expect("a thread inside b");
            assert!(sent, "b reaches a over the veth");
            (a.name().to_owned(), b.name().to_owned())
        };
        let list = ip(&["netns", "list"]).expect("ip netns list");
        assert!(
            !list.contains(&a_name) && !list.contains(&b_name),
            "both namespaces are gone after the drop:\n{list}"
        );
    }
}

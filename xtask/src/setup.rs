//! `cargo xtask setup`: installs what building and testing need, skipping what is there.
use std::{
    collections::BTreeSet,
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::cmd::{self, note};

/// Every Debian package the tests, the lab and the benchmarks use.
pub const ALL_PACKAGES: &[&str] = &[
    "bind9-dnsutils",   // dig: end-to-end checks over the wire
    "bind9",            // named: a hidden primary for the secondary-zone tests
    "knot",             // knotd: a peer to compare against
    "knot-dnsutils",    // kdig and kxdpgun, the load generator
    "knot-dnssecutils", // kzonesign, keymgr: Knot as a signer of test zones
    "nsd",              // a peer to compare against
    "unbound",          // a recursive peer, and the validator of our signed answers
    "ldnsutils",        // ldns-signzone, ldns-keygen: signing test zones
    "bind9-utils",      // dnssec-signzone, dnssec-keygen: the other signer of test zones
    "bird2",            // BGP speaker announcing the anycast prefix
    "gobgpd",           // the other BGP speaker the sidecar can drive
    "bpftool",          // inspecting loaded programs and maps
    "xdp-tools",        // xdp-loader, xdpdump
    "dnsperf",          // closed-loop load generator
    "iproute2",         // ip netns, ss
    "tcpdump",          // looking at test traffic
    "g++",              // libFuzzer (C++) for `cargo xtask fuzz`
    "prometheus",       // prometheus and promtool: scrape and lint our metrics endpoint
    "fstrm-bin",        // fstrm_capture: a Frame Streams reader for the dnstap tests
    "linux-perf",       // perf stat: `bench auth --per-answer`
];

/// Daemons that Debian's post-install scripts may start; none may stay behind.
const DAEMONS: &[(&str, &str)] = &[
    // (process name, systemd unit)
    ("knotd", "knot"),
    ("nsd", "nsd"),
    ("unbound", "unbound"),
    ("named", "named"),
    ("bird", "bird"),
    ("gobgpd", "gobgpd"),
    // Its own server on :9090; the tests start one of their own on another port.
    ("prometheus", "prometheus"),
];

/// Makes `invoke-rc.d` refuse to start services while it exists (exit status 101).
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// Where bpf-linker finds the LLVM shared library of the nightly toolchain.
const LLVM_FOR_BPF_LINKER: &str = ".cache/llvm-for-bpf-linker";

/// The bpf-linker release known to build against rustc's LLVM.
const BPF_LINKER: &str = "bpf-linker@0.13.0";

#[derive(clap::Args)]
pub struct Args {
    /// Do not install Debian packages (toolchain pieces only).
    #[arg(long)]
    no_packages: bool,
}

pub fn cmd(args: &Args) -> Result<()> {
    toolchain()?;
    if !args.no_packages {
        packages(ALL_PACKAGES)?;
    }
    bpffs();
    Ok(())
}

/// The Rust side: rustfmt, nightly with rust-src, and bpf-linker.
pub fn toolchain() -> Result<()> {
    rustfmt()?;
    nightly_rust_src()?;
    clippy()?;
    bpf_linker()
}

/// Clippy for stable (the host crates) and for nightly (the XDP program,
/// linted for its own target): `cargo xtask test` denies its warnings.
fn clippy() -> Result<()> {
    for toolchain in ["stable", "nightly"] {
        if cmd::succeeds(Command::new("rustup").args(["run", toolchain, "cargo", "clippy", "--version"])) {
            note("setup", format!("{toolchain} clippy: present"));
            continue;
        }
        note("setup", format!("{toolchain} clippy: missing, adding it"));
        cmd::run(Command::new("rustup").args(["component", "add", "clippy", "--toolchain", toolchain]))?;
    }
    Ok(())
}

fn rustfmt() -> Result<()> {
    if cmd::succeeds(cmd::cargo().args(["fmt", "--version"])) {
        note("setup", "rustfmt: present");
        return Ok(());
    }
    note("setup", "rustfmt: missing, adding it");
    cmd::run(Command::new("rustup").args(["component", "add", "rustfmt"]))
}

fn nightly_rust_src() -> Result<()> {
    if !cmd::succeeds(Command::new("rustup").args(["run", "nightly", "rustc", "--version"])) {
        note("setup", "nightly toolchain: missing, installing it");
        cmd::run(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))
            .context("installing the nightly toolchain (is rustup installed? see https://rustup.rs)")?;
    }
    if nightly_sysroot()?.join("lib/rustlib/src").is_dir() {
        note("setup", "nightly rust-src: present");
        return Ok(());
    }
    note(
        "setup",
        "nightly rust-src: missing, adding it (the XDP program builds core from source)",
    );
    cmd::run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))
}

fn nightly_sysroot() -> Result<PathBuf> {
    let sysroot = cmd::stdout(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))?;
    Ok(PathBuf::from(sysroot.trim()))
}

/// bpf-linker must use the LLVM of the nightly rustc that emits the bitcode, and
/// rustup ships exactly that library in the nightly sysroot: link against it.
fn bpf_linker() -> Result<()> {
    if cmd::succeeds(Command::new("bpf-linker").arg("--version")) {
        note("setup", "bpf-linker: present");
        return Ok(());
    }
    let sysroot = nightly_sysroot()?;
    let libllvm = find_libllvm(&sysroot.join("lib"))?;
    let name = libllvm.file_name().unwrap_or_default().to_string_lossy();
    let major =
        llvm_major(&name).with_context(|| format!("cannot tell the LLVM version from {}", libllvm.display()))?;
    note(
        "setup",
        format!(
            "bpf-linker: missing, building it against LLVM {major} from {}",
            libllvm.display()
        ),
    );

    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let prefix = Path::new(&home).join(LLVM_FOR_BPF_LINKER);
    let link = prefix.join("lib/libLLVM.so");
    fs::create_dir_all(prefix.join("lib")).with_context(|| format!("creating {}", prefix.display()))?;
    if fs::read_link(&link).ok().as_deref() != Some(libllvm.as_path()) {
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&libllvm, &link)
            .with_context(|| format!("linking {} to {}", link.display(), libllvm.display()))?;
    }
    cmd::run(
        cmd::cargo()
            .env("LLVM_PREFIX", &prefix)
            .env(
                "RUSTFLAGS",
                format!("-C link-arg=-Wl,-rpath,{}", sysroot.join("lib").display()),
            )
            .args(["install", BPF_LINKER, "--locked", "--no-default-features", "--features"])
            .arg(format!("llvm-{major}")),
    )?;
    if !cmd::succeeds(Command::new("bpf-linker").arg("--version")) {
        bail!("bpf-linker is installed but not on PATH: add ~/.cargo/bin to PATH");
    }
    Ok(())
}

/// The versioned `libLLVM.so.NN...` file in a toolchain's `lib` directory.
fn find_libllvm(lib: &Path) -> Result<PathBuf> {
    let entries = fs::read_dir(lib).with_context(|| format!("reading {}", lib.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            llvm_major(&name).is_some()
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .next()
        .with_context(|| format!("no libLLVM.so.* in {}", lib.display()))
}

/// The LLVM major version in a file name like `libLLVM.so.22.1-rust-1.97.0-nightly`.
fn llvm_major(file_name: &str) -> Option<u32> {
    let version = file_name.strip_prefix("libLLVM.so.")?;
    let major = version.split(|c: char| !c.is_ascii_digit()).next()?;
    major.parse().ok()
}

/// Installs the Debian packages among `wanted` that are missing.
pub fn packages(wanted: &[&str]) -> Result<()> {
    let missing: Vec<&str> = wanted.iter().copied().filter(|p| !is_installed(p)).collect();
    if missing.is_empty() {
        note("setup", format!("Debian packages: all present ({})", wanted.join(" ")));
        return Ok(());
    }
    let list = missing.join(" ");
    if !cmd::succeeds(Command::new("apt-get").arg("--version")) {
        bail!("missing packages: {list}; this is not a Debian-like system, install them yourself");
    }
    if !cmd::is_root() {
        bail!(
            "missing Debian packages: {list}\n\
             install them as root:  sudo apt-get install --no-install-recommends {list}\n\
             (or skip this step with `cargo xtask setup --no-packages`)"
        );
    }
    note("setup", format!("Debian packages: installing {list}"));
    let before = daemon_pids();
    {
        let _no_daemons = PolicyRcGuard::install()?;
        cmd::run(Command::new("apt-get").arg("update"))?;
        cmd::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "--no-install-recommends"])
                .args(&missing),
        )?;
    }
    stop_new_daemons(&before);
    Ok(())
}

/// Whether dpkg knows `package` as installed; unknown packages are not.
pub fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout == b"install ok installed")
}

/// Keeps package scripts from starting daemons while it lives, unless the
/// machine already has a policy of its own (then that one is left alone).
struct PolicyRcGuard {
    created: bool,
}

impl PolicyRcGuard {
    fn install() -> Result<Self> {
        if Path::new(POLICY_RC_D).exists() {
            note("setup", format!("{POLICY_RC_D} exists already; leaving it as it is"));
            return Ok(Self { created: false });
        }
        note(
            "setup",
            format!("writing {POLICY_RC_D} so that no daemon starts during the install"),
        );
        fs::write(
            POLICY_RC_D,
            "#!/bin/sh\n# Written by cargo xtask setup for one apt-get run.\nexit 101\n",
        )
        .with_context(|| format!("writing {POLICY_RC_D}"))?;
        fs::set_permissions(POLICY_RC_D, fs::Permissions::from_mode(0o755))?;
        Ok(Self { created: true })
    }
}

impl Drop for PolicyRcGuard {
    fn drop(&mut self) {
        if self.created {
            note("setup", format!("removing {POLICY_RC_D}"));
            if let Err(err) = fs::remove_file(POLICY_RC_D) {
                note("setup", format!("warning: could not remove {POLICY_RC_D}: {err}"));
            }
        }
    }
}

/// Running processes whose name is one of [`DAEMONS`], as (pid, name).
fn daemon_pids() -> BTreeSet<(u32, String)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(entry.path().join("comm")).ok()?;
            let comm = comm.trim();
            DAEMONS
                .iter()
                .any(|(name, _)| *name == comm)
                .then(|| (pid, comm.to_owned()))
        })
        .collect()
}

/// Stops the daemons that appeared during the install: through systemd when
/// it runs the machine, else by process id, and then only those holding port 53.
fn stop_new_daemons(before: &BTreeSet<(u32, String)>) {
    let started: Vec<(u32, String)> = daemon_pids().difference(before).cloned().collect();
    if started.is_empty() {
        note("setup", "no daemon was left running by the install");
        return;
    }
    let systemd = fs::read_to_string("/proc/1/comm").is_ok_and(|comm| comm.trim() == "systemd");
    if systemd {
        let units: BTreeSet<&str> = started
            .iter()
            .filter_map(|(_, name)| DAEMONS.iter().find(|(d, _)| d == name).map(|(_, unit)| *unit))
            .collect();
        for unit in units {
            if let Err(err) = cmd::run(Command::new("systemctl").args(["stop", unit])) {
                note("setup", format!("warning: {err:#}"));
            }
        }
        return;
    }
    let on_port_53 = port_53_pids();
    for (pid, name) in started {
        if on_port_53.contains(&pid) {
            note(
                "setup",
                format!("{name} (pid {pid}) was started by the install and holds port 53"),
            );
            if let Err(err) = cmd::run(Command::new("kill").args(["-TERM", &pid.to_string()])) {
                note("setup", format!("warning: {err:#}"));
            }
        } else {
            note(
                "setup",
                format!("{name} (pid {pid}) is running but does not hold port 53; left alone"),
            );
        }
    }
}

/// Ids of the processes with a socket bound to port 53 (TCP or UDP).
fn port_53_pids() -> BTreeSet<u32> {
    let Ok(listing) = cmd::stdout(Command::new("ss").args(["-Hlnutp", "sport = :53"])) else {
        return BTreeSet::new();
    };
    listing
        .split("pid=")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

/// Mounts the BPF filesystem, where pinned maps and programs live.
pub fn bpffs() {
    let mounted = fs::read_to_string("/proc/mounts").is_ok_and(|mounts| {
        mounts.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&"/sys/fs/bpf") && fields.get(2) == Some(&"bpf")
        })
    });
    if mounted {
        note("setup", "bpffs: mounted at /sys/fs/bpf");
        return;
    }
    if !cmd::is_root() {
        note("setup", "bpffs: not mounted; as root: mount -t bpf bpf /sys/fs/bpf");
        return;
    }
    if let Err(err) = cmd::run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"])) {
        note("setup", format!("warning: could not mount bpffs: {err:#}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llvm_major_comes_from_the_versioned_file_name() {
        assert_eq!(llvm_major("libLLVM.so.22.1-rust-1.97.0-nightly"), Some(22));
        assert_eq!(llvm_major("libLLVM.so.23"), Some(23));
        assert_eq!(llvm_major("libLLVM-22-rust-1.97.0-nightly.so"), None);
        assert_eq!(llvm_major("libLLVM.so"), None);
    }

    #[test]
    fn unknown_packages_are_not_installed() {
        assert!(!is_installed("no-such-package-xtask-probe"));
    }
}

//! `dns-server xdp-bench` (hidden): the XDP program's cost per packet, by
//! case, measured with `BPF_PROG_TEST_RUN` on crafted frames.
//!
//! A hit rewrites the frame in place, and `BPF_PROG_TEST_RUN` with
//! `repeat > 1` runs the program again on the same, rewritten bytes (the
//! response, which is not for our port): its `duration` would time one hit
//! and N-1 passes. So every case is run with `repeat = 1`, many times, and
//! timed two ways: the kernel's BPF run-time statistics (the program alone,
//! the same figure `bpftool prog show` gives live) and the mean of
//! `duration` (which adds the test harness: timer, bottom halves). Cases
//! are interleaved and the rounds' medians printed, because this VM's speed
//! drifts from minute to minute. What does not rewrite the frame is also
//! timed hot, with `repeat` = 10^6 (the `duration` of that one run).
//!
//! The `repeat = 1` figures are cold-ish (the syscall between two runs
//! evicts much of the program's code and data), as live traffic is; the
//! statistics themselves add a fixed cost, which the "pass TCP" case shows.
//! `--against OBJECT` times another build in the same rounds, for A/B
//! comparisons; it must share this build's map layouts.

use std::{
    os::fd::RawFd,
    path::{Path, PathBuf},
    sync::Arc,
};

use dns_wire::{csum, wire::class};

use xdp_abi::{CONFIG_RECURSION, XdpConfig};

use super::{FastPath, XdpError, feed, sync};
use crate::{
    catalog::Catalog,
    name::Name,
    query::Identity,
    resolver::{Resolution, cache::CachedRecord},
    zone::load,
};

/// `XDP_DROP`, `XDP_PASS`, `XDP_TX` from `enum xdp_action`.
pub(crate) const XDP_DROP: u32 = 1;
pub(crate) const XDP_PASS: u32 = 2;
pub(crate) const XDP_TX: u32 = 3;
/// `BPF_PROG_TEST_RUN` from `enum bpf_cmd`.
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// The `test` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// One `BPF_PROG_TEST_RUN`.
pub(crate) struct TestRun {
    /// The program's action.
    pub action: u32,
    /// The frame after the program.
    pub frame: Vec<u8>,
    /// Mean ns per run, as the kernel timed it.
    pub duration: u32,
}

/// Runs the program `repeat` times on `frame` (the frame is not reset between runs).
pub(crate) fn test_run(fd: RawFd, frame: &[u8], repeat: u32) -> std::io::Result<TestRun> {
    let mut out = vec![0u8; 4096];
    let mut attr = TestRunAttr {
        prog_fd: fd as u32,
        data_size_in: frame.len() as u32,
        data_size_out: out.len() as u32,
        data_in: frame.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat,
        ..Default::default()
    };
    // SAFETY: attr points at valid buffers of the sizes given, for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            &mut attr as *mut TestRunAttr,
            std::mem::size_of::<TestRunAttr>(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    out.truncate(attr.data_size_out as usize);
    Ok(TestRun {
        action: attr.retval,
        frame: out,
        duration: attr.duration,
    })
}

/// Repeats of the hot run (the frame stays in cache between them).
const HOT_REPEAT: u32 = 1_000_000;

/// The zone answered: a short name (the apex) and a three-label one.
const ZONE: &str = "$ORIGIN example.com.\n$TTL 3600\n\
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
@ IN NS ns1\n\
@ IN A 192.0.2.1\n\
ns1 IN A 192.0.2.1\n\
www IN A 192.0.2.10\n\
www IN AAAA 2001:db8::10\n";

/// A frame to time and the action it must get.
struct Case {
    what: &'static str,
    frame: Vec<u8>,
    action: u32,
}

fn cases() -> Vec<Case> {
    const A: u16 = 1;
    const AAAA: u16 = 28;
    let edns = Some(1232);
    let udp = |v6, src_port, dns: Vec<u8>| frame(v6, 17, src_port, &dns);
    let mut response = query("example.com", A, None);
    response[2] |= 0x80;
    vec![
        Case {
            what: "hit v4, no EDNS, example.com A",
            frame: udp(false, 40000, query("example.com", A, None)),
            action: XDP_TX,
        },
        Case {
            what: "hit v4, EDNS, www.example.com A",
            frame: udp(false, 40000, query("www.example.com", A, edns)),
            action: XDP_TX,
        },
        Case {
            what: "hit v6, EDNS, www.example.com AAAA",
            frame: udp(true, 40000, query("www.example.com", AAAA, edns)),
            action: XDP_TX,
        },
        Case {
            what: "resolver hit v4, www.resolved.test A",
            frame: udp(false, 40000, query("www.resolved.test", A, None)),
            action: XDP_TX,
        },
        Case {
            what: "miss v4, nope.example.com A",
            frame: udp(false, 40000, query("nope.example.com", A, None)),
            action: XDP_PASS,
        },
        Case {
            what: "drop QR=1",
            frame: udp(false, 40000, response),
            action: XDP_DROP,
        },
        Case {
            what: "drop source port 123",
            frame: udp(false, 123, query("example.com", A, None)),
            action: XDP_DROP,
        },
        Case {
            what: "pass TCP",
            frame: frame(false, 6, 40000, &[0; 32]),
            action: XDP_PASS,
        },
    ]
}

/// A query for `name` (class IN), with an OPT record of `edns` payload when given.
fn query(name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
    if let Some(payload) = edns {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&payload.to_be_bytes());
        q.extend_from_slice(&[0; 6]);
    }
    q
}

/// Ethernet, IPv4 or IPv6, and `l4` (UDP around `payload`, or `payload`
/// as is for another protocol) from port `src_port` to 53, every checksum
/// right (the program drops what the stack would drop).
fn frame(v6: bool, proto: u8, src_port: u16, payload: &[u8]) -> Vec<u8> {
    let (src, dst): (&[u8], &[u8]) = if v6 {
        (
            &[0xfd, 0, 0xb0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            &[0xfd, 0, 0xb0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        )
    } else {
        (&[198, 18, 0, 2], &[198, 18, 0, 1])
    };
    let mut l4 = Vec::new();
    if proto == 17 {
        l4.extend_from_slice(&src_port.to_be_bytes());
        l4.extend_from_slice(&53u16.to_be_bytes());
        l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.extend_from_slice(payload);
    if proto == 17 {
        let pseudo = csum::add_bytes(csum::add_bytes(0, src), dst) + 17 + l4.len() as u32;
        let check = csum::udp_field(csum::add_bytes(pseudo, &l4));
        l4[6..8].copy_from_slice(&check.to_be_bytes());
    }
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    if v6 {
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        f.extend_from_slice(&[proto, 64]);
    } else {
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
        let check = !csum::fold(csum::add_bytes(csum::add_bytes(0, &ip), src) + csum::add_bytes(0, dst));
        ip[10..12].copy_from_slice(&check.to_be_bytes());
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
    }
    f.extend_from_slice(src);
    f.extend_from_slice(dst);
    f.extend_from_slice(&l4);
    f
}

/// Loads the program (this build's, or `object`) and fills its map from [`ZONE`].
fn load_program(object: Option<&[u8]>) -> Result<(FastPath, RawFd), XdpError> {
    let mut fast = match object {
        Some(bytes) => FastPath::load_object(bytes, 1024, None)?,
        None => FastPath::load(1024, None)?,
    };
    let fd = fast.program_fd()?;
    fast.maps
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .set_config(XdpConfig {
            dns_port: 53,
            udp_limit: 1232,
            ..Default::default()
        })?;
    let origin = Name::parse("example.com.", None).map_err(|e| XdpError::Config(e.to_string()))?;
    let zone = load::from_str(&origin, ZONE, Path::new("<bench zone>")).map_err(|e| XdpError::Config(e.to_string()))?;
    let catalog = Catalog::new([Arc::new(zone)], 1000);
    let identity = Identity {
        identity: "bench".into(),
        version: None,
        udp_payload: 1232,
    };
    sync::install(&fast.maps, &sync::precompute(&catalog, &identity))?;
    add_resolver_entry(&fast, &identity)?;
    Ok((fast, fd))
}

/// One of the resolver's entries, for the bench's clients (198.18.0.0/15).
fn add_resolver_entry(fast: &FastPath, identity: &Identity) -> Result<(), XdpError> {
    let name = Name::parse("www.resolved.test.", None).map_err(|e| XdpError::Config(e.to_string()))?;
    let record = CachedRecord {
        owner: name.clone(),
        rtype: 1,
        class: 1,
        rdata: vec![192, 0, 2, 99],
    };
    let resolution = Resolution {
        answer: vec![(record, 300)],
        ..Resolution::default()
    };
    let hour = 3_600_000_000_000;
    let value = feed::value(&name, 1, None, &resolution, identity, feed::monotonic_ns() + hour)
        .ok_or_else(|| XdpError::Config("the bench's resolver entry does not fit".into()))?;
    let mut maps = fast.maps.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = maps.config()?;
    config.flags |= CONFIG_RECURSION;
    maps.set_config(config)?;
    maps.allow_recursion("198.18.0.0".parse().expect("literal"), 15)?;
    let key = sync::key(name.as_wire(), 1, class::IN, 0);
    maps.live()?.insert(key, value.as_ref(), 0)?;
    Ok(())
}

/// A loaded program under test.
struct Subject {
    what: String,
    fast: FastPath,
    fd: RawFd,
    /// Per case, one `[program ns, test_run ns, hot ns]` per round.
    samples: Vec<Vec<[f64; 3]>>,
}

/// Times every case `calls` times per round, for `rounds` interleaved rounds,
/// and prints the medians over rounds; every build of the program in
/// `against` (object files) is loaded too and timed in the same rounds.
pub fn run(calls: u32, rounds: u32, against: &[PathBuf]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let cases = cases();
    let mut subjects = Vec::new();
    for path in against {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (fast, fd) = load_program(Some(&bytes)).with_context(|| format!("loading {}", path.display()))?;
        subjects.push((path.display().to_string(), fast, fd));
    }
    let (fast, fd) = load_program(None).context("loading the XDP program (needs root)")?;
    subjects.push(("this build".to_string(), fast, fd));
    let mut subjects: Vec<Subject> = subjects
        .into_iter()
        .map(|(what, fast, fd)| Subject {
            what,
            fast,
            fd,
            samples: vec![Vec::new(); cases.len()],
        })
        .collect();
    for s in &mut subjects {
        let info = s.fast.program_info()?;
        println!(
            "{}: {} instructions, {} verified, {} bytes JITed",
            s.what,
            info.size_translated().unwrap_or(0) / 8,
            info.verified_instruction_count().unwrap_or(0),
            info.size_jitted()
        );
        for case in &cases {
            let got = test_run(s.fd, &case.frame, 1)?;
            anyhow::ensure!(
                got.action == case.action,
                "{}, {}: action {}, expected {}",
                s.what,
                case.what,
                got.action,
                case.action
            );
            anyhow::ensure!(
                got.action != XDP_TX || got.frame.len() > case.frame.len(),
                "{}, {}: the response carries no answer",
                s.what,
                case.what
            );
        }
    }
    for round in 0..rounds {
        for s in &mut subjects {
            for (i, case) in cases.iter().enumerate() {
                let sample = time_case(s, case, calls)?;
                s.samples[i].push(sample);
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    for s in &subjects {
        println!("\n{} (median of {rounds} rounds)", s.what);
        println!("{:<38} {:>8} {:>12} {:>8}", "case", "prog ns", "test_run ns", "hot ns");
        for (case, samples) in cases.iter().zip(&s.samples) {
            let [prog, harness, hot] = [0, 1, 2].map(|k| median(samples.iter().map(|x| x[k]).collect()));
            println!("{:<38} {prog:>8.1} {harness:>12.1} {hot:>8.1}", case.what);
        }
    }
    Ok(())
}

/// One round of one case: `[program ns, test_run ns, hot ns]`.
fn time_case(s: &mut Subject, case: &Case, calls: u32) -> anyhow::Result<[f64; 3]> {
    // Hot first, without run-time statistics (they cost more than a drop).
    // Only what leaves the frame as it was can be repeated on it.
    let hot = if case.action == XDP_TX {
        f64::NAN
    } else {
        f64::from(test_run(s.fd, &case.frame, HOT_REPEAT)?.duration)
    };
    let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime)?;
    let before = s.fast.program_info()?;
    let mut duration = 0u64;
    for _ in 0..calls {
        duration += u64::from(test_run(s.fd, &case.frame, 1)?.duration);
    }
    let after = s.fast.program_info()?;
    drop(stats);
    let runs = (after.run_count() - before.run_count()).max(1);
    let prog = (after.run_time() - before.run_time()).as_nanos() as f64 / runs as f64;
    Ok([prog, duration as f64 / f64::from(calls.max(1)), hot])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

//! The XDP program's cost per packet, by case, measured with
//! `BPF_PROG_TEST_RUN` on the frames of the packet-in/packet-out tests
//! (`src/xdp/cases.rs`, the cases marked `timed`). Needs root. Run by
//! `cargo xtask bench xdp`, or by hand:
//!
//!     cargo run --release -p dns-server --example xdp_bench -- --calls 100000 --rounds 3
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
//! statistics themselves add a fixed cost, which the "TCP to 53" case shows.
//! `--against OBJECT` times another build in the same rounds, for A/B
//! comparisons; it must share this build's map layouts. `--without-checks`
//! builds the program without the frame checks of `validate.rs` (xdp-ebpf's
//! `no-frame-checks` feature, never shipped) and times it the same way:
//! what the checks add to each case (issue 11: at most 10 ns to a hit).
//! Where a program's code and maps land in memory moves its cases by
//! several ns for as long as that load lives, as much between two loads of
//! one build as between two builds: `--loads N` loads every build N times,
//! times every load in every round, and compares builds load by load.
//!
//! Two rows are the bench's own, not the table's: a client's first contact
//! (a client cookie alone) and our server cookie from a client the program
//! does not remember, each with a new client cookie every call, so that
//! every call computes SipHash-2-4 (see [`first_contacts`]). The table's
//! cookie rows repeat one frame, so they time the program's cookie memory.
//!
//! No hot figure for hits: `BPF_F_TEST_XDP_LIVE_FRAMES` does not give each
//! repetition the original frame. Its pages are recycled as the program
//! left them (the kernel's `bpf_prog_run.rst`: on recycling only the data
//! pointers are reset, "if a program rewrites the packet contents, it has
//! to be prepared to see either the original content or the modified
//! version"), so after the first hit the program would see its own
//! response (QR=1, from port 53) and time a drop or a pass. A busy
//! server's figure for hits comes from live traffic (`cargo xtask bench
//! xdp`, with `kernel.bpf_stats_enabled`).

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context as _, ensure};
use clap::Parser;
use dns_server::xdp::Fixture;

// The tests' case table, compiled here too; the tests read more of it than the bench.
#[allow(dead_code)]
#[path = "../src/xdp/cases.rs"]
mod cases;

use cases::{Expect, XDP_TX};

/// Times the XDP program per packet with BPF_PROG_TEST_RUN (needs root).
#[derive(Debug, Parser)]
struct Args {
    /// Runs per case per round.
    #[arg(long, default_value_t = 200_000)]
    calls: u32,
    /// Interleaved rounds; medians are printed.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Another build of the program (an xdp-dns object file) to time in the same rounds (repeatable).
    #[arg(long)]
    against: Vec<PathBuf>,
    /// Also build the program without its frame checks (nightly, as the
    /// build script does) and time it in the same rounds.
    #[arg(long)]
    without_checks: bool,
    /// Times each build is loaded, every load timed in every round: each
    /// load puts the program's code and maps elsewhere in memory, which
    /// moves a case by several ns for as long as that load lives (placement,
    /// not the code: two loads of one build differ as much). Figures are
    /// over all loads, and builds are compared load by load.
    #[arg(long, default_value_t = 1)]
    loads: u32,
    /// With the service-address filter on (`[xdp] service_addresses`, as an
    /// anycast PoP runs): the cases' server addresses are the service's, and
    /// every query's source is looked up among them (a martian if found).
    #[arg(long)]
    service_filter: bool,
}

/// Repeats of the hot run (the frame stays in cache between them).
const HOT_REPEAT: u32 = 1_000_000;

/// A loaded program under test (one load of a build).
struct Subject {
    what: String,
    /// Which load of the build it is.
    load: u32,
    fixture: Fixture,
    /// Per case, one `[program ns, test_run ns, hot ns, best chunk ns]` per round.
    samples: Vec<Vec<[f64; 4]>>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Times every timed case `calls` times per round, for `rounds` interleaved
/// rounds, and prints the medians over rounds; every build of the program in
/// `against` (object files) is loaded too and timed in the same rounds.
fn run(args: &Args) -> anyhow::Result<()> {
    let all = cases::cases(&dns_server::xdp::fixture::COOKIE_SECRET);
    let mut loaded = Vec::new();
    let mut others: Vec<(String, PathBuf)> = args
        .against
        .iter()
        .map(|path| (path.display().to_string(), path.clone()))
        .collect();
    if args.without_checks {
        others.push((WITHOUT_CHECKS.to_string(), build_without_checks()?));
    }
    let loads = args.loads.max(1);
    for (what, path) in others {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        for load in 0..loads {
            let fixture = Fixture::load(Some(&bytes)).with_context(|| format!("loading {}", path.display()))?;
            loaded.push((what.clone(), load, fixture));
        }
    }
    for load in 0..loads {
        let fixture = Fixture::load(None).context("loading the XDP program (needs root)")?;
        loaded.push((THIS_BUILD.to_string(), load, fixture));
    }
    let mut timed: Vec<Timed> = all
        .iter()
        .filter(|c| c.timed)
        .map(|c| Timed {
            what: c.what,
            expect: c.expect,
            frames: vec![c.frame.bytes()],
        })
        .collect();
    timed.extend(first_contacts(&dns_server::xdp::fixture::COOKIE_SECRET));
    if args.service_filter {
        let service = [
            std::net::IpAddr::from(cases::SERVER_V4),
            std::net::IpAddr::from(cases::SERVER_V6),
        ];
        for (_, _, fixture) in &loaded {
            fixture.serve_only(&service)?;
        }
    }
    let mut subjects: Vec<Subject> = loaded
        .into_iter()
        .map(|(what, load, fixture)| Subject {
            what,
            load,
            fixture,
            samples: vec![Vec::new(); timed.len()],
        })
        .collect();
    for s in &mut subjects {
        let info = s.fixture.program_info()?;
        if s.load > 0 {
            // The same build: its figures were printed for its first load.
            continue;
        }
        println!(
            "{}: {} instructions, {} verified, {} bytes JITed; {} responses in the map",
            s.what,
            info.size_translated().unwrap_or(0) / 8,
            info.verified_instruction_count().unwrap_or(0),
            info.size_jitted(),
            s.fixture.responses()
        );
        // Every case's action, as the tests expect it, before anything is
        // timed; only the timed ones for another build, which may be one
        // cut short for measuring (say, without the checks of `validate.rs`).
        let other_build = s.what != THIS_BUILD;
        for case in all.iter().filter(|c| c.timed || !other_build) {
            let frame = case.frame.bytes();
            let got = s.fixture.run(&frame, 1)?;
            let expected = case.expect.action();
            ensure!(
                got.action == expected,
                "{}, {}: action {}, expected {expected}",
                s.what,
                case.what,
                got.action
            );
            ensure!(
                got.action != XDP_TX || got.frame.len() > frame.len(),
                "{}, {}: the response carries no answer",
                s.what,
                case.what
            );
        }
    }
    for s in &mut subjects {
        for case in timed.iter().filter(|c| c.frames.len() > 1) {
            for frame in &case.frames {
                let got = s.fixture.run(frame, 1)?.action;
                ensure!(
                    got == XDP_TX,
                    "{}, {}: action {got}, expected an answer",
                    s.what,
                    case.what
                );
            }
        }
    }
    for round in 0..args.rounds {
        for s in &mut subjects {
            for (i, case) in timed.iter().enumerate() {
                let sample = time_case(s, case, args.calls)?;
                s.samples[i].push(sample);
            }
        }
        eprintln!("round {} of {} done", round + 1, args.rounds);
    }
    // Each build's samples over all its loads, load after load, round by
    // round: builds compare pairwise in the same order (load k, round r).
    let mut builds: Vec<(&str, Vec<Vec<[f64; 4]>>)> = Vec::new();
    for s in &subjects {
        match builds.iter_mut().find(|(what, _)| *what == s.what) {
            Some((_, samples)) => {
                for (all, these) in samples.iter_mut().zip(&s.samples) {
                    all.extend_from_slice(these);
                }
            }
            None => builds.push((&s.what, s.samples.clone())),
        }
    }
    let over = if loads > 1 {
        format!("median of {} rounds of {loads} loads", args.rounds)
    } else {
        format!("median of {} rounds", args.rounds)
    };
    let rounds = args.rounds as usize;
    for (what, samples) in &builds {
        println!("\n{what} ({over})");
        println!(
            "{:<46} {:>8} {:>12} {:>8} {:>8}",
            "case", "prog ns", "test_run ns", "hot ns", "best ns"
        );
        for (case, samples) in timed.iter().zip(samples) {
            let [prog, harness, hot] = [0, 1, 2].map(|k| median(samples.iter().map(|x| x[k]).collect()));
            let best = floor(samples);
            println!("{:<46} {prog:>8.1} {harness:>12.1} {hot:>8.1} {best:>8.1}", case.what);
        }
        // What a cookie adds to a hit (issue 11: at most 60 ns), round by
        // round: the VM's drift moves both cases of a round alike.
        let plain = timed.iter().position(|c| c.what == COOKIELESS_HIT);
        for (i, case) in timed.iter().enumerate().filter(|(_, c)| c.what.contains("cookie")) {
            if let Some(plain) = plain {
                println!(
                    "  {} over {COOKIELESS_HIT}: {}",
                    case.what,
                    paired(&samples[i], &samples[plain], rounds)
                );
            }
        }
    }
    // Each other build against this one, round by round (the same rounds).
    if let Some(((_, this), others)) = builds.split_last() {
        for (what, other) in others {
            println!("\nthis build minus {what}, prog ns, per round");
            for (i, case) in timed.iter().enumerate() {
                println!("{:<46} {}", case.what, paired(&this[i], &other[i], rounds));
            }
            if *what == WITHOUT_CHECKS
                && let Some(hit) = timed.iter().position(|c| c.what == COOKIELESS_HIT)
            {
                println!(
                    "the frame checks add to a hit ({COOKIELESS_HIT}, issue 11: at most 10 ns): {}",
                    paired(&this[hit], &other[hit], rounds)
                );
            }
        }
    }
    Ok(())
}

/// The name the program this example was built with goes by in the output.
const THIS_BUILD: &str = "this build";

/// The name the build without frame checks goes by in the output.
const WITHOUT_CHECKS: &str = "without frame checks";

/// Builds the program with xdp-ebpf's `no-frame-checks` feature, as
/// aya-build builds the real one (nightly, build-std, the same flags, so
/// the two differ by the checks alone), into a target directory of its
/// own; returns the object's path.
fn build_without_checks() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("xdp-no-frame-checks");
    let rustflags = [
        format!("--cfg=bpf_target_arch=\"{}\"", std::env::consts::ARCH),
        "-Cdebuginfo=2".to_string(),
        "-Clink-arg=--btf".to_string(),
    ]
    .join("\x1f");
    eprintln!(
        "building the program without frame checks into {}",
        target_dir.display()
    );
    let status = Command::new("rustup")
        .args([
            "run",
            "nightly",
            "cargo",
            "build",
            "--package",
            "xdp-ebpf",
            "--bin",
            "xdp-dns",
        ])
        .args(["--release", "--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .args(["--features", "no-frame-checks", "--target-dir"])
        .arg(&target_dir)
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .current_dir(&root)
        .status()
        .context("running rustup (cargo xtask setup installs the nightly toolchain)")?;
    ensure!(
        status.success(),
        "building xdp-ebpf with no-frame-checks failed: {status}"
    );
    Ok(target_dir.join("bpfel-unknown-none/release/xdp-dns"))
}

/// The hit a cookie's cost is measured against (the same query without the option).
const COOKIELESS_HIT: &str = "IPv4, www A, EDNS";

/// A timed case: its frames (more than one: a new one each call, in turn).
struct Timed {
    what: &'static str,
    expect: Expect,
    frames: Vec<Vec<u8>>,
}

/// Different client cookies per first-contact case, taken in turn.
const FIRST_CONTACTS: u64 = 1024;

/// Clients the program has not seen: a new client cookie with every query
/// (alone, and with the server cookie we would have given it), so that
/// every call misses the program's cookie memory (`COOKIE_MEMO`) and
/// computes SipHash-2-4, as a client's first query does (and the first
/// with our server cookie, at another PoP or after the memory dropped it).
/// Every cookie is made to fall in the same memory slot (its two 32-bit
/// halves equal, so their xor, the slot, is 0), so each call evicts the
/// previous one's entry and no call can find its own: a miss every time,
/// whatever the order.
fn first_contacts(secret: &[u8; 16]) -> Vec<Timed> {
    let client = |k: u64| {
        let half = k << 8;
        (half | half << 32).to_le_bytes()
    };
    let frame = |options: Vec<u8>| {
        cases::Frame::udp(false, cases::query("www.example.com", 1, Some((1232, false)), &options)).bytes()
    };
    let addr = std::net::IpAddr::from(cases::CLIENT_V4);
    vec![
        Timed {
            what: "IPv4, EDNS, client cookie, first contact",
            expect: Expect::Answer,
            frames: (1..=FIRST_CONTACTS)
                .map(|k| frame(cases::cookie_option(client(k), None)))
                .collect(),
        },
        Timed {
            what: "IPv4, EDNS, our server cookie, unremembered",
            expect: Expect::Answer,
            frames: (1..=FIRST_CONTACTS)
                .map(|k| {
                    let server = cases::server_cookie_now(secret, client(k), addr);
                    frame(cases::cookie_option(client(k), Some(server)))
                })
                .collect(),
        },
    ]
}

/// `a - b` in program ns, round by round: the median and the range, and,
/// over several loads, the median's 95% interval (see [`interval`]); then
/// the difference of the floors (see [`floor`]), steadier on a busy machine.
/// `rounds`: the samples are each load's rounds, load after load.
fn paired(a: &[[f64; 4]], b: &[[f64; 4]], rounds: usize) -> String {
    let d: Vec<f64> = a.iter().zip(b).map(|(a, b)| a[0] - b[0]).collect();
    let (lo, hi) = d.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
        (lo.min(x), hi.max(x))
    });
    let within = match interval(&d, rounds) {
        Some((low, high)) => format!(", 95% {low:+.1}..{high:+.1}"),
        None => String::new(),
    };
    format!(
        "{:+.1} (range {lo:+.1}..{hi:+.1}{within}); best {:+.1}",
        median(d),
        floor(a) - floor(b)
    )
}

/// Resamples drawn for [`interval`].
const RESAMPLES: usize = 2000;

/// A 95% interval for the median of `d`, the differences of `rounds` rounds
/// per load, load after load: a bootstrap that draws whole loads (with
/// replacement), since a load's placement moves all its rounds alike and
/// its rounds are not independent samples. `None` with fewer than 4 loads.
fn interval(d: &[f64], rounds: usize) -> Option<(f64, f64)> {
    let loads: Vec<&[f64]> = d.chunks(rounds.max(1)).collect();
    if loads.len() < 4 {
        return None;
    }
    // xorshift64: a fixed seed, so that a run's figures can be reproduced from its samples.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut medians: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let drawn: Vec<f64> = (0..loads.len())
                .flat_map(|_| loads[(next() % loads.len() as u64) as usize].iter().copied())
                .collect();
            median(drawn)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    Some((medians[RESAMPLES * 25 / 1000], medians[RESAMPLES * 975 / 1000]))
}

/// The fastest chunk of [`CHUNK`] runs over all rounds: other work on the
/// machine only ever adds time, so the floor is what the program costs when
/// it has the CPU to itself (on a busy machine the medians move by tens of
/// ns from round to round; the floor much less).
fn floor(samples: &[[f64; 4]]) -> f64 {
    samples.iter().map(|x| x[3]).fold(f64::INFINITY, f64::min)
}

/// Runs per chunk whose mean program time is a candidate for the floor.
const CHUNK: u32 = 1000;

/// One round of one case: `[program ns, test_run ns, hot ns, best chunk ns]`.
fn time_case(s: &mut Subject, case: &Timed, calls: u32) -> anyhow::Result<[f64; 4]> {
    // Hot first, without run-time statistics (they cost more than a drop).
    // Only what leaves the frame as it was can be repeated on it.
    let hot = if case.expect.action() == XDP_TX {
        f64::NAN
    } else {
        s.fixture.run(&case.frames[0], HOT_REPEAT)?.duration.as_nanos() as f64
    };
    let mut frames = case.frames.iter().cycle();
    let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime)?;
    let first = reading(s)?;
    let (mut before, mut duration, mut best) = (first, 0u128, f64::INFINITY);
    let mut done = 0;
    while done < calls {
        let chunk = CHUNK.min(calls - done);
        for frame in frames.by_ref().take(chunk as usize) {
            duration += s.fixture.run(frame, 1)?.duration.as_nanos();
        }
        done += chunk;
        let after = reading(s)?;
        if chunk == CHUNK {
            best = best.min(mean_run(before, after));
        }
        before = after;
    }
    drop(stats);
    let prog = mean_run(first, before);
    Ok([prog, duration as f64 / f64::from(calls.max(1)), hot, best])
}

/// The program's run-time statistics: runs, and nanoseconds in them.
fn reading(s: &mut Subject) -> anyhow::Result<(u64, u128)> {
    let info = s.fixture.program_info()?;
    Ok((info.run_count(), info.run_time().as_nanos()))
}

/// The program's mean run time between two readings of its statistics.
fn mean_run(before: (u64, u128), after: (u64, u128)) -> f64 {
    let runs = (after.0 - before.0).max(1);
    (after.1 - before.1) as f64 / runs as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

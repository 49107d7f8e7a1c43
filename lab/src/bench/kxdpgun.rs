//! The load generator: kxdpgun (knot-dnsutils) sending over XDP from the client namespace.
use std::{
    fs,
    os::unix::process::CommandExt as _,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{process, rig::Rig, veth};
use crate::cmd;

/// Slack past the run's own length before the generator counts as hung.
const OVERRUN: Duration = Duration::from_secs(15);

/// How long the generator may take to attach its XDP program, which gives the
/// client end the NAPI instance whose thread is then pinned.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(5);

/// What one run of the generator measured.
pub struct Measured {
    pub sent_per_s: u64,
    pub answered_per_s: u64,
    /// Where the packets went, from the veth pair's counters (without ethtool, none).
    pub path: Option<veth::Path>,
    /// kxdpgun's average DNS reply size, in bytes.
    pub reply_bytes: Option<f64>,
}

/// How long and how fast the generator sends.
#[derive(Clone, Copy)]
pub struct Rate {
    pub seconds: u32,
    pub qps: u32,
    /// Queries per batch (`-b`); `None`: kxdpgun's default (10 over UDP).
    pub batch: Option<u32>,
}

impl Rate {
    /// `qps` for `seconds`, in kxdpgun's default batches.
    pub fn new(seconds: u32, qps: u32) -> Rate {
        Rate {
            seconds,
            qps,
            batch: None,
        }
    }
}

/// Sends queries from `queries` to `target` at `rate`.
pub fn generate(rig: &Rig, queries: &Path, target: &str, rate: Rate, out: &Path) -> Result<Measured> {
    let Rate { seconds, qps, batch } = rate;
    let client = &rig.client;
    client.detach_xdp();
    let log = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let cpu = client.cpu.to_string();
    let mut command = client.exec();
    command
        .args(["taskset", "-c", &cpu, "kxdpgun"])
        .args(["-t", &seconds.to_string(), "-Q", &qps.to_string()])
        .args(["-F", &cpu, "-I", &client.name, "-R", &rig.server.mac])
        .args(batch.map(|b| ["-b".to_string(), b.to_string()]).into_iter().flatten())
        .arg("-i")
        .arg(queries)
        .arg(target)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    cmd::note("bench", format!("$ {}", cmd::show(&command)));
    let before = veth::Snapshot::take(rig);
    let mut child = command.spawn().context("starting kxdpgun")?;

    pin_receive_threads(rig, &mut child)?;
    let status = match process::wait_for(&mut child, Duration::from_secs(seconds.into()) + OVERRUN) {
        Ok(Some(status)) => status,
        other => {
            process::stop(&mut child);
            client.detach_xdp();
            other?;
            bail!("kxdpgun did not finish within {seconds} s + {OVERRUN:?}");
        }
    };
    let after = veth::Snapshot::take(rig);
    client.detach_xdp();
    let output = fs::read_to_string(out)?;
    if !status.success() {
        bail!("kxdpgun failed ({status}):\n{output}");
    }
    let mut measured = parse(&output).with_context(|| format!("unexpected kxdpgun output:\n{output}"))?;
    if let (Some(before), Some(after)) = (before, after) {
        measured.path = Some(veth::Path::between(&before, &after, f64::from(seconds)));
    }
    Ok(measured)
}

/// Pins both ends' NAPI threads as soon as the generator's XDP program is attached.
fn pin_receive_threads(rig: &Rig, child: &mut std::process::Child) -> Result<()> {
    let deadline = Instant::now() + ATTACH_TIMEOUT;
    while rig.client.pin_napi_threads() == 0 {
        if Instant::now() >= deadline || child.try_wait()?.is_some() {
            cmd::note(
                "bench",
                "warning: no NAPI thread on the client end; its receive work runs on the server's CPU",
            );
            break;
        }
        crate::signals::sleep(Duration::from_millis(50))?;
    }
    // The server end has NAPI only if the server attached an XDP program of its own.
    rig.server.pin_napi_threads();
    Ok(())
}

/// Reads `total queries: N (R pps)` and `total replies: N (R pps) (P%)`.
fn parse(output: &str) -> Option<Measured> {
    let rate = |label: &str| -> Option<u64> {
        let line = output.lines().find_map(|line| line.trim().strip_prefix(label))?;
        let (_, rest) = line.split_once('(')?;
        rest.split_whitespace().next()?.parse().ok()
    };
    let reply_bytes = output.lines().find_map(|line| {
        let size = line.trim().strip_prefix("average DNS reply size:")?;
        size.split_whitespace().next()?.parse().ok()
    });
    Some(Measured {
        sent_per_s: rate("total queries:")?,
        answered_per_s: rate("total replies:")?,
        path: None,
        reply_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_totals() {
        let output = "using interface xbc, XDP threads 1, UDP, native mode\n\
                      thread#00: sent 2999950, received 784805\n\
                      total queries:     2999950 (999983 pps)\n\
                      total replies:     784805 (261601 pps) (26%)\n\
                      average DNS reply size: 82 B\n";
        let measured = parse(output).expect("totals found");
        assert_eq!(measured.sent_per_s, 999_983);
        assert_eq!(measured.answered_per_s, 261_601);
        assert_eq!(measured.reply_bytes, Some(82.0));
    }

    #[test]
    fn missing_totals_are_none() {
        assert!(parse("using interface xbc\n").is_none());
    }
}

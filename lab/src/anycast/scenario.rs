//! The scenarios: a fault or an operator action at one PoP, then the client's move to the other.
//!
//! Every step stamps its action as t=0, waits until the router routes both
//! prefixes to the PoP that should now serve and the client's last probes were
//! answered by it, then reads off when the router's route changed, when the
//! client was first answered by that PoP, and how many probes went unanswered.
use std::time::Duration;

use anyhow::{Result, bail};

use super::{
    config::PROBE_NAME,
    probe::{Family, Probe},
    report,
    rig::Lab,
    sys::{in_netns, mono, wait_until},
    timeline::Event,
};
use crate::cmd;

/// How long one step may take to end as expected (a BGP session coming back takes a few seconds).
const LIMIT: Duration = Duration::from_secs(30);
/// Consecutive answers from the new PoP, per family, that end a step.
const SETTLED: usize = 5;

/// A fault (the failover target applies) or a recovery (traffic coming back).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fault,
    Recovery,
}

/// What one step measured.
pub struct Row {
    pub name: &'static str,
    pub action: &'static str,
    pub kind: Kind,
    /// The PoP that should serve the client at the end.
    pub to: &'static str,
    pub t0: Duration,
    /// First change of an anycast route in the router's kernel, after t0.
    pub route: Option<Duration>,
    /// Per family (v4, v6): first probe answered by `to`, and probes unanswered.
    pub answered: [Option<Duration>; 2],
    pub failed: [usize; 2],
    /// Why the step did not end as expected.
    pub error: Option<String>,
}

/// Runs every scenario, adding a row per step to `rows` (kept by the caller when a step aborts the run).
pub fn run(lab: &mut Lab, rows: &mut Vec<Row>) -> Result<()> {
    who_answers(lab)?;
    // (1b) A change on the hidden primary reaches both PoPs and the client.
    super::fleet::run(lab)?;

    // (2) The serving PoP's DNS server dies; it comes back after `rise` good checks.
    lab.wait_steady("pop-a", LIMIT)?;
    rows.push(step(
        lab,
        "dns-kill",
        "kill -9 pop-a's dns-server",
        Kind::Fault,
        "pop-b",
        |lab| lab.procs.kill("dns-a"),
    )?);
    rows.push(step(
        lab,
        "dns-restart",
        "restart it (announced after rise=3)",
        Kind::Recovery,
        "pop-a",
        |lab| lab.start_dns("pop-a"),
    )?);

    // (3) The operator's maintenance file: drain keeps the route but de-prefers it; withdraw removes it.
    for mode in ["drain", "withdraw"] {
        lab.wait_steady("pop-a", LIMIT)?;
        let (name, action) = match mode {
            "drain" => ("maint-drain", "echo drain > pop-a's maintenance file"),
            _ => ("maint-withdraw", "echo withdraw > pop-a's maintenance file"),
        };
        rows.push(step(lab, name, action, Kind::Fault, "pop-b", |lab| {
            lab.maintenance("pop-a", Some(mode))
        })?);
        rows.push(step(
            lab,
            "maint-end",
            "rm pop-a's maintenance file",
            Kind::Recovery,
            "pop-a",
            |lab| lab.maintenance("pop-a", None),
        )?);
    }

    // (4) The sidecar dies: its announcement outlives it until the stop hook withdraws.
    lab.wait_steady("pop-a", LIMIT)?;
    let action = "kill -9 pop-a's sidecar, then --withdraw-all (ExecStopPost)";
    rows.push(step(lab, "sidecar-kill", action, Kind::Fault, "pop-b", |lab| {
        lab.procs.kill("sidecar-a")?;
        lab.timeline.push("lab", "sidecar-a killed; running --withdraw-all");
        lab.withdraw_all("pop-a")?;
        lab.timeline.push("lab", "--withdraw-all done");
        Ok(())
    })?);
    rows.push(step(
        lab,
        "sidecar-start",
        "start pop-a's sidecar (rise=3)",
        Kind::Recovery,
        "pop-a",
        |lab| lab.start_sidecar("pop-a"),
    )?);

    // (5) The BGP speaker fails: BIRD frozen (only BFD notices), gobgpd killed (its TCP session closes).
    lab.wait_steady("pop-a", LIMIT)?;
    rows.push(step(
        lab,
        "bird-freeze",
        "kill -STOP pop-a's BIRD (BFD 50 ms x 3)",
        Kind::Fault,
        "pop-b",
        |lab| lab.procs.signal("bird-a", libc::SIGSTOP),
    )?);
    rows.push(step(
        lab,
        "bird-thaw",
        "kill -CONT pop-a's BIRD (session re-established)",
        Kind::Recovery,
        "pop-a",
        |lab| lab.procs.signal("bird-a", libc::SIGCONT),
    )?);
    // gobgpd serves the client only while pop-a is drained.
    lab.wait_steady("pop-a", LIMIT)?;
    lab.maintenance("pop-a", Some("drain"))?;
    lab.wait_steady("pop-b", LIMIT)?;
    rows.push(step(
        lab,
        "gobgpd-kill",
        "kill -9 pop-b's gobgpd (pop-a drained)",
        Kind::Fault,
        "pop-a",
        |lab| lab.procs.kill("gobgpd-b"),
    )?);
    rows.push(step(
        lab,
        "gobgpd-start",
        "restart gobgpd (sidecar re-adds its paths)",
        Kind::Recovery,
        "pop-b",
        |lab| lab.start_speaker("pop-b"),
    )?);
    lab.maintenance("pop-a", None)?;
    lab.wait_steady("pop-a", LIMIT)?;
    for name in [
        "router-bird",
        "bird-a",
        "gobgpd-b",
        "dns-a",
        "dns-b",
        "sidecar-a",
        "sidecar-b",
        "knot-primary",
    ] {
        lab.procs.check_alive(name)?;
    }
    if lab.xdp {
        xdp_counters(lab)?;
    }
    Ok(())
}

/// Stops both servers cleanly and prints the XDP counters each logs at shutdown:
/// `hit` counts the client's probes answered in XDP.
fn xdp_counters(lab: &mut Lab) -> Result<()> {
    println!("\n== XDP counters at shutdown (pop-a's since its restart) ==");
    for short in ["a", "b"] {
        let name = format!("dns-{short}");
        lab.procs.stop(&name, Duration::from_secs(5))?;
        let log = std::fs::read_to_string(lab.procs.log_path(&name)).unwrap_or_default();
        let counters = log
            .lines()
            .rev()
            .find_map(|line| line.split_once("XDP counters at shutdown").map(|(_, rest)| rest.trim()))
            .unwrap_or("(not logged)");
        println!("pop-{short}: {counters}");
    }
    Ok(())
}

/// (1) Which PoP answers: `dig` from the client, as an operator would check it.
fn who_answers(lab: &Lab) -> Result<()> {
    println!("\n== which PoP answers (dig from the client namespace) ==");
    let b = lab.net.pop("pop-b");
    let queries: [(&[&str], &str); 5] = [
        (&["@203.0.113.53", "id.server", "CH", "TXT", "+short"], "pop-a"),
        (&["@2001:db8::53", "id.server", "CH", "TXT", "+short"], "pop-a"),
        (&["@203.0.113.53", "www.lab.example", "A", "+nsid"], "pop-a"),
        (&["@2001:db8::53", PROBE_NAME, "TXT", "+short"], "pop-a"),
        (&[&format!("@{}", b.v4), "id.server", "CH", "TXT", "+short"], "pop-b"),
    ];
    for (args, expect) in queries {
        let out = cmd::stdout(
            in_netns(&lab.net.client, "dig")
                .args(args)
                .args(["+time=1", "+tries=3"]),
        )?;
        let shown: Vec<&str> = out
            .lines()
            .filter(|line| line.contains("NSID") || !line.starts_with(';') && !line.trim().is_empty())
            .filter(|line| !args.contains(&"+nsid") || line.contains("NSID"))
            .collect();
        println!("$ dig {}\n  {}", args.join(" "), shown.join("\n  "));
        if !out.contains(expect) {
            bail!("expected {expect} to answer `dig {}`, got:\n{out}", args.join(" "));
        }
    }
    Ok(())
}

/// Stamps t=0, runs `act`, waits for the client to be served by `to`, and measures.
fn step(
    lab: &mut Lab,
    name: &'static str,
    action: &'static str,
    kind: Kind,
    to: &'static str,
    act: impl FnOnce(&mut Lab) -> Result<()>,
) -> Result<Row> {
    let t0 = lab.timeline.push("lab", action);
    act(lab)?;
    let settled = wait_until(&format!("the client to be answered by {to}"), LIMIT, || {
        lab.net.routed_to() == Some(to)
            && lab.prober().answered_by(Family::V4, to, SETTLED)
            && lab.prober().answered_by(Family::V6, to, SETTLED)
    });
    crate::signals::check_interrupt()?;
    let events: Vec<Event> = lab.timeline.since(t0);
    let probes = [Family::V4, Family::V6].map(|family| lab.prober().since(family, t0));
    let first = |probes: &[Probe]| {
        probes
            .iter()
            .find(|p| p.answer.as_deref() == Some(to))
            .map(|p| p.at - t0)
    };
    let row = Row {
        name,
        action,
        kind,
        to,
        t0,
        route: events.iter().find(|e| e.source == "route-monitor").map(|e| e.at - t0),
        answered: [first(&probes[0]), first(&probes[1])],
        failed: probes
            .each_ref()
            .map(|p| p.iter().filter(|p| p.answer.is_none()).count()),
        error: settled.err().map(|e| format!("{e:#}\n{}", lab.diagnosis())),
    };
    report::timeline(&row, &events, &probes, mono());
    // A short pause, so that the next step starts from a quiet state.
    crate::signals::sleep(Duration::from_millis(300))?;
    Ok(row)
}

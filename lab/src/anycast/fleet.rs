//! The fleet scenario: a record changed on the hidden primary (`knotc`), and
//! when each PoP, and the client through the anycast address, first answer it.
//!
//! One thread in the client's namespace asks pop-a and pop-b (their unicast
//! addresses) and the anycast address every few milliseconds, stamping each
//! target's first new answer on the lab's clock. Then a burst of queries to
//! the anycast address, with the serving PoP's XDP `hit` counter read before
//! and after, shows that the new answer comes from the fast path.
use std::{
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow, bail};
use test_support::netns;

use super::{
    config::{FLEET_NAME, FLEET_ZONE},
    net::ANYCAST_V4,
    probe::ask_txt,
    rig::Lab,
    sys::mono,
};

/// How long the PoPs may take to hold a version (the first AXFR, or NOTIFY then IXFR).
const LIMIT: Duration = Duration::from_secs(20);
/// Time between two rounds of questions to the three targets.
const POLL: Duration = Duration::from_millis(5);
/// Queries in the burst that shows the fast path answering.
const BURST: u64 = 50;

/// Runs the scenario; fails when a PoP never answers the change, or (with XDP)
/// when the burst was not answered from the serving PoP's XDP map.
pub fn run(lab: &mut Lab) -> Result<()> {
    println!("\n== fleet: a change on the hidden primary (Knot), pulled by both PoPs ==");
    let targets: Vec<(&'static str, SocketAddr)> = vec![
        ("pop-a", SocketAddr::new(lab.net.pop("pop-a").v4.parse()?, 53)),
        ("pop-b", SocketAddr::new(lab.net.pop("pop-b").v4.parse()?, 53)),
        ("client via anycast", SocketAddr::new(ANYCAST_V4.parse()?, 53)),
    ];
    first_answers(&lab.net.client, &targets, "v1").map_err(|e| anyhow!("{e:#}\n{}", lab.procs.tail("knot-primary")))?;

    let t0 = lab
        .timeline
        .push("lab", format!("knotc: {FLEET_NAME} TXT \"v1\" -> \"v2\""));
    lab.knotc(&["zone-begin", FLEET_ZONE])?;
    lab.knotc(&["zone-unset", FLEET_ZONE, "www", "TXT"])?;
    lab.knotc(&["zone-set", FLEET_ZONE, "www", "60", "TXT", "\"v2\""])?;
    lab.knotc(&["zone-commit", FLEET_ZONE])?;
    let committed = mono() - t0;
    let firsts = first_answers(&lab.net.client, &targets, "v2").map_err(|e| {
        anyhow!(
            "{e:#}\n--- dns-a ---\n{}\n--- dns-b ---\n{}",
            lab.procs.tail("dns-a"),
            lab.procs.tail("dns-b")
        )
    })?;
    println!(
        "t=0 knotc zone-begin; zone-commit returned at +{} ms",
        committed.as_millis()
    );
    for ((name, _), at) in targets.iter().zip(&firsts) {
        let after = *at - t0;
        println!(
            "  {name:<20} first answered \"v2\" at +{} ms ({} ms after zone-commit returned)",
            after.as_millis(),
            after.saturating_sub(committed).as_millis()
        );
    }

    if !lab.xdp {
        println!("  (XDP off: the answers came from userspace)");
        return Ok(());
    }
    let serving = lab
        .net
        .routed_to()
        .context("the router routes the anycast address to no single PoP")?;
    let before = lab.server_stat(serving, "xdp.hit")?;
    let anycast = targets[2].1;
    let answered = burst(&lab.net.client, anycast)?;
    let after = lab.server_stat(serving, "xdp.hit")?;
    println!(
        "  {serving}'s XDP hit counter: +{} for a burst of {BURST} client queries ({answered} answered \"v2\")",
        after - before
    );
    if answered != BURST || after - before < BURST {
        bail!(
            "expected {serving}'s XDP program to answer all {BURST} queries for the new record: \
             {answered} answered \"v2\", hit counter +{}",
            after - before
        );
    }
    Ok(())
}

/// When each target first answered `FLEET_NAME` TXT with `want`, on the lab's clock.
fn first_answers(client: &str, targets: &[(&'static str, SocketAddr)], want: &str) -> Result<Vec<Duration>> {
    let (targets, want) = (targets.to_vec(), want.to_owned());
    let thread = netns::spawn_in(client, move || -> Result<Vec<Duration>> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        let mut firsts: Vec<Option<Duration>> = vec![None; targets.len()];
        let deadline = Instant::now() + LIMIT;
        let mut id: u16 = 0x7000;
        while firsts.iter().any(Option::is_none) {
            if Instant::now() > deadline {
                let missing: Vec<&str> = targets
                    .iter()
                    .zip(&firsts)
                    .filter(|(_, f)| f.is_none())
                    .map(|((name, _), _)| *name)
                    .collect();
                bail!("{} never answered \"{want}\" within {LIMIT:?}", missing.join(", "));
            }
            for ((_, target), first) in targets.iter().zip(firsts.iter_mut()) {
                if first.is_none() {
                    id = id.wrapping_add(1);
                    let at = mono();
                    if ask_txt(&socket, *target, FLEET_NAME, id).as_deref() == Some(want.as_str()) {
                        *first = Some(at);
                    }
                }
            }
            std::thread::sleep(POLL);
        }
        Ok(firsts.into_iter().flatten().collect())
    })
    .with_context(|| format!("namespace {client}"))?;
    thread.join().map_err(|_| anyhow!("the asking thread panicked"))?
}

/// [`BURST`] queries to `target` from the client, one after the other; how many were answered "v2".
fn burst(client: &str, target: SocketAddr) -> Result<u64> {
    let thread = netns::spawn_in(client, move || -> Result<u64> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        let mut answered = 0;
        for id in 0..BURST {
            if ask_txt(&socket, target, FLEET_NAME, 0x7800 + id as u16).as_deref() == Some("v2") {
                answered += 1;
            }
        }
        Ok(answered)
    })
    .with_context(|| format!("namespace {client}"))?;
    thread.join().map_err(|_| anyhow!("the burst thread panicked"))?
}

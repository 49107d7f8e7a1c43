//! The lab's network: a router namespace with two PoPs and a client behind it, joined by veth pairs.
//!
//! ```text
//!   pop-a (BIRD)  198.18.1.1 ──┐
//!                              ├── router (BIRD, kernel table) 198.18.3.2 ── client 198.18.3.1
//!   pop-b (GoBGP) 198.18.2.1 ──┘
//! ```
//! Each PoP holds the anycast addresses on its loopback; the router learns them
//! over BGP and installs one PoP's route (no `merge paths`).
use std::{collections::BTreeSet, time::Duration};

use crate::signals::is_alive;

use anyhow::Result;

use super::sys::{self, ip};
use crate::cmd::note;

/// The anycast service addresses, on every PoP's loopback.
pub const ANYCAST_V4: &str = "203.0.113.53";
pub const ANYCAST_V6: &str = "2001:db8::53";
/// The router's AS; each PoP has its own.
pub const ROUTER_AS: u32 = 65000;
/// The client's end of its link, and the router's.
const CLIENT_V4: &str = "198.18.3.1";
const CLIENT_V6: &str = "fd00:3::1";
pub const ROUTER_CLIENT_V4: &str = "198.18.3.2";
const ROUTER_CLIENT_V6: &str = "fd00:3::2";

/// Prefix of every namespace and interface name; the process id follows, so
/// parallel runs never collide and leftovers of a killed run can be recognised.
const PREFIX: &str = "xl";

/// Which BGP speaker a PoP runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Bird,
    Gobgp,
}

/// One PoP: its namespace, its link to the router and its addresses there.
pub struct Pop {
    /// The server's identity (`id.server`, NSID) and the name used in the output.
    pub name: &'static str,
    pub ns: String,
    /// The PoP's end of its link to the router, and the router's end.
    pub veth: String,
    pub router_veth: String,
    pub v4: &'static str,
    pub v6: &'static str,
    pub router_v4: &'static str,
    pub router_v6: &'static str,
    pub asn: u32,
    pub speaker: Speaker,
}

/// The namespaces; dropping it kills what still runs in them and removes them.
pub struct Net {
    /// Prefix and process id: the start of every name this run gives.
    tag: String,
    pub router: String,
    pub client: String,
    pub pops: [Pop; 2],
    /// Namespaces created so far, so that a half-built lab is removed too.
    made: Vec<String>,
}

impl Net {
    pub fn create() -> Result<Net> {
        remove_stale();
        let tag = format!("{PREFIX}{}", std::process::id());
        let pop = |side: char, name, n: u8, asn, speaker| Pop {
            name,
            ns: format!("{tag}-{side}"),
            // Interface names: at most 15 bytes.
            veth: format!("{tag}{side}"),
            router_veth: format!("{tag}r{side}"),
            v4: if n == 1 { "198.18.1.1" } else { "198.18.2.1" },
            v6: if n == 1 { "fd00:1::1" } else { "fd00:2::1" },
            router_v4: if n == 1 { "198.18.1.2" } else { "198.18.2.2" },
            router_v6: if n == 1 { "fd00:1::2" } else { "fd00:2::2" },
            asn,
            speaker,
        };
        let mut net = Net {
            router: format!("{tag}-r"),
            client: format!("{tag}-c"),
            pops: [
                pop('a', "pop-a", 1, 65001, Speaker::Bird),
                pop('b', "pop-b", 2, 65002, Speaker::Gobgp),
            ],
            made: Vec::new(),
            tag,
        };
        let names = [&net.router, &net.pops[0].ns, &net.pops[1].ns, &net.client].map(String::clone);
        note("lab", format!("creating namespaces {}", names.join(" ")));
        for ns in names {
            ip(&["netns", "add", &ns])?;
            net.made.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        net.wire()?;
        Ok(net)
    }

    /// Links, addresses, forwarding and the routes that are not learned over BGP.
    fn wire(&self) -> Result<()> {
        let (client_veth, router_client_veth) = (format!("{}c", self.tag), format!("{}rc", self.tag));
        link(
            (&self.router, &router_client_veth, ROUTER_CLIENT_V4, ROUTER_CLIENT_V6),
            (&self.client, &client_veth, CLIENT_V4, CLIENT_V6),
        )?;
        for pop in &self.pops {
            link(
                (&self.router, &pop.router_veth, pop.router_v4, pop.router_v6),
                (&pop.ns, &pop.veth, pop.v4, pop.v6),
            )?;
            ip(&["-n", &pop.ns, "addr", "add", &format!("{ANYCAST_V4}/32"), "dev", "lo"])?;
            ip(&["-n", &pop.ns, "addr", "add", &format!("{ANYCAST_V6}/128"), "dev", "lo"])?;
            // Answers to the client go back through the router.
            ip(&["-n", &pop.ns, "route", "add", "default", "via", pop.router_v4])?;
            ip(&["-n", &pop.ns, "-6", "route", "add", "default", "via", pop.router_v6])?;
        }
        ip(&["-n", &self.client, "route", "add", "default", "via", ROUTER_CLIENT_V4])?;
        ip(&[
            "-n",
            &self.client,
            "-6",
            "route",
            "add",
            "default",
            "via",
            ROUTER_CLIENT_V6,
        ])?;
        for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            crate::cmd::stdout(sys::in_netns(&self.router, "sysctl").args(["-qw", key]))?;
        }
        Ok(())
    }

    pub fn pop(&self, name: &str) -> &Pop {
        self.pops.iter().find(|pop| pop.name == name).expect("a PoP of the lab")
    }

    /// The router kernel's routes to both anycast addresses, as `ip route` prints them.
    pub fn router_routes(&self) -> String {
        let v4 = ip(&["-n", &self.router, "-4", "route", "show", &format!("{ANYCAST_V4}/32")]);
        let v6 = ip(&["-n", &self.router, "-6", "route", "show", &format!("{ANYCAST_V6}/128")]);
        format!("{}{}", v4.unwrap_or_default(), v6.unwrap_or_default())
    }

    /// The PoP the router's kernel sends both anycast addresses to, if it is one PoP.
    pub fn routed_to(&self) -> Option<&'static str> {
        let routes = self.router_routes();
        self.pops
            .iter()
            .find(|pop| routes.contains(&format!("via {} ", pop.v4)) && routes.contains(&format!("via {} ", pop.v6)))
            .map(|pop| pop.name)
    }
}

/// A veth pair between two namespaces, with an IPv4 /30 and an IPv6 /64 on each end.
fn link(a: (&str, &str, &str, &str), b: (&str, &str, &str, &str)) -> Result<()> {
    ip(&[
        "link", "add", a.1, "netns", a.0, "type", "veth", "peer", "name", b.1, "netns", b.0,
    ])?;
    for (ns, dev, v4, v6) in [a, b] {
        ip(&["-n", ns, "addr", "add", &format!("{v4}/30"), "dev", dev])?;
        ip(&["-n", ns, "addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
    }
    Ok(())
}

impl Drop for Net {
    fn drop(&mut self) {
        note("lab", format!("removing namespaces {}", self.made.join(" ")));
        for ns in &self.made {
            remove_netns(ns);
        }
    }
}

/// Kills whatever still runs in namespace `ns` (all of it started by the lab) and removes it.
fn remove_netns(ns: &str) {
    for _ in 0..50 {
        let pids = netns_pids(ns);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            crate::signals::signal(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = ip(&["netns", "del", ns]);
}

fn netns_pids(ns: &str) -> BTreeSet<u32> {
    ip(&["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// Removes namespaces left by an earlier run that was killed outright: names
/// of exactly the lab's form whose process id no longer exists.
fn remove_stale() {
    let list = ip(&["netns", "list"]).unwrap_or_default();
    for name in list.lines().filter_map(|line| line.split_whitespace().next()) {
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| ["-r", "-a", "-b", "-c"].iter().find_map(|side| rest.strip_suffix(side)))
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !is_alive(pid)) {
            note("lab", format!("removing namespace {name}, left by an earlier run"));
            remove_netns(name);
        }
    }
}

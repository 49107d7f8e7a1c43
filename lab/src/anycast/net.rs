//! The lab's network: a router namespace with two PoPs and a client behind it, joined by veth pairs.
//!
//! ```text
//!   pop-a (BIRD)  198.18.1.1 ──┐
//!                              ├── router (BIRD, kernel table) 198.18.3.2 ── client 198.18.3.1
//!   pop-b (GoBGP) 198.18.2.1 ──┘          198.18.4.2 ── primary (Knot, hidden) 198.18.4.1
//! ```
//! Each PoP holds the anycast addresses on its loopback; the router learns them
//! over BGP and installs one PoP's route (no `merge paths`). Both PoPs pull the
//! fleet zone from the hidden primary, through the router.
use anyhow::Result;
use test_support::netns::{self, Netns};

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
/// The hidden primary's end of its link, and the router's.
pub const PRIMARY_V4: &str = "198.18.4.1";
const PRIMARY_V6: &str = "fd00:4::1";
const ROUTER_PRIMARY_V4: &str = "198.18.4.2";
const ROUTER_PRIMARY_V6: &str = "fd00:4::2";

/// Prefix of every namespace and interface name; the process id and a counter
/// follow, so parallel runs never collide and leftovers of a killed run can be
/// recognised.
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
    /// The hidden primary's namespace (Knot).
    pub primary: String,
    pub pops: [Pop; 2],
    /// Namespaces created so far, so that a half-built lab is removed too.
    made: Vec<Netns>,
}

impl Net {
    pub fn create() -> Result<Net> {
        for name in netns::remove_stale(PREFIX) {
            note("lab", format!("removed namespace {name}, left by an earlier run"));
        }
        let tag = netns::unique_tag(PREFIX);
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
            primary: format!("{tag}-h"),
            pops: [
                pop('a', "pop-a", 1, 65001, Speaker::Bird),
                pop('b', "pop-b", 2, 65002, Speaker::Gobgp),
            ],
            made: Vec::new(),
            tag,
        };
        let names = [&net.router, &net.pops[0].ns, &net.pops[1].ns, &net.client, &net.primary].map(String::clone);
        note("lab", format!("creating namespaces {}", names.join(" ")));
        for ns in names {
            net.made.push(Netns::create(&ns)?);
        }
        net.wire()?;
        Ok(net)
    }

    /// Links, addresses, forwarding and the routes that are not learned over BGP.
    fn wire(&self) -> Result<()> {
        let (client_veth, router_client_veth) = (format!("{}c", self.tag), format!("{}rc", self.tag));
        let router = self.guard(&self.router);
        link(
            (router, &router_client_veth, ROUTER_CLIENT_V4, ROUTER_CLIENT_V6),
            (self.guard(&self.client), &client_veth, CLIENT_V4, CLIENT_V6),
        )?;
        for pop in &self.pops {
            link(
                (router, &pop.router_veth, pop.router_v4, pop.router_v6),
                (self.guard(&pop.ns), &pop.veth, pop.v4, pop.v6),
            )?;
            ip(&["-n", &pop.ns, "addr", "add", &format!("{ANYCAST_V4}/32"), "dev", "lo"])?;
            ip(&["-n", &pop.ns, "addr", "add", &format!("{ANYCAST_V6}/128"), "dev", "lo"])?;
            // Answers to the client go back through the router.
            ip(&["-n", &pop.ns, "route", "add", "default", "via", pop.router_v4])?;
            ip(&["-n", &pop.ns, "-6", "route", "add", "default", "via", pop.router_v6])?;
        }
        let (primary_veth, router_primary_veth) = (format!("{}h", self.tag), format!("{}rh", self.tag));
        link(
            (router, &router_primary_veth, ROUTER_PRIMARY_V4, ROUTER_PRIMARY_V6),
            (self.guard(&self.primary), &primary_veth, PRIMARY_V4, PRIMARY_V6),
        )?;
        for (ns, v4, v6) in [
            (&self.client, ROUTER_CLIENT_V4, ROUTER_CLIENT_V6),
            (&self.primary, ROUTER_PRIMARY_V4, ROUTER_PRIMARY_V6),
        ] {
            ip(&["-n", ns, "route", "add", "default", "via", v4])?;
            ip(&["-n", ns, "-6", "route", "add", "default", "via", v6])?;
        }
        for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            crate::cmd::stdout(sys::in_netns(&self.router, "sysctl").args(["-qw", key]))?;
        }
        Ok(())
    }

    /// The guard of namespace `name`, one of the lab's.
    fn guard(&self, name: &str) -> &Netns {
        self.made
            .iter()
            .find(|ns| ns.name() == name)
            .expect("a namespace of the lab")
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
fn link(a: (&Netns, &str, &str, &str), b: (&Netns, &str, &str, &str)) -> Result<()> {
    netns::veth((a.0, a.1), (b.0, b.1))?;
    for (ns, dev, v4, v6) in [a, b] {
        ns.address(dev, &format!("{v4}/30"))?;
        ns.address(dev, &format!("{v6}/64"))?;
        ns.up(dev)?;
    }
    Ok(())
}

impl Drop for Net {
    fn drop(&mut self) {
        let names: Vec<&str> = self.made.iter().map(Netns::name).collect();
        note("lab", format!("removing namespaces {}", names.join(" ")));
        // Each guard kills what still runs inside (all of it started by the lab) and removes it.
        self.made.clear();
    }
}

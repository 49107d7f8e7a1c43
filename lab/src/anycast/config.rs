//! The daemons' configuration files, written per run: router BIRD, PoP BIRD, gobgpd, server, sidecar.
use std::path::{Path, PathBuf};

use super::net::{ANYCAST_V4, ANYCAST_V6, Net, PRIMARY_V4, Pop, ROUTER_AS, ROUTER_CLIENT_V4, Speaker};

/// BFD as bgp.md measured it: a frozen PoP loses its routes in about 150 ms.
const BFD: &str = "protocol bfd { interface \"*\" { min rx interval 50 ms; min tx interval 50 ms; multiplier 3; }; }";

/// Timers shared by every BGP session: reconnect within a second or two after a
/// fault (BIRD's default error wait of 60 s would stall the recovery steps).
const BIRD_TIMERS: &str = "hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 2;";

/// The router: one session per PoP and family, BFD on the BIRD PoP's, best route
/// into the kernel. PoP A gets the higher local preference (it is "nearer"), so
/// the lab starts on A and every fault moves the client to B. A route carrying
/// GRACEFUL_SHUTDOWN (RFC 8326) drops to local preference 0, as the RFC asks.
pub fn router_bird(net: &Net) -> String {
    let mut sessions = String::new();
    for (pop, local_pref) in net.pops.iter().zip([200, 100]) {
        let bfd = if pop.speaker == Speaker::Bird { "bfd on;" } else { "" };
        let short = pop.name.trim_start_matches("pop-");
        for (family, local, neighbor) in [("ipv4", pop.router_v4, pop.v4), ("ipv6", pop.router_v6, pop.v6)] {
            let suffix = &family[3..];
            sessions.push_str(&format!(
                "protocol bgp pop_{short}{suffix} {{ local {local} as {ROUTER_AS}; neighbor {neighbor} as {asn}; \
                 {BIRD_TIMERS} {bfd}\n  {family} {{ import filter {{ bgp_local_pref = {local_pref}; \
                 if (65535, 0) ~ bgp_community then bgp_local_pref = 0; accept; }}; export none; }}; }}\n",
                asn = pop.asn,
            ));
        }
    }
    format!(
        "router id {ROUTER_CLIENT_V4};\nlog stderr all;\n\
         # Session state changes go to the log, and from there to the lab's timeline.\n\
         debug protocols {{ states }};\n\
         protocol device {{ }}\n\
         protocol kernel {{ ipv4 {{ import none; export all; }}; }}\n\
         protocol kernel {{ ipv6 {{ import none; export all; }}; }}\n\
         {BFD}\n{sessions}"
    )
}

/// A PoP on BIRD: exports what the sidecar's include file says (state, static routes, attributes).
pub fn pop_bird(pop: &Pop, include: &Path) -> String {
    let mut sessions = String::new();
    for (family, local, neighbor) in [("ipv4", pop.v4, pop.router_v4), ("ipv6", pop.v6, pop.router_v6)] {
        sessions.push_str(&format!(
            "protocol bgp rtr{} {{ local {local} as {asn}; neighbor {neighbor} as {ROUTER_AS}; {BIRD_TIMERS} bfd on;\n  \
             {family} {{ import none; export filter anycast_export; }}; }}\n",
            &family[3..],
            asn = pop.asn,
        ));
    }
    format!(
        "router id {v4};\nlog stderr all;\ninclude \"{include}\";\nprotocol device {{ }}\n{BFD}\n\
         filter anycast_export {{\n  if proto !~ \"anycast*\" then reject;\n  if ANYCAST_STATE = 0 then reject;\n  \
         anycast_attributes();\n  accept;\n}}\n{sessions}",
        v4 = pop.v4,
        include = include.display(),
    )
}

/// A PoP on GoBGP (no BFD in Debian's gobgpd): one neighbour per family.
pub fn gobgpd(pop: &Pop) -> String {
    let mut out = format!("[global.config]\n  as = {}\n  router-id = \"{}\"\n", pop.asn, pop.v4);
    for (neighbor, family) in [(pop.router_v4, "ipv4-unicast"), (pop.router_v6, "ipv6-unicast")] {
        out.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{neighbor}\"\n    peer-as = {ROUTER_AS}\n  \
             [neighbors.timers.config]\n    hold-time = 9\n    keepalive-interval = 3\n    connect-retry = 1\n  \
             [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{family}\"\n"
        ));
    }
    out
}

/// The lab's zone, one per PoP: `pop.lab.example. TXT` names the PoP, so the
/// client sees who answered with a query that XDP answers (CHAOS ones it passes).
pub const ZONE: &str = "lab.example.";
/// The name the client asks for (TXT), and the one the sidecar checks (A).
pub const PROBE_NAME: &str = "pop.lab.example.";
const CHECK_NAME: &str = "www.lab.example.";
const CHECK_ADDRESS: &str = "192.0.2.10";

pub fn zone(pop: &Pop) -> String {
    format!(
        "$ORIGIN {ZONE}\n$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n@ IN NS ns\n\
         ns IN A {ANYCAST_V4}\nns IN AAAA {ANYCAST_V6}\nwww IN A {CHECK_ADDRESS}\npop IN TXT \"{}\"\n",
        pop.name
    )
}

/// The zone every PoP pulls from the hidden primary (a secondary zone), and
/// the name the fleet scenario changes there.
pub const FLEET_ZONE: &str = "fleet.lab.example.";
pub const FLEET_NAME: &str = "www.fleet.lab.example.";

/// The fleet zone as the primary starts with it: `www` TXT "v1". Refresh
/// hourly, so only NOTIFY explains a quick change at the PoPs.
pub fn fleet_zone() -> String {
    format!(
        "$ORIGIN {FLEET_ZONE}\n$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n@ IN NS ns\n\
         ns IN A {ANYCAST_V4}\nwww IN TXT \"v1\"\n"
    )
}

/// Knot as the hidden primary: the fleet zone, transfers to the PoPs'
/// addresses, NOTIFY to both on every change, its journal for IXFR.
pub fn knot_primary(net: &Net, dir: &Path, zone_file: &Path) -> String {
    let d = dir.display();
    // One remote per PoP: the addresses of one remote are alternatives, tried until one answers.
    let remotes: String = net
        .pops
        .iter()
        .map(|pop| format!("  - id: {}\n    address: {}@53\n", pop.name, pop.v4))
        .collect();
    let names: Vec<&str> = net.pops.iter().map(|pop| pop.name).collect();
    let addresses: Vec<&str> = net.pops.iter().map(|pop| pop.v4).collect();
    format!(
        "server:\n    rundir: \"{d}\"\n    listen: {PRIMARY_V4}@53\n\
         remote:\n{remotes}\
         acl:\n  - id: xfr\n    address: [{}]\n    action: transfer\n\
         database:\n    storage: \"{d}\"\n\
         log:\n  - target: stderr\n    any: info\n\
         zone:\n  - domain: {FLEET_ZONE}\n    file: \"{}\"\n    storage: \"{d}\"\n    notify: [{}]\n    \
         acl: xfr\n    zonefile-sync: -1\n    journal-content: changes\n",
        addresses.join(", "),
        zone_file.display(),
        names.join(", ")
    )
}

/// The server: the lab zone on the anycast and unicast addresses, the fleet
/// zone from the hidden primary (kept in `data_dir`), its control socket in
/// the lab's directory (its XDP counters are read there: the maps it pins are
/// in its own namespace's bpffs), XDP on the router-facing veth.
pub fn server(pop: &Pop, zone_file: &Path, data_dir: &Path, control: &Path, xdp_pin_dir: Option<&Path>) -> String {
    let xdp = match xdp_pin_dir {
        Some(pin_dir) => format!(
            "interfaces = [\"{}\"]\npin_dir = \"{}\"\nstats_interval = 0\n",
            pop.veth,
            pin_dir.display()
        ),
        None => "enabled = false\n".to_owned(),
    };
    format!(
        "[server]\nlisten = [\"{ANYCAST_V4}:53\", \"[{ANYCAST_V6}]:53\", \"{}:53\", \"[{}]:53\"]\n\
         identity = \"{}\"\n# One worker: the machine is small and shared.\nthreads = 1\n\
         data_dir = \"{}\"\n\n\
         [[zone]]\norigin = \"{ZONE}\"\nfile = \"{}\"\n\n\
         [[zone]]\norigin = \"{FLEET_ZONE}\"\nprimaries = [\"{PRIMARY_V4}:53\"]\n\n\
         [control]\nsocket = \"{}\"\n\n[xdp]\n{xdp}",
        pop.v4,
        pop.v6,
        pop.name,
        data_dir.display(),
        zone_file.display(),
        control.display(),
    )
}

/// The sidecar: the settings the failover target assumes (checks every 100 ms, 50 ms timeout, rise and fall 3).
pub fn sidecar(pop: &Pop, dir: &Path, xdp: bool) -> String {
    let file = |name: &str| pop_file(dir, pop, name).display().to_string();
    let (kind, table) = match pop.speaker {
        Speaker::Bird => (
            "bird",
            format!(
                "[sidecar.bird]\nsocket = \"{}\"\ninclude_file = \"{}\"\nlocal_as = {}\n",
                file("bird.ctl"),
                file("anycast-state.conf"),
                pop.asn
            ),
        ),
        Speaker::Gobgp => (
            "gobgp",
            "[sidecar.gobgp]\nendpoint = \"http://127.0.0.1:50051\"\n".to_owned(),
        ),
    };
    // The XDP check runs `ip` each time, so it gets a longer timeout than the DNS check.
    let xdp_check = if xdp {
        format!(
            "\n[[sidecar.check]]\nname = \"xdp\"\nkind = \"xdp\"\ninterface = \"{}\"\n\
             interval_ms = 100\ntimeout_ms = 100\nrise = 3\nfall = 3\n",
            pop.veth
        )
    } else {
        String::new()
    };
    format!(
        "[sidecar]\nspeaker = \"{kind}\"\nprefixes = [\"{ANYCAST_V4}/32\", \"{ANYCAST_V6}/128\"]\n\
         state_file = \"{state}\"\nmaintenance_file = \"{maintenance}\"\n\
         stop_drain_seconds = 1\nreconcile_seconds = 1\n\n\
         [sidecar.drain]\ncommunities = [\"65535:0\"]\nmed = 1000\nprepend = 2\n\n{table}\n\
         [[sidecar.check]]\nname = \"dns\"\nkind = \"dns\"\nqname = \"{CHECK_NAME}\"\nqtype = \"A\"\n\
         expect = \"{CHECK_ADDRESS}\"\ninterval_ms = 100\ntimeout_ms = 50\nrise = 3\nfall = 3\n{xdp_check}",
        state = file("sidecar.json"),
        maintenance = file("maintenance"),
    )
}

/// A PoP's own file in the lab's directory, e.g. `pop-a-bird.ctl`.
pub fn pop_file(dir: &Path, pop: &Pop, name: &str) -> PathBuf {
    dir.join(format!("{}-{name}", pop.name))
}

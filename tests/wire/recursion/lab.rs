//! A small DNS hierarchy on loopback addresses unique to this run: a root, a
//! TLD, leaf zones, and misbehaving servers, all served by real processes.

use std::{
    fs,
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::harness::{
    TempDir, kill,
    metrics::{samples, scrape},
    try_dig,
};

/// Third octet of the next lab's addresses (the second comes from the pid).
static NEXT_LAB: AtomicU8 = AtomicU8::new(1);

/// Roles in the lab and their last address octet.
pub mod host {
    /// The root server.
    pub const ROOT: u8 = 1;
    /// The `test.` server.
    pub const TLD: u8 = 2;
    /// The `other.` and `noglue.test.` server.
    pub const OTHER: u8 = 3;
    /// The leaf zones' server.
    pub const LEAF: u8 = 4;
    /// A server that refuses (lame for `lame.test.`).
    pub const LAME: u8 = 5;
    /// Nothing listens here.
    pub const DEAD: u8 = 6;
    /// Relays to LEAF after a delay.
    pub const SLOW: u8 = 7;
    /// Relays to LEAF and adds an out-of-bailiwick record.
    pub const EVIL: u8 = 8;
    /// Relays to LEAF, failing (SERVFAIL) every question but the full
    /// name `www.a.b.qmin.test.`, as servers that break QNAME minimisation.
    pub const QMIN: u8 = 9;
    /// Relays to LEAF, answering AAAA questions with the A records and no AA.
    pub const WRONG: u8 = 10;
    /// Relays to LEAF, refusing AAAA questions only (lame for one type).
    pub const HALF: u8 = 11;
}

/// The port of each lab server's metrics, on its own address.
const METRICS_PORT: u16 = 9153;

/// The poisoned address the evil server tries to plant for `www.glue.test.`.
pub const POISON: &str = "198.51.100.66";

/// A running lab; everything stops on drop.
pub struct Lab {
    base: [u8; 3],
    children: Vec<Child>,
    relays: Vec<Arc<AtomicBool>>,
    /// Queries each relay received, by host.
    relayed: Vec<(u8, Arc<AtomicU32>)>,
    /// Where the zone files and root hints live.
    pub dir: TempDir,
}

impl Lab {
    /// The address of a lab host.
    pub fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.base[0], self.base[1], self.base[2], host)
    }

    /// Root hints pointing at the lab's root.
    pub fn hints(&self) -> PathBuf {
        self.dir.write(
            "root.hints",
            &format!(". 3600000 NS ns.root.\nns.root. 3600000 A {}\n", self.ip(host::ROOT)),
        )
    }

    /// Starts every server and waits until each answers.
    pub fn start() -> Lab {
        let mut lab = Lab::empty();
        let base = lab.base;
        let ip = |h: u8| Ipv4Addr::new(base[0], base[1], base[2], h).to_string();
        let zones: Vec<(u8, &str, String)> = vec![
            (
                host::ROOT,
                ".",
                root_zone(&ip(host::ROOT), &ip(host::TLD), &ip(host::OTHER)),
            ),
            (host::TLD, "test.", tld_zone(&lab)),
            (host::OTHER, "other.", simple_zone("other.", &ip(host::OTHER), "")),
            (
                host::OTHER,
                "noglue.test.",
                simple_zone("noglue.test.", &ip(host::OTHER), "www A 192.0.2.2\n"),
            ),
            (host::LEAF, "glue.test.", glue_zone(&ip(host::LEAF))),
            (
                host::LEAF,
                "lame.test.",
                simple_zone("lame.test.", &ip(host::LEAF), "www A 192.0.2.3\n"),
            ),
            (
                host::LEAF,
                "dead.test.",
                simple_zone("dead.test.", &ip(host::LEAF), "www A 192.0.2.4\n"),
            ),
            (
                host::LEAF,
                "slow.test.",
                simple_zone("slow.test.", &ip(host::LEAF), "www A 192.0.2.5\n"),
            ),
            (
                host::LEAF,
                "evil.test.",
                simple_zone("evil.test.", &ip(host::LEAF), "www A 192.0.2.6\n"),
            ),
            (
                host::OTHER,
                "mixed.test.",
                simple_zone("mixed.test.", &ip(host::OTHER), "www A 192.0.2.11\n"),
            ),
            (
                host::OTHER,
                "mixeddead.test.",
                simple_zone("mixeddead.test.", &ip(host::OTHER), "www A 192.0.2.12\n"),
            ),
            (
                host::LEAF,
                "qmin.test.",
                simple_zone("qmin.test.", &ip(host::LEAF), "www.a.b A 192.0.2.13\n"),
            ),
            (
                host::LEAF,
                "wrongtype.test.",
                simple_zone("wrongtype.test.", &ip(host::LEAF), "www A 192.0.2.14\n"),
            ),
            (
                host::LEAF,
                "halflame.test.",
                simple_zone(
                    "halflame.test.",
                    &ip(host::LEAF),
                    "* A 192.0.2.15\n* AAAA 2001:db8::15\n",
                ),
            ),
            (
                host::LEAF,
                "dname.test.",
                simple_zone(
                    "dname.test.",
                    &ip(host::LEAF),
                    "old DNAME new.dname.test.\nwww.new A 192.0.2.16\n",
                ),
            ),
            (
                host::LAME,
                "unrelated.example.",
                simple_zone("unrelated.example.", &ip(host::LAME), ""),
            ),
        ];
        let files: Vec<(u8, &str, PathBuf)> = zones
            .iter()
            .map(|(server, origin, text)| {
                let file = lab.dir.write(&format!("{}zone", origin.replace('.', "_")), text);
                (*server, *origin, file)
            })
            .collect();
        lab.serve(&files);
        lab.relay(host::SLOW, Duration::from_millis(300), Twist::NONE);
        lab.relay(host::EVIL, Duration::ZERO, Twist::POISON);
        lab.relay(host::QMIN, Duration::ZERO, Twist::QMIN);
        lab.relay(host::WRONG, Duration::ZERO, Twist::WRONG_TYPE);
        lab.relay(host::HALF, Duration::ZERO, Twist::REFUSE_AAAA);
        lab
    }

    /// A lab with nothing running yet: its addresses and directory.
    pub fn empty() -> Lab {
        let second = 50 + (std::process::id() % 150) as u8;
        let third = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        Lab {
            base: [127, second, third],
            children: Vec::new(),
            relays: Vec::new(),
            relayed: Vec::new(),
            dir: TempDir::new("lab"),
        }
    }

    /// Starts one server per host named in `zones` (host, origin, zone file)
    /// and waits until each answers.
    pub fn serve(&mut self, zones: &[(u8, &str, PathBuf)]) {
        let mut servers: Vec<u8> = zones.iter().map(|(h, ..)| *h).collect();
        servers.sort_unstable();
        servers.dedup();
        for server in servers {
            let mut args = vec![
                "serve".to_string(),
                "--listen".into(),
                format!("{}:53", self.ip(server)),
            ];
            for (_, origin, file) in zones.iter().filter(|(h, ..)| *h == server) {
                args.extend(["--zone".into(), format!("{origin}={}", file.display())]);
            }
            args.extend([
                "--identity".into(),
                format!("lab-{server}"),
                "--threads".into(),
                "1".into(),
                "--metrics".into(),
                self.metrics_addr(server).to_string(),
            ]);
            self.spawn_server(&args, server);
        }
    }

    fn spawn_server(&mut self, args: &[String], server: u8) {
        let log = self.dir.path().join(format!("server-{server}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_dns-server"))
            .args(args)
            .arg("--state-file")
            .arg(self.dir.path().join(format!("server-{server}-zones.json")))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                fs::File::create(&log).expect("expected to create a log file"),
            ))
            .spawn()
            .expect("expected to spawn dns-server for the lab");
        self.children.push(child);
        let ip = self.ip(server).to_string();
        let start = Instant::now();
        while try_dig(&ip, 53, &["id.server", "CH", "TXT", "+tries=1", "+time=1"]).is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "expected lab server {ip}:53 to answer (binding port 53 needs root); its log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// A UDP relay on `host` to the leaf server: delays, and changes
    /// queries and answers as `twist` says; one query at a time.
    fn relay(&mut self, host: u8, delay: Duration, twist: Twist) {
        self.relay_with(host, delay, twist, false);
    }

    /// A UDP relay on `host` to the leaf server that answers each query
    /// after `delay`, however many are waiting (a distant server).
    pub fn relay_distant(&mut self, host: u8, delay: Duration) {
        self.relay_with(host, delay, Twist::NONE, true);
    }

    fn relay_with(&mut self, host: u8, delay: Duration, twist: Twist, concurrent: bool) {
        let listen = SocketAddr::from((self.ip(host), 53));
        let upstream = SocketAddr::from((self.ip(host::LEAF), 53));
        let socket = UdpSocket::bind(listen).unwrap_or_else(|e| panic!("expected to bind {listen} (root needed): {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        self.relays.push(stop.clone());
        let received = Arc::new(AtomicU32::new(0));
        self.relayed.push((host, received.clone()));
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, client)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                received.fetch_add(1, Ordering::Relaxed);
                let asked = buf[..n].to_vec();
                let socket = socket.clone();
                let pass = move || {
                    let mut query = asked.clone();
                    (twist.query)(&mut query);
                    let Ok(up) = UdpSocket::bind("127.0.0.1:0") else {
                        return;
                    };
                    let _ = up.set_read_timeout(Some(Duration::from_secs(2)));
                    if up.send_to(&query, upstream).is_err() {
                        return;
                    }
                    let mut answer = [0u8; 4096];
                    let Ok((m, _)) = up.recv_from(&mut answer) else {
                        return;
                    };
                    let mut answer = answer[..m].to_vec();
                    (twist.answer)(&asked, &mut answer);
                    thread::sleep(delay);
                    let _ = socket.send_to(&answer, client);
                };
                match concurrent {
                    true => drop(thread::spawn(pass)),
                    false => pass(),
                }
            }
        });
    }
}

impl Lab {
    /// Where the server on `host` serves its metrics (the lab's own address).
    fn metrics_addr(&self, host: u8) -> SocketAddr {
        SocketAddr::from((self.ip(host), METRICS_PORT))
    }

    /// Queries of type `qtype` (its metrics label, e.g. "DNSKEY") the server
    /// on `host` has received so far.
    pub fn queries(&self, host: u8, qtype: &str) -> f64 {
        let text = scrape(self.metrics_addr(host));
        samples(&text, "dns_server_queries_total")
            .into_iter()
            .filter(|(labels, _)| labels.get("qtype").map(String::as_str) == Some(qtype))
            .map(|(_, n)| n)
            .sum()
    }

    /// Queries the relay on `host` has received so far.
    pub fn relayed(&self, host: u8) -> u32 {
        self.relayed
            .iter()
            .find(|(h, _)| *h == host)
            .map_or(0, |(_, n)| n.load(Ordering::Relaxed))
    }

    /// Stops every server and relay (for serve-stale).
    pub fn stop_all(&mut self) {
        for stop in &self.relays {
            stop.store(true, Ordering::Relaxed);
        }
        for child in &mut self.children {
            kill(child);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for stop in &self.relays {
            stop.store(true, Ordering::Relaxed);
        }
        for child in &mut self.children {
            kill(child);
        }
    }
}

/// How a relay changes what passes through it.
#[derive(Clone, Copy)]
struct Twist {
    /// Applied to a query before it goes to the leaf server.
    query: fn(&mut [u8]),
    /// Applied to the leaf's answer, given the query as received.
    answer: fn(&[u8], &mut Vec<u8>),
}

impl Twist {
    const NONE: Twist = Twist {
        query: |_| {},
        answer: |_, _| {},
    };
    const POISON: Twist = Twist {
        query: |_| {},
        answer: |_, answer| add_poison(answer),
    };
    const QMIN: Twist = Twist {
        query: |_| {},
        answer: |query, answer| {
            let full = b"\x03www\x01a\x01b\x04qmin\x04test\x00";
            let asked = question(query).map(|(name, _)| name.to_ascii_lowercase());
            if asked.as_deref() != Some(&full[..]) {
                set_rcode(answer, 2);
            }
        },
    };
    const WRONG_TYPE: Twist = Twist {
        query: |query| {
            if let Some((name, 28)) = question(query) {
                let at = 12 + name.len();
                query[at..at + 2].copy_from_slice(&1u16.to_be_bytes());
            }
        },
        answer: |query, answer| {
            if let Some((name, 28)) = question(query)
                && answer.len() >= 14 + name.len()
            {
                let at = 12 + name.len();
                answer[at..at + 2].copy_from_slice(&28u16.to_be_bytes());
                // No AA: nothing but the wrong type says what the server knows.
                answer[2] &= !0x04;
            }
        },
    };
    const REFUSE_AAAA: Twist = Twist {
        query: |_| {},
        answer: |query, answer| {
            if let Some((_, 28)) = question(query) {
                set_rcode(answer, 5);
            }
        },
    };
}

/// The question's name (wire form) and type.
fn question(msg: &[u8]) -> Option<(Vec<u8>, u16)> {
    let mut at = 12;
    while *msg.get(at)? != 0 {
        at += 1 + usize::from(msg[at]);
    }
    let qtype = msg.get(at + 1..at + 3)?;
    Some((msg[12..=at].to_vec(), u16::from_be_bytes([qtype[0], qtype[1]])))
}

fn set_rcode(msg: &mut [u8], rcode: u8) {
    if let Some(flags) = msg.get_mut(3) {
        *flags = (*flags & 0xf0) | rcode;
    }
}

/// Appends `www.glue.test. A POISON` to the answer section (out of the
/// bailiwick of `evil.test.`, the zone the resolver asked about).
fn add_poison(msg: &mut Vec<u8>) {
    if msg.len() < 12 {
        return;
    }
    let ancount = u16::from_be_bytes([msg[6], msg[7]]);
    let (nscount, arcount) = (
        u16::from_be_bytes([msg[8], msg[9]]),
        u16::from_be_bytes([msg[10], msg[11]]),
    );
    // Only when the answer is the last section with records: appending stays valid.
    if nscount != 0 || arcount != 0 {
        return;
    }
    msg[6..8].copy_from_slice(&(ancount + 1).to_be_bytes());
    msg.extend_from_slice(b"\x03www\x04glue\x04test\x00");
    msg.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
    let ip: Ipv4Addr = POISON.parse().expect("literal");
    msg.extend_from_slice(&ip.octets());
}

const SOA: &str = "3600 IN SOA ns hostmaster 1 3600 600 86400 300";

fn simple_zone(origin: &str, ns_ip: &str, body: &str) -> String {
    format!("$ORIGIN {origin}\n$TTL 3600\n@ {SOA}\n@ NS ns\nns A {ns_ip}\n{body}")
}

fn root_zone(root: &str, tld: &str, other: &str) -> String {
    format!(
        "$ORIGIN .\n$TTL 3600\n. 3600 IN SOA ns.root. hostmaster.root. 1 3600 600 86400 300\n. NS ns.root.\n\
         ns.root. A {root}\ntest. NS ns.test.\nns.test. A {tld}\nother. NS ns.other.\nns.other. A {other}\n"
    )
}

fn tld_zone(lab: &Lab) -> String {
    let ip = |h| lab.ip(h);
    format!(
        "$ORIGIN test.\n$TTL 3600\n@ {SOA}\n@ NS ns\nns A {tld}\n\
         glue NS ns.glue\nns.glue A {leaf}\n\
         noglue NS ns.other.\n\
         lame NS ns1.lame\nlame NS ns2.lame\nns1.lame A {lame}\nns2.lame A {leaf}\n\
         dead NS ns1.dead\ndead NS ns2.dead\nns1.dead A {dead}\nns2.dead A {leaf}\n\
         loop1 NS ns.loop2\nloop2 NS ns.loop1\n\
         slow NS ns.slow\nns.slow A {slow}\n\
         evil NS ns.evil\nns.evil A {evil}\n\
         mixed NS ns1.mixed\nmixed NS ns.other.\nns1.mixed A {lame}\n\
         mixeddead NS ns1.mixeddead\nmixeddead NS ns.other.\nns1.mixeddead A {dead}\n\
         qmin NS ns.qmin\nns.qmin A {qmin}\n\
         wrongtype NS ns.wrongtype\nns.wrongtype A {wrong}\n\
         halflame NS ns1.halflame\nhalflame NS ns2.halflame\n\
         ns1.halflame A {half}\nns2.halflame A {slow}\n\
         dname NS ns.dname\nns.dname A {leaf}\n",
        tld = ip(host::TLD),
        leaf = ip(host::LEAF),
        lame = ip(host::LAME),
        dead = ip(host::DEAD),
        slow = ip(host::SLOW),
        evil = ip(host::EVIL),
        qmin = ip(host::QMIN),
        wrong = ip(host::WRONG),
        half = ip(host::HALF),
    )
}

fn glue_zone(leaf: &str) -> String {
    simple_zone(
        "glue.test.",
        leaf,
        "www A 192.0.2.1\nalias CNAME www.noglue.test.\nmail MX 10 www\nx.y A 192.0.2.9\nshort 2 A 192.0.2.10\n",
    )
}

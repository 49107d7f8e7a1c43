//! Server configuration: one documented TOML file, safe defaults, command-line overrides.
//!
//! ```toml
//! [server]
//! listen = ["127.0.0.1:5300", "[::1]:5300"]   # UDP and TCP on each
//! identity = "pop1"            # id.server / hostname.bind / NSID; default: host name
//! version = "dns-server 0.1"   # version.bind; default: this program's version
//! hide_version = false         # refuse version.bind instead
//! threads = 0                  # worker threads; 0 = one per CPU
//! udp_payload = 1232           # EDNS payload we advertise and cap UDP answers at
//! tcp_idle_timeout = 10        # seconds a TCP connection may sit idle; shrinks past half full
//! tcp_max_connections = 1024   # when full, the idlest connection is closed for a new one
//! tcp_max_per_source = 32      # connections per IPv4 address or IPv6 /64; more are closed at once
//! tcp_message_timeout = 2      # seconds for a whole query to arrive once it has begun
//! tcp_write_timeout = 5        # seconds for an answer to be taken by the client
//! answer_cache_entries = 200000 # wire answers kept for repeated questions
//! include_dirs = []            # $INCLUDE may read under these besides the zone file's directory
//! zone_file_max_bytes = 4294967296  # largest zone file or included file (4 GiB)
//! zone_max_bytes = 8589934592  # largest zone file and its includes together (8 GiB)
//! reload_timeout = 300         # seconds a reload may take; then the old zones keep serving
//! cookie_secret = "0123456789abcdef0123456789abcdef"  # DNS cookies (RFC 9018): 16 bytes in hex,
//!                              # the same on every PoP; default: random per start
//! cookie_secret_previous = "ffeeddccbbaa99887766554433221100"  # accepted in a rollover, never issued
//! require_cookies = false      # UDP queries without a valid server cookie get BADCOOKIE
//! strict = false               # a zone that fails to load at start stops the server (--strict);
//!                              # default: it is logged, not served (SERVFAIL), the others are
//! check_signatures = false     # audit signed zones at load as ldns-verify-zone does (no crypto):
//!                              # an unsigned RRset, an expired signature or a broken NSEC/NSEC3
//!                              # chain fails the load; signatures expiring soon are warned of
//! signature_warn_days = 7      # "soon" for check_signatures
//! state_file = "/run/dns-server/zones.json"  # each zone's state, for `dns-server status`; "" = none (--state-file)
//! allow_transfer = []          # clients that may AXFR/IXFR every zone (--allow-transfer); default: none
//! allow_transfer_keys = []     # [[tsig]] keys a transfer request may be signed with; with
//!                              # allow_transfer, both are needed; alone, the key from anywhere
//! notify = []                  # secondaries sent NOTIFY for every zone's new versions ("addr:port")
//! notify_keys = {}             # NOTIFY to these targets signed with a [[tsig]] key:
//!                              # { "192.0.2.2:53" = "xfr-key" }
//! transfers_out_max = 32       # AXFR/IXFR served at once; more are REFUSED (counted)
//! transfers_in_max = 16        # transfers from primaries at once; more wait their turn
//! data_dir = "/var/lib/dns-server"  # transferred zones and their journals (--data-dir)
//!
//! [[zone]]
//! origin = "example.com."
//! file = "example.com.zone"    # relative to this file's directory
//! allow_transfer = ["192.0.2.0/24"]  # replaces [server] allow_transfer for this zone
//! allow_transfer_keys = ["xfr-key"]   # replaces [server] allow_transfer_keys for this zone
//! notify = ["192.0.2.2:53"]    # replaces [server] notify for this zone
//!
//! [[tsig]]                     # a TSIG key (RFC 8945), named by zones and transfer rules
//! name = "xfr-key"
//! algorithm = "hmac-sha256"    # hmac-sha256, hmac-sha384, hmac-sha512; hmac-sha1 for old primaries
//! secret = "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="  # base64 (as keymgr/tsig-keygen print it)
//!
//! [[zone]]                     # a secondary zone, transferred from its primaries (--secondary)
//! origin = "example.net."
//! primaries = ["192.0.2.1:53", "[2001:db8::1]:53"]  # tried in order; NOTIFY accepted from these
//! tsig = "xfr-key"             # a [[tsig]] key, for SOA queries, transfers and NOTIFY
//! file = "example.net.zone"    # where the copy is kept; default: data_dir/ORIGIN.zone
//!
//! [[tsig]]                     # a TSIG key (RFC 8945), named by zones and transfer rules
//! name = "xfr-key"
//! algorithm = "hmac-sha256"    # hmac-sha256, hmac-sha384, hmac-sha512; hmac-sha1 for old primaries
//! secret = "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="  # base64 (as keymgr/tsig-keygen print it)
//!
//! [[catalog]]                  # a catalog zone (RFC 9432): its members become secondary zones
//! origin = "catalog.example."
//! primaries = ["192.0.2.1:53"] # the catalog's primaries, also its members' (unless a group says)
//! tsig = "xfr-key"             # used with the catalog's primaries and its members'
//! file = "catalog.zone"        # where the catalog's copy is kept; default: data_dir/ORIGIN.zone
//!                              # (it is read, not served); members are kept in data_dir/MEMBER.zone
//!
//! [catalog.groups.eu]          # members whose `group` property is "eu" (an unknown group: the defaults)
//! primaries = ["192.0.2.7:53"] # default: the catalog's
//! tsig = "eu-key"              # default: the catalog's
//! allow_transfer = ["10.0.0.0/8"]  # transfers out of these members, as in [[zone]]
//! allow_transfer_keys = []
//! notify = []
//!
//! [resolver]                   # recursion for names outside the zones
//! enabled = false              # also turned on by --allow-recursion, --forward, --root-hints
//! allow = ["127.0.0.0/8", "::1/128"]  # clients allowed to recurse; others get REFUSED
//! forward = []                 # upstream resolvers; empty = iterate from the root
//! root_hints = "named.root"    # default: the IANA root servers built in
//! cache_bytes = 67108864       # memory bound of the cache
//! min_ttl = 0                  # clamps applied to cached TTLs
//! max_ttl = 86400
//! max_negative_ttl = 3600
//! serve_stale = 86400          # seconds an expired answer may be served when all servers fail
//! qname_minimisation = true    # RFC 9156
//! case_randomisation = false   # 0x20 bits in upstream queries
//! do_not_query_localhost = true # never ask loopback addresses from glue or NS lookups
//! validation = true            # DNSSEC validation (RFC 4035)
//! forward_validation = true    # with `forward`: validate the forwarders' answers too, as
//!                              # Unbound does (asked with DO=1 CD=1; DS and DNSKEY fetched
//!                              # through them); false trusts the forwarders' answers
//! trust_anchor_file = "anchors" # DS/DNSKEY lines or RFC 7958 XML (IANA's root-anchors.xml);
//!                              # default: the IANA root KSKs built in
//!                              # (none when root_hints names another root)
//! auto_trust_anchor_file = "/var/lib/dns-server/root.key"  # RFC 5011: track every
//!                              # anchored zone's KSKs (new ones trusted after 30 days,
//!                              # revoked ones dropped; fetched again on the RFC 5011 2.3
//!                              # timer, 1 h to 15 days); the root's state in this file,
//!                              # another zone's in root.key.ZONE; each made from the
//!                              # anchor when missing and rewritten atomically
//! domain_insecure = []         # negative trust anchors: names at and below are not validated
//!
//! [xdp]                        # the XDP fast path (needs root)
//! enabled = true               # --no-xdp turns it off
//! interfaces = ["eth0"]        # --xdp-iface; none = no XDP
//! mode = "auto"                # --xdp-mode: auto (native, else generic), native, generic
//! ports = [53]                 # default: the first listen port
//! cache_entries = 65536        # responses per map (two maps); when full, userspace answers
//! service_addresses = []       # only these destination addresses; empty = any
//! deny = ["192.0.2.0/24"]      # sources dropped (pinned LPM tries, changeable at run time)
//! pin_dir = "/sys/fs/bpf/dns-server"
//! stats_interval = 60          # seconds between counter log lines; 0 = at shutdown only
//! rate_limit = 0               # queries/s per source /24 or /56; 0 = off
//! rate_limit_burst = 0
//! slip = 2                     # every Nth limited query gets TC=1
//! recursive_entries = 8192      # resolver answers XDP serves to [resolver] allow; 0 = none
//! log_level = "off"            # the program's own log (aya-log): off, error, warn, info, debug, trace
//! af_xdp = false               # --xdp-af-xdp: answers too long to grow the frame in place go
//!                              # out through an AF_XDP socket per RX queue, not up the stack
//!
//! [metrics]                    # Prometheus metrics over HTTP (GET /metrics); off unless set
//! listen = "127.0.0.1:9153"    # --metrics ADDR:PORT
//! per_zone = false             # queries and responses by zone too (one series per zone)
//!
//! [control]                    # the control socket for `dns-server ctl`; off unless set
//! socket = "/run/dns-server/control.sock"  # --control PATH; made mode 0600
//!
//! [dnstap]                     # query logging (dnstap over Frame Streams); off unless set
//! socket = "/run/dnstap.sock"  # a reader's Unix socket (fstrm_capture, a collector); --dnstap unix:PATH
//! # file = "/var/log/dns-server.dnstap"  # or a file, replaced at each start (dnstap-read); --dnstap PATH
//! identity = "pop1"            # default: [server] identity
//! sample = 1                   # log 1 query in N
//! client_queries = true        # queries from clients (authoritative and recursive)
//! client_responses = true      # and our responses to them
//! resolver_queries = true      # the resolver's queries upstream
//! resolver_responses = true    # and the upstream responses
//! ```

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::name::Name;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listening and protocol settings.
    pub server: ServerConfig,
    /// Zones served authoritatively.
    #[serde(rename = "zone")]
    pub zones: Vec<ZoneConfig>,
    /// TSIG keys.
    #[serde(rename = "tsig")]
    pub tsig_keys: Vec<TsigKeyConfig>,
    /// Catalog zones (RFC 9432) whose members are served as secondary zones.
    #[serde(rename = "catalog")]
    pub catalogs: Vec<CatalogConfig>,
    /// Recursion for names outside the zones.
    pub resolver: ResolverSection,
    /// The XDP fast path.
    pub xdp: XdpSection,
    /// The Prometheus metrics endpoint.
    pub metrics: MetricsSection,
    /// The control socket.
    pub control: ControlSection,
    /// Query logging with dnstap.
    pub dnstap: DnstapSection,
}

/// The `[dnstap]` table: query logging as dnstap messages in Frame Streams.
/// Read at start only.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DnstapSection {
    /// A reader's Unix socket (`--dnstap unix:PATH`), connected to with back-off.
    pub socket: Option<PathBuf>,
    /// Or a file (`--dnstap PATH`), created (replaced) at start.
    pub file: Option<PathBuf>,
    /// The identity in every message; default: `[server] identity`.
    pub identity: Option<String>,
    /// Log 1 query in `sample` (with its response); 1 logs every one.
    pub sample: u32,
    /// Log queries from clients (AUTH_QUERY, CLIENT_QUERY).
    pub client_queries: bool,
    /// Log responses to clients (AUTH_RESPONSE, CLIENT_RESPONSE).
    pub client_responses: bool,
    /// Log the resolver's queries upstream (RESOLVER_QUERY).
    pub resolver_queries: bool,
    /// Log the upstream responses (RESOLVER_RESPONSE).
    pub resolver_responses: bool,
}

impl Default for DnstapSection {
    fn default() -> Self {
        DnstapSection {
            socket: None,
            file: None,
            identity: None,
            sample: 1,
            client_queries: true,
            client_responses: true,
            resolver_queries: true,
            resolver_responses: true,
        }
    }
}

/// Where dnstap messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnstapSink {
    /// A Frame Streams reader's Unix socket.
    Socket(PathBuf),
    /// A Frame Streams file.
    File(PathBuf),
}

impl DnstapSection {
    /// Where to log, when anywhere.
    pub fn sink(&self) -> Option<DnstapSink> {
        match (&self.socket, &self.file) {
            (Some(socket), _) => Some(DnstapSink::Socket(socket.clone())),
            (None, Some(file)) => Some(DnstapSink::File(file.clone())),
            (None, None) => None,
        }
    }

    /// Logs to `sink` instead (`--dnstap`).
    pub fn set_sink(&mut self, sink: &DnstapSink) {
        (self.socket, self.file) = match sink {
            DnstapSink::Socket(path) => (Some(path.clone()), None),
            DnstapSink::File(path) => (None, Some(path.clone())),
        };
    }
}

/// The `[metrics]` table: Prometheus metrics over HTTP.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Where to serve `GET /metrics` (`--metrics`); none: no endpoint, and
    /// the per-query counters are not kept. Read at start only.
    pub listen: Option<SocketAddr>,
    /// Also count queries and responses per zone (`dns_server_zone_queries_total`);
    /// off by default, as the number of zones can be large. Read at start only.
    pub per_zone: bool,
}

/// The `[control]` table: the Unix socket `dns-server ctl` talks to.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ControlSection {
    /// The socket's path (`--control`); none: no control socket. Made mode
    /// 0600, so only its owner (root for the packaged unit) can use it.
    /// Relative paths are taken from the config file's directory. Read at start only.
    pub socket: Option<PathBuf>,
}

/// The `[resolver]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverSection {
    /// Recurse at all (off by default: an authoritative PoP does not resolve).
    pub enabled: bool,
    /// Clients allowed to recurse.
    pub allow: Vec<crate::prefix::Prefix>,
    /// Forwarders; empty means iterate from the root hints.
    pub forward: Vec<SocketAddr>,
    /// Root hints file (master format); default: the built-in IANA list.
    pub root_hints: Option<PathBuf>,
    /// Upstream port (53; a lab may use another).
    pub upstream_port: u16,
    /// Cache memory bound in bytes.
    pub cache_bytes: usize,
    /// Lowest TTL cached.
    pub min_ttl: u32,
    /// Highest TTL cached.
    pub max_ttl: u32,
    /// Highest negative TTL cached.
    pub max_negative_ttl: u32,
    /// Seconds past expiry an answer may be served when every server fails (RFC 8767).
    pub serve_stale: u64,
    /// QNAME minimisation (RFC 9156).
    pub qname_minimisation: bool,
    /// Random case in upstream names.
    pub case_randomisation: bool,
    /// Never ask loopback addresses given by other servers (glue, NS names'
    /// addresses), as Unbound; a lab on loopback turns it off.
    pub do_not_query_localhost: bool,
    /// DNSSEC validation of iterated answers.
    pub validation: bool,
    /// With `forward`, validate the forwarders' answers too, as iterated
    /// ones are (on by default, as Unbound; off: they are trusted, as the
    /// PoP's own validating resolvers may be).
    pub forward_validation: bool,
    /// Trust anchors (DS or DNSKEY presentation lines, or RFC 7958 XML with
    /// the digests valid at start); default: the root's built in.
    pub trust_anchor_file: Option<PathBuf>,
    /// RFC 5011 tracking of every anchored zone: the root's state file
    /// (made from the anchor when missing, written atomically on every
    /// change); other zones' beside it, the zone's name appended.
    pub auto_trust_anchor_file: Option<PathBuf>,
    /// RFC 5011's add hold-down, seconds: 30 days. Shorter only for tests.
    pub auto_trust_hold_down: u64,
    /// Negative trust anchors (RFC 7646): domains whose names are answered
    /// without validation (insecure, never AD), as Unbound's `domain-insecure`.
    pub domain_insecure: Vec<String>,
}

impl Default for ResolverSection {
    fn default() -> Self {
        let cache = crate::resolver::cache::CacheConfig::default();
        ResolverSection {
            enabled: false,
            allow: crate::prefix::loopback(),
            forward: Vec::new(),
            root_hints: None,
            upstream_port: 53,
            cache_bytes: cache.max_bytes,
            min_ttl: cache.min_ttl,
            max_ttl: cache.max_ttl,
            max_negative_ttl: cache.max_negative_ttl,
            serve_stale: cache.stale_window.as_secs(),
            qname_minimisation: true,
            case_randomisation: false,
            do_not_query_localhost: true,
            validation: true,
            forward_validation: true,
            trust_anchor_file: None,
            auto_trust_anchor_file: None,
            auto_trust_hold_down: crate::resolver::dnssec::autotrust::ADD_HOLD_DOWN_SECS,
            domain_insecure: Vec::new(),
        }
    }
}

/// The `[xdp]` table: the XDP fast path (see the README's XDP section).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct XdpSection {
    /// Attach the program at all (`--no-xdp` turns it off).
    pub enabled: bool,
    /// Interfaces to attach to; none means no XDP.
    pub interfaces: Vec<String>,
    /// How the program is attached: native (driver) mode, generic (skb) mode, or
    /// native falling back to generic (`--xdp-mode`).
    pub mode: AttachMode,
    /// UDP ports answered in XDP (at most two); default: the first `listen` address's port.
    pub ports: Vec<u16>,
    /// Responses held per map; there are two (live, and the next generation's).
    /// When full, further answers come from userspace.
    pub cache_entries: u32,
    /// Only packets to these (anycast) addresses are handled; empty means any.
    pub service_addresses: Vec<std::net::IpAddr>,
    /// Source prefixes whose DNS packets are dropped, e.g. "192.0.2.0/24".
    pub deny: Vec<String>,
    /// Where the counters and deny lists are pinned (bpffs).
    pub pin_dir: PathBuf,
    /// Seconds between log lines of the XDP counters; 0: only at shutdown.
    pub stats_interval: u64,
    /// Queries per second per source /24 or /56 before rate limiting; 0: off.
    pub rate_limit: u32,
    /// Burst allowed above the rate, in queries.
    pub rate_limit_burst: u32,
    /// Every Nth limited query gets a TC=1 reply so real clients retry over TCP; 0: never.
    pub slip: u32,
    /// Hot answers of the resolver's cache that XDP serves (to the clients
    /// `[resolver] allow` lets recurse, TTLs kept honest); 0: none.
    pub recursive_entries: u32,
    /// The program's own log (aya-log) into ours: statements above this
    /// level are removed before the program is verified, so "off" costs
    /// nothing. "debug" logs every drop, "trace" every packet.
    pub log_level: ProgramLogLevel,
    /// Hits whose answer the frame has no room to grow to (`no_room`; on
    /// veth most signed answers) are redirected to an AF_XDP socket per RX
    /// queue and answered by a thread per socket, rather than going up the
    /// kernel's stack to the UDP server (`--xdp-af-xdp`). Off by default:
    /// each socket takes a thread and 16 MiB.
    pub af_xdp: bool,
}

/// `[xdp] log_level`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProgramLogLevel {
    /// Nothing.
    #[default]
    Off,
    /// The program failed to do what it meant to.
    Error,
    /// Frames it could not rewrite.
    Warn,
    /// Nothing more at present.
    Info,
    /// Drops with their reason, rate-limit slips.
    Debug,
    /// Every packet's outcome.
    Trace,
}

impl ProgramLogLevel {
    /// The value of aya-log's `AYA_LOG_LEVEL` (0: off, then aya-log's levels).
    pub fn aya_level(self) -> u8 {
        self as u8
    }
}

impl Default for XdpSection {
    fn default() -> Self {
        XdpSection {
            enabled: true,
            interfaces: Vec::new(),
            mode: AttachMode::Auto,
            ports: Vec::new(),
            cache_entries: 65536,
            service_addresses: Vec::new(),
            deny: Vec::new(),
            pin_dir: PathBuf::from("/sys/fs/bpf/dns-server"),
            stats_interval: 60,
            rate_limit: 0,
            rate_limit_burst: 0,
            slip: 2,
            recursive_entries: 8192,
            log_level: ProgramLogLevel::Off,
            af_xdp: false,
        }
    }
}

/// How the XDP program is attached to an interface (`[xdp] mode`, `--xdp-mode`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// Native (driver) mode; generic mode, with a warning, where the driver lacks it.
    #[default]
    Auto,
    /// Native mode only: where the driver lacks it, that interface gets no XDP.
    Native,
    /// Generic (skb) mode: works on any interface, after the kernel has built an skb, so slower.
    Generic,
}

impl std::fmt::Display for AttachMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttachMode::Auto => "auto",
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        })
    }
}

/// The `[server]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses to serve UDP and TCP on.
    pub listen: Vec<SocketAddr>,
    /// This PoP's name for `id.server`, `hostname.bind` and NSID; default: the host name.
    pub identity: Option<String>,
    /// The `version.bind` answer; default: this program's name and version.
    pub version: Option<String>,
    /// Refuse `version.bind` instead of answering it.
    pub hide_version: bool,
    /// Worker threads; 0 means one per CPU.
    pub threads: usize,
    /// EDNS UDP payload size advertised and used as the cap for UDP answers.
    pub udp_payload: u16,
    /// Seconds a TCP connection may stay idle before it is closed (RFC 7766 6.2.3).
    pub tcp_idle_timeout: u64,
    /// TCP connections served at once; when all are taken, the idlest is
    /// closed to admit a new one.
    pub tcp_max_connections: usize,
    /// TCP connections one IPv4 address or IPv6 /64 may hold; more are closed at once.
    pub tcp_max_per_source: usize,
    /// Seconds for a whole TCP query to arrive once its first byte has (slow senders).
    pub tcp_message_timeout: u64,
    /// Seconds for a TCP answer to be taken by the client (clients that do not read).
    pub tcp_write_timeout: u64,
    /// Wire answers kept for repeated questions, in all: every zone version's
    /// cache draws on this one bound.
    pub answer_cache_entries: usize,
    /// Directories whose files `$INCLUDE` may read besides the zone file's own
    /// (relative paths are taken from the config file's directory). Applied at
    /// each reload.
    pub include_dirs: Vec<PathBuf>,
    /// Largest zone file, and largest file it includes, in bytes. Applied at each reload.
    pub zone_file_max_bytes: u64,
    /// Largest zone file and everything it includes together, in bytes. Applied at each reload.
    pub zone_max_bytes: u64,
    /// Seconds a reload (SIGHUP) may take; past it the previous zones keep
    /// serving, an error is logged and the next SIGHUP starts afresh.
    pub reload_timeout: u64,
    /// The secret server cookies are made with (RFC 9018), 16 bytes written
    /// as 32 hex digits. Every PoP of an anycast fleet needs the same one, so
    /// that a client moving between PoPs keeps a valid cookie. Without one, a
    /// random secret is drawn at each start. Applied at each reload.
    pub cookie_secret: Option<CookieSecret>,
    /// The secret before `cookie_secret`, during a rollover: cookies it made
    /// are still accepted (and replaced by new ones), none is made with it.
    /// Applied at each reload.
    pub cookie_secret_previous: Option<CookieSecret>,
    /// Answer UDP queries that carry a client cookie but no valid server
    /// cookie with BADCOOKIE (and a fresh cookie to retry with) instead of
    /// answering them. TCP queries and queries without cookies are answered
    /// as usual. Applied at each reload.
    pub require_cookies: bool,
    /// A zone that fails to load at start stops the server (for pipelines
    /// that would rather not start than serve part of their zones). Without
    /// it the zone is logged with `file:line`, reported in `state_file` and
    /// not served (SERVFAIL for its names) while the others are. A reload
    /// never stops the server: a zone that fails keeps its old version.
    pub strict: bool,
    /// Signed zones are audited when loaded, as `ldns-verify-zone` (and
    /// `dns-server check-zone`) audits them, without the cryptography: an
    /// RRset without its RRSIG, an expired signature or a broken NSEC/NSEC3
    /// chain fails the load like a syntax error (the old version keeps
    /// serving, or the zone is not served), because validators would turn
    /// its answers into SERVFAIL anyway. Applied at each reload.
    pub check_signatures: bool,
    /// With `check_signatures`, signatures expiring within this many days
    /// are logged as a warning.
    pub signature_warn_days: u32,
    /// Where each zone's state (loaded serial, or the load error and its
    /// `file:line`) is written, atomically, at start and after each reload,
    /// for `dns-server status`; relative paths are taken from the config
    /// file's directory. Empty: not written. Unwritable: a warning, and
    /// serving goes on. Applied at each reload.
    pub state_file: Option<PathBuf>,
    /// Clients (address prefixes) that may transfer every zone out (AXFR,
    /// IXFR) unless the zone sets its own list; empty: none, transfers are
    /// REFUSED. Applied at each reload.
    pub allow_transfer: Vec<crate::prefix::Prefix>,
    /// `[[tsig]]` keys (by name) a transfer request may be signed with,
    /// unless the zone sets its own list. With `allow_transfer` both must
    /// match; alone, a request signed with one of them is served from any
    /// address. Applied at each reload.
    pub allow_transfer_keys: Vec<String>,
    /// Secondaries sent a NOTIFY (RFC 1996) for every new version of every
    /// zone, unless the zone sets its own list. Applied at each reload.
    pub notify: Vec<SocketAddr>,
    /// NOTIFY targets that share a `[[tsig]]` key with us (by name): what
    /// they are sent is signed with it, as a secondary that checks NOTIFY
    /// signatures requires. Applied at each reload.
    pub notify_keys: std::collections::BTreeMap<SocketAddr, String>,
    /// Transfers (AXFR, IXFR over TCP) served at once; more are REFUSED
    /// and counted, as BIND's `transfers-out`. Taken at start.
    pub transfers_out_max: usize,
    /// Transfers from primaries at once; the others wait their turn, as
    /// BIND's `transfers-in`. Taken at start.
    pub transfers_in_max: usize,
    /// Where transferred (secondary) zones and their IXFR journals are kept
    /// when their `file` is not given; relative paths are taken from the
    /// config file's directory.
    pub data_dir: PathBuf,
}

/// A 16-byte DNS cookie secret, read from 32 hex digits; never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CookieSecret(pub(crate) dns_wire::cookie::Secret);

impl TryFrom<String> for CookieSecret {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let wrong = || "a cookie secret is 16 bytes written as 32 hex digits".to_string();
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .map_err(|_| wrong())?;
        Ok(CookieSecret(bytes.try_into().map_err(|_| wrong())?))
    }
}

impl std::fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs and debug output.
        f.write_str("CookieSecret(..)")
    }
}

impl ServerConfig {
    /// Where zone files may read from and how much.
    pub fn read_limits(&self) -> crate::zone::source::ReadLimits {
        crate::zone::source::ReadLimits {
            include_dirs: self.include_dirs.clone(),
            max_file_bytes: self.zone_file_max_bytes,
            max_total_bytes: self.zone_max_bytes,
            // One setting for both: a strict server refuses a zone with
            // out-of-zone records as it refuses to start without every zone.
            strict: self.strict,
        }
    }

    /// Whether `other` differs in a setting that takes effect only at a restart.
    pub fn needs_restart(&self, other: &ServerConfig) -> bool {
        let reloadable = |s: &ServerConfig| ServerConfig {
            include_dirs: Vec::new(),
            zone_file_max_bytes: 0,
            zone_max_bytes: 0,
            reload_timeout: 0,
            cookie_secret: None,
            cookie_secret_previous: None,
            require_cookies: false,
            strict: false,
            check_signatures: false,
            signature_warn_days: 0,
            state_file: None,
            allow_transfer: Vec::new(),
            allow_transfer_keys: Vec::new(),
            notify: Vec::new(),
            notify_keys: std::collections::BTreeMap::new(),
            ..s.clone()
        };
        reloadable(self) != reloadable(other)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![
                "127.0.0.1:5300".parse().expect("literal address"),
                "[::1]:5300".parse().expect("literal address"),
            ],
            identity: None,
            version: None,
            hide_version: false,
            threads: 0,
            // The value DNS flag day 2020 settled on: no IP fragmentation.
            udp_payload: 1232,
            tcp_idle_timeout: 10,
            tcp_max_connections: 1024,
            // Room for a resolver farm behind one address, not for one host to
            // take the table (NSD and Knot leave this to firewalls; we cannot).
            tcp_max_per_source: 32,
            tcp_message_timeout: 2,
            tcp_write_timeout: 5,
            answer_cache_entries: 200_000,
            include_dirs: Vec::new(),
            zone_file_max_bytes: crate::zone::source::DEFAULT_MAX_FILE_BYTES,
            zone_max_bytes: crate::zone::source::DEFAULT_MAX_TOTAL_BYTES,
            // Room to read and index a large TLD zone; a FIFO or a hung
            // file system is caught long before anyone would wait this long.
            reload_timeout: 300,
            cookie_secret: None,
            cookie_secret_previous: None,
            require_cookies: false,
            strict: false,
            // Off as in Knot and NSD, which serve what the signer produced.
            check_signatures: false,
            signature_warn_days: 7,
            state_file: Some(PathBuf::from(DEFAULT_STATE_FILE)),
            // Transfers out are for the secondaries an operator names.
            allow_transfer: Vec::new(),
            allow_transfer_keys: Vec::new(),
            notify: Vec::new(),
            notify_keys: std::collections::BTreeMap::new(),
            // A million-record AXFR holds ~150 MiB while it is built: a cap
            // keeps a NOTIFY storm over many zones from taking it all at once.
            transfers_out_max: 32,
            transfers_in_max: 16,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
        }
    }
}

/// Where the zone state file goes by default: the run directory systemd's
/// `RuntimeDirectory=dns-server` makes.
pub const DEFAULT_STATE_FILE: &str = "/run/dns-server/zones.json";

/// Where transferred zones live by default.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/dns-server";

/// One `[[zone]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// The zone's apex, e.g. `example.com.`; the trailing dot may be left out.
    #[serde(deserialize_with = "absolute_origin")]
    pub origin: String,
    /// Its master file; relative paths are taken from the config file's
    /// directory. For a secondary zone, where the transferred copy is kept
    /// (empty: `data_dir/ORIGIN.zone`).
    #[serde(default)]
    pub file: PathBuf,
    /// Clients that may transfer this zone out; default: `[server] allow_transfer`.
    #[serde(default)]
    pub allow_transfer: Option<Vec<crate::prefix::Prefix>>,
    /// `[[tsig]]` keys a request to transfer it may be signed with; default:
    /// `[server] allow_transfer_keys`.
    #[serde(default)]
    pub allow_transfer_keys: Option<Vec<String>>,
    /// Secondaries sent a NOTIFY for its new versions; default: `[server] notify`.
    #[serde(default)]
    pub notify: Option<Vec<SocketAddr>>,
    /// The primaries a secondary zone is transferred from, tried in order;
    /// empty for a zone read from its file.
    #[serde(default)]
    pub primaries: Vec<SocketAddr>,
    /// The `[[tsig]]` key used with the primaries.
    #[serde(default)]
    pub tsig: Option<String>,
}

impl ZoneConfig {
    /// A zone read from `file`.
    pub fn from_file(origin: &str, file: impl Into<PathBuf>) -> ZoneConfig {
        ZoneConfig {
            origin: crate::cli::absolute_origin(origin),
            file: file.into(),
            allow_transfer: None,
            allow_transfer_keys: None,
            notify: None,
            primaries: Vec::new(),
            tsig: None,
        }
    }

    /// Whether it is transferred from primaries.
    pub fn is_secondary(&self) -> bool {
        !self.primaries.is_empty()
    }

    /// The file a secondary zone without one is kept in, under `data_dir`.
    pub(crate) fn default_file(&self, data_dir: &Path) -> PathBuf {
        let name = match self.origin.trim_end_matches('.') {
            "" => "root".to_string(),
            origin => origin.to_lowercase().replace('/', "_"),
        };
        data_dir.join(format!("{name}.zone"))
    }
}

/// One `[[catalog]]`: a catalog zone transferred from its primaries, read
/// (not served), each of its members served as a secondary zone.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// The catalog zone's apex.
    pub origin: String,
    /// Its primaries, tried in order; its members' too unless their group says otherwise.
    pub primaries: Vec<SocketAddr>,
    /// The `[[tsig]]` key used with them.
    #[serde(default)]
    pub tsig: Option<String>,
    /// Where the catalog's copy is kept (empty: `data_dir/ORIGIN.zone`).
    #[serde(default)]
    pub file: PathBuf,
    /// Templates selected by a member's `group` property, by group name.
    #[serde(default)]
    pub groups: std::collections::BTreeMap<String, GroupConfig>,
}

/// A `[catalog.groups.NAME]` template for the members of that group.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Primaries; empty: the catalog's.
    #[serde(default)]
    pub primaries: Vec<SocketAddr>,
    /// TSIG key; none: the catalog's.
    #[serde(default)]
    pub tsig: Option<String>,
    /// As `[[zone]] allow_transfer`.
    #[serde(default)]
    pub allow_transfer: Option<Vec<crate::prefix::Prefix>>,
    /// As `[[zone]] allow_transfer_keys`.
    #[serde(default)]
    pub allow_transfer_keys: Option<Vec<String>>,
    /// As `[[zone]] notify`.
    #[serde(default)]
    pub notify: Option<Vec<SocketAddr>>,
}

impl CatalogConfig {
    /// The secondary zone configuration of member `origin` (in group `group`
    /// when one of `groups` is configured), kept under `data_dir`.
    pub(crate) fn member(&self, origin: &str, groups: &[String], data_dir: &Path) -> ZoneConfig {
        let template = groups
            .iter()
            .find_map(|g| self.groups.get(g))
            .cloned()
            .unwrap_or_default();
        let mut zone = ZoneConfig {
            primaries: if template.primaries.is_empty() {
                self.primaries.clone()
            } else {
                template.primaries
            },
            tsig: template.tsig.or_else(|| self.tsig.clone()),
            allow_transfer: template.allow_transfer,
            allow_transfer_keys: template.allow_transfer_keys,
            notify: template.notify,
            ..ZoneConfig::from_file(origin, PathBuf::new())
        };
        zone.file = zone.default_file(data_dir);
        zone
    }
}

/// One `[[tsig]]` key (or `--tsig NAME:ALGORITHM:BASE64`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TsigKeyConfig {
    /// The key's name, a domain name that both ends must spell the same.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384`, `hmac-sha512`, or `hmac-sha1`.
    pub algorithm: String,
    /// The shared secret, base64.
    pub secret: TsigSecret,
}

/// A TSIG secret as configured (base64); never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct TsigSecret(pub String);

impl std::fmt::Debug for TsigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TsigSecret(..)")
    }
}

impl TsigKeyConfig {
    /// The key it describes, or why it cannot be one.
    pub(crate) fn key(&self) -> Result<crate::tsig::Key, crate::tsig::KeyError> {
        crate::tsig::Key::from_text(&self.name, &self.algorithm, &self.secret.0)
    }
}

/// Zone origins are absolute with or without their trailing dot, as in Knot's and NSD's configs.
fn absolute_origin<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(|origin| crate::cli::absolute_origin(&origin))
}

/// A configuration that cannot be used, with where it went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line (1 when the error is about the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 1,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses configuration text; `path` names it in errors and anchors relative zone files.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let error = |line: usize, message: String| ConfigError {
            file: path.display().to_string(),
            line,
            message,
        };
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            error(line, e.message().to_lowercase())
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for zone in &mut config.zones {
            if zone.file.is_relative() && !zone.file.as_os_str().is_empty() {
                zone.file = base.join(&zone.file);
            }
        }
        for catalog in &mut config.catalogs {
            if catalog.file.is_relative() && !catalog.file.as_os_str().is_empty() {
                catalog.file = base.join(&catalog.file);
            }
        }
        if config.server.data_dir.is_relative() {
            config.server.data_dir = base.join(&config.server.data_dir);
        }
        for dir in &mut config.server.include_dirs {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        if let Some(state) = &mut config.server.state_file
            && !state.as_os_str().is_empty()
            && state.is_relative()
        {
            *state = base.join(&*state);
        }
        if let Some(hints) = &mut config.resolver.root_hints
            && hints.is_relative()
        {
            *hints = base.join(&*hints);
        }
        if let Some(anchors) = &mut config.resolver.trust_anchor_file
            && anchors.is_relative()
        {
            *anchors = base.join(&*anchors);
        }
        if let Some(state) = &mut config.resolver.auto_trust_anchor_file
            && state.is_relative()
        {
            *state = base.join(&*state);
        }
        if let Some(socket) = &mut config.control.socket
            && socket.is_relative()
        {
            *socket = base.join(&*socket);
        }
        for path in [&mut config.dnstap.socket, &mut config.dnstap.file]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        config.check().map_err(|m| {
            let line = find_line(text, &m.1).unwrap_or(1);
            error(line, m.0)
        })?;
        Ok(config)
    }

    /// Checks values serde cannot: returns the message and a word to find its line by.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.dnstap.socket.is_some() && self.dnstap.file.is_some() {
            return Err(("dnstap: set socket or file, not both".into(), "[dnstap]".into()));
        }
        if self.dnstap.sample == 0 {
            return Err((
                "dnstap sample must be at least 1 (1 logs every query)".into(),
                "sample".into(),
            ));
        }
        let s = &self.server;
        if s.listen.is_empty() {
            return Err(("server.listen is empty: nothing to serve on".into(), "listen".into()));
        }
        if s.udp_payload < 512 {
            return Err((
                format!("udp_payload {} is below 512", s.udp_payload),
                "udp_payload".into(),
            ));
        }
        if s.tcp_max_connections == 0 {
            return Err((
                "tcp_max_connections must be at least 1".into(),
                "tcp_max_connections".into(),
            ));
        }
        for (value, word) in [
            (s.tcp_max_per_source as u64, "tcp_max_per_source"),
            (s.tcp_message_timeout, "tcp_message_timeout"),
            (s.tcp_write_timeout, "tcp_write_timeout"),
            (s.zone_file_max_bytes, "zone_file_max_bytes"),
            (s.zone_max_bytes, "zone_max_bytes"),
            (s.reload_timeout, "reload_timeout"),
        ] {
            if value == 0 {
                return Err((format!("{word} must be at least 1"), word.into()));
            }
        }
        // A set, not a list: a hosting provider's 100,000 zones are checked
        // in linear time (a list made this quadratic: minutes at start).
        let mut seen = std::collections::HashSet::with_capacity(self.zones.len());
        for zone in &self.zones {
            let origin = Name::parse(&zone.origin, None)
                .map_err(|e| (format!("zone origin: {e}"), zone.origin.clone()))?
                .to_lowercase();
            if !seen.insert(origin.as_wire().to_vec()) {
                return Err((format!("zone {origin} is configured twice"), zone.origin.clone()));
            }
            if !zone.is_secondary() && zone.file.as_os_str().is_empty() {
                return Err((
                    format!("zone {origin} has neither a file nor primaries"),
                    zone.origin.clone(),
                ));
            }
            if zone.tsig.is_some() && !zone.is_secondary() {
                return Err((format!("zone {origin}: tsig without primaries"), zone.origin.clone()));
            }
        }
        let mut keys = std::collections::HashSet::with_capacity(self.tsig_keys.len());
        for key in &self.tsig_keys {
            let made = key
                .key()
                .map_err(|e| (format!("tsig key {:?}: {e}", key.name), key.name.clone()))?;
            if !keys.insert(made.name().clone()) {
                return Err((format!("tsig key {:?} is configured twice", key.name), key.name.clone()));
            }
        }
        let ring = self.key_ring();
        for zone in &self.zones {
            if let Some(name) = &zone.tsig
                && ring.by_name(name).is_none()
            {
                return Err((
                    format!(
                        "zone {}: tsig key {name:?} is not configured ([[tsig]] or --tsig)",
                        zone.origin
                    ),
                    name.clone(),
                ));
            }
        }
        let mut keys = std::collections::HashSet::with_capacity(self.tsig_keys.len());
        for key in &self.tsig_keys {
            let made = key
                .key()
                .map_err(|e| (format!("tsig key {:?}: {e}", key.name), key.name.clone()))?;
            if !keys.insert(made.name().clone()) {
                return Err((format!("tsig key {:?} is configured twice", key.name), key.name.clone()));
            }
        }
        let ring = self.key_ring();
        let named = self.zones.iter().filter_map(|z| z.allow_transfer_keys.as_ref());
        for name in std::iter::once(&self.server.allow_transfer_keys).chain(named).flatten() {
            if ring.by_name(name).is_none() {
                return Err((
                    format!("allow_transfer_keys names {name:?}, which no [[tsig]] defines"),
                    name.clone(),
                ));
            }
        }
        if self.server.transfers_out_max == 0 || self.server.transfers_in_max == 0 {
            return Err((
                "transfers_out_max and transfers_in_max must be at least 1".into(),
                "transfers_".into(),
            ));
        }
        for (target, name) in &self.server.notify_keys {
            if ring.by_name(name).is_none() {
                return Err((
                    format!("notify_keys: {target} names {name:?}, which no [[tsig]] defines"),
                    name.clone(),
                ));
            }
        }
        self.check_catalogs(&seen, &ring)?;
        Ok(())
    }

    /// Each `[[catalog]]`: a valid origin of its own, primaries, known keys.
    fn check_catalogs(
        &self,
        zones: &std::collections::HashSet<Vec<u8>>,
        ring: &crate::tsig::KeyRing,
    ) -> Result<(), (String, String)> {
        let mut seen = std::collections::HashSet::with_capacity(self.catalogs.len());
        for catalog in &self.catalogs {
            let origin = Name::parse(&catalog.origin, None)
                .map_err(|e| (format!("catalog origin: {e}"), catalog.origin.clone()))?
                .to_lowercase();
            if zones.contains(origin.as_wire()) || !seen.insert(origin.as_wire().to_vec()) {
                return Err((
                    format!("catalog {origin} is configured twice (as a zone or a catalog)"),
                    catalog.origin.clone(),
                ));
            }
            if catalog.primaries.is_empty() {
                return Err((format!("catalog {origin} has no primaries"), catalog.origin.clone()));
            }
            let groups = catalog.groups.values();
            let keys = std::iter::once(&catalog.tsig)
                .chain(groups.clone().map(|g| &g.tsig))
                .flatten()
                .chain(groups.filter_map(|g| g.allow_transfer_keys.as_ref()).flatten());
            for name in keys {
                if ring.by_name(name).is_none() {
                    return Err((
                        format!("catalog {origin}: tsig key {name:?} is not configured ([[tsig]] or --tsig)"),
                        name.clone(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The configured TSIG keys (checked by [`Config::check`]; a bad one is left out).
    pub(crate) fn key_ring(&self) -> crate::tsig::KeyRing {
        crate::tsig::KeyRing::new(
            self.tsig_keys
                .iter()
                .filter_map(|k| k.key().ok())
                .map(std::sync::Arc::new),
        )
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// First line mentioning `word`.
fn find_line(text: &str, word: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(word)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = "[[tsig]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n\
                        [[tsig]]\nname = \"eu-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n";

    #[test]
    fn catalogs_and_their_group_templates() {
        let text = format!(
            "[server]\ndata_dir = \"/var/lib/dns\"\n{KEYS}\
             [[catalog]]\norigin = \"catalog.example.\"\nprimaries = [\"192.0.2.1:53\"]\ntsig = \"xfr-key\"\n\
             [catalog.groups.eu]\nprimaries = [\"192.0.2.7:53\"]\ntsig = \"eu-key\"\nallow_transfer = [\"10.0.0.0/8\"]\n"
        );
        let c = Config::parse(&text, Path::new("/etc/dns/c.toml")).expect("valid");
        c.check().expect("checks pass");
        let catalog = &c.catalogs[0];
        assert_eq!(catalog.origin, "catalog.example.");
        // A member without a group (or an unknown one): the catalog's primaries and key.
        let plain = catalog.member("one.test.", &["nowhere".into()], Path::new("/var/lib/dns"));
        assert_eq!(plain.primaries, catalog.primaries);
        assert_eq!(plain.tsig.as_deref(), Some("xfr-key"));
        assert_eq!(plain.file, Path::new("/var/lib/dns/one.test.zone"));
        assert!(plain.is_secondary() && plain.allow_transfer.is_none());
        // In group "eu": the template's.
        let eu = catalog.member("two.test.", &["eu".into()], Path::new("/var/lib/dns"));
        assert_eq!(eu.primaries, ["192.0.2.7:53".parse().unwrap()]);
        assert_eq!(eu.tsig.as_deref(), Some("eu-key"));
        assert_eq!(eu.allow_transfer.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn bad_catalogs_are_refused() {
        let check = |catalog: &str| {
            let text = format!("{KEYS}[[zone]]\norigin = \"z.test.\"\nfile = \"z\"\n{catalog}");
            Config::parse(&text, Path::new("c.toml")).and_then(|c| {
                c.check().map_err(|(message, _)| ConfigError {
                    file: String::new(),
                    line: 0,
                    message,
                })
            })
        };
        let ok = "[[catalog]]\norigin = \"cat.test.\"\nprimaries = [\"192.0.2.1:53\"]\n";
        assert!(check(ok).is_ok());
        for (bad, why) in [
            ("[[catalog]]\norigin = \"cat.test.\"\nprimaries = []\n", "no primaries"),
            (
                "[[catalog]]\norigin = \"z.test.\"\nprimaries = [\"192.0.2.1:53\"]\n",
                "configured twice",
            ),
            (
                "[[catalog]]\norigin = \"cat.test.\"\nprimaries = [\"192.0.2.1:53\"]\ntsig = \"nope\"\n",
                "not configured",
            ),
            (
                "[[catalog]]\norigin = \"cat.test.\"\nprimaries = [\"192.0.2.1:53\"]\n[catalog.groups.g]\ntsig = \"nope\"\n",
                "not configured",
            ),
        ] {
            let e = check(bad).expect_err(bad);
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn defaults_are_safe_and_loopback_only() {
        let c = Config::parse("", Path::new("/etc/dns.toml")).expect("an empty file is valid");
        assert!(c.server.listen.iter().all(|a| a.ip().is_loopback()));
        assert_eq!(c.server.udp_payload, 1232);
        assert!(c.zones.is_empty());
    }

    #[test]
    fn errors_name_file_and_line() {
        let text = "[server]\nlisten = [\"127.0.0.1:53\"]\nudp_paylod = 1\n";
        let e = Config::parse(text, Path::new("/etc/dns.toml")).expect_err("unknown key is an error");
        assert!(e.to_string().starts_with("/etc/dns.toml:3: "), "{e}");
        let text = "[server]\nudp_payload = 100\n";
        let e = Config::parse(text, Path::new("c.toml")).expect_err("small payload is an error");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn cookie_secrets_are_hex_and_reloadable() {
        let text = "[server]\ncookie_secret = \"000102030405060708090A0B0C0D0E0F\"\nrequire_cookies = true\n";
        let c = Config::parse(text, Path::new("c.toml")).expect("valid");
        let secret = c.server.cookie_secret.clone().expect("a secret");
        assert_eq!(secret.0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert!(c.server.require_cookies);
        assert_eq!(format!("{secret:?}"), "CookieSecret(..)", "never printed");
        assert!(
            !ServerConfig::default().needs_restart(&c.server),
            "cookie settings apply at a reload"
        );
        for bad in ["\"0011\"", "\"zz0102030405060708090a0b0c0d0e0f\"", "16"] {
            let text = format!("[server]\nlisten = [\"127.0.0.1:53\"]\ncookie_secret_previous = {bad}\n");
            let e = Config::parse(&text, Path::new("c.toml")).expect_err("not a secret");
            assert_eq!(e.line, 3, "{bad}: {e}");
        }
    }

    #[test]
    fn metrics_and_control_are_off_unless_set() {
        let c = Config::parse("", Path::new("/etc/dns/dns.toml")).expect("valid");
        assert_eq!((c.metrics.listen, c.control.socket.as_deref()), (None, None));
        let text = "[metrics]\nlisten = \"127.0.0.1:9153\"\n[control]\nsocket = \"ctl.sock\"\n";
        let c = Config::parse(text, Path::new("/etc/dns/dns.toml")).expect("valid");
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9153".parse().unwrap()));
        assert_eq!(c.control.socket.as_deref(), Some(Path::new("/etc/dns/ctl.sock")));
        let e = Config::parse("[metrics]\nlisten = \"localhost\"\n", Path::new("c.toml")).expect_err("not ADDR:PORT");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn dnstap_is_off_unless_set_and_takes_a_socket_or_a_file() {
        let c = Config::parse("", Path::new("/etc/dns/dns.toml")).expect("valid");
        assert_eq!(c.dnstap.sink(), None);
        assert_eq!((c.dnstap.sample, c.dnstap.client_queries), (1, true));
        let text = "[dnstap]\nsocket = \"tap.sock\"\nsample = 4\nresolver_queries = false\n";
        let c = Config::parse(text, Path::new("/etc/dns/dns.toml")).expect("valid");
        assert_eq!(
            c.dnstap.sink(),
            Some(DnstapSink::Socket(PathBuf::from("/etc/dns/tap.sock")))
        );
        assert_eq!((c.dnstap.sample, c.dnstap.resolver_queries), (4, false));
        let both = "[dnstap]\nsocket = \"a\"\nfile = \"b\"\n";
        let e = Config::parse(both, Path::new("c.toml")).expect_err("both");
        assert!(e.message.contains("not both"), "{e}");
        let e = Config::parse("[dnstap]\nfile = \"b\"\nsample = 0\n", Path::new("c.toml")).expect_err("0");
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn xdp_attach_mode() {
        let parse = |text: &str| Config::parse(text, Path::new("c.toml"));
        assert_eq!(parse("").expect("valid").xdp.mode, AttachMode::Auto, "the default");
        for (word, mode) in [
            ("auto", AttachMode::Auto),
            ("native", AttachMode::Native),
            ("generic", AttachMode::Generic),
        ] {
            let c = parse(&format!("[xdp]\ninterfaces = [\"eth0\"]\nmode = \"{word}\"\n")).expect("valid");
            assert_eq!(c.xdp.mode, mode, "mode = {word:?}");
            assert_eq!(mode.to_string(), word, "shown as written");
        }
        let e = parse("[xdp]\nenabled = true\nmode = \"skb\"\n").expect_err("unknown mode");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("native"), "the error lists the modes: {e}");
        parse("[xdp]\nmode = \"Native\"\n").expect_err("modes are lower-case");
    }

    #[test]
    fn secondary_zones() {
        let text = "[server]\ndata_dir = \"xfr\"\n[[tsig]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n\
                    [[zone]]\norigin = \"example.net\"\nprimaries = [\"192.0.2.1:53\", \"[2001:db8::1]:5353\"]\ntsig = \"k\"\n";
        let c = Config::parse(text, Path::new("/etc/dns/dns.toml")).expect("valid");
        let zone = &c.zones[0];
        assert!(zone.is_secondary());
        assert_eq!(zone.primaries.len(), 2);
        assert_eq!(c.server.data_dir, Path::new("/etc/dns/xfr"));
        assert_eq!(
            zone.default_file(&c.server.data_dir),
            Path::new("/etc/dns/xfr/example.net.zone")
        );
        let e = Config::parse(&text.replace("tsig = \"k\"", "tsig = \"nokey\""), Path::new("c.toml"))
            .expect_err("unknown key");
        assert!(e.message.contains("nokey"), "{e}");
        let e = Config::parse("[[zone]]\norigin = \"a.\"\n", Path::new("c.toml")).expect_err("no file, no primaries");
        assert!(e.message.contains("neither"), "{e}");
    }

    #[test]
    fn tsig_keys_are_checked_and_never_printed() {
        let text = "[[tsig]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n";
        let c = Config::parse(text, Path::new("c.toml")).expect("valid");
        assert_eq!(c.tsig_keys[0].name, "xfr-key");
        assert!(!format!("{c:?}").contains("c2VjcmV0"), "the secret stays out of Debug");
        let ring = c.key_ring();
        assert!(ring.by_name("xfr-key.").is_some());
        let bad_alg = text.replace("hmac-sha256", "hmac-md5");
        let e = Config::parse(&bad_alg, Path::new("c.toml")).expect_err("unknown algorithm");
        assert!(e.message.contains("hmac-md5"), "{e}");
        let bad_secret = text.replace("c2VjcmV0", "not base64!");
        let e = Config::parse(&bad_secret, Path::new("c.toml")).expect_err("not base64");
        assert!(e.message.contains("base64"), "{e}");
        let twice = format!("{text}{}", text.replace("hmac-sha256", "hmac-sha512"));
        let e = Config::parse(&twice, Path::new("c.toml")).expect_err("the same name twice");
        assert!(e.message.contains("twice"), "{e}");
    }

    #[test]
    fn zone_files_are_relative_to_the_config() {
        let text = "[[zone]]\norigin = \"example.com.\"\nfile = \"zones/example.com\"\n";
        let c = Config::parse(text, Path::new("/etc/dns/dns.toml")).expect("valid");
        assert_eq!(c.zones[0].file, Path::new("/etc/dns/zones/example.com"));
        let dirs = Config::parse(
            "[server]\ninclude_dirs = [\"common\", \"/srv/z\"]\n",
            Path::new("/etc/dns/dns.toml"),
        )
        .expect("valid");
        assert_eq!(
            dirs.server.include_dirs,
            [Path::new("/etc/dns/common"), Path::new("/srv/z")],
            "include_dirs are relative to the config too"
        );
        let twice = format!("{text}{text}");
        let e = Config::parse(&twice, Path::new("c.toml")).expect_err("duplicate zone");
        assert!(e.message.contains("twice"), "{e}");
    }
}

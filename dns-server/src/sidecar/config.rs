//! The sidecar's `[sidecar]` TOML file: prefixes, checks, speaker and drain policy.
//!
//! ```toml
//! [sidecar]
//! speaker = "bird"                 # bird | gobgp | dry-run
//! prefixes = ["203.0.113.53/32", "2001:db8::53/128"]
//! state_file = "/run/dns-server/sidecar.json"
//! maintenance_file = "/run/dns-server/maintenance"   # contains `drain` or `withdraw`
//! stop_drain_seconds = 5           # on SIGTERM: drain, wait this long, withdraw
//! reconcile_seconds = 5            # re-check the speaker's state this often
//! dry_run = false                  # log what would be announced; touch no speaker
//!
//! [metrics]                        # the sidecar's own Prometheus metrics; off unless set
//! listen = "127.0.0.1:9154"
//!
//! [control]                        # `dns-server ctl --socket PATH status|drain|withdraw|resume`
//! socket = "/run/dns-server/sidecar.sock"   # off unless set; made mode 0600
//!
//! [sidecar.announce]               # attributes while up (drain adds to them)
//! communities = []                 # "ASN:VALUE"
//! large_communities = []           # "GLOBAL:DATA1:DATA2"
//! med = 0
//! next_hop_v4 = "198.18.1.1"       # default: the speaker's own address (GoBGP: 0.0.0.0)
//! next_hop_v6 = "fd00:1::1"
//!
//! [sidecar.drain]                  # state drain and maintenance drain
//! communities = ["65535:0"]        # RFC 8326 GRACEFUL_SHUTDOWN
//! large_communities = []
//! med = 1000
//! prepend = 2                      # extra copies of our AS in the AS path
//!
//! [sidecar.bird]
//! socket = "/run/bird/bird.ctl"
//! include_file = "/run/dns-server/anycast-state.conf"
//! local_as = 65002                 # the AS prepended when draining
//!
//! [sidecar.gobgp]
//! endpoint = "http://127.0.0.1:50051"
//!
//! [[sidecar.check]]
//! name = "dns"
//! kind = "dns"                     # dns | process (pid_file or process = NAME) | xdp (interface)
//! scope = "local"                  # local: may withdraw; shared: may only drain
//! servers = []                     # default: port 53 on every prefix's address
//! qname = "www.example.com."
//! qtype = "A"
//! rcode = "NOERROR"
//! expect = "192.0.2.10"            # optional: an answer's RDATA, as text
//! interval_ms = 100
//! timeout_ms = 50
//! rise = 3
//! fall = 3
//!
//! [[sidecar.check]]                # a secondary zone's freshness against its primary
//! name = "example-fresh"
//! kind = "zone-freshness"          # also reports "example-fresh:primary" (shared)
//! zone = "example.com."
//! primaries = ["192.0.2.1:53"]     # tried in order
//! tsig = { name = "xfr-key", algorithm = "hmac-sha256", secret = "BASE64" }   # optional
//! servers = []                     # our server: default port 53 on every prefix's address
//! max_lag_serial = 0               # behind by at most this many serials is fresh
//! max_lag_seconds = 60             # behind for at most this long is fresh
//! ```

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use serde::Deserialize;

/// Errors reading the sidecar's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an invalid value (the message names the line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and where.
        message: String,
    },
    /// The values parse but do not fit together.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The whole file: a `[sidecar]` table, `[metrics]` and `[control]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    sidecar: SidecarConfig,
    #[serde(default)]
    metrics: crate::config::MetricsSection,
    #[serde(default)]
    control: crate::config::ControlSection,
}

/// The `[sidecar]` table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SidecarConfig {
    /// Which BGP speaker announces the prefixes.
    pub speaker: SpeakerKind,
    /// The service prefixes, IPv4 and IPv6, announced and withdrawn together.
    pub prefixes: Vec<Prefix>,
    /// Where the current state is written for monitoring (JSON).
    #[serde(default = "default_state_file")]
    pub state_file: PathBuf,
    /// The operator's maintenance switch: a file containing `drain` or `withdraw`.
    #[serde(default = "default_maintenance_file")]
    pub maintenance_file: PathBuf,
    /// Seconds spent drained on a clean stop before withdrawing.
    #[serde(default = "default_stop_drain")]
    pub stop_drain_seconds: u64,
    /// Seconds between checks that the speaker still holds what we told it.
    #[serde(default = "default_reconcile")]
    pub reconcile_seconds: u64,
    /// Only log what would be announced.
    #[serde(default)]
    pub dry_run: bool,
    /// Attributes while up.
    #[serde(default)]
    pub announce: Attributes,
    /// Attributes added while drained.
    #[serde(default = "Attributes::graceful_shutdown")]
    pub drain: Attributes,
    /// BIRD settings (speaker = "bird").
    pub bird: Option<BirdConfig>,
    /// GoBGP settings (speaker = "gobgp").
    pub gobgp: Option<GobgpConfig>,
    /// Health checks; with none the PoP is always healthy, which is rarely wanted.
    #[serde(rename = "check", default)]
    pub checks: Vec<CheckConfig>,
    /// Where the sidecar serves its metrics (the file's `[metrics] listen`); none: nowhere.
    #[serde(skip)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The control socket `dns-server ctl` talks to (the file's `[control] socket`); none: no socket.
    #[serde(skip)]
    pub control_socket: Option<PathBuf>,
}

fn default_state_file() -> PathBuf {
    PathBuf::from("/run/dns-server/sidecar.json")
}
fn default_maintenance_file() -> PathBuf {
    PathBuf::from("/run/dns-server/maintenance")
}
fn default_stop_drain() -> u64 {
    // Long enough for peers to move traffic away (RFC 8326 suggests minutes on
    // large networks; routers here converge in well under a second).
    5
}
fn default_reconcile() -> u64 {
    5
}

/// The BGP speaker.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SpeakerKind {
    /// BIRD 2, through an include file and `birdc configure`.
    Bird,
    /// GoBGP 3, through its gRPC API.
    Gobgp,
    /// Nothing: log only.
    DryRun,
}

/// BGP attributes attached to the announcement.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Attributes {
    /// Standard communities (RFC 1997).
    pub communities: Vec<Community>,
    /// Large communities (RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
    /// MULTI_EXIT_DISC; none when absent.
    pub med: Option<u32>,
    /// Extra copies of our AS prepended to the AS path.
    pub prepend: u8,
    /// IPv4 next hop; the speaker's own address when absent.
    pub next_hop_v4: Option<std::net::Ipv4Addr>,
    /// IPv6 next hop; the speaker's own address when absent.
    pub next_hop_v6: Option<std::net::Ipv6Addr>,
}

impl Attributes {
    /// The default drain policy: GRACEFUL_SHUTDOWN (RFC 8326), a high MED and two prepends.
    pub fn graceful_shutdown() -> Attributes {
        Attributes {
            communities: vec![Community::GRACEFUL_SHUTDOWN],
            med: Some(1000),
            prepend: 2,
            ..Attributes::default()
        }
    }

    /// `self` with `drain` layered on top: communities added, MED and prepend replaced.
    pub fn drained_by(&self, drain: &Attributes) -> Attributes {
        let mut out = self.clone();
        out.communities.extend(drain.communities.iter().copied());
        out.large_communities.extend(drain.large_communities.iter().copied());
        out.med = drain.med.or(self.med);
        out.prepend = self.prepend.max(drain.prepend);
        out.next_hop_v4 = drain.next_hop_v4.or(self.next_hop_v4);
        out.next_hop_v6 = drain.next_hop_v6.or(self.next_hop_v6);
        out
    }
}

/// `[sidecar.bird]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BirdConfig {
    /// BIRD's control socket.
    #[serde(default = "default_bird_socket")]
    pub socket: PathBuf,
    /// The file BIRD's configuration includes; rewritten atomically on every change.
    pub include_file: PathBuf,
    /// The `birdc` binary.
    #[serde(default = "default_birdc")]
    pub birdc: PathBuf,
    /// Our AS, prepended when draining.
    pub local_as: u32,
}

fn default_bird_socket() -> PathBuf {
    PathBuf::from("/run/bird/bird.ctl")
}
fn default_birdc() -> PathBuf {
    PathBuf::from("birdc")
}

/// `[sidecar.gobgp]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GobgpConfig {
    /// gobgpd's gRPC endpoint.
    #[serde(default = "default_gobgp_endpoint")]
    pub endpoint: String,
}

fn default_gobgp_endpoint() -> String {
    "http://127.0.0.1:50051".to_string()
}

/// Whether a failing check may withdraw the PoP.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Something only this PoP has (its server, its XDP program): failure withdraws.
    #[default]
    Local,
    /// Something every PoP depends on (an upstream, a primary): failure only drains,
    /// so that one shared fault never withdraws every PoP at once.
    Shared,
}

/// One `[[sidecar.check]]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckConfig {
    /// Name used in logs and the state file.
    pub name: String,
    /// Local or shared.
    #[serde(default)]
    pub scope: Scope,
    /// What is checked.
    #[serde(flatten)]
    pub kind: CheckKind,
    /// Milliseconds between probes.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Milliseconds a probe may take.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Consecutive successes before the check counts as up.
    #[serde(default = "default_count")]
    pub rise: u32,
    /// Consecutive failures before the check counts as down.
    #[serde(default = "default_count")]
    pub fall: u32,
}

fn default_interval() -> u64 {
    1000
}
fn default_timeout() -> u64 {
    500
}
fn default_count() -> u32 {
    3
}

impl CheckConfig {
    /// Time between probes.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
    /// Time a probe may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The kinds of check.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CheckKind {
    /// A DNS query over UDP to every server address; all must answer as expected.
    Dns {
        /// Addresses queried; empty means port 53 on each prefix's address.
        #[serde(default)]
        servers: Vec<SocketAddr>,
        /// The question's name.
        qname: String,
        /// The question's type, e.g. `A`, `AAAA`, `SOA`.
        #[serde(default = "default_qtype")]
        qtype: String,
        /// The expected response code, e.g. `NOERROR`, `NXDOMAIN`.
        #[serde(default = "default_rcode")]
        rcode: String,
        /// An RDATA the answer section must hold, as text (e.g. `192.0.2.10`).
        expect: Option<String>,
    },
    /// A process is running: by pid file, else by name (`/proc/*/comm`).
    Process {
        /// A file holding the pid.
        pid_file: Option<PathBuf>,
        /// The process name as in `/proc/PID/comm` (at most 15 bytes).
        process: Option<String>,
    },
    /// An XDP program is attached to an interface (`ip -j link show DEV`).
    Xdp {
        /// The interface.
        interface: String,
    },
    /// A zone's serial here against its primary's (see `sidecar::freshness`):
    /// stale or expired here is local; no primary answering is shared, and
    /// reported by a second check named `NAME:primary`.
    ZoneFreshness {
        /// The zone's origin.
        zone: String,
        /// Our server's addresses; empty means port 53 on each prefix's address.
        #[serde(default)]
        servers: Vec<SocketAddr>,
        /// The zone's primaries, asked in order.
        primaries: Vec<SocketAddr>,
        /// The key the primaries want, if any.
        tsig: Option<TsigSpec>,
        /// Serials our copy may be behind and still count as fresh.
        #[serde(default)]
        max_lag_serial: u32,
        /// Seconds our copy may be behind and still count as fresh (time for NOTIFY and a transfer).
        #[serde(default = "default_max_lag_seconds")]
        max_lag_seconds: u64,
    },
}

/// A TSIG key written into a check (as in the server's `[[tsig]]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TsigSpec {
    /// The key's name.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384`, `hmac-sha512` or `hmac-sha1`.
    pub algorithm: String,
    /// The secret, base64.
    pub secret: String,
}

fn default_max_lag_seconds() -> u64 {
    60
}

/// The name of the shared check a zone-freshness check `name` adds.
pub(crate) fn primary_check_name(name: &str) -> String {
    format!("{name}:primary")
}

fn default_qtype() -> String {
    "SOA".to_string()
}
fn default_rcode() -> String {
    "NOERROR".to_string()
}

/// An IPv4 or IPv6 prefix such as `203.0.113.53/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Prefix {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl Prefix {
    /// True for IPv4.
    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("expected ADDRESS/LENGTH, got {s:?}"))?;
        let addr: IpAddr = addr.parse().map_err(|_| format!("bad address in prefix {s:?}"))?;
        let len: u8 = len.parse().map_err(|_| format!("bad length in prefix {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(format!("prefix {s:?} is longer than {max} bits"));
        }
        Ok(Prefix { addr, len })
    }
}

impl TryFrom<String> for Prefix {
    type Error = String;
    fn try_from(s: String) -> Result<Prefix, String> {
        s.parse()
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A standard community `ASN:VALUE`, held as its 32-bit wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Community(pub u32);

impl Community {
    /// RFC 8326: "de-prefer this path, it is going away".
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);

    /// The high 16 bits.
    pub fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }
    /// The low 16 bits.
    pub fn value(self) -> u16 {
        self.0 as u16
    }
}

impl TryFrom<String> for Community {
    type Error = String;
    fn try_from(s: String) -> Result<Community, String> {
        let (asn, value) = s
            .split_once(':')
            .ok_or_else(|| format!("expected ASN:VALUE, got {s:?}"))?;
        let asn: u16 = asn.parse().map_err(|_| format!("bad ASN in community {s:?}"))?;
        let value: u16 = value.parse().map_err(|_| format!("bad value in community {s:?}"))?;
        Ok(Community((u32::from(asn) << 16) | u32::from(value)))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.asn(), self.value())
    }
}

/// A large community `GLOBAL:DATA1:DATA2` (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

impl TryFrom<String> for LargeCommunity {
    type Error = String;
    fn try_from(s: String) -> Result<LargeCommunity, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [a, b, c] = parts[..] else {
            return Err(format!("expected GLOBAL:DATA1:DATA2, got {s:?}"));
        };
        let num = |p: &str| {
            p.parse::<u32>()
                .map_err(|_| format!("bad number in large community {s:?}"))
        };
        Ok(LargeCommunity(num(a)?, num(b)?, num(c)?))
    }
}

impl SidecarConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<SidecarConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        SidecarConfig::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            ConfigError::Invalid { message, .. } => ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses and checks the text of a configuration file.
    pub fn parse(text: &str) -> Result<SidecarConfig, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let mut config = file.sidecar;
        config.metrics_listen = file.metrics.listen;
        config.control_socket = file.control.socket;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: PathBuf::new(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.prefixes.is_empty() {
            return Err("sidecar.prefixes: at least one prefix is needed".into());
        }
        if !self.dry_run {
            match self.speaker {
                SpeakerKind::Bird if self.bird.is_none() => {
                    return Err("speaker = \"bird\" needs [sidecar.bird]".into());
                }
                SpeakerKind::Gobgp if self.gobgp.is_none() => {
                    return Err("speaker = \"gobgp\" needs [sidecar.gobgp]".into());
                }
                _ => {}
            }
        }
        for check in &self.checks {
            if check.rise == 0 || check.fall == 0 {
                return Err(format!("check {:?}: rise and fall must be at least 1", check.name));
            }
            if check.timeout_ms == 0 || check.interval_ms == 0 {
                return Err(format!(
                    "check {:?}: interval_ms and timeout_ms must be positive",
                    check.name
                ));
            }
            if let CheckKind::ZoneFreshness { .. } = &check.kind {
                if check.scope == Scope::Shared {
                    return Err(format!(
                        "check {:?}: a zone-freshness check is local; its primaries' side is \
                         reported as the shared check {:?}",
                        check.name,
                        primary_check_name(&check.name)
                    ));
                }
                super::freshness::Freshness::new(&check.kind, Vec::new())
                    .map_err(|e| format!("check {:?}: {e}", check.name))?;
            }
            if let CheckKind::Process {
                pid_file: None,
                process: None,
            } = check.kind
            {
                return Err(format!(
                    "check {:?}: a process check needs pid_file or process",
                    check.name
                ));
            }
        }
        Ok(())
    }

    /// The addresses a DNS check queries: its own list, or port 53 on every prefix's address.
    pub fn dns_servers(&self, servers: &[SocketAddr]) -> Vec<SocketAddr> {
        if !servers.is_empty() {
            return servers.to_vec();
        }
        self.prefixes.iter().map(|p| SocketAddr::new(p.addr, 53)).collect()
    }

    /// Attributes to announce while drained.
    pub fn drained_attributes(&self) -> Attributes {
        self.announce.drained_by(&self.drain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[sidecar]
speaker = "gobgp"
prefixes = ["203.0.113.53/32", "2001:db8::53/128"]
[sidecar.gobgp]
[[sidecar.check]]
name = "dns"
kind = "dns"
qname = "www.example.com."
qtype = "A"
expect = "192.0.2.10"
[[sidecar.check]]
name = "upstream"
kind = "process"
scope = "shared"
unknown_key = "x"
"#;

    #[test]
    fn parses_a_minimal_file_with_safe_defaults() {
        let text = MINIMAL.replace("unknown_key = \"x\"", "pid_file = \"/run/x.pid\"");
        let config = SidecarConfig::parse(&text).unwrap_or_else(|e| panic!("expected the file to parse: {e}"));
        assert_eq!(config.prefixes.len(), 2, "expected both prefixes");
        assert_eq!(
            config.drain,
            Attributes::graceful_shutdown(),
            "expected RFC 8326 drain by default"
        );
        assert_eq!(
            config.checks[1].scope,
            Scope::Shared,
            "expected the second check to be shared"
        );
        assert_eq!(config.checks[0].rise, 3, "expected rise to default to 3");
        let servers = match &config.checks[0].kind {
            CheckKind::Dns { servers, .. } => config.dns_servers(servers),
            other => panic!("expected a dns check, got {other:?}"),
        };
        assert_eq!(
            servers,
            vec!["203.0.113.53:53".parse().unwrap(), "[2001:db8::53]:53".parse().unwrap()],
            "expected the DNS check to query every service address"
        );
    }

    #[test]
    fn rejects_unknown_keys_with_a_line_number() {
        let err = SidecarConfig::parse(MINIMAL).expect_err("expected unknown_key to be rejected");
        let message = err.to_string();
        assert!(
            message.contains("line"),
            "expected the error to name a line, got {message}"
        );
    }

    #[test]
    fn a_zone_freshness_check_parses_local_with_a_primary() {
        let text = r#"
[sidecar]
speaker = "dry-run"
prefixes = ["203.0.113.53/32"]
[[sidecar.check]]
name = "fresh"
kind = "zone-freshness"
zone = "example.com."
primaries = ["192.0.2.1:53"]
tsig = { name = "xfr-key", algorithm = "hmac-sha256", secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" }
max_lag_serial = 1
"#;
        let config = SidecarConfig::parse(text).unwrap_or_else(|e| panic!("expected the check to parse: {e}"));
        let CheckKind::ZoneFreshness { max_lag_seconds, .. } = &config.checks[0].kind else {
            panic!("expected a zone-freshness check, got {:?}", config.checks[0].kind);
        };
        assert_eq!(*max_lag_seconds, 60, "expected a minute of grace by default");
        assert_eq!(
            config.checks[0].scope,
            Scope::Local,
            "expected the check itself to be local"
        );
        assert_eq!(primary_check_name("fresh"), "fresh:primary");
        let shared = text.replace(
            "kind = \"zone-freshness\"",
            "kind = \"zone-freshness\"\nscope = \"shared\"",
        );
        assert!(
            SidecarConfig::parse(&shared).is_err(),
            "expected scope = shared to be refused: the shared side is its own check"
        );
        let no_primary = text.replace("primaries = [\"192.0.2.1:53\"]", "primaries = []");
        assert!(
            SidecarConfig::parse(&no_primary).is_err(),
            "expected a primary to be required"
        );
    }

    #[test]
    fn parses_communities() {
        assert_eq!(
            Community::try_from("65535:0".to_string()),
            Ok(Community::GRACEFUL_SHUTDOWN)
        );
        assert_eq!(
            LargeCommunity::try_from("65002:1:7".to_string()),
            Ok(LargeCommunity(65002, 1, 7))
        );
        assert!(
            Community::try_from("70000:1".to_string()).is_err(),
            "expected a 16-bit ASN"
        );
        assert!(
            "203.0.113.0/33".parse::<Prefix>().is_err(),
            "expected /33 to be refused"
        );
    }

    #[test]
    fn drain_adds_communities_and_replaces_med() {
        let up = Attributes {
            communities: vec![Community(1)],
            med: Some(10),
            ..Attributes::default()
        };
        let drained = up.drained_by(&Attributes::graceful_shutdown());
        assert_eq!(drained.communities, vec![Community(1), Community::GRACEFUL_SHUTDOWN]);
        assert_eq!(drained.med, Some(1000));
        assert_eq!(drained.prepend, 2);
    }
}

//! Command-line interface: `serve`, `check-zone`, `check-config`, `status` and the XDP commands.
// The doc comments here are clap's `--help` text, where `[xdp]` is a TOML
// table and `[::1]` an address, not links to anything.
#![allow(rustdoc::broken_intra_doc_links)]

use std::{net::SocketAddr, path::PathBuf};

use clap::{
    Parser, Subcommand,
    builder::{OsStringValueParser, TypedValueParser},
};

use crate::config::{TsigKeyConfig, TsigSecret, ZoneConfig};

/// Anycast DNS server with an XDP fast path.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
// One value, parsed once at start: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve DNS (with no zone given: the built-in example.com zone on 127.0.0.1:5300 and [::1]:5300).
    Serve(Box<ServeArgs>),
    /// Check a zone file; prints `file:line: message` and exits 1 on an error.
    CheckZone {
        /// The zone's origin, e.g. `example.com.` (the trailing dot may be left out).
        origin: String,
        /// The master file.
        file: PathBuf,
        /// Fail on what is otherwise skipped or repaired with a warning (out-of-zone records).
        #[arg(long)]
        strict: bool,
        /// For a signed zone: count the signatures that expire within this many days
        /// (expired ones, unsigned RRsets and a broken NSEC/NSEC3 chain always fail).
        #[arg(long, default_value_t = 7)]
        expiry_warn_days: u32,
    },
    /// Check a configuration file and the zones it names.
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
    /// Run the anycast health sidecar: check this PoP and announce, drain or withdraw its prefixes.
    Sidecar(SidecarArgs),
    /// Print the XDP fast path's counters of a running server (from its pinned map).
    Stats {
        /// Where the server pinned its maps ([xdp] pin_dir).
        #[arg(long, default_value = "/sys/fs/bpf/dns-server")]
        pin_dir: PathBuf,
    },
    /// Print each zone's state in a running server: the serial served, or why it failed to load
    /// (file:line), from the state file it writes ([server] state_file).
    Status {
        /// The server's state file ([server] state_file).
        #[arg(long, default_value = crate::config::DEFAULT_STATE_FILE)]
        state_file: PathBuf,
    },
    /// Ask or tell a running server through its control socket ([control] socket, --control).
    Ctl(CtlArgs),
    /// Write the embedded pass-everything XDP program (an ELF object) to FILE,
    /// for a lab's veth peer: frames sent with `XDP_TX` reach a veth end only
    /// when it has an XDP program of its own. For the lab and the benches, so
    /// that they need not build the program themselves.
    #[command(hide = true)]
    XdpPassObject {
        /// Where to write the object.
        file: PathBuf,
    },
    /// Drop DNS from a source prefix in XDP from now on (or lift it with --remove), in a running server
    /// (through its pinned maps; `ctl deny` does the same through the control socket).
    Deny {
        /// ADDRESS/LENGTH, e.g. 192.0.2.0/24 or 2001:db8::/32.
        prefix: String,
        /// Lift the entry instead.
        #[arg(long)]
        remove: bool,
        /// Where the server pinned its maps ([xdp] pin_dir).
        #[arg(long, default_value = "/sys/fs/bpf/dns-server")]
        pin_dir: PathBuf,
    },
}

/// `serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (see the README for every option).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Everything else `serve` takes: each flag overrides the file.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// `serve` flags that override their configuration-file equivalent, and
/// are applied again after every re-read of the file. A list flag replaces
/// the file's list, except `--zone`, which adds a zone or replaces the
/// file's zone of that origin; the recursion flags turn recursion on.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// A zone to serve, as ORIGIN=FILE (repeatable); ORIGIN is absolute with or without its trailing dot.
    #[arg(long = "zone", value_parser = parse_zone)]
    pub zones: Vec<ZoneConfig>,
    /// Address to serve UDP and TCP on, e.g. 127.0.0.1:5300 or [::1]:5300 (repeatable).
    #[arg(long)]
    pub listen: Vec<SocketAddr>,
    /// This PoP's name, answered to `id.server`/`hostname.bind` CH TXT and NSID.
    #[arg(long)]
    pub identity: Option<String>,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Let clients in PREFIX use recursion (repeatable; turns recursion on; default with recursion: loopback).
    #[arg(long = "allow-recursion")]
    pub allow_recursion: Vec<crate::prefix::Prefix>,
    /// Forward recursive queries to ADDR:PORT instead of iterating (repeatable; turns recursion on).
    #[arg(long)]
    pub forward: Vec<SocketAddr>,
    /// Root hints file to iterate from (turns recursion on; default: the built-in IANA root servers).
    #[arg(long)]
    pub root_hints: Option<PathBuf>,
    /// Port upstream servers are asked on (default 53; for labs).
    #[arg(long)]
    pub upstream_port: Option<u16>,
    /// Attach the XDP fast path to IFACE (repeatable; needs root; see --xdp-mode).
    #[arg(long = "xdp-iface", value_name = "XDP_IFACE")]
    pub xdp_interfaces: Vec<String>,
    /// How to attach XDP: auto (native, else generic with a warning), native (else no XDP), generic.
    #[arg(long, value_enum)]
    pub xdp_mode: Option<crate::config::AttachMode>,
    /// Do not use XDP, whatever the configuration says.
    #[arg(long)]
    pub no_xdp: bool,
    /// Answer what XDP cannot grow the frame for through AF_XDP sockets ([xdp] af_xdp = true).
    #[arg(long)]
    pub xdp_af_xdp: bool,
    /// Refuse to start when a zone fails to load ([server] strict); by default it is not served and the others are.
    #[arg(long)]
    pub strict: bool,
    /// Where to write each zone's state for `dns-server status` ([server] state_file; "" = nowhere).
    // Clap's own path parser refuses "", the value that means "off".
    #[arg(long, value_name = "PATH", value_parser = OsStringValueParser::new().map(PathBuf::from))]
    pub state_file: Option<PathBuf>,
    /// Serve Prometheus metrics on ADDR:PORT at /metrics ([metrics] listen; off unless set).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Listen for `dns-server ctl` on the Unix socket PATH, mode 0600 ([control] socket; off unless set).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Log queries with dnstap to the file PATH, or to unix:PATH, a Frame Streams reader's socket
    /// ([dnstap] file or socket; off unless set).
    #[arg(long, value_name = "PATH|unix:PATH", value_parser = parse_dnstap)]
    pub dnstap: Option<crate::config::DnstapSink>,
    /// Let clients in PREFIX transfer every zone out, AXFR and IXFR (repeatable; [server] allow_transfer).
    #[arg(long = "allow-transfer", value_name = "PREFIX")]
    pub allow_transfer: Vec<crate::prefix::Prefix>,
    /// A TSIG key as NAME:ALGORITHM:BASE64, e.g. xfr-key:hmac-sha256:c2VjcmV0 (added to the file's
    /// keys, replacing one of that name; used with every primary given on the command line).
    #[arg(long, value_parser = parse_tsig)]
    pub tsig: Option<TsigKeyConfig>,
    /// A secondary zone as ORIGIN=ADDR:PORT, transferred from that primary (repeatable; the same
    /// ORIGIN again adds a primary, tried in order); kept in --data-dir, signed with --tsig if given.
    #[arg(long = "secondary", value_parser = parse_secondary)]
    pub secondaries: Vec<(String, SocketAddr)>,
    /// Where transferred zones and their journals are kept ([server] data_dir; default /var/lib/dns-server).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

fn parse_dnstap(arg: &str) -> Result<crate::config::DnstapSink, String> {
    use crate::config::DnstapSink;
    let sink = match arg.strip_prefix("unix:") {
        Some(path) => DnstapSink::Socket(PathBuf::from(path)),
        None => DnstapSink::File(PathBuf::from(arg)),
    };
    match &sink {
        DnstapSink::Socket(p) | DnstapSink::File(p) if p.as_os_str().is_empty() => {
            Err(format!("expected PATH or unix:PATH, got {arg:?}"))
        }
        _ => Ok(sink),
    }
}

fn parse_secondary(arg: &str) -> Result<(String, SocketAddr), String> {
    let (origin, primary) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected ORIGIN=ADDR:PORT, got {arg:?}"))?;
    let primary = primary
        .parse()
        .map_err(|_| format!("expected ORIGIN=ADDR:PORT, got {arg:?} ({primary:?} is not ADDR:PORT)"))?;
    Ok((absolute_origin(origin), primary))
}

fn parse_tsig(arg: &str) -> Result<TsigKeyConfig, String> {
    let mut parts = arg.splitn(3, ':');
    let (Some(name), Some(algorithm), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("expected NAME:ALGORITHM:BASE64, got {arg:?}"));
    };
    let key = TsigKeyConfig {
        name: name.to_string(),
        algorithm: algorithm.to_string(),
        secret: TsigSecret(secret.to_string()),
    };
    key.key().map_err(|e| e.to_string())?;
    Ok(key)
}

fn parse_zone(arg: &str) -> Result<ZoneConfig, String> {
    let (origin, file) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected ORIGIN=FILE, got {arg:?}"))?;
    Ok(ZoneConfig::from_file(origin, file))
}

/// A zone origin as Knot's and NSD's configurations read it: always absolute,
/// so `example.com` is `example.com.` (a dot is added unless the last one is
/// there unescaped).
pub(crate) fn absolute_origin(origin: &str) -> String {
    let before_dot = match origin.strip_suffix('.') {
        Some(rest) => rest,
        None if origin.is_empty() => return String::new(),
        None => return format!("{origin}."),
    };
    // `a\.` ends in an escaped dot, `a\\.` in a backslash and a real dot.
    let backslashes = before_dot.bytes().rev().take_while(|&b| b == b'\\').count();
    if backslashes % 2 == 1 {
        format!("{origin}.")
    } else {
        origin.to_string()
    }
}

/// `ctl` options.
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The server's control socket.
    #[arg(long, default_value = DEFAULT_CONTROL_SOCKET)]
    pub socket: PathBuf,
    /// Print the reply's data as JSON.
    #[arg(long)]
    pub json: bool,
    /// What to ask.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// Where `ctl` looks for the control socket by default (the packaged unit's `[control] socket`).
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/dns-server/control.sock";

/// `ctl` commands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Version, uptime, zones served and failed, XDP per interface and mode, map fill, resolver.
    Status,
    /// Re-read the configuration and changed zones (like SIGHUP), or re-read one zone's files.
    Reload {
        /// Only this zone (its files re-read whether or not they changed).
        zone: Option<String>,
    },
    /// Each zone's state: serial, last load, error with file:line.
    ZoneStatus {
        /// Only this zone.
        zone: Option<String>,
    },
    /// Empty the resolver's cache, or forget NAME and every name below it.
    CacheFlush {
        /// The name.
        name: Option<String>,
    },
    /// Add, remove or list XDP deny-list prefixes.
    Deny {
        /// add, remove or list.
        #[arg(value_enum)]
        action: crate::control::protocol::DenyAction,
        /// ADDRESS/LENGTH, e.g. 192.0.2.0/24 (for add and remove).
        prefix: Option<String>,
    },
    /// Every counter, as `name value` lines.
    Stats,
    /// The sidecar: de-prefer this PoP (as `drain` in its maintenance file).
    Drain,
    /// The sidecar: withdraw this PoP's prefixes (as `withdraw` in its maintenance file).
    Withdraw,
    /// The sidecar: end maintenance (removes its maintenance file).
    Resume,
    /// Have a secondary zone (every one without ZONE) ask its primaries now, as a NOTIFY does.
    ZoneRefresh {
        /// Only this zone.
        zone: Option<String>,
    },
    /// Have a secondary zone (every one without ZONE) transferred whole (AXFR) now.
    ZoneRetransfer {
        /// Only this zone.
        zone: Option<String>,
    },
    /// Open a transaction on a primary zone (one per zone; see zone-set, zone-commit).
    ZoneBegin {
        /// The zone.
        zone: String,
    },
    /// Add a record in the zone's open transaction: OWNER [TTL] TYPE RDATA...
    ZoneSet {
        /// The zone.
        zone: String,
        /// The owner, relative to the zone (`@` for the apex) or absolute.
        owner: String,
        /// [TTL] TYPE RDATA..., as in a zone file.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        data: Vec<String>,
    },
    /// Remove records in the zone's open transaction: all of OWNER's, an RRset, or one record.
    ZoneUnset {
        /// The zone.
        zone: String,
        /// The owner, relative to the zone (`@` for the apex) or absolute.
        owner: String,
        /// [TYPE [RDATA...]].
        #[arg(num_args = 0.., allow_hyphen_values = true)]
        data: Vec<String>,
    },
    /// Show the records the zone's open transaction removes (-) and adds (+).
    ZoneDiff {
        /// The zone.
        zone: String,
    },
    /// Serve the open transaction's changes (serial incremented unless it set an SOA) and rewrite the zone file.
    ZoneCommit {
        /// The zone.
        zone: String,
    },
    /// Forget the zone's open transaction.
    ZoneAbort {
        /// The zone.
        zone: String,
    },
}

impl CtlCommand {
    /// The request sent for this command.
    pub fn request(&self) -> crate::control::protocol::Request {
        use crate::control::protocol::Request;
        match self {
            CtlCommand::Status => Request::Status {},
            CtlCommand::Reload { zone } => Request::Reload { zone: zone.clone() },
            CtlCommand::ZoneStatus { zone } => Request::ZoneStatus { zone: zone.clone() },
            CtlCommand::CacheFlush { name } => Request::CacheFlush { name: name.clone() },
            CtlCommand::Deny { action, prefix } => Request::Deny {
                action: *action,
                prefix: prefix.clone(),
            },
            CtlCommand::Stats => Request::Stats {},
            CtlCommand::Drain => Request::Drain {},
            CtlCommand::Withdraw => Request::Withdraw {},
            CtlCommand::Resume => Request::Resume {},
            CtlCommand::ZoneRefresh { zone } => Request::ZoneRefresh { zone: zone.clone() },
            CtlCommand::ZoneRetransfer { zone } => Request::ZoneRetransfer { zone: zone.clone() },
            CtlCommand::ZoneBegin { zone } => Request::ZoneBegin { zone: zone.clone() },
            CtlCommand::ZoneSet { zone, owner, data } => Request::ZoneSet {
                zone: zone.clone(),
                owner: owner.clone(),
                data: data.clone(),
            },
            CtlCommand::ZoneUnset { zone, owner, data } => Request::ZoneUnset {
                zone: zone.clone(),
                owner: owner.clone(),
                data: data.clone(),
            },
            CtlCommand::ZoneDiff { zone } => Request::ZoneDiff { zone: zone.clone() },
            CtlCommand::ZoneCommit { zone } => Request::ZoneCommit { zone: zone.clone() },
            CtlCommand::ZoneAbort { zone } => Request::ZoneAbort { zone: zone.clone() },
        }
    }
}

/// `sidecar` options.
#[derive(Debug, clap::Args)]
pub struct SidecarArgs {
    /// The sidecar's TOML file (a `[sidecar]` table; see deploy/sidecar.toml).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Withdraw every prefix and exit (for systemd's ExecStopPost=, after the sidecar died).
    #[arg(long)]
    pub withdraw_all: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AttachMode;

    fn serve_args(args: &[&str]) -> Result<Overrides, clap::Error> {
        let cli = Cli::try_parse_from(["dns-server", "serve"].iter().chain(args))?;
        match cli.command {
            Command::Serve(args) => Ok(args.overrides),
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn xdp_mode_flag() {
        assert_eq!(serve_args(&[]).expect("no flags").xdp_mode, None, "the file decides");
        let args = serve_args(&["--xdp-iface", "eth0", "--xdp-mode", "generic"]).expect("valid");
        assert_eq!(args.xdp_mode, Some(AttachMode::Generic));
        assert_eq!(
            serve_args(&["--xdp-mode", "native"]).expect("valid").xdp_mode,
            Some(AttachMode::Native)
        );
        let e = serve_args(&["--xdp-mode", "skb"]).expect_err("not a mode");
        assert!(e.to_string().contains("auto, native, generic"), "{e}");
    }

    #[test]
    fn every_serve_flag_reaches_the_overrides() {
        let cli = Cli::try_parse_from([
            "dns-server",
            "serve",
            "-c",
            "d.toml",
            "--zone",
            "example.org.=z.zone",
            "--listen",
            "127.0.0.1:53",
            "--identity",
            "pop1",
            "--threads",
            "3",
            "--allow-recursion",
            "192.0.2.0/24",
            "--forward",
            "192.0.2.1:53",
            "--root-hints",
            "root.hints",
            "--upstream-port",
            "5353",
            "--xdp-iface",
            "eth0",
            "--xdp-iface",
            "eth1",
            "--no-xdp",
            "--strict",
            "--state-file",
            "zones.json",
            "--metrics",
            "127.0.0.1:9153",
            "--control",
            "/run/c.sock",
            "--dnstap",
            "unix:/run/tap.sock",
        ])
        .expect("valid");
        let Command::Serve(args) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(args.config, Some(PathBuf::from("d.toml")));
        let o = args.overrides;
        assert_eq!(
            (o.zones[0].origin.as_str(), o.zones[0].file.as_path()),
            ("example.org.", std::path::Path::new("z.zone"))
        );
        assert_eq!(o.listen, ["127.0.0.1:53".parse().unwrap()]);
        assert_eq!((o.identity.as_deref(), o.threads), (Some("pop1"), Some(3)));
        assert_eq!(o.allow_recursion, ["192.0.2.0/24".parse().unwrap()]);
        assert_eq!(o.forward, ["192.0.2.1:53".parse().unwrap()]);
        assert_eq!(o.root_hints, Some(PathBuf::from("root.hints")));
        assert_eq!(o.upstream_port, Some(5353));
        assert_eq!(o.xdp_interfaces, ["eth0", "eth1"]);
        assert!(o.no_xdp && o.strict);
        assert_eq!(o.state_file, Some(PathBuf::from("zones.json")));
        assert_eq!(o.metrics, Some("127.0.0.1:9153".parse().unwrap()));
        assert_eq!(o.control, Some(PathBuf::from("/run/c.sock")));
        assert_eq!(
            o.dnstap,
            Some(crate::config::DnstapSink::Socket(PathBuf::from("/run/tap.sock")))
        );
        let file = serve_args(&["--dnstap", "q.dnstap"]).expect("a file");
        assert_eq!(
            file.dnstap,
            Some(crate::config::DnstapSink::File(PathBuf::from("q.dnstap")))
        );
        assert!(serve_args(&["--dnstap", "unix:"]).is_err(), "no path");
        let off = serve_args(&["--state-file", ""]).expect("empty: no state file");
        assert_eq!(off.state_file, Some(PathBuf::new()));
        let o = serve_args(&[
            "--secondary",
            "example.net=127.0.0.1:5301",
            "--secondary",
            "example.net.=[::1]:53",
            "--data-dir",
            "xfr",
        ])
        .expect("valid");
        assert_eq!(
            o.secondaries[0],
            ("example.net.".to_string(), "127.0.0.1:5301".parse().unwrap())
        );
        assert_eq!(o.secondaries[1].1, "[::1]:53".parse::<SocketAddr>().unwrap());
        assert_eq!(o.data_dir, Some(PathBuf::from("xfr")));
        for bad in ["example.net", "example.net=127.0.0.1", "example.net=host:53"] {
            serve_args(&["--secondary", bad]).expect_err(bad);
        }
        let key = serve_args(&["--tsig", "xfr-key:hmac-sha256:c2VjcmV0"])
            .expect("valid")
            .tsig;
        let key = key.expect("a key");
        assert_eq!((key.name.as_str(), key.algorithm.as_str()), ("xfr-key", "hmac-sha256"));
        for bad in ["xfr-key:hmac-sha256", "xfr-key:hmac-md5:c2VjcmV0", "k:hmac-sha1:!!"] {
            serve_args(&["--tsig", bad]).expect_err(bad);
        }
        let e = serve_args(&["--zone", "example.org."]).expect_err("no file");
        assert!(e.to_string().contains("expected ORIGIN=FILE"), "{e}");
    }

    #[test]
    fn an_origin_is_absolute_with_or_without_its_dot() {
        for (written, meant) in [
            ("example.com", "example.com."),
            ("example.com.", "example.com."),
            (".", "."),
            ("a\\.", "a\\.."),
            ("a\\\\.", "a\\\\."),
            ("", ""),
        ] {
            assert_eq!(absolute_origin(written), meant, "{written:?}");
        }
        let o = serve_args(&["--zone", "example.org=z.zone", "--zone", "example.net.=n.zone"]).expect("valid");
        assert_eq!(o.zones[0].origin, "example.org.", "--zone without the dot");
        assert_eq!(o.zones[1].origin, "example.net.");

        let text = "[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n";
        let config = crate::config::Config::parse(text, std::path::Path::new("c.toml")).expect("valid");
        assert_eq!(
            config.zones[0].origin, "example.com.",
            "[[zone]] origin without the dot"
        );
        let twice = format!("{text}[[zone]]\norigin = \"Example.Com.\"\nfile = \"y\"\n");
        let e = crate::config::Config::parse(&twice, std::path::Path::new("c.toml")).expect_err("the same zone");
        assert!(e.message.contains("twice"), "{e}");
    }
}

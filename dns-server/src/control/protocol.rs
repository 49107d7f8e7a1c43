//! The control protocol: one JSON request line, one JSON reply line.

use serde::{Deserialize, Serialize};

/// What `dns-server ctl` asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Version, uptime, zones, XDP, resolver.
    Status {},
    /// Re-read the configuration and the zones whose files changed; with a
    /// zone, re-read that zone's files only (changed or not).
    Reload {
        /// The zone's origin.
        #[serde(default)]
        zone: Option<String>,
    },
    /// Each zone's state, or one zone's.
    ZoneStatus {
        /// The zone's origin.
        #[serde(default)]
        zone: Option<String>,
    },
    /// Empty the resolver's cache, or forget a name and every name below it.
    CacheFlush {
        /// The name.
        #[serde(default)]
        name: Option<String>,
    },
    /// Change or show the XDP deny list.
    Deny {
        /// add, remove or list.
        action: DenyAction,
        /// ADDRESS/LENGTH (for add and remove).
        #[serde(default)]
        prefix: Option<String>,
    },
    /// Every counter, as `name value` lines.
    Stats {},
    /// The sidecar: de-prefer this PoP (maintenance drain).
    Drain {},
    /// The sidecar: withdraw this PoP's prefixes (maintenance withdraw).
    Withdraw {},
    /// The sidecar: end maintenance; the checks decide again.
    Resume {},
    /// Have a secondary zone (or every one) ask its primaries now, as a NOTIFY does.
    ZoneRefresh {
        /// The zone's origin.
        #[serde(default)]
        zone: Option<String>,
    },
    /// Have a secondary zone (or every one) transferred whole (AXFR) now.
    ZoneRetransfer {
        /// The zone's origin.
        #[serde(default)]
        zone: Option<String>,
    },
    /// Open a transaction on a primary zone.
    ZoneBegin {
        /// The zone's origin.
        zone: String,
    },
    /// In the open transaction: add a record.
    ZoneSet {
        /// The zone's origin.
        zone: String,
        /// Relative to the zone, or absolute.
        owner: String,
        /// `[TTL] TYPE RDATA...`.
        data: Vec<String>,
    },
    /// In the open transaction: remove an owner's records, an RRset, or one record.
    ZoneUnset {
        /// The zone's origin.
        zone: String,
        /// Relative to the zone, or absolute.
        owner: String,
        /// `[TYPE [RDATA...]]`.
        #[serde(default)]
        data: Vec<String>,
    },
    /// The open transaction's changes.
    ZoneDiff {
        /// The zone's origin.
        zone: String,
    },
    /// Serve the open transaction's changes as a new version.
    ZoneCommit {
        /// The zone's origin.
        zone: String,
    },
    /// Forget the open transaction.
    ZoneAbort {
        /// The zone's origin.
        zone: String,
    },
}

/// What `deny` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DenyAction {
    /// Drop DNS from the prefix in XDP from now on.
    Add,
    /// Lift the entry.
    Remove,
    /// Show every entry.
    List,
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the command was carried out.
    pub ok: bool,
    /// Lines for a person (the error when not `ok`).
    pub text: String,
    /// The same for a program (`ctl --json`); null on an error.
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Reply {
    /// A success.
    pub fn done(text: impl Into<String>, data: serde_json::Value) -> Reply {
        Reply {
            ok: true,
            text: text.into(),
            data,
        }
    }

    /// A failure, with the reason.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            text: text.into(),
            data: serde_json::Value::Null,
        }
    }
}

/// The longest request line the server reads.
pub const MAX_REQUEST: usize = 4096;

/// Parses one request line; the error says what was wrong and what is expected.
pub fn parse(line: &str) -> Result<Request, String> {
    serde_json::from_str(line.trim()).map_err(|e| {
        format!(
            "not a control request ({e}); send one JSON object per line, e.g. {{\"command\":\"status\"}}; commands: status, reload, zone-status, cache-flush, deny, stats, zone-refresh, zone-retransfer, zone-begin, zone-set, zone-unset, zone-diff, zone-commit, zone-abort (the server); status, drain, withdraw, resume (the sidecar)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_explained() {
        for request in [
            Request::Status {},
            Request::Reload { zone: None },
            Request::Reload {
                zone: Some("example.com.".into()),
            },
            Request::ZoneStatus { zone: None },
            Request::CacheFlush {
                name: Some("a.example.".into()),
            },
            Request::Deny {
                action: DenyAction::Add,
                prefix: Some("192.0.2.0/24".into()),
            },
            Request::Stats {},
            Request::Drain {},
            Request::Withdraw {},
            Request::Resume {},
            Request::ZoneRefresh { zone: None },
            Request::ZoneRetransfer {
                zone: Some("example.com.".into()),
            },
            Request::ZoneBegin {
                zone: "example.com.".into(),
            },
            Request::ZoneSet {
                zone: "example.com.".into(),
                owner: "www".into(),
                data: vec!["300".into(), "A".into(), "192.0.2.1".into()],
            },
            Request::ZoneUnset {
                zone: "example.com.".into(),
                owner: "www".into(),
                data: vec![],
            },
            Request::ZoneDiff { zone: "x.".into() },
            Request::ZoneCommit { zone: "x.".into() },
            Request::ZoneAbort { zone: "x.".into() },
        ] {
            let line = serde_json::to_string(&request).expect("serialises");
            assert_eq!(parse(&line), Ok(request), "{line}");
        }
        assert_eq!(parse("{\"command\":\"reload\"}"), Ok(Request::Reload { zone: None }));
        for garbage in [
            "",
            "status",
            "{\"command\":\"explode\"}",
            "{\"command\":\"status\",\"x\":1}",
            "\u{0}\u{1}",
        ] {
            let e = parse(garbage).expect_err(garbage);
            assert!(e.contains("not a control request"), "{garbage:?}: {e}");
        }
    }
}

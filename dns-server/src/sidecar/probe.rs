//! One probe of each kind of check: a DNS query, a process lookup, an XDP attachment, a zone's freshness.

use std::{net::SocketAddr, path::Path, time::Duration};

use hickory_proto::{
    op::{Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
};
use tokio::{net::UdpSocket, process::Command, time::timeout};

use super::{config::CheckKind, freshness::Freshness};

/// Why a probe failed; the text goes to logs and the state file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ProbeError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, ProbeError> {
    Err(ProbeError(message.into()))
}

/// What one probe of a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probed {
    /// The check's own result.
    pub result: Result<(), ProbeError>,
    /// A zone-freshness check's shared side (its `NAME:primary` check).
    pub shared: Option<Result<(), ProbeError>>,
    /// What was seen, for the status (a zone-freshness check's serials).
    pub detail: Option<String>,
    /// A zone-freshness check's serials: ours and the primary's, when each answered.
    pub serials: Option<(Option<u32>, Option<u32>)>,
}

/// A check's prober: most kinds keep nothing between probes; a
/// zone-freshness check remembers since when it has been behind.
#[derive(Debug)]
pub(crate) enum Prober {
    /// A DNS, process or XDP check.
    Once {
        /// What is checked.
        kind: CheckKind,
        /// The addresses a DNS check queries.
        servers: Vec<SocketAddr>,
    },
    /// A zone-freshness check.
    Fresh(Freshness),
}

impl Prober {
    /// The prober for `kind`; `servers` are our server's addresses (already defaulted).
    pub(crate) fn new(kind: &CheckKind, servers: Vec<SocketAddr>) -> Result<Prober, String> {
        Ok(match kind {
            CheckKind::ZoneFreshness { .. } => Prober::Fresh(Freshness::new(kind, servers)?),
            _ => Prober::Once {
                kind: kind.clone(),
                servers,
            },
        })
    }

    /// Runs one probe, giving up after `limit`.
    pub(crate) async fn probe(&mut self, limit: Duration) -> Probed {
        match self {
            Prober::Once { kind, servers } => Probed {
                result: run(kind, servers, limit).await,
                shared: None,
                detail: None,
                serials: None,
            },
            Prober::Fresh(freshness) => {
                let verdict = freshness.probe(limit).await;
                let serial = |s: Option<u32>| s.map_or("-".to_string(), |s| s.to_string());
                Probed {
                    result: verdict.local,
                    shared: Some(verdict.shared),
                    detail: Some(format!(
                        "serial {}, primary {}",
                        serial(verdict.ours),
                        serial(verdict.primary)
                    )),
                    serials: Some((verdict.ours, verdict.primary)),
                }
            }
        }
    }
}

/// Runs one probe of `kind`, giving up after `limit`. `servers` are the
/// addresses a DNS check queries (already defaulted from the prefixes).
pub(crate) async fn run(kind: &CheckKind, servers: &[SocketAddr], limit: Duration) -> Result<(), ProbeError> {
    let probe = async {
        match kind {
            CheckKind::Dns {
                qname,
                qtype,
                rcode,
                expect,
                ..
            } => {
                for server in servers {
                    dns(*server, qname, qtype, rcode, expect.as_deref())
                        .await
                        .map_err(|e| ProbeError(format!("{server}: {e}")))?;
                }
                Ok(())
            }
            CheckKind::Process { pid_file, process } => process_alive(pid_file.as_deref(), process.as_deref()),
            CheckKind::Xdp { interface } => xdp_attached(interface).await,
            // One probe alone cannot tell how long the zone has been behind:
            // its time lag starts now (a [`Prober`] keeps it across probes).
            CheckKind::ZoneFreshness { .. } => match Freshness::new(kind, servers.to_vec()) {
                Ok(mut freshness) => freshness.probe(limit).await.local,
                Err(e) => fail(e),
            },
        }
    };
    match timeout(limit, probe).await {
        Ok(result) => result,
        Err(_) => fail(format!("no result within {} ms", limit.as_millis())),
    }
}

/// Sends one query over UDP and checks the reply's ID, RCODE and, if asked, an answer's RDATA.
async fn dns(
    server: SocketAddr,
    qname: &str,
    qtype: &str,
    rcode: &str,
    expect: Option<&str>,
) -> Result<(), ProbeError> {
    let query = build_query(qname, qtype)?;
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal address")
    } else {
        "[::]:0".parse().expect("literal address")
    };
    let socket = UdpSocket::bind(bind)
        .await
        .map_err(|e| ProbeError(format!("bind: {e}")))?;
    socket
        .connect(server)
        .await
        .map_err(|e| ProbeError(format!("connect: {e}")))?;
    socket
        .send(&query.1)
        .await
        .map_err(|e| ProbeError(format!("send: {e}")))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| ProbeError(format!("receive: {e}")))?;
        // A stray datagram with another ID is not our answer: keep waiting (the caller's timeout bounds this).
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) != query.0 {
            continue;
        }
        return check_reply(&buf[..n], rcode, expect);
    }
}

/// The query's ID and wire bytes.
fn build_query(qname: &str, qtype: &str) -> Result<(u16, Vec<u8>), ProbeError> {
    let name = Name::from_ascii(qname).map_err(|e| ProbeError(format!("bad qname {qname:?}: {e}")))?;
    let rtype: RecordType = qtype.parse().map_err(|_| ProbeError(format!("bad qtype {qtype:?}")))?;
    let mut message = Message::query();
    message.add_query(Query::query(name, rtype));
    let bytes = message
        .to_vec()
        .map_err(|e| ProbeError(format!("encoding the query: {e}")))?;
    Ok((message.metadata.id, bytes))
}

/// Checks a reply: a response, the expected RCODE, and `expect` among the answers' RDATA.
fn check_reply(reply: &[u8], rcode: &str, expect: Option<&str>) -> Result<(), ProbeError> {
    let message = Message::from_vec(reply).map_err(|e| ProbeError(format!("undecodable reply: {e}")))?;
    if message.metadata.message_type != MessageType::Response || message.metadata.op_code != OpCode::Query {
        return fail("reply is not a query response");
    }
    let got = u16::from(message.metadata.response_code);
    let want = rcode_value(rcode).ok_or_else(|| ProbeError(format!("unknown rcode {rcode:?}")))?;
    if got != want {
        return fail(format!("rcode {} instead of {rcode}", message.metadata.response_code));
    }
    if let Some(expect) = expect {
        let found = message.answers.iter().any(|r| r.data.to_string() == expect);
        if !found {
            return fail(format!("no answer with RDATA {expect:?}"));
        }
    }
    Ok(())
}

/// The numeric value of an RCODE mnemonic (RFC 1035 and RFC 2136 names).
fn rcode_value(name: &str) -> Option<u16> {
    let value = match name.to_ascii_uppercase().as_str() {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "NOTAUTH" => 9,
        other => return other.parse().ok(),
    };
    Some(value)
}

/// True when the pid file names a live (not zombie) process, or some process has `comm == name`.
fn process_alive(pid_file: Option<&Path>, name: Option<&str>) -> Result<(), ProbeError> {
    if let Some(file) = pid_file {
        let text = std::fs::read_to_string(file).map_err(|e| ProbeError(format!("{}: {e}", file.display())))?;
        let pid: u32 = text
            .trim()
            .parse()
            .map_err(|_| ProbeError(format!("{}: not a pid", file.display())))?;
        return if pid_running(pid) {
            Ok(())
        } else {
            fail(format!("pid {pid} from {} is not running", file.display()))
        };
    }
    let name = name.unwrap_or_default();
    let entries = std::fs::read_dir("/proc").map_err(|e| ProbeError(format!("/proc: {e}")))?;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name && pid_running(pid) {
            return Ok(());
        }
    }
    fail(format!("no process named {name:?}"))
}

/// A process exists and is not a zombie (`/proc/PID/stat` field 3).
fn pid_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command, which may itself hold spaces or parentheses.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

/// An XDP program is attached to `interface`, as `ip -j link show` reports it.
async fn xdp_attached(interface: &str) -> Result<(), ProbeError> {
    let output = Command::new("ip")
        .args(["-j", "link", "show", "dev", interface])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| ProbeError(format!("running ip: {e}")))?;
    if !output.status.success() {
        return fail(format!(
            "ip link show {interface}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    match xdp_prog_id(&output.stdout) {
        Some(id) if id > 0 => Ok(()),
        _ => fail(format!("no XDP program attached to {interface}")),
    }
}

/// The XDP program id in `ip -j link show` output: `xdp.prog.id`, or the first of `xdp.attached`.
fn xdp_prog_id(json: &[u8]) -> Option<u64> {
    let links: serde_json::Value = serde_json::from_slice(json).ok()?;
    let xdp = links.get(0)?.get("xdp")?;
    xdp.get("prog")
        .and_then(|p| p.get("id"))
        .or_else(|| xdp.get("attached")?.get(0)?.get("prog")?.get("id"))
        .and_then(serde_json::Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::{
        op::ResponseCode,
        rr::{RData, Record, rdata::A},
    };

    fn reply(code: ResponseCode, answer: Option<&str>) -> Vec<u8> {
        let mut m = Message::response(7, OpCode::Query);
        m.metadata.response_code = code;
        if let Some(a) = answer {
            let name = Name::from_ascii("www.example.com.").unwrap();
            m.answers
                .push(Record::from_rdata(name, 60, RData::A(A(a.parse().unwrap()))));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn accepts_the_expected_answer() {
        let ok = reply(ResponseCode::NoError, Some("192.0.2.10"));
        assert_eq!(check_reply(&ok, "NOERROR", Some("192.0.2.10")), Ok(()));
        assert_eq!(
            check_reply(&ok, "noerror", None),
            Ok(()),
            "expected rcode names to be case-insensitive"
        );
    }

    #[test]
    fn refuses_a_wrong_rcode_or_answer() {
        let nx = reply(ResponseCode::NXDomain, None);
        assert!(
            check_reply(&nx, "NOERROR", None).is_err(),
            "expected NXDOMAIN to fail a NOERROR check"
        );
        assert_eq!(
            check_reply(&nx, "NXDOMAIN", None),
            Ok(()),
            "expected NXDOMAIN to pass an NXDOMAIN check"
        );
        let other = reply(ResponseCode::NoError, Some("192.0.2.99"));
        assert!(
            check_reply(&other, "NOERROR", Some("192.0.2.10")).is_err(),
            "expected a different address to fail"
        );
        assert!(
            check_reply(&[1, 2, 3], "NOERROR", None).is_err(),
            "expected garbage to fail"
        );
    }

    #[test]
    fn builds_a_query_hickory_reads_back() {
        let (id, bytes) = build_query("www.example.com.", "AAAA").unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.metadata.id, id);
        assert_eq!(m.queries[0].query_type(), RecordType::AAAA);
    }

    #[test]
    fn finds_the_xdp_program_id() {
        let single = br#"[{"ifname":"veth0","xdp":{"mode":1,"prog":{"id":42,"tag":"ab"}}}]"#;
        assert_eq!(xdp_prog_id(single), Some(42));
        let multi = br#"[{"ifname":"veth0","xdp":{"attached":[{"mode":1,"prog":{"id":7}}]}}]"#;
        assert_eq!(xdp_prog_id(multi), Some(7));
        let none = br#"[{"ifname":"veth0","mtu":1500}]"#;
        assert_eq!(xdp_prog_id(none), None, "expected no id without an xdp key");
    }

    #[test]
    fn sees_this_process_alive() {
        let dir = std::env::temp_dir().join(format!("sidecar-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pid");
        std::fs::write(&file, std::process::id().to_string()).unwrap();
        assert_eq!(
            process_alive(Some(&file), None),
            Ok(()),
            "expected our own pid to be alive"
        );
        std::fs::write(&file, "999999999").unwrap();
        assert!(
            process_alive(Some(&file), None).is_err(),
            "expected a pid that cannot exist to be dead"
        );
        let _ = std::fs::remove_dir_all(&dir);
        assert!(process_alive(None, Some("no-such-proc-xyz")).is_err());
    }
}

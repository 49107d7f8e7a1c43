//! Zone transfers read with `dig` (AXFR) and `kdig` (IXFR) from a chosen
//! loopback source address, as a secondary would read them.

use std::process::{Command, Stdio};

use super::Record;

/// What a transfer client printed.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// The records, in the order received (SOA first and last when
    /// complete), TSIG records left out.
    pub records: Vec<Record>,
    /// TSIG records printed: one per signed message.
    pub signatures: usize,
    /// Messages the records came in, as the client counted them.
    pub messages: Option<usize>,
    /// The client's output, for failure messages.
    pub text: String,
}

impl Transfer {
    fn parse(text: String) -> Transfer {
        let (signatures, records): (Vec<Record>, Vec<Record>) = text
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .filter_map(Record::parse)
            .partition(|r| r.rtype == "TSIG");
        let signatures = signatures.len();
        // dig: ";; XFR size: 5 records (messages 1, bytes 169)";
        // kdig: ";; Received 158 B (1 messages, 5 records)".
        let messages = text.lines().find_map(|l| {
            let l = l.strip_prefix(";; ")?;
            if let Some(rest) = l.strip_prefix("XFR size: ") {
                return rest.split("(messages ").nth(1)?.split(',').next()?.trim().parse().ok();
            }
            let rest = l.strip_prefix("Received ")?;
            rest.split('(').nth(1)?.split_whitespace().next()?.parse().ok()
        });
        Transfer {
            records,
            signatures,
            messages,
            text,
        }
    }

    /// Whether no record came (refused, or the transfer failed).
    pub fn failed(&self) -> bool {
        self.records.is_empty()
    }

    /// The serials of the SOA records, in order.
    pub fn soa_serials(&self) -> Vec<u32> {
        self.records
            .iter()
            .filter(|r| r.rtype == "SOA")
            .filter_map(|r| r.rdata.split_whitespace().nth(2)?.parse().ok())
            .collect()
    }
}

fn run(program: &str, args: &[String]) -> Transfer {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("expected to run {program} (is it installed?): {e}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Transfer::parse(text)
}

/// `dig AXFR` of `zone` from 127.0.0.1@`port`, sent from `source`, with
/// `extra` options (`-y ALG:NAME:SECRET` signs it; dig then checks every
/// message's TSIG).
pub fn dig_axfr(source: &str, port: u16, zone: &str, extra: &[&str]) -> Transfer {
    let mut args: Vec<String> = [
        "@127.0.0.1",
        "-p",
        &port.to_string(),
        "-b",
        source,
        "+nocookie",
        "+tries=1",
        "+time=10",
        zone,
        "AXFR",
    ]
    .map(String::from)
    .into();
    args.extend(extra.iter().map(|s| s.to_string()));
    run("dig", &args)
}

/// `kdig IXFR=serial` of `zone` from 127.0.0.1@`port`, sent from `source`,
/// over TCP unless `extra` says `+notcp`.
pub fn kdig_ixfr(source: &str, port: u16, zone: &str, serial: u32, extra: &[&str]) -> Transfer {
    let mut args: Vec<String> = [
        "@127.0.0.1",
        "-p",
        &port.to_string(),
        "-b",
        source,
        "+tcp",
        "+nocookie",
        "+retry=0",
        "+timeout=10",
        zone,
        &format!("IXFR={serial}"),
    ]
    .map(String::from)
    .into();
    args.extend(extra.iter().map(|s| s.to_string()));
    run("kdig", &args)
}

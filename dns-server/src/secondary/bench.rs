//! An AXFR of a million records from a fake primary on loopback, timed and its peak memory taken.
//!
//! Ignored by default (it takes seconds and wants a release build):
//! `AXFR_WAY=streamed cargo test --release -p dns-server --lib secondary::bench -- --ignored --nocapture`
//! (`AXFR_WAY=before`: the records collected whole, then built, as
//! transfers were before they were built as they arrive; unset: both, the
//! second's memory blurred by the first's).
//! The zone has the shape of `cargo xtask bench transfer`'s: per host an A,
//! AAAA, TXT and MX record, and every other host a delegation with glue.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Instant};

use dns_wire::wire::{FLAG_AA, FLAG_QR, class, rtype};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use super::{
    client::{self, Limits},
    stream::XfrRecord,
};
use crate::{
    message::{Section, Writer, read},
    name::Name,
    zone::{Location, Record, build::Builder, tree::Zone},
};

const ORIGIN: &str = "large.test.";

fn wire(text: &str) -> Vec<u8> {
    Name::parse(text, None).expect("name").as_wire().to_vec()
}

fn soa_rdata(serial: u32) -> Vec<u8> {
    let mut rdata = wire("ns1.large.test.");
    rdata.extend_from_slice(&wire("hostmaster.large.test."));
    for v in [serial, 3600, 900, 604_800, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    rdata
}

/// The zone's records in order (SOA first, not last), `records` of them.
fn records(records: u32) -> impl Iterator<Item = (Vec<u8>, u16, Vec<u8>)> {
    let apex = wire(ORIGIN);
    let head = vec![
        (apex.clone(), rtype::SOA, soa_rdata(7)),
        (apex, rtype::NS, wire("ns1.large.test.")),
        (wire("ns1.large.test."), rtype::A, vec![192, 0, 2, 1]),
        (wire("mail.large.test."), rtype::A, vec![192, 0, 2, 25]),
    ];
    let hosts = (0u32..).flat_map(|i| {
        let host = wire(&format!("h{i}.{ORIGIN}"));
        let [_, b, c, d] = i.to_be_bytes();
        let mut v6 = vec![0x20, 0x01, 0x0d, 0xb8];
        v6.extend_from_slice(&[0; 8]);
        v6.extend_from_slice(&i.to_be_bytes());
        let text = format!("host {i} of the large zone");
        let mut txt = vec![text.len() as u8];
        txt.extend_from_slice(text.as_bytes());
        let mut mx = vec![0, 10];
        mx.extend_from_slice(&wire("mail.large.test."));
        let mut out = vec![
            (host.clone(), rtype::A, vec![10, b, c, d]),
            (host.clone(), rtype::AAAA, v6),
            (host.clone(), rtype::TXT, txt),
            (host, rtype::MX, mx),
        ];
        if i % 2 == 1 {
            let ns = wire(&format!("ns.d{i}.{ORIGIN}"));
            out.push((wire(&format!("d{i}.{ORIGIN}")), rtype::NS, ns.clone()));
            out.push((ns, rtype::A, vec![10, b, c, d]));
        }
        out
    });
    head.into_iter().chain(hosts).take(records as usize)
}

/// The zone's AXFR answer to query `id`, in messages of up to 64 KiB, framed for TCP.
fn messages(count: u32, id: u16) -> Vec<Vec<u8>> {
    let apex = wire(ORIGIN);
    let soa = soa_rdata(7);
    let mut all = records(count)
        .chain(std::iter::once((apex.clone(), rtype::SOA, soa)))
        .peekable();
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(65_536);
    while all.peek().is_some() {
        let question = out.is_empty().then_some((&apex[..], rtype::AXFR, class::IN));
        let mut w = Writer::new(&mut buf, 65_000, id, FLAG_QR | FLAG_AA, question);
        w.index_names();
        while let Some((owner, t, rdata)) = all.peek() {
            if w.record(Section::Answer, owner, *t, class::IN, 3600, rdata).is_err() {
                break;
            }
            all.next();
        }
        let len = w.finish();
        let mut framed = (len as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&buf[..len]);
        out.push(framed);
    }
    out
}

/// Serves `transfers` AXFRs of the zone, its messages made beforehand so
/// that the primary's work does not count in the secondary's time.
async fn fake_primary(count: u32, transfers: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let id_at = 0;
    let mut prepared = messages(count, 0);
    tokio::spawn(async move {
        for _ in 0..transfers {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut len = [0u8; 2];
            conn.read_exact(&mut len).await.expect("length");
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
            conn.read_exact(&mut query).await.expect("query");
            for m in &mut prepared {
                // After the two length bytes: the ID.
                m[id_at + 2..id_at + 4].copy_from_slice(&query[..2]);
                if conn.write_all(m).await.is_err() {
                    break;
                }
            }
        }
    });
    address
}

/// Resident memory now and at its peak since the last reset, in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
#[ignore = "a million records: run by hand in a release build"]
fn axfr_of_a_million_records() {
    let count: u32 = std::env::var("AXFR_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let primary = fake_primary(count, 2).await;
        let origin = Name::parse(ORIGIN, None).expect("origin");
        let limits = Limits {
            message: std::time::Duration::from_secs(30),
            transfer: std::time::Duration::from_secs(600),
            max_bytes: u64::MAX,
        };
        // The peak is counted from each way's start (the primary's prepared
        // messages are in "before"); memory the first way freed but the
        // allocator kept blurs the second's, so AXFR_WAY picks one alone.
        let ways: &[bool] = match std::env::var("AXFR_WAY").as_deref() {
            Ok("before") => &[false],
            Ok("streamed") => &[true],
            _ => &[false, true],
        };
        for &streamed in ways {
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let (before, _) = rss();
            let started = Instant::now();
            let zone = if streamed {
                fetch(primary, &origin, &limits).await
            } else {
                collect_then_build(primary, &origin).await
            };
            let took = started.elapsed();
            let (after, peak) = rss();
            let way = if streamed {
                "built as it arrives"
            } else {
                "collected, then built (before)"
            };
            println!(
                "AXFR of {count} records, {way}: {took:.2?} until built; RSS before {} MiB, peak +{} MiB, after +{} MiB; {} names",
                before / 1024,
                peak.saturating_sub(before) / 1024,
                after.saturating_sub(before) / 1024,
                zone.node_count(),
            );
            assert_eq!(zone.serial, 7);
            drop(zone);
        }
    });
}

/// The transfer and the build, as a refresh does them.
async fn fetch(primary: SocketAddr, origin: &Name, limits: &Limits) -> Zone {
    let ask = client::Ask {
        primary,
        origin,
        key: None,
        ours: None,
        previous: None,
    };
    let started = Instant::now();
    let (transfer, _) = client::transfer(ask, limits).await.expect("transfer");
    let super::stream::Transfer::Full(whole) = transfer else {
        panic!("not a whole zone")
    };
    let received = started.elapsed();
    let zone = super::refresh::build(whole).await.expect("valid zone");
    println!(
        "  received and fed to the builder in {received:.2?}, indexed and checked in {:.2?}",
        started.elapsed() - received
    );
    zone
}

/// The way before records were built as they arrived: every message read
/// into records, all of them kept, then handed to the builder.
async fn collect_then_build(primary: SocketAddr, origin: &Name) -> Zone {
    let mut conn = tokio::net::TcpStream::connect(primary).await.expect("connect");
    let mut query = Vec::new();
    let w = Writer::new(&mut query, 512, 1, 0, Some((origin.as_wire(), rtype::AXFR, class::IN)));
    w.finish();
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    conn.write_all(&framed).await.expect("query");
    let started = Instant::now();
    let mut records = Vec::new();
    let mut soas = 0;
    while soas < 2 {
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).await.expect("length");
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut msg).await.expect("message");
        let m = read::parse_limited(&msg, u16::MAX as usize).expect("message");
        for r in m.records {
            if r.rtype == rtype::SOA {
                soas += 1;
                if soas == 2 {
                    break;
                }
            }
            records.push(XfrRecord {
                owner: r.owner,
                rtype: r.rtype,
                class: r.class,
                ttl: r.ttl,
                rdata: r.rdata.into(),
            });
        }
    }
    let received = started.elapsed();
    let origin = origin.clone();
    let zone = tokio::task::spawn_blocking(move || {
        let file: Arc<Path> = Arc::from(Path::new("AXFR, record"));
        let mut builder = Builder::new(&origin);
        for (i, r) in records.into_iter().enumerate() {
            builder.push(Record {
                owner: r.owner,
                rtype: r.rtype,
                class: r.class,
                ttl: r.ttl,
                rdata: r.rdata,
                location: Location {
                    file: file.clone(),
                    line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                },
            });
        }
        builder.finish().expect("valid zone")
    })
    .await
    .expect("built");
    println!(
        "  received in {received:.2?}, built in {:.2?}",
        started.elapsed() - received
    );
    zone
}

//! The zones of `bench zones`, generated deterministically: one large zone,
//! many small ones, one zone with a huge RRset; and the in-place edits a
//! reload is measured with (a new serial, one changed record).
use std::{
    fmt::Write as _,
    fs,
    net::{Ipv4Addr, Ipv6Addr},
    os::unix::fs::FileExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

use super::servers::Zone;

/// The large zone's origin.
pub const LARGE_ORIGIN: &str = "large.test.";
/// The huge RRset's zone.
pub const RRSET_ORIGIN: &str = "rrset.test.";

/// The serial every generated zone starts with: ten digits, so that a new
/// serial (up to 4,294,967,295) is written over it in place.
pub const FIRST_SERIAL: u32 = 1_000_000_000;

/// The name written last in the large zone and the RRset zone, and its
/// address: a server that answers it has read the whole file.
pub const LATE_NAME: &str = "late";
pub const LATE_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// Hosts of the large zone whose A record may be the one changed: the
/// first ones, whose offsets in the file are kept. Many, because ours's XDP
/// maps hold only part of a large zone, and the change is made to a host
/// that XDP answers.
pub const CANDIDATES: u32 = 1024;

/// The apex: SOA with a fixed-width serial, NS, the name server's address.
fn apex(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 3600\n\
         @ IN SOA ns1 hostmaster {FIRST_SERIAL} 3600 900 604800 300\n\
         @ IN NS ns1\n\
         ns1 IN A 192.0.2.53\n"
    )
}

/// Byte offset of the serial in a file that starts with [`apex`].
fn serial_offset(origin: &str) -> u64 {
    let text = apex(origin);
    text.find(&FIRST_SERIAL.to_string()).expect("the apex holds the serial") as u64
}

/// The A record of host `i` of the large zone: every octet after the first
/// three digits wide (100-199), so that all are the same width and the
/// changed one (first octet 10 -> 11) is written over it in place.
pub fn host_v4(i: u32) -> Ipv4Addr {
    let octet = |n: u32| (100 + n % 100) as u8;
    Ipv4Addr::new(10, octet(i / 10_000), octet(i / 100), octet(i))
}

/// The AAAA record of host `i` (or of small zone `i`'s `www` under `net`),
/// written by `Ipv6Addr` so that it is valid for any `i`: a group holds
/// 16 bits.
pub fn v6(net: u16, i: u32) -> Ipv6Addr {
    Ipv6Addr::from((0xfd00_u128 << 112) | (u128::from(net) << 96) | (u128::from(i) + 1))
}

/// What host `i`'s A record is changed to.
pub fn changed_v4(i: u32) -> Ipv4Addr {
    let [_, b, c, d] = host_v4(i).octets();
    Ipv4Addr::new(11, b, c, d)
}

/// The large zone on disk, and where to edit it in place.
pub struct LargeZone {
    pub zone: Zone,
    /// Records written (SOA, NS and the name server's address included).
    pub records: u64,
    serial_at: u64,
    /// Offsets of the A records' RDATA of the first [`CANDIDATES`] hosts.
    host_a_at: Vec<u64>,
}

/// The large zone's text: hosts `h<i>` with A, AAAA, TXT and MX, and after
/// every other host a delegation `d<i>` with its glue, up to `records`
/// records; then [`LATE_NAME`]. Returns the text and the offsets of the
/// first hosts' A RDATA.
pub fn large_text(records: u64) -> (String, Vec<u64>) {
    let mut text = apex(LARGE_ORIGIN);
    text.push_str("mail IN A 192.0.2.25\n");
    let mut written: u64 = 4;
    let mut host_a_at = Vec::new();
    let last = records.saturating_sub(1);
    let mut i: u32 = 0;
    while written < last {
        if i < CANDIDATES {
            host_a_at.push((text.len() + format!("h{i} IN A ").len()) as u64);
        }
        let _ = write!(
            text,
            "h{i} IN A {}\n\
             h{i} IN AAAA {}\n\
             h{i} IN TXT \"host {i} of the large zone\"\n\
             h{i} IN MX 10 mail\n",
            host_v4(i),
            v6(1, i)
        );
        written += 4;
        if i % 2 == 1 {
            let _ = write!(text, "d{i} IN NS ns.d{i}\nns.d{i} IN A {}\n", host_v4(i));
            written += 2;
        }
        i += 1;
    }
    let _ = writeln!(text, "{LATE_NAME} IN A {LATE_ANSWER}");
    (text, host_a_at)
}

impl LargeZone {
    /// Writes the zone of about `records` records into `dir`.
    pub fn write(dir: &Path, records: u64) -> Result<LargeZone> {
        let (text, host_a_at) = large_text(records);
        let file = dir.join("large.test.zone");
        fs::write(&file, &text).with_context(|| format!("writing {}", file.display()))?;
        Ok(LargeZone {
            zone: Zone {
                origin: LARGE_ORIGIN.into(),
                file,
                primary: None,
            },
            records: text.lines().filter(|l| !l.starts_with('$')).count() as u64,
            serial_at: serial_offset(LARGE_ORIGIN),
            host_a_at,
        })
    }

    /// Writes `serial` over the SOA's.
    pub fn set_serial(&self, serial: u32) -> Result<()> {
        self.patch(self.serial_at, &format!("{serial:010}"))
    }

    /// Changes host `i`'s A record to [`changed_v4`] (or back to
    /// [`host_v4`]); `i` is below [`CANDIDATES`].
    pub fn set_host(&self, i: u32, changed: bool) -> Result<()> {
        let at = *self.host_a_at.get(i as usize).context("not a candidate host")?;
        let addr = if changed { changed_v4(i) } else { host_v4(i) };
        self.patch(at, &addr.to_string())
    }

    /// The hosts whose A record [`LargeZone::set_host`] can change: `0..candidates()`.
    pub fn candidates(&self) -> u32 {
        self.host_a_at.len() as u32
    }

    /// Back to the file as written: the first serial, every host unchanged.
    pub fn reset(&self) -> Result<()> {
        self.set_serial(FIRST_SERIAL)?;
        for i in 0..self.host_a_at.len() as u32 {
            self.set_host(i, false)?;
        }
        Ok(())
    }

    fn patch(&self, at: u64, text: &str) -> Result<()> {
        let path = &self.zone.file;
        let file = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.write_all_at(text.as_bytes(), at)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// Small zone `i`'s origin.
pub fn small_origin(i: u32) -> String {
    format!("z{i}.test.")
}

/// The address of `www` in small zone `i`.
pub fn small_www(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | i)
}

/// Small zone `i`: ten records.
pub fn small_text(i: u32) -> String {
    let mut text = apex(&small_origin(i));
    let _ = write!(
        text,
        "www IN A {www}\n\
         www IN AAAA {www6}\n\
         mail IN A 192.0.2.25\n\
         @ IN MX 10 mail\n\
         @ IN TXT \"zone {i}\"\n\
         ftp IN CNAME www\n\
         api IN A {www}\n",
        www = small_www(i),
        www6 = v6(2, i),
    );
    text
}

/// Writes `count` small zones under `dir/small`; returns them in order.
pub fn write_small(dir: &Path, count: u32) -> Result<Vec<Zone>> {
    let dir = dir.join("small");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    (0..count)
        .map(|i| {
            let file = dir.join(format!("z{i}.zone"));
            fs::write(&file, small_text(i)).with_context(|| format!("writing {}", file.display()))?;
            Ok(Zone {
                origin: small_origin(i),
                file,
                primary: None,
            })
        })
        .collect()
}

/// The huge RRset's zone: `big IN A` with `count` distinct addresses, then [`LATE_NAME`].
pub fn rrset_text(count: u32) -> String {
    let mut text = apex(RRSET_ORIGIN);
    for i in 0..count {
        let _ = writeln!(text, "big IN A {}", Ipv4Addr::from(0x0a00_0000 | i));
    }
    let _ = writeln!(text, "{LATE_NAME} IN A {LATE_ANSWER}");
    text
}

/// Writes the huge RRset's zone into `dir`.
pub fn write_rrset(dir: &Path, count: u32) -> Result<Zone> {
    let file: PathBuf = dir.join("rrset.test.zone");
    fs::write(&file, rrset_text(count)).with_context(|| format!("writing {}", file.display()))?;
    Ok(Zone {
        origin: RRSET_ORIGIN.into(),
        file,
        primary: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_zone_has_the_records_asked_for_and_ends_with_the_late_name() {
        let (text, offsets) = large_text(10_000);
        let records = text.lines().filter(|l| !l.starts_with('$')).count();
        assert!((10_000..10_006).contains(&records), "{records} records");
        assert_eq!(
            text.lines().last(),
            Some(format!("{LATE_NAME} IN A {LATE_ANSWER}").as_str())
        );
        assert_eq!(offsets.len(), CANDIDATES as usize, "10,000 records make 2,000 hosts");
        for (i, at) in offsets.iter().enumerate() {
            let at = *at as usize;
            let addr = host_v4(i as u32).to_string();
            assert_eq!(
                &text[at..at + addr.len()],
                addr,
                "host {i}'s A RDATA is where it is said to be"
            );
        }
        assert_eq!(large_text(10_000).0, text, "the same text each time");
    }

    #[test]
    fn edits_in_place_keep_the_width() {
        assert_eq!(FIRST_SERIAL.to_string().len(), 10);
        for i in [0, 1, 99, 12_345, 999_999] {
            assert_eq!(host_v4(i).to_string().len(), changed_v4(i).to_string().len());
            assert_ne!(host_v4(i), changed_v4(i));
        }
        let distinct: std::collections::BTreeSet<_> = (0..1_000_000).map(host_v4).collect();
        assert_eq!(distinct.len(), 1_000_000, "every host has its own address");
    }

    #[test]
    fn every_address_written_parses_back() {
        // Past 65,535 hosts a hand-made `fd00:1::{i:x}` would have five hex
        // digits in a group, which NSD rightly refuses.
        let (text, _) = large_text(400_000);
        for line in text.lines().filter(|l| l.contains(" IN A")) {
            let value = line.rsplit(' ').next().unwrap();
            let parsed = if line.contains(" AAAA ") {
                value.parse::<Ipv6Addr>().is_ok()
            } else {
                value.parse::<Ipv4Addr>().is_ok()
            };
            assert!(parsed, "`{line}` holds an invalid address");
        }
        assert!(small_text(99_999).contains(&format!("www IN AAAA {}\n", v6(2, 99_999))));
    }

    #[test]
    fn a_patched_file_reads_back_and_resets() {
        let dir = test_support::temp_dir::TempDir::new("bench-zones");
        let large = LargeZone::write(dir.path(), 1_000).expect("written");
        let original = fs::read_to_string(&large.zone.file).unwrap();
        large.set_serial(FIRST_SERIAL + 7).unwrap();
        large.set_host(3, true).unwrap();
        let patched = fs::read_to_string(&large.zone.file).unwrap();
        assert!(patched.contains(&format!("hostmaster {} ", FIRST_SERIAL + 7)));
        assert!(patched.contains(&format!("h3 IN A {}\n", changed_v4(3))));
        assert_eq!(patched.len(), original.len());
        large.reset().unwrap();
        assert_eq!(fs::read_to_string(&large.zone.file).unwrap(), original);
    }

    #[test]
    fn small_zones_have_ten_records_and_the_rrset_its_count() {
        let records = small_text(7).lines().filter(|l| !l.starts_with('$')).count();
        assert_eq!(records, 10);
        let big = rrset_text(1_000).lines().filter(|l| l.starts_with("big ")).count();
        assert_eq!(big, 1_000);
    }
}

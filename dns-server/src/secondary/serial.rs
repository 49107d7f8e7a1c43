//! Serial number arithmetic (RFC 1982) and the SOA timers a secondary runs on.

use std::time::Duration;

/// Whether serial `a` is newer than `b` (RFC 1982 3.2). The one undefined
/// case, exactly 2^31 apart, counts as not newer: no transfer on a coin toss.
pub(crate) fn newer(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}

/// The SOA fields a secondary reads (RFC 1035 3.3.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timers {
    pub serial: u32,
    pub refresh: Duration,
    pub retry: Duration,
    pub expire: Duration,
}

impl Timers {
    /// Reads SOA RDATA (two names, then five 32-bit fields).
    pub(crate) fn of_soa(rdata: &[u8]) -> Option<Timers> {
        let mname = dns_wire::query::question_name_len(rdata)?;
        let rname = dns_wire::query::question_name_len(rdata.get(mname..)?)?;
        let fixed = rdata.get(mname + rname..)?;
        if fixed.len() != 20 {
            return None;
        }
        let word = |i: usize| u32::from_be_bytes([fixed[i * 4], fixed[i * 4 + 1], fixed[i * 4 + 2], fixed[i * 4 + 3]]);
        // At least a second each: a zero would spin.
        let secs = |i: usize| Duration::from_secs(u64::from(word(i).max(1)));
        Some(Timers {
            serial: word(0),
            refresh: secs(1),
            retry: secs(2),
            expire: secs(3),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_wrap_as_rfc_1982_says() {
        assert!(newer(2, 1));
        assert!(!newer(1, 2));
        assert!(!newer(5, 5));
        assert!(newer(0, u32::MAX), "wrapped past the top");
        assert!(newer(100, u32::MAX - 100));
        assert!(!newer(u32::MAX, 0));
        assert!(!newer(1 << 31, 0) && !newer(0, 1 << 31), "undefined: neither");
        assert!(newer((1 << 31) - 1, 0));
    }

    #[test]
    fn soa_timers() {
        let mut rdata = vec![1, b'a', 0, 1, b'b', 0];
        for v in [7u32, 3600, 0, 86400, 300] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        let t = Timers::of_soa(&rdata).expect("an SOA");
        assert_eq!(t.serial, 7);
        assert_eq!(t.refresh, Duration::from_secs(3600));
        assert_eq!(t.retry, Duration::from_secs(1), "zero is raised to a second");
        assert_eq!(t.expire, Duration::from_secs(86400));
        assert_eq!(Timers::of_soa(&rdata[..rdata.len() - 1]), None);
    }
}

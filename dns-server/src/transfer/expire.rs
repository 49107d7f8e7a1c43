//! EDNS EXPIRE (RFC 7314) in answers to transfer requests and SOA queries: the SOA's expire for a zone we are the primary of, the time it has left for a secondary zone.

use dns_wire::wire::rtype;

use crate::{
    message::{Section, read},
    secondary::{Registry, client::EDNS_EXPIRE, serial::Timers},
    zone::tree::Zone,
};

/// Whether the request's OPT record holds an EXPIRE option (RFC 7314 2).
pub(crate) fn asked(packet: &[u8]) -> bool {
    let Ok(head) = read::head(packet, 64) else {
        return false;
    };
    let mut found = false;
    let _ = head.each_record(packet, |r| {
        if r.section == Section::Additional && r.rtype == rtype::OPT {
            found |= has_option(r.rdata, EDNS_EXPIRE);
        }
        Ok::<(), read::ReadError>(())
    });
    found
}

fn has_option(mut options: &[u8], wanted: u16) -> bool {
    while options.len() >= 4 {
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = usize::from(u16::from_be_bytes([options[2], options[3]]));
        if code == wanted {
            return true;
        }
        let Some(rest) = options.get(4 + len..) else {
            return false;
        };
        options = rest;
    }
    false
}

/// The EXPIRE value for `zone` (RFC 7314 3): seconds left before it
/// expires when it is one of our secondary zones, its SOA's expire field
/// when we are its primary.
pub(crate) fn value(secondaries: Option<&Registry>, zone: &Zone) -> u32 {
    let soa_expire = zone
        .soa()
        .rdatas()
        .next()
        .and_then(Timers::of_soa)
        .map_or(0, |t| u32::try_from(t.expire.as_secs()).unwrap_or(u32::MAX));
    let Some(secondary) = secondaries.and_then(|s| s.zone(&zone.origin.to_lowercase())) else {
        return soa_expire;
    };
    let expires = secondary.report().expires;
    match expires {
        Some(at) => {
            let now = crate::secondary::epoch(std::time::SystemTime::now());
            u32::try_from(at.saturating_sub(now))
                .unwrap_or(u32::MAX)
                .min(soa_expire)
        }
        // Served from disk before a first refresh: the SOA's, as at start.
        None => soa_expire,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::Query;

    #[test]
    fn finds_the_option_among_others() {
        let plain = Query::new("example.test.", rtype::AXFR).edns(1232).to_wire();
        assert!(!asked(&plain));
        let asking = Query::new("example.test.", rtype::AXFR)
            .edns(1232)
            .option(3, &[])
            .option(EDNS_EXPIRE, &[])
            .to_wire();
        assert!(asked(&asking));
        let no_edns = Query::new("example.test.", rtype::SOA).to_wire();
        assert!(!asked(&no_edns));
    }
}

//! EDNS TCP keepalive (RFC 7828): tell a TCP client that asks how long we
//! keep its idle connection open.
//!
//! Over TCP, a query carrying the option (with no data, RFC 7828 3.2.1) gets
//! the option back with our current idle timeout in units of 100 ms; one with
//! data in it is malformed (FORMERR, as Unbound answers). Over UDP the option
//! means nothing and is ignored: the UDP path never calls this module.

use crate::message::write::{append_option, opt_rdlen_at};

/// The option code (RFC 7828 section 4).
const OPTION: u16 = 11;
/// Options looked at in one OPT record.
const MAX_OPTIONS: usize = 16;

/// What a TCP query says about keepalive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// No option (or no OPT record, or a message we do not read).
    Absent,
    /// The option, empty, as it should be.
    Asked,
    /// The option with data: a client must not send a timeout.
    Malformed,
}

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]))
}

/// Whether and how `query` asks for keepalive.
pub(crate) fn requested(query: &[u8]) -> Request {
    let Some(rdlen_at) = opt_rdlen_at(query) else {
        return Request::Absent;
    };
    let Some(len) = u16_at(query, rdlen_at) else {
        return Request::Absent;
    };
    let start = rdlen_at + 2;
    let mut options = &query[start..start + usize::from(len)];
    for _ in 0..MAX_OPTIONS {
        let (Some(code), Some(len)) = (u16_at(options, 0), u16_at(options, 2)) else {
            break;
        };
        if code == OPTION {
            return if len == 0 { Request::Asked } else { Request::Malformed };
        }
        let Some(rest) = options.get(4 + usize::from(len)..) else {
            break;
        };
        options = rest;
    }
    Request::Absent
}

/// Adds the option with `timeout` (in 100 ms units, RFC 7828 3.1) to the OPT
/// record of `response`, which must be its last record (ours always is,
/// there being no TSIG). A response without OPT is left as it is.
pub(crate) fn append(response: &mut Vec<u8>, timeout: std::time::Duration) {
    let units = u16::try_from(timeout.as_millis() / 100).unwrap_or(u16::MAX);
    append_option(response, OPTION, &units.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A query for `a.` with an OPT holding `options`.
    fn query(options: &[u8]) -> Vec<u8> {
        test_support::Query::new("a.", 1)
            .id(0x1234)
            .rd()
            .edns(4096)
            .raw_options(options)
            .to_wire()
    }

    #[test]
    fn the_option_is_found_among_others() {
        assert_eq!(requested(&query(&[])), Request::Absent);
        assert_eq!(requested(&query(&[0, 11, 0, 0])), Request::Asked);
        assert_eq!(
            requested(&query(&[0, 3, 0, 0, 0, 11, 0, 0])),
            Request::Asked,
            "after NSID"
        );
        assert_eq!(requested(&query(&[0, 11, 0, 2, 0, 100])), Request::Malformed);
        let mut no_opt = query(&[]);
        no_opt[11] = 0;
        no_opt.truncate(12 + 7);
        assert_eq!(requested(&no_opt), Request::Absent);
        assert_eq!(requested(&[0u8; 5]), Request::Absent, "short input is no request");
    }

    #[test]
    fn the_timeout_goes_into_the_opt_record() {
        let mut response = query(&[0, 3, 0, 0]);
        append(&mut response, Duration::from_secs(10));
        assert_eq!(
            &response[response.len() - 6..],
            &[0, 11, 0, 2, 0, 100],
            "10 s is 100 units"
        );
        let rdlen_at = opt_rdlen_at(&response).expect("OPT still readable");
        assert_eq!(u16_at(&response, rdlen_at), Some(10));
        let mut plain = query(&[]);
        plain[11] = 0;
        plain.truncate(12 + 7);
        let before = plain.clone();
        append(&mut plain, Duration::from_secs(10));
        assert_eq!(plain, before, "no OPT, no option");
    }
}

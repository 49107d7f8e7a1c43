//! DNS cookies in answers (RFC 7873, RFC 9018): judging the client's, adding ours.
//!
//! The responder writes every response without a cookie (so the answer
//! cache and the XDP maps hold bytes shared by all clients) but with room
//! for one; [`Judged::append`] then adds the client's cookie with a fresh or
//! still-valid server cookie to each response that carries an OPT record.

use std::{
    net::IpAddr,
    time::{SystemTime, UNIX_EPOCH},
};

use dns_wire::{
    cookie::{self, ClientAddr, CookieOption, Secret, Validity},
    wire::edns_option,
};

use crate::{config::ServerConfig, message::write::append_option, stats::Stats};

/// The cookie settings, swapped whole at a reload.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CookieSecrets {
    /// Makes and checks server cookies.
    pub current: Secret,
    /// Checks server cookies during a rollover; never makes one.
    pub previous: Option<Secret>,
    /// UDP queries without a valid server cookie get BADCOOKIE.
    pub require: bool,
}

impl std::fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSecrets")
            .field("previous", &self.previous.is_some())
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

impl CookieSecrets {
    /// The settings of `[server]`; without a configured secret, `unset`'s
    /// secret (so a reload does not invalidate every cookie handed out).
    pub(crate) fn from_config(server: &ServerConfig, unset: impl FnOnce() -> Secret) -> CookieSecrets {
        CookieSecrets {
            current: server.cookie_secret.as_ref().map_or_else(unset, |s| s.0),
            previous: server.cookie_secret_previous.as_ref().map(|s| s.0),
            require: server.require_cookies,
        }
    }

    /// The settings at start-up: a random secret when none is configured.
    pub(crate) fn at_start(server: &ServerConfig) -> CookieSecrets {
        CookieSecrets::from_config(server, || {
            tracing::info!(
                "no [server] cookie_secret: DNS cookies use a random secret drawn now; \
                 an anycast fleet needs one shared secret so clients keep valid cookies across PoPs"
            );
            rand::random()
        })
    }

    /// The settings after a reload: a configured secret, or the one in use.
    pub(crate) fn reloaded(&self, server: &ServerConfig) -> CookieSecrets {
        CookieSecrets::from_config(server, || self.current)
    }
}

/// Who asked, and when: what a server cookie is made from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asker<'a> {
    /// The client's address.
    pub addr: IpAddr,
    /// The secrets in force.
    pub secrets: &'a CookieSecrets,
    /// Seconds since the Unix epoch, truncated to 32 bits (RFC 9018
    /// compares them with serial arithmetic); `None`: the clock, read only
    /// when a query carries a cookie, so other queries never pay for it.
    pub now: Option<u32>,
}

impl<'a> Asker<'a> {
    /// `addr` asking now.
    pub(crate) fn now(addr: IpAddr, secrets: &'a CookieSecrets) -> Asker<'a> {
        Asker {
            addr,
            secrets,
            now: None,
        }
    }
}

/// The clock as RFC 9018 timestamps count it (the XDP program's too:
/// userspace writes it into the program's `COOKIES` map every second).
pub(crate) fn unix_now() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as u32
}

/// What a query's COOKIE option makes of its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Judged {
    /// No cookie to echo (none sent, or no asker to make one for).
    None,
    /// A COOKIE option of a wrong length: FORMERR (RFC 7873 5.2.2).
    Malformed,
    /// A client cookie: the response carries `data` (client cookie and our
    /// server cookie) and the query's server cookie was `validity`.
    Echo {
        /// The option's data for the response.
        data: [u8; cookie::CLIENT_LEN + cookie::SERVER_LEN],
        /// What the query's server cookie was worth.
        validity: Validity,
        /// `require_cookies` was on.
        required: bool,
    },
}

impl Judged {
    /// Judges `option` from `asker`, counting the outcome. Without an
    /// asker (responses computed ahead, for the XDP maps) no cookie is made.
    pub(crate) fn new(option: &CookieOption, asker: Option<&Asker<'_>>, stats: &Stats) -> Judged {
        let cookie = match option {
            CookieOption::Absent => return Judged::None,
            CookieOption::Malformed => {
                Stats::bump(&stats.cookies_malformed);
                return Judged::Malformed;
            }
            CookieOption::Present(cookie) => cookie,
        };
        let Some(asker) = asker else {
            return Judged::None;
        };
        let addr = client_addr(asker.addr);
        let secrets = asker.secrets;
        let now = asker.now.unwrap_or_else(unix_now);
        let validity = cookie::validate(cookie, &addr, now, &secrets.current, secrets.previous.as_ref());
        Stats::bump(match validity {
            Validity::Missing => &stats.cookies_absent,
            Validity::Invalid => &stats.cookies_invalid,
            Validity::Fresh | Validity::Renew => &stats.cookies_valid,
        });
        let server = cookie::answer_cookie(cookie, validity, &addr, now, &secrets.current);
        Judged::Echo {
            data: cookie::response_data(&cookie.client, &server),
            validity,
            required: secrets.require,
        }
    }

    /// Bytes the cookie will add to the response: room to keep free.
    pub(crate) fn reserve(&self) -> usize {
        match self {
            Judged::Echo { .. } => cookie::RESPONSE_OPTION_LEN,
            Judged::None | Judged::Malformed => 0,
        }
    }

    /// Whether `require_cookies` turns this query away (over UDP): it has
    /// a client cookie but no valid server cookie.
    pub(crate) fn is_turned_away(&self) -> bool {
        matches!(self, Judged::Echo { validity, required: true, .. } if !validity.is_valid())
    }

    /// Adds the cookie to `response` when it has an OPT record.
    pub(crate) fn append(&self, response: &mut Vec<u8>) {
        if let Judged::Echo { data, .. } = self {
            append_option(response, edns_option::COOKIE, data);
        }
    }
}

/// The address as RFC 9018 hashes it: an IPv4-mapped IPv6 address (a v4
/// client on a dual-stack socket) as the IPv4 address it is.
fn client_addr(addr: IpAddr) -> ClientAddr {
    match addr {
        IpAddr::V4(v4) => ClientAddr::V4(v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ClientAddr::V4(v4.octets()),
            None => ClientAddr::V6(v6.octets()),
        },
    }
}

#[cfg(test)]
mod tests;

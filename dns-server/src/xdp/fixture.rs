//! The XDP program loaded (not attached) with a fixed zone and one of the
//! resolver's entries: what the packet-in/packet-out tests (`test_run.rs`)
//! and the `xdp_bench` example feed the frames of `cases.rs` to.
//!
//! This is the library's one public entry point for the bench: load a
//! [`Fixture`], then [`Fixture::run`] frames through it.

use std::{path::Path, sync::Arc};

use dns_wire::wire::{class, rtype};
use xdp_abi::{CONFIG_RECURSION, CONFIG_SERVICE_FILTER, XdpConfig};

use super::{FastPath, XdpError, feed, loader::TestRunOutput, sync};
use crate::{
    catalog::Catalog,
    name::Name,
    query::{CookieSecrets, Identity},
    resolver::{Resolution, cache::CachedRecord},
    zone::load,
};

/// The zone served: a short name (the apex), three-label ones, a CNAME (an
/// odd name length) and TXT records too big for a 512-byte client.
const ZONE: &str = "$ORIGIN example.com.\n$TTL 3600\n\
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
@ IN NS ns1\n\
@ IN A 192.0.2.1\n\
ns1 IN A 192.0.2.1\n\
www IN A 192.0.2.10\n\
www IN AAAA 2001:db8::10\n\
ftp IN CNAME www\n";

/// The name of the resolver's entry (no zone holds it).
pub const RESOLVED_NAME: &str = "www.resolved.test.";
/// Clients allowed to recurse: the fixture frames' sources (198.18.0.0/15).
const ALLOWED: (&str, u32) = ("198.18.0.0", 15);

/// The DNS cookie secret the fixture's program judges and makes cookies with.
pub const COOKIE_SECRET: [u8; 16] = *b"fixture cookies!";

/// The cookie settings the fixture's program has: [`COOKIE_SECRET`], no
/// rollover, cookies not required.
pub(crate) fn cookie_secrets() -> CookieSecrets {
    CookieSecrets {
        current: COOKIE_SECRET,
        previous: None,
        require: false,
    }
}

/// The program, configured for ports 53 and 5300 and our payload 1232,
/// filled from the fixture zone, with recursion on for clients in
/// 198.18.0.0/15 (the frames' sources), one
/// resolver entry for [`RESOLVED_NAME`], and DNS cookies made with
/// [`COOKIE_SECRET`].
pub struct Fixture {
    pub(crate) fast: FastPath,
    /// What the tests compare XDP's answers with.
    #[cfg(test)]
    pub(crate) catalog: Catalog,
    /// Responses precomputed from the zone and written to the map.
    responses: usize,
}

/// The server identity the fixture answers with.
pub(crate) fn identity() -> Identity {
    Identity {
        identity: "pop-test".into(),
        version: None,
        udp_payload: 1232,
    }
}

/// The fixture's catalog: [`ZONE`] plus three TXT records at `big`.
fn catalog() -> Result<Catalog, XdpError> {
    let origin = Name::parse("example.com.", None).map_err(|e| XdpError::Config(e.to_string()))?;
    let mut text = ZONE.to_string();
    for i in 0..3 {
        text.push_str(&format!("big IN TXT \"{}{}\"\n", i, "x".repeat(240)));
    }
    let zone =
        load::from_str(&origin, &text, Path::new("<fixture zone>")).map_err(|e| XdpError::Config(e.to_string()))?;
    Ok(Catalog::new([Arc::new(zone)], 1000))
}

/// The resolution the fixture's resolver entry answers with.
pub(crate) fn resolution() -> Result<(Name, Resolution), XdpError> {
    let name = Name::parse(RESOLVED_NAME, None).map_err(|e| XdpError::Config(e.to_string()))?;
    let record = CachedRecord {
        owner: name.clone(),
        rtype: rtype::A,
        class: class::IN,
        rdata: vec![192, 0, 2, 99],
    };
    let resolution = Resolution {
        answer: vec![(record, 300)],
        ..Resolution::default()
    };
    Ok((name, resolution))
}

impl Fixture {
    /// Loads this build's program (or `object`, another build sharing its
    /// map layouts) and fills it. Needs root (CAP_BPF).
    pub fn load(object: Option<&[u8]>) -> Result<Fixture, XdpError> {
        let fast = match object {
            Some(bytes) => FastPath::load_object(bytes, 1024, None)?,
            None => FastPath::load(1024, None)?,
        };
        {
            let mut maps = fast.maps.lock().unwrap_or_else(|e| e.into_inner());
            maps.set_config(XdpConfig {
                dns_port: 53,
                dns_port_alt: 5300,
                udp_limit: 1232,
                ..Default::default()
            })?;
            maps.set_cookies(&cookie_secrets())?;
        }
        let catalog = catalog()?;
        let entries = sync::precompute(&catalog, &identity());
        let filled = sync::install(&fast.maps, &entries)?;
        if filled.failed > 0 {
            return Err(XdpError::Config(format!(
                "the map refused {} of the fixture's {} responses",
                filled.failed,
                entries.len()
            )));
        }
        let fixture = Fixture {
            fast,
            #[cfg(test)]
            catalog,
            responses: entries.len(),
        };
        fixture.add_resolver_entry()?;
        Ok(fixture)
    }

    /// One of the resolver's entries, valid for an hour, for the [`ALLOWED`] clients.
    fn add_resolver_entry(&self) -> Result<(), XdpError> {
        let (name, resolution) = resolution()?;
        let hour = 3_600_000_000_000;
        let value = feed::value(
            &name,
            rtype::A,
            None,
            &resolution,
            &identity(),
            feed::monotonic_ns() + hour,
        )
        .ok_or_else(|| XdpError::Config("the fixture's resolver entry does not fit".into()))?;
        let mut maps = self.fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        let mut config = maps.config()?;
        config.flags |= CONFIG_RECURSION;
        maps.set_config(config)?;
        let (prefix, len) = ALLOWED;
        maps.allow_recursion(prefix.parse().expect("literal"), len)?;
        let key = sync::key(name.as_wire(), rtype::A, class::IN, 0);
        maps.live()?.insert(key, value.as_ref(), 0)?;
        Ok(())
    }

    /// Turns the service-address filter on (as `[xdp] service_addresses`
    /// does) with `addresses` as the service's: queries to others are not
    /// the program's, and queries from them are martians. Adds to those
    /// given before.
    pub fn serve_only(&self, addresses: &[std::net::IpAddr]) -> Result<(), XdpError> {
        let mut maps = self.fast.maps.lock().unwrap_or_else(|e| e.into_inner());
        let mut config = maps.config()?;
        config.flags |= CONFIG_SERVICE_FILTER;
        maps.set_config(config)?;
        for address in addresses {
            maps.add_service_address(*address)?;
        }
        Ok(())
    }

    /// Responses precomputed from the zone and written to the map.
    pub fn responses(&self) -> usize {
        self.responses
    }

    /// Runs the program `repeat` times on `frame` (see [`FastPath::test_run`]).
    pub fn run(&self, frame: &[u8], repeat: u32) -> Result<TestRunOutput, XdpError> {
        self.fast.test_run(frame, repeat)
    }

    /// The kernel's view of the program: size, run-time statistics.
    pub fn program_info(&mut self) -> Result<aya::programs::ProgramInfo, XdpError> {
        self.fast.program_info()
    }
}

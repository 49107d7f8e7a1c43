//! Who may transfer a zone out (address prefixes, TSIG keys, or both), and
//! which secondaries hear of its new versions.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use crate::{
    config::Config,
    name::Name,
    prefix::Prefix,
    tsig::{Key, KeyRing},
};

/// One zone's transfer settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    /// Addresses that may transfer it.
    pub allow: Vec<Prefix>,
    /// Keys (lower-cased names) a request must be signed with to transfer it.
    pub keys: Vec<Name>,
    /// Secondaries sent a NOTIFY for each new version.
    pub notify: Vec<SocketAddr>,
}

impl Policy {
    /// Whether the zone is transferred out at all: someone may transfer
    /// it, or is told of its versions.
    pub(crate) fn transfers_out(&self) -> bool {
        !(self.allow.is_empty() && self.keys.is_empty() && self.notify.is_empty())
    }

    /// Whether `client`, whose request was signed with `key` (if any), may
    /// transfer the zone: from an allowed prefix when prefixes are set, with
    /// a listed key when keys are set (both when both are), and never when
    /// neither is (the default).
    pub(crate) fn allows(&self, client: IpAddr, key: Option<&Key>) -> bool {
        if self.allow.is_empty() && self.keys.is_empty() {
            return false;
        }
        let address = self.allow.is_empty() || self.allow.iter().any(|p| p.contains(client));
        let signed = self.keys.is_empty() || key.is_some_and(|k| self.keys.contains(k.name()));
        address && signed
    }
}

/// Every zone's transfer settings, as the configuration gives them.
#[derive(Debug, Default)]
pub(crate) struct Policies {
    /// Zones that set their own, by lower-cased wire origin.
    zones: HashMap<Box<[u8]>, Policy>,
    /// `[server]`'s, for every other zone.
    default: Policy,
    /// The `[[tsig]]` keys, which requests are checked against.
    pub keys: Arc<KeyRing>,
    /// The key each NOTIFY target's messages are signed with.
    pub notify_keys: HashMap<SocketAddr, Arc<Key>>,
}

/// Key names as a policy holds them (names the configuration check accepted).
fn key_names(names: &[String]) -> Vec<Name> {
    let absolute = |n: &String| crate::cli::absolute_origin(n);
    names
        .iter()
        .filter_map(|n| Name::parse(&absolute(n), None).ok())
        .map(|n| n.to_lowercase())
        .collect()
}

impl Policies {
    /// The settings of `config`: a zone's own lists replace the server's.
    pub(crate) fn from_config(config: &Config) -> Policies {
        let server = &config.server;
        let default = Policy {
            allow: server.allow_transfer.clone(),
            keys: key_names(&server.allow_transfer_keys),
            notify: server.notify.clone(),
        };
        let mut zones = HashMap::new();
        for zone in &config.zones {
            if zone.allow_transfer.is_none() && zone.allow_transfer_keys.is_none() && zone.notify.is_none() {
                continue;
            }
            // Checked when the configuration was read.
            let Ok(origin) = Name::parse(&zone.origin, None) else {
                continue;
            };
            let policy = Policy {
                allow: zone.allow_transfer.clone().unwrap_or_else(|| default.allow.clone()),
                keys: zone
                    .allow_transfer_keys
                    .as_deref()
                    .map_or_else(|| default.keys.clone(), key_names),
                notify: zone.notify.clone().unwrap_or_else(|| default.notify.clone()),
            };
            zones.insert(origin.to_lowercase().as_wire().into(), policy);
        }
        let keys = Arc::new(config.key_ring());
        let notify_keys = server
            .notify_keys
            .iter()
            .filter_map(|(target, name)| keys.by_name(name).map(|k| (*target, k.clone())))
            .collect();
        Policies {
            zones,
            default,
            keys,
            notify_keys,
        }
    }

    /// The settings of the zone at `origin` (lower-cased wire name).
    pub(crate) fn zone(&self, origin: &[u8]) -> &Policy {
        self.zones.get(origin).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn wire(s: &str) -> Vec<u8> {
        Name::parse(s, None).expect("name").to_lowercase().as_wire().to_vec()
    }

    #[test]
    fn a_zone_list_replaces_the_server_list_and_the_default_is_nobody() {
        let text = "[server]\nallow_transfer = [\"10.0.0.0/8\"]\nnotify = [\"127.0.0.1:53\"]\n\
                    [[zone]]\norigin = \"own.test\"\nfile = \"own\"\nallow_transfer = [\"192.0.2.1\"]\n\
                    [[zone]]\norigin = \"plain.test\"\nfile = \"plain\"\n";
        let config = Config::parse(text, Path::new("c.toml")).expect("valid");
        let policies = Policies::from_config(&config);
        let own = policies.zone(&wire("OWN.test."));
        assert!(own.allows(ip("192.0.2.1"), None));
        assert!(
            !own.allows(ip("10.1.1.1"), None),
            "the zone's list replaces the server's"
        );
        let server_notify: SocketAddr = "127.0.0.1:53".parse().expect("addr");
        assert_eq!(own.notify, [server_notify], "notify not set: the server's");
        let plain = policies.zone(&wire("plain.test."));
        assert!(plain.allows(ip("10.1.1.1"), None));
        assert!(!plain.allows(ip("192.0.2.1"), None));

        let none = Policies::from_config(&Config::default());
        assert!(
            !none.zone(&wire("plain.test.")).allows(ip("127.0.0.1"), None),
            "no configuration: nobody, not even loopback"
        );
    }

    #[test]
    fn keys_alone_admit_any_address_and_with_prefixes_both_are_needed() {
        let keys = "[[tsig]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n\
                    [[tsig]]\nname = \"other\"\nalgorithm = \"hmac-sha256\"\nsecret = \"b3RoZXI=\"\n";
        let text = format!(
            "{keys}[[zone]]\norigin = \"keyed.test\"\nfile = \"k\"\nallow_transfer_keys = [\"XFR-key\"]\n\
             [[zone]]\norigin = \"both.test\"\nfile = \"b\"\nallow_transfer = [\"127.0.0.1\"]\nallow_transfer_keys = [\"xfr-key.\"]\n"
        );
        let config = Config::parse(&text, Path::new("c.toml")).expect("valid");
        let policies = Policies::from_config(&config);
        let (xfr, other) = (
            policies.keys.by_name("xfr-key").expect("configured").clone(),
            policies.keys.by_name("other").expect("configured").clone(),
        );
        let keyed = policies.zone(&wire("keyed.test."));
        assert!(keyed.allows(ip("192.0.2.99"), Some(&xfr)), "the key, from anywhere");
        assert!(
            !keyed.allows(ip("127.0.0.1"), None),
            "unsigned: refused, even from loopback"
        );
        assert!(!keyed.allows(ip("127.0.0.1"), Some(&other)), "another key: refused");
        let both = policies.zone(&wire("both.test."));
        assert!(both.allows(ip("127.0.0.1"), Some(&xfr)));
        assert!(!both.allows(ip("192.0.2.99"), Some(&xfr)), "the key from elsewhere");
        assert!(!both.allows(ip("127.0.0.1"), None), "the address without the key");

        let unknown = format!("{keys}[[zone]]\norigin = \"x.test\"\nfile = \"x\"\nallow_transfer_keys = [\"nope\"]\n");
        let e = Config::parse(&unknown, Path::new("c.toml")).expect_err("a key that is not configured");
        assert!(e.message.contains("nope"), "{e}");
    }
}

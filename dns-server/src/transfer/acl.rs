//! Who may transfer a zone out, and which secondaries hear of its new versions.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
};

use crate::{config::Config, name::Name, prefix::Prefix};

/// One zone's transfer settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Clients that may transfer it; empty: nobody (REFUSED).
    pub allow: Vec<Prefix>,
    /// Secondaries sent a NOTIFY for each new version.
    pub notify: Vec<SocketAddr>,
}

impl Policy {
    /// Whether `client` may transfer the zone.
    pub(crate) fn allows(&self, client: IpAddr) -> bool {
        self.allow.iter().any(|p| p.contains(client))
    }
}

/// Every zone's transfer settings, as the configuration gives them.
#[derive(Debug, Default)]
pub(crate) struct Policies {
    /// Zones that set their own, by lower-cased wire origin.
    zones: HashMap<Box<[u8]>, Policy>,
    /// `[server]`'s, for every other zone.
    default: Policy,
}

impl Policies {
    /// The settings of `config`: a zone's own lists replace the server's.
    pub(crate) fn from_config(config: &Config) -> Policies {
        let default = Policy {
            allow: config.server.allow_transfer.clone(),
            notify: config.server.notify.clone(),
        };
        let mut zones = HashMap::new();
        for zone in &config.zones {
            if zone.allow_transfer.is_none() && zone.notify.is_none() {
                continue;
            }
            // Checked when the configuration was read.
            let Ok(origin) = Name::parse(&zone.origin, None) else {
                continue;
            };
            let policy = Policy {
                allow: zone.allow_transfer.clone().unwrap_or_else(|| default.allow.clone()),
                notify: zone.notify.clone().unwrap_or_else(|| default.notify.clone()),
            };
            zones.insert(origin.to_lowercase().as_wire().into(), policy);
        }
        Policies { zones, default }
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

    #[test]
    fn a_zone_list_replaces_the_server_list_and_the_default_is_nobody() {
        let text = "[server]\nallow_transfer = [\"10.0.0.0/8\"]\nnotify = [\"127.0.0.1:53\"]\n\
                    [[zone]]\norigin = \"own.test\"\nfile = \"own\"\nallow_transfer = [\"192.0.2.1\"]\n\
                    [[zone]]\norigin = \"plain.test\"\nfile = \"plain\"\n";
        let config = Config::parse(text, Path::new("c.toml")).expect("valid");
        let policies = Policies::from_config(&config);
        let wire = |s: &str| Name::parse(s, None).expect("name").to_lowercase().as_wire().to_vec();
        let own = policies.zone(&wire("OWN.test."));
        assert!(own.allows("192.0.2.1".parse().expect("ip")));
        assert!(
            !own.allows("10.1.1.1".parse().expect("ip")),
            "the zone's list replaces the server's"
        );
        assert_eq!(
            own.notify,
            ["127.0.0.1:53".parse().expect("addr")],
            "notify not set: the server's"
        );
        let plain = policies.zone(&wire("plain.test."));
        assert!(plain.allows("10.1.1.1".parse().expect("ip")));
        assert!(!plain.allows("192.0.2.1".parse().expect("ip")));

        let none = Policies::from_config(&Config::default());
        assert!(
            !none.zone(&wire("plain.test.")).allows("127.0.0.1".parse().expect("ip")),
            "no configuration: nobody, not even loopback"
        );
    }
}

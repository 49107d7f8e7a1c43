//! Typed handles on the program's maps.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, LpmTrie, Map, MapData, PerCpuArray, XskMap, lpm_trie::Key},
};
use xdp_abi::{COOKIE_ENABLED, COOKIE_PREVIOUS, COOKIE_REQUIRE, CacheKey, CacheValue, CookieConfig, XdpConfig, names};

use super::XdpError;
use crate::query::CookieSecrets;

/// Maps pinned for other processes (`dns-server stats`, `dns-server deny`, `bpftool`).
pub const PINNED: [&str; 4] = [names::STATS, names::DENY_V4, names::DENY_V6, names::DENY_SIZE];

/// The maps userspace writes or reads.
pub struct Maps {
    /// Response maps A and B; `config.active` says which is live.
    pub cache: [HashMap<MapData, CacheKey, CacheValue>; 2],
    /// IPv4 clients allowed to recurse: whom the resolver's entries answer.
    pub allow_v4: LpmTrie<MapData, [u8; 4], u8>,
    /// IPv6 clients allowed to recurse.
    pub allow_v6: LpmTrie<MapData, [u8; 16], u8>,
    /// The settings array.
    pub config: Array<MapData, XdpConfig>,
    /// Counters by [`xdp_abi::Stat`].
    pub stats: PerCpuArray<MapData, u64>,
    /// IPv4 deny list.
    pub deny_v4: LpmTrie<MapData, [u8; 4], u8>,
    /// IPv6 deny list.
    pub deny_v6: LpmTrie<MapData, [u8; 16], u8>,
    /// Entries of each deny list (the program skips an empty one).
    pub deny_size: Array<MapData, u32>,
    /// IPv4 service addresses.
    pub service_v4: HashMap<MapData, [u8; 4], u8>,
    /// IPv6 service addresses.
    pub service_v6: HashMap<MapData, [u8; 16], u8>,
    /// DNS cookie secrets and clock; `None` for an older build of the
    /// program without them (a bench comparing builds), which passes every
    /// query with a cookie to userspace.
    pub cookies: Option<Array<MapData, CookieConfig>>,
    /// AF_XDP sockets by slot; `None` for an older build without them.
    pub xsks: Option<XskMap<MapData>>,
    /// Each interface's first slot in `xsks`, by ifindex.
    pub xsk_ifaces: Option<HashMap<MapData, u32, u32>>,
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, XdpError> {
    ebpf.take_map(name).ok_or(XdpError::MissingMap(name))
}

/// Pins [`PINNED`] under `dir`, mounting bpffs on /sys/fs/bpf when it is not.
pub fn pin(ebpf: &Ebpf, dir: &Path) -> Result<(), XdpError> {
    let err = |reason: String| XdpError::Pin {
        path: dir.display().to_string(),
        reason,
    };
    mount_bpffs().map_err(err)?;
    // Leftovers of a server that did not exit cleanly.
    unpin(dir);
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    for name in PINNED {
        let map = ebpf.map(name).ok_or(XdpError::MissingMap(name))?;
        map.pin(dir.join(name)).map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default();
            err(format!("{name}: {e}: {cause}"))
        })?;
    }
    Ok(())
}

impl Maps {
    /// Takes the maps out of a loaded object.
    pub fn take(ebpf: &mut Ebpf) -> Result<Maps, XdpError> {
        Ok(Maps {
            cache: [
                HashMap::try_from(take(ebpf, names::CACHE_A)?)?,
                HashMap::try_from(take(ebpf, names::CACHE_B)?)?,
            ],
            allow_v4: LpmTrie::try_from(take(ebpf, names::ALLOW_V4)?)?,
            allow_v6: LpmTrie::try_from(take(ebpf, names::ALLOW_V6)?)?,
            config: Array::try_from(take(ebpf, names::CONFIG)?)?,
            stats: PerCpuArray::try_from(take(ebpf, names::STATS)?)?,
            deny_v4: LpmTrie::try_from(take(ebpf, names::DENY_V4)?)?,
            deny_v6: LpmTrie::try_from(take(ebpf, names::DENY_V6)?)?,
            deny_size: Array::try_from(take(ebpf, names::DENY_SIZE)?)?,
            service_v4: HashMap::try_from(take(ebpf, names::SERVICE_V4)?)?,
            service_v6: HashMap::try_from(take(ebpf, names::SERVICE_V6)?)?,
            cookies: match ebpf.take_map(names::COOKIES) {
                Some(map) => Some(Array::try_from(map)?),
                None => None,
            },
            xsks: match ebpf.take_map(names::XSKS) {
                Some(map) => Some(XskMap::try_from(map)?),
                None => None,
            },
            xsk_ifaces: match ebpf.take_map(names::XSK_IFACES) {
                Some(map) => Some(HashMap::try_from(map)?),
                None => None,
            },
        })
    }

    /// The live response map.
    pub fn live(&mut self) -> Result<&mut HashMap<MapData, CacheKey, CacheValue>, XdpError> {
        let active = self.config()?.active as usize & 1;
        Ok(&mut self.cache[active])
    }

    /// The current settings.
    pub fn config(&self) -> Result<XdpConfig, XdpError> {
        Ok(self.config.get(&0, 0)?)
    }

    /// Replaces the settings.
    pub fn set_config(&mut self, config: XdpConfig) -> Result<(), XdpError> {
        Ok(self.config.set(0, config, 0)?)
    }

    /// Makes the program answer queries with a COOKIE option itself, with
    /// the secrets and policy userspace uses (so the two agree on every
    /// cookie), dated by the clock as of now.
    pub(crate) fn set_cookies(&mut self, secrets: &CookieSecrets) -> Result<(), XdpError> {
        let Some(cookies) = &mut self.cookies else {
            return Ok(());
        };
        let mut flags = COOKIE_ENABLED;
        if secrets.previous.is_some() {
            flags |= COOKIE_PREVIOUS;
        }
        if secrets.require {
            flags |= COOKIE_REQUIRE;
        }
        let config = CookieConfig {
            flags,
            now: crate::query::cookies::unix_now(),
            current: secrets.current,
            previous: secrets.previous.unwrap_or_default(),
        };
        Ok(cookies.set(0, config, 0)?)
    }

    /// Writes the wall clock's second, what the program dates cookies
    /// with (`CookieConfig::now`); called as each second begins. A no-op
    /// while cookies are off in the program.
    pub fn refresh_cookie_clock(&mut self) -> Result<(), XdpError> {
        let Some(cookies) = &mut self.cookies else {
            return Ok(());
        };
        let mut config = cookies.get(&0, 0)?;
        if config.flags & COOKIE_ENABLED == 0 {
            return Ok(());
        }
        config.now = crate::query::cookies::unix_now();
        Ok(cookies.set(0, config, 0)?)
    }

    /// Drops DNS traffic from `addr/prefix_len` from now on.
    pub fn deny(&mut self, addr: IpAddr, prefix_len: u32) -> Result<(), XdpError> {
        match addr {
            IpAddr::V4(a) => self.deny_v4.insert(&Key::new(prefix_len, a.octets()), 1, 0)?,
            IpAddr::V6(a) => self.deny_v6.insert(&Key::new(prefix_len, a.octets()), 1, 0)?,
        }
        self.count_deny()
    }

    /// Lifts a deny entry.
    pub fn allow(&mut self, addr: IpAddr, prefix_len: u32) -> Result<(), XdpError> {
        match addr {
            IpAddr::V4(a) => self.deny_v4.remove(&Key::new(prefix_len, a.octets()))?,
            IpAddr::V6(a) => self.deny_v6.remove(&Key::new(prefix_len, a.octets()))?,
        }
        self.count_deny()
    }

    /// Every deny-list prefix, IPv4 first.
    pub fn denied(&self) -> Vec<(IpAddr, u32)> {
        let v4 = self.deny_v4.keys().filter_map(Result::ok);
        let v6 = self.deny_v6.keys().filter_map(Result::ok);
        v4.map(|k| (IpAddr::from(k.data()), k.prefix_len()))
            .chain(v6.map(|k| (IpAddr::from(k.data()), k.prefix_len())))
            .collect()
    }

    fn count_deny(&mut self) -> Result<(), XdpError> {
        let v4 = self.deny_v4.keys().filter(Result::is_ok).count();
        let v6 = self.deny_v6.keys().filter(Result::is_ok).count();
        self.deny_size.set(0, v4 as u32, 0)?;
        Ok(self.deny_size.set(1, v6 as u32, 0)?)
    }

    /// Lets clients in `addr/prefix_len` get the resolver's answers from XDP.
    pub fn allow_recursion(&mut self, addr: IpAddr, prefix_len: u32) -> Result<(), XdpError> {
        match addr {
            IpAddr::V4(a) => self.allow_v4.insert(&Key::new(prefix_len, a.octets()), 1, 0)?,
            IpAddr::V6(a) => self.allow_v6.insert(&Key::new(prefix_len, a.octets()), 1, 0)?,
        }
        Ok(())
    }

    /// Adds a service address (effective when the service filter is on).
    pub fn add_service_address(&mut self, addr: IpAddr) -> Result<(), XdpError> {
        // The hint first: the program looks up only addresses whose hint
        // bit is set (a destination it holds is ours, a source a martian).
        let mut config = self.config()?;
        config.hint_service(addr);
        self.set_config(config)?;
        match addr {
            IpAddr::V4(a) => self.service_v4.insert(a.octets(), 1, 0)?,
            IpAddr::V6(a) => self.service_v6.insert(a.octets(), 1, 0)?,
        }
        Ok(())
    }
}

/// Removes the pins (and the directory when it is left empty).
pub fn unpin(dir: &Path) {
    for name in PINNED {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = std::fs::remove_dir(dir);
}

/// The default pin directory.
pub fn default_pin_dir() -> PathBuf {
    PathBuf::from("/sys/fs/bpf/dns-server")
}

fn mount_bpffs() -> Result<(), String> {
    let mounts = std::fs::read_to_string("/proc/mounts").map_err(|e| e.to_string())?;
    if mounts.lines().any(|l| l.split(' ').nth(2) == Some("bpf")) {
        return Ok(());
    }
    let status = std::process::Command::new("mount")
        .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
        .status()
        .map_err(|e| format!("running mount: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("mount -t bpf bpf /sys/fs/bpf failed: {status}"))
    }
}

/// Adds or removes one prefix in an LPM trie of `N`-byte addresses; returns its entry count.
fn update_trie<const N: usize>(
    data: MapData,
    octets: [u8; N],
    prefix_len: u32,
    remove: bool,
) -> Result<usize, XdpError> {
    let mut trie: LpmTrie<MapData, [u8; N], u8> = LpmTrie::try_from(Map::LpmTrie(data))?;
    let key = Key::new(prefix_len, octets);
    if remove {
        trie.remove(&key)?
    } else {
        trie.insert(&key, 1, 0)?
    }
    Ok(trie.keys().filter(Result::is_ok).count())
}

/// Adds (or with `remove`, lifts) a deny-list prefix in a running server's pinned maps.
/// The program skips an empty list, so the list's size is written after the change.
pub fn update_pinned_deny(dir: &Path, addr: IpAddr, prefix_len: u32, remove: bool) -> Result<(), XdpError> {
    let open = |name: &str| {
        let path = dir.join(name);
        MapData::from_pin(&path).map_err(|e| XdpError::Pin {
            path: path.display().to_string(),
            reason: format!("{e} (is the server running with XDP?)"),
        })
    };
    let data = open(if addr.is_ipv4() { names::DENY_V4 } else { names::DENY_V6 })?;
    let mut sizes: Array<MapData, u32> = Array::try_from(Map::Array(open(names::DENY_SIZE)?))?;
    let size = match addr {
        IpAddr::V4(a) => update_trie(data, a.octets(), prefix_len, remove)?,
        IpAddr::V6(a) => update_trie(data, a.octets(), prefix_len, remove)?,
    };
    Ok(sizes.set(u32::from(addr.is_ipv6()), size as u32, 0)?)
}

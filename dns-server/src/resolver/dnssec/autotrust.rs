//! RFC 5011 trust anchor tracking (`[resolver] auto_trust_anchor_file`, as
//! Unbound's `auto-trust-anchor-file`): the KSKs an anchored zone publishes
//! in DNSKEY sets that validate are tracked; a new one is trusted after the
//! add hold-down (30 days) of being seen, a revoked one (REVOKE bit set,
//! self-signed) is never trusted again, and one that disappears stays
//! trusted (Missing) until it is revoked. The state is kept in a file,
//! written atomically (a temporary file renamed over it), so a restart
//! resumes from it rather than from the configured anchor. Every anchored
//! zone is tracked, each in a file of its own ([`state_path`]), and each
//! is fetched again on the timer of RFC 5011 2.3 ([`super::refresh`]).

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::Mutex,
};

use data_encoding::{BASE64, HEXUPPER};

use super::{anchor::Anchor, verify};
use crate::name::Name;

/// RFC 5011 2.4.1: a new key is trusted after being seen this long.
pub(crate) const ADD_HOLD_DOWN_SECS: u64 = 30 * 86_400;

/// DNSKEY flags (RFC 5011 3, RFC 4034 2.1.1).
const REVOKE: u16 = 0x0080;
const SEP: u16 = 0x0001;

/// A tracked key's state (RFC 5011 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Seen first at this Unix time; trusted after the hold-down.
    AddPend(u64),
    /// Trusted.
    Valid,
    /// Trusted, but no longer published.
    Missing,
    /// Revoked by its holder: never trusted again.
    Revoked,
}

/// One tracked KSK: its DNSKEY RDATA with the REVOKE bit clear.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    rdata: Vec<u8>,
    state: State,
}

/// The tracked state of one zone.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tracked {
    /// DS records of the configured anchor, until a key they name is seen.
    ds: Vec<Vec<u8>>,
    keys: Vec<Key>,
}

/// RFC 5011 tracking of one anchored zone, and its state file.
#[derive(Debug)]
pub(crate) struct AutoTrust {
    zone: Name,
    path: PathBuf,
    hold_down: u64,
    tracked: Mutex<Tracked>,
}

fn flags(rdata: &[u8]) -> u16 {
    rdata.get(..2).map_or(0, |f| u16::from_be_bytes([f[0], f[1]]))
}

/// The RDATA with the REVOKE bit clear: the key's identity across revocation.
fn unrevoked(rdata: &[u8]) -> Vec<u8> {
    let mut out = rdata.to_vec();
    if out.len() >= 2 {
        out[1] &= !(REVOKE as u8);
    }
    out
}

/// Where `zone`'s state is kept, given the configured state file: that
/// file for the zone that `owns` it (the root, or the first anchored zone
/// when the root has no anchor), else beside it with the zone's name
/// appended (`root.key.example.com`): one zone per file, so the root's
/// file keeps its format.
pub(crate) fn state_path(configured: &Path, zone: &Name, owns: bool) -> PathBuf {
    if owns {
        return configured.to_path_buf();
    }
    let file = configured.file_name().map(|f| f.to_string_lossy()).unwrap_or_default();
    let zone = zone.to_string();
    configured.with_file_name(format!("{file}.{}", zone.trim_end_matches('.')))
}

impl AutoTrust {
    /// Tracks `anchor`'s zone with the state in `path`: read from it when
    /// it exists, else started from the anchor (its keys trusted, its DS
    /// kept until the keys they name are seen) and written.
    pub(crate) fn open(path: &Path, anchor: &Anchor, hold_down: u64) -> Result<AutoTrust, String> {
        let tracked = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tracked {
                ds: anchor.ds.clone(),
                keys: anchor
                    .keys
                    .iter()
                    .map(|k| Key {
                        rdata: unrevoked(k),
                        state: State::Valid,
                    })
                    .collect(),
            },
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let auto = AutoTrust {
            zone: anchor.zone.clone(),
            path: path.to_path_buf(),
            hold_down,
            tracked: Mutex::new(tracked),
        };
        auto.save(&auto.tracked.lock().unwrap_or_else(|e| e.into_inner()))?;
        Ok(auto)
    }

    /// The zone tracked, lower case.
    pub(crate) fn zone(&self) -> &Name {
        &self.zone
    }

    /// What is trusted now: the DS records not yet resolved to a key, and
    /// the Valid and Missing keys.
    pub(crate) fn trusted(&self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
        let keys = tracked
            .keys
            .iter()
            .filter(|k| matches!(k.state, State::Valid | State::Missing))
            .map(|k| k.rdata.clone())
            .collect();
        (tracked.ds.clone(), keys)
    }

    /// Updates the state from `dnskeys`, a DNSKEY RRset of the zone just
    /// validated with a trusted key, at Unix time `now`; `self_signed`
    /// says whether a (revoked) key signs the set itself. Writes the file
    /// when anything changed.
    pub(crate) fn update(&self, dnskeys: &[Vec<u8>], now: u64, self_signed: impl Fn(&[u8]) -> bool) {
        let mut tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
        let before = tracked.keys.clone();
        let ds_before = tracked.ds.len();
        let ksks: Vec<&Vec<u8>> = dnskeys.iter().filter(|k| flags(k) & SEP != 0).collect();
        for published in &ksks {
            let id = unrevoked(published);
            let revoked = flags(published) & REVOKE != 0 && self_signed(published);
            let at = tracked.keys.iter().position(|k| k.rdata == id);
            // A key the configured DS names is the anchor itself: trusted at once.
            let seeded = tracked.ds.iter().any(|ds| verify::ds_matches(&self.zone, ds, &id));
            match (at, revoked) {
                (Some(at), true) => tracked.keys[at].state = State::Revoked,
                (None, true) => tracked.keys.push(Key {
                    rdata: id,
                    state: State::Revoked,
                }),
                (Some(at), false) => {
                    let key = &mut tracked.keys[at];
                    key.state = match key.state {
                        State::AddPend(since) if now.saturating_sub(since) >= self.hold_down => State::Valid,
                        State::Missing => State::Valid,
                        state => state,
                    };
                }
                (None, false) if seeded => tracked.keys.push(Key {
                    rdata: id,
                    state: State::Valid,
                }),
                // A revoke bit without the key's own signature is ignored (RFC 5011 2.1).
                (None, false) if flags(published) & REVOKE != 0 => {}
                (None, false) => tracked.keys.push(Key {
                    rdata: id,
                    state: State::AddPend(now),
                }),
            }
        }
        // Keys no longer published: a pending one is forgotten, a trusted one goes missing.
        let ids: Vec<Vec<u8>> = ksks.iter().map(|k| unrevoked(k)).collect();
        tracked
            .keys
            .retain(|k| ids.contains(&k.rdata) || !matches!(k.state, State::AddPend(_)));
        for key in tracked.keys.iter_mut().filter(|k| !ids.contains(&k.rdata)) {
            if key.state == State::Valid {
                key.state = State::Missing;
            }
        }
        // The DS have done their work once a key they name is tracked.
        let zone = self.zone.clone();
        let keys = tracked.keys.clone();
        tracked
            .ds
            .retain(|ds| !keys.iter().any(|k| verify::ds_matches(&zone, ds, &k.rdata)));
        if tracked.keys != before || tracked.ds.len() != ds_before {
            for key in &tracked.keys {
                tracing::info!(zone = %self.zone, tag = verify::key_tag(&key.rdata), state = ?key.state, "RFC 5011 key state");
            }
            if let Err(e) = self.save(&tracked) {
                tracing::warn!(error = %e, "writing the RFC 5011 state file");
            }
        }
    }

    /// Writes the state to a temporary file beside the state file, then
    /// renames it over: a crash leaves the old state or the new, never half.
    fn save(&self, tracked: &Tracked) -> Result<(), String> {
        let text = render(&self.zone, tracked);
        let file = self.path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default();
        let temporary = self.path.with_file_name(format!(".{file}.new"));
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// The text of `zone`'s state file, as [`parse`] reads it.
fn render(zone: &Name, tracked: &Tracked) -> String {
    let mut text = format!(
        "; RFC 5011 trust anchor state of {zone}, written by dns-server: STATE KEY (flags protocol algorithm key)\n"
    );
    for ds in &tracked.ds {
        let _ = writeln!(text, "ds {}", HEXUPPER.encode(ds));
    }
    for key in &tracked.keys {
        let state = match key.state {
            State::AddPend(since) => format!("addpend:{since}"),
            State::Valid => "valid".into(),
            State::Missing => "missing".into(),
            State::Revoked => "revoked".into(),
        };
        let _ = writeln!(text, "{state} {}", BASE64.encode(&key.rdata));
    }
    text
}

/// A state file's text read, written again and read back (the fuzz target
/// `autotrust`): `None` when it does not read; panics when what was written
/// reads back otherwise.
pub(crate) fn reread(text: &str) -> Option<usize> {
    let tracked = parse(text).ok()?;
    let written = render(&Name::root(), &tracked);
    let again = parse(&written).unwrap_or_else(|e| panic!("the state we wrote does not read: {e}\n{written}"));
    assert_eq!(again, tracked, "the state we wrote reads back otherwise:\n{written}");
    Some(tracked.ds.len() + tracked.keys.len())
}

/// Reads a state file [`AutoTrust::save`] wrote.
fn parse(text: &str) -> Result<Tracked, String> {
    let mut tracked = Tracked::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let bad = || format!("line {}: expected `STATE DATA`, got {line:?}", n + 1);
        let (state, data) = line.split_once(' ').ok_or_else(bad)?;
        if state == "ds" {
            tracked
                .ds
                .push(HEXUPPER.decode(data.trim().as_bytes()).map_err(|_| bad())?);
            continue;
        }
        let state = match state.split_once(':') {
            Some(("addpend", since)) => State::AddPend(since.parse().map_err(|_| bad())?),
            None if state == "valid" => State::Valid,
            None if state == "missing" => State::Missing,
            None if state == "revoked" => State::Revoked,
            _ => return Err(bad()),
        };
        let rdata = BASE64.decode(data.trim().as_bytes()).map_err(|_| bad())?;
        tracked.keys.push(Key { rdata, state });
    }
    Ok(tracked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A KSK's RDATA: flags 257, protocol 3, algorithm 13, the key `byte` repeated.
    fn ksk(byte: u8) -> Vec<u8> {
        let mut rdata = vec![1, 1, 3, 13];
        rdata.extend([byte; 64]);
        rdata
    }

    fn revoked(rdata: &[u8]) -> Vec<u8> {
        let mut out = rdata.to_vec();
        out[1] |= REVOKE as u8;
        out
    }

    fn tracker(dir: &Path, keys: Vec<Vec<u8>>, hold_down: u64) -> AutoTrust {
        let anchor = Anchor {
            zone: Name::root(),
            ds: Vec::new(),
            keys,
        };
        AutoTrust::open(&dir.join("root.key"), &anchor, hold_down).expect("opens")
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("autotrust-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn a_new_key_is_trusted_after_the_hold_down_and_kept_across_restarts() {
        let dir = temp_dir("add");
        let (old, new) = (ksk(1), ksk(2));
        let auto = tracker(&dir, vec![old.clone()], 100);
        assert_eq!(auto.trusted().1, vec![old.clone()]);
        let both = [old.clone(), new.clone()];
        auto.update(&both, 1000, |_| false);
        assert_eq!(auto.trusted().1, vec![old.clone()], "pending, not yet trusted");
        auto.update(&both, 1099, |_| false);
        assert_eq!(auto.trusted().1, vec![old.clone()], "still in the hold-down");
        auto.update(&both, 1100, |_| false);
        assert_eq!(auto.trusted().1, vec![old.clone(), new.clone()], "trusted after it");
        // The old key withdrawn: still trusted (Missing), and so after a restart.
        auto.update(std::slice::from_ref(&new), 1200, |_| false);
        assert_eq!(auto.trusted().1.len(), 2);
        let again = tracker(&dir, vec![ksk(9)], 100);
        assert_eq!(
            again.trusted().1,
            vec![old, new],
            "the state file, not the configured anchor"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pending_key_withdrawn_starts_over() {
        let dir = temp_dir("pending");
        let (old, new) = (ksk(1), ksk(2));
        let auto = tracker(&dir, vec![old.clone()], 100);
        auto.update(&[old.clone(), new.clone()], 1000, |_| false);
        auto.update(std::slice::from_ref(&old), 1050, |_| false);
        auto.update(&[old.clone(), new.clone()], 1100, |_| false);
        assert_eq!(
            auto.trusted().1,
            vec![old.clone()],
            "seen again at 1100: a new hold-down"
        );
        auto.update(&[old.clone(), new.clone()], 1200, |_| false);
        assert_eq!(auto.trusted().1, vec![old, new]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_self_signed_revocation_is_final_and_an_unsigned_one_ignored() {
        let dir = temp_dir("revoke");
        let (old, new) = (ksk(1), ksk(2));
        let auto = tracker(&dir, vec![old.clone(), new.clone()], 100);
        // A revoke bit the key did not sign: ignored.
        auto.update(&[revoked(&old), new.clone()], 1000, |_| false);
        assert_eq!(auto.trusted().1, vec![old.clone(), new.clone()]);
        // Signed by the revoked key itself: revoked, and it stays so.
        auto.update(&[revoked(&old), new.clone()], 1001, |k| k == revoked(&old));
        assert_eq!(auto.trusted().1, vec![new.clone()]);
        auto.update(&[old, new.clone()], 1002, |_| false);
        assert_eq!(auto.trusted().1, vec![new], "a revoked key never comes back");
        let text = std::fs::read_to_string(dir.join("root.key")).expect("state file");
        assert!(text.contains("\nrevoked "), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_anchored_zone_has_a_state_file_of_its_own() {
        let dir = temp_dir("zones");
        let configured = dir.join("root.key");
        let example = Name::parse("Example.COM.", None).expect("name");
        assert_eq!(state_path(&configured, &Name::root(), true), configured);
        let beside = state_path(&configured, &example.to_lowercase(), false);
        assert_eq!(beside, dir.join("root.key.example.com"));
        assert_eq!(
            state_path(&configured, &example, true),
            configured,
            "no root anchor: the first zone's state in the configured file"
        );
        // A zone below the root tracked as the root is: its own keys, its own file.
        let anchor = Anchor {
            zone: example.to_lowercase(),
            ds: Vec::new(),
            keys: vec![ksk(1)],
        };
        let auto = AutoTrust::open(&beside, &anchor, 10).expect("opens");
        auto.update(&[ksk(1), ksk(2)], 100, |_| false);
        auto.update(&[ksk(1), ksk(2)], 110, |_| false);
        assert_eq!(auto.trusted().1, vec![ksk(1), ksk(2)]);
        let text = std::fs::read_to_string(&beside).expect("state file");
        assert!(text.contains("state of example.com."), "{text}");
        assert!(!configured.exists(), "the root's file is not touched");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn zsks_are_not_tracked_and_a_bad_state_file_is_refused() {
        let dir = temp_dir("zsk");
        let old = ksk(1);
        let auto = tracker(&dir, vec![old.clone()], 0);
        let mut zsk = ksk(3);
        zsk[1] = 0;
        auto.update(&[old.clone(), zsk], 1000, |_| false);
        assert_eq!(auto.trusted().1, vec![old]);
        assert!(parse("valid not-base64!\n").is_err());
        assert!(parse("maybe AAAA\n").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! BIRD 2: an include file, replaced atomically, that BIRD's export filter reads; then `birdc configure`.
//!
//! The file defines `ANYCAST_STATE` (0 withdraw, 1 announce, 2 drain), one
//! static protocol per address family holding the prefixes (`anycast4`,
//! `anycast6`), and `anycast_attributes()`, which sets the communities, MED,
//! prepends and next hop of the current state. BIRD's configuration includes
//! it and exports through a filter such as:
//!
//! ```text
//! filter anycast_export {
//!   if proto !~ "anycast*" then reject;
//!   if ANYCAST_STATE = 0 then reject;
//!   anycast_attributes();
//!   accept;
//! }
//! ```
//!
//! Unlike `birdc disable`, the state survives `configure` and BIRD restarts.

use std::{fmt::Write as _, time::Duration};

use tokio::process::Command;

use super::{
    config::{Attributes, BirdConfig, Prefix, SidecarConfig},
    speaker::SpeakerError,
    state::Announcement,
    state_file::write_atomically,
};

/// How long `birdc configure` may take before it counts as failed.
const BIRDC_TIMEOUT: Duration = Duration::from_secs(10);

/// The BIRD speaker.
#[derive(Debug)]
pub(crate) struct Bird {
    config: BirdConfig,
    prefixes: Vec<Prefix>,
    up: Attributes,
    drained: Attributes,
}

impl Bird {
    /// A speaker for `bird`'s socket and include file.
    pub(crate) fn new(sidecar: &SidecarConfig, bird: &BirdConfig) -> Bird {
        Bird {
            config: bird.clone(),
            prefixes: sidecar.prefixes.clone(),
            up: sidecar.announce.clone(),
            drained: sidecar.drained_attributes(),
        }
    }

    /// Writes the include for `announcement` and reconfigures BIRD; on failure
    /// puts the previous file back, so file and running BIRD agree.
    pub(crate) async fn apply(&mut self, announcement: Announcement) -> Result<(), SpeakerError> {
        let text = self.include(announcement);
        let path = &self.config.include_file;
        let previous = std::fs::read(path).ok();
        write_atomically(path, text.as_bytes()).map_err(|source| SpeakerError::Write {
            path: path.clone(),
            source,
        })?;
        if let Err(e) = self.configure().await {
            if let Some(previous) = previous {
                let _ = write_atomically(path, &previous);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Rewrites and reconfigures when the include file is not what `announcement` needs.
    pub(crate) async fn reconcile(&mut self, announcement: Announcement) -> Result<bool, SpeakerError> {
        let want = self.include(announcement);
        let have = std::fs::read_to_string(&self.config.include_file).unwrap_or_default();
        if have == want {
            return Ok(false);
        }
        self.apply(announcement).await.map(|()| true)
    }

    /// Withdraws. The withdrawn file is written and kept even when BIRD is not
    /// running (no socket, or nothing listening on it): BIRD reads it when it starts.
    pub(crate) async fn withdraw_all(&mut self) -> Result<(), SpeakerError> {
        let path = &self.config.include_file;
        let text = self.include(Announcement::Withdraw);
        write_atomically(path, text.as_bytes()).map_err(|source| SpeakerError::Write {
            path: path.clone(),
            source,
        })?;
        match self.configure().await {
            Err(SpeakerError::Configure { output, .. }) if output.contains("Unable to connect") => {
                tracing::info!(socket = %self.config.socket.display(), "BIRD is not running; it will start withdrawn");
                Ok(())
            }
            other => other,
        }
    }

    /// Runs `birdc -s SOCKET configure` and checks both its exit status and its output.
    async fn configure(&self) -> Result<(), SpeakerError> {
        let mut command = Command::new(&self.config.birdc);
        command
            .arg("-s")
            .arg(&self.config.socket)
            .arg("configure")
            .kill_on_drop(true);
        let output = tokio::time::timeout(BIRDC_TIMEOUT, command.output())
            .await
            .map_err(|_| SpeakerError::Configure {
                status: "timeout".into(),
                output: format!("no answer within {} s", BIRDC_TIMEOUT.as_secs()),
            })?
            .map_err(SpeakerError::Birdc)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() && configure_succeeded(&text) {
            Ok(())
        } else {
            Err(SpeakerError::Configure {
                status: output.status.to_string(),
                output: text.trim().replace('\n', " | "),
            })
        }
    }

    /// The include file for `announcement`.
    pub(crate) fn include(&self, announcement: Announcement) -> String {
        let (state, attributes) = match announcement {
            Announcement::Withdraw => (0, &self.up),
            Announcement::Announce => (1, &self.up),
            Announcement::Drain => (2, &self.drained),
        };
        render(state, &self.prefixes, attributes, self.config.local_as)
    }
}

/// BIRD 2.0 prints `Reconfigured` (or that reconfiguration is under way or queued);
/// anything else — a parse error, "Unable to connect" — is a failure even when the exit status is 0.
fn configure_succeeded(output: &str) -> bool {
    output.lines().any(|l| {
        let l = l.trim();
        l.ends_with("Reconfigured") || l.contains("Reconfiguration in progress") || l.contains("queueing new config")
    })
}

/// The include file's text.
fn render(state: u8, prefixes: &[Prefix], attributes: &Attributes, local_as: u32) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `dns-server sidecar`; replaced on every change. Do not edit."
    );
    let _ = writeln!(out, "# ANYCAST_STATE: 0 = withdraw, 1 = announce, 2 = drain.");
    let _ = writeln!(out, "define ANYCAST_STATE = {state};");
    for (name, channel, v4) in [("anycast4", "ipv4", true), ("anycast6", "ipv6", false)] {
        let routes: Vec<&Prefix> = prefixes.iter().filter(|p| p.is_v4() == v4).collect();
        if routes.is_empty() {
            continue;
        }
        let _ = write!(out, "protocol static {name} {{ {channel};");
        for p in routes {
            let _ = write!(out, " route {p} unreachable;");
        }
        let _ = writeln!(out, " }}");
    }
    let _ = writeln!(out, "function anycast_attributes() {{");
    for c in &attributes.communities {
        let _ = writeln!(out, "  bgp_community.add(({}, {}));", c.asn(), c.value());
    }
    for c in &attributes.large_communities {
        let _ = writeln!(out, "  bgp_large_community.add(({}, {}, {}));", c.0, c.1, c.2);
    }
    if let Some(med) = attributes.med {
        let _ = writeln!(out, "  bgp_med = {med};");
    }
    for _ in 0..attributes.prepend {
        let _ = writeln!(out, "  bgp_path.prepend({local_as});");
    }
    if let Some(nh) = attributes.next_hop_v4 {
        let _ = writeln!(out, "  if net.type = NET_IP4 then bgp_next_hop = {nh};");
    }
    if let Some(nh) = attributes.next_hop_v6 {
        let _ = writeln!(out, "  if net.type = NET_IP6 then bgp_next_hop = {nh};");
    }
    let _ = writeln!(out, "}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::config::LargeCommunity;

    #[test]
    fn renders_state_routes_and_drain_attributes() {
        let prefixes: Vec<Prefix> = vec!["203.0.113.53/32".parse().unwrap(), "2001:db8::53/128".parse().unwrap()];
        let mut drain = Attributes::graceful_shutdown();
        drain.large_communities.push(LargeCommunity(65002, 1, 0));
        let text = render(2, &prefixes, &drain, 65002);
        for want in [
            "define ANYCAST_STATE = 2;",
            "protocol static anycast4 { ipv4; route 203.0.113.53/32 unreachable; }",
            "protocol static anycast6 { ipv6; route 2001:db8::53/128 unreachable; }",
            "bgp_community.add((65535, 0));",
            "bgp_large_community.add((65002, 1, 0));",
            "bgp_med = 1000;",
        ] {
            assert!(text.contains(want), "expected {want:?} in:\n{text}");
        }
        assert_eq!(
            text.matches("bgp_path.prepend(65002);").count(),
            2,
            "expected two prepends"
        );
    }

    #[test]
    fn renders_no_attributes_when_up_plain() {
        let prefixes: Vec<Prefix> = vec!["203.0.113.53/32".parse().unwrap()];
        let text = render(1, &prefixes, &Attributes::default(), 65002);
        assert!(
            !text.contains("anycast6"),
            "expected no IPv6 protocol without IPv6 prefixes"
        );
        assert!(!text.contains("bgp_"), "expected no attribute changes:\n{text}");
    }

    #[test]
    fn recognises_birdc_outcomes() {
        assert!(configure_succeeded(
            "Reading configuration from /etc/bird/bird.conf\nReconfigured\n"
        ));
        assert!(configure_succeeded(
            "Reading configuration from x\nReconfiguration in progress\n"
        ));
        assert!(!configure_succeeded(
            "Reading configuration from x\n/run/a.conf:3:1 syntax error\n"
        ));
        assert!(!configure_succeeded(
            "Unable to connect to server control socket (/x): No such file or directory\n"
        ));
    }
}

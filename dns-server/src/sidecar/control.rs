//! The sidecar's control socket: `dns-server ctl status|drain|withdraw|resume`
//! over the server's control protocol (`crate::control`).
//!
//! `drain` and `withdraw` write the maintenance file and `resume` removes it,
//! so the socket and the file are two doors to one switch: what an operator
//! sets either way shows in `status`, in the file, and outlasts a restart.

use std::{io, path::Path, sync::Arc};

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::state::Maintenance;
use crate::control::{
    protocol::{Reply, Request},
    server::{self, Handler},
};

/// A request on its way to the sidecar's loop, and where its reply goes.
pub(super) type Asked = (Request, oneshot::Sender<Reply>);

/// Requests queued for the loop at most; more wait in their clients.
const QUEUE: usize = 8;

/// Hands each request to the loop (which owns the state) and waits for its reply.
struct ToLoop(mpsc::Sender<Asked>);

impl Handler for ToLoop {
    fn handle(&self, request: Request) -> impl Future<Output = Reply> + Send {
        let to_loop = self.0.clone();
        async move {
            let (reply, replied) = oneshot::channel();
            if to_loop.send((request, reply)).await.is_err() {
                return Reply::error("the sidecar is stopping");
            }
            replied
                .await
                .unwrap_or_else(|_| Reply::error("the sidecar is stopping"))
        }
    }
}

/// The socket's end in the loop: requests arrive here. Without a socket
/// nothing ever does (the sender is kept, so `recv` just waits).
pub(super) struct Control {
    pub requests: mpsc::Receiver<Asked>,
    _unused: Option<mpsc::Sender<Asked>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Control {
    /// Binds `socket` (mode 0600, as the server's) and answers on it; `None`: no socket.
    pub(super) fn start(socket: Option<&Path>) -> io::Result<Control> {
        let (sender, requests) = mpsc::channel(QUEUE);
        let Some(path) = socket else {
            return Ok(Control {
                requests,
                _unused: Some(sender),
                task: None,
            });
        };
        let listener = server::bind(path)?;
        let task = tokio::spawn(server::serve(listener, Arc::new(ToLoop(sender))));
        Ok(Control {
            requests,
            _unused: None,
            task: Some(task),
        })
    }

    /// Stops answering and removes the socket.
    pub(super) fn stop(&mut self, socket: Option<&Path>) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(path) = socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What a request asks of the maintenance switch: `Some(None)` ends maintenance.
pub(super) fn maintenance(request: &Request) -> Option<Option<Maintenance>> {
    match request {
        Request::Drain {} => Some(Some(Maintenance::Drain)),
        Request::Withdraw {} => Some(Some(Maintenance::Withdraw)),
        Request::Resume {} => Some(None),
        _ => None,
    }
}

/// Sets the maintenance file to `wanted`: written whole under a temporary
/// name then renamed (the loop never reads half a word), or removed.
pub(super) fn set_maintenance(file: &Path, wanted: Option<Maintenance>) -> io::Result<()> {
    let Some(wanted) = wanted else {
        return match std::fs::remove_file(file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    };
    let word = match wanted {
        Maintenance::Drain => "drain",
        Maintenance::Withdraw => "withdraw",
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut temporary = file.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    std::fs::write(&temporary, format!("{word}\n"))?;
    std::fs::rename(&temporary, file).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// The reply to a command the sidecar does not answer.
pub(super) fn not_ours(request: &Request) -> Reply {
    let name = serde_json::to_value(request)
        .ok()
        .and_then(|v| v["command"].as_str().map(str::to_string))
        .unwrap_or_default();
    Reply::error(format!(
        "the sidecar answers status, drain, withdraw and resume; {name} is the DNS server's (its own [control] socket)"
    ))
}

/// The `status` reply from the state file's snapshot (as JSON) and the maintenance switch.
pub(super) fn status(snapshot: serde_json::Value, prefixes: Vec<String>, maintenance: Option<Maintenance>) -> Reply {
    let field = |k: &str| snapshot[k].as_str().unwrap_or("-").to_string();
    let maintenance = maintenance.map(|m| match m {
        Maintenance::Drain => "drain",
        Maintenance::Withdraw => "withdraw",
    });
    let mut text = format!(
        "state: {} ({})\nannounced: {}\nmaintenance: {}\nprefixes: {}\n",
        field("state"),
        field("reason"),
        field("announced"),
        maintenance.unwrap_or("none"),
        prefixes.join(" ")
    );
    if let Some(error) = snapshot["speaker_error"].as_str() {
        text.push_str(&format!("speaker error: {error}\n"));
    }
    for check in snapshot["checks"].as_array().into_iter().flatten() {
        let name = check["name"].as_str().unwrap_or("?");
        let status = check["status"].as_str().unwrap_or("?");
        text.push_str(&format!("check {name}: {status}"));
        if let Some(detail) = check["detail"].as_str() {
            text.push_str(&format!(" [{detail}]"));
        }
        if let Some(error) = check["last_error"].as_str() {
            text.push_str(&format!(" ({error})"));
        }
        text.push('\n');
    }
    let mut data = snapshot;
    data["maintenance"] = json!(maintenance);
    data["prefixes"] = json!(prefixes);
    data["version"] = json!(env!("CARGO_PKG_VERSION"));
    Reply::done(text, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_commands_write_and_remove_the_file() {
        let dir = std::env::temp_dir().join(format!("sidecar-control-{}", std::process::id()));
        let file = dir.join("run").join("maintenance");
        set_maintenance(&file, Some(Maintenance::Withdraw)).expect("written");
        assert_eq!(super::super::maintenance::read(&file).0, Some(Maintenance::Withdraw));
        set_maintenance(&file, Some(Maintenance::Drain)).expect("replaced");
        assert_eq!(super::super::maintenance::read(&file), (Some(Maintenance::Drain), None));
        set_maintenance(&file, None).expect("removed");
        set_maintenance(&file, None).expect("removing it twice is fine");
        assert_eq!(super::super::maintenance::read(&file), (None, None));
        assert_eq!(maintenance(&Request::Stats {}), None);
        assert!(not_ours(&Request::Stats {}).text.contains("stats is the DNS server's"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! `dns-server ctl`: sends one request to a running server's control socket and prints the reply.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use anyhow::Context as _;

use super::protocol::{Reply, Request};

/// How long `ctl` waits for a reply: a reload may take up to its own limit.
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// Sends `request` to the server listening on `socket` and returns its reply.
pub fn ask(socket: &Path, request: &Request) -> anyhow::Result<Reply> {
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "connecting to {} (is the server running with [control] socket or --control, and may you open it?)",
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line).context("sending the request")?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .context("reading the reply")?;
    serde_json::from_str(&reply).with_context(|| format!("the server's reply is not a control reply: {reply:?}"))
}

/// `dns-server ctl`: prints the reply (its JSON data with `json`); an error reply is an error.
pub fn run(socket: &Path, json: bool, request: &Request) -> anyhow::Result<()> {
    let reply = ask(socket, request)?;
    if !reply.ok {
        anyhow::bail!("{}", reply.text.trim_end());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reply.data)?);
    } else {
        print!("{}", reply.text);
    }
    Ok(())
}

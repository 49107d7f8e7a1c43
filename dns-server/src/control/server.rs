//! The control socket's listener: mode 0600 from the moment it has its name,
//! a bounded number of clients, one request each, under a deadline.

use std::{
    io,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::{UnixListener, UnixStream},
    sync::Semaphore,
};

use super::protocol::{self, MAX_REQUEST, Reply, Request};

/// What carries out the requests: the server's commands
/// ([`commands::Context`](super::commands::Context)), or the sidecar's.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Carries out `request`.
    fn handle(&self, request: Request) -> impl Future<Output = Reply> + Send;
}

/// Clients served at once; more wait in the kernel's backlog.
const MAX_CLIENTS: usize = 8;
/// Time for a request to arrive and its reply to be taken (a reload's own
/// time does not count: it has `reload_timeout`).
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the socket at `path`, mode 0600: bound under a temporary name,
/// its mode set, then renamed into place, so no one else can ever connect.
/// A socket left by a server that is gone is replaced; one a running server
/// answers on is not.
pub(crate) fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use by a running server", path.display()),
        ));
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let listener = std::os::unix::net::UnixListener::bind(&temporary)?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

/// Answers clients on `listener` with `handler` until the task is cancelled.
pub(crate) async fn serve<H: Handler>(listener: UnixListener, handler: Arc<H>) {
    let permits = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(error) = client(stream, &*handler).await {
                tracing::debug!(%error, "control client");
            }
            drop(permit);
        });
    }
}

/// Reads one request, carries it out, writes the reply.
async fn client(stream: UnixStream, handler: &impl Handler) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64 + 1));
    let read = tokio::time::timeout(IO_TIMEOUT, reader.read_line(&mut line)).await;
    let reply = match read {
        Err(_) => Reply::error("no request line arrived in time"),
        Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => Reply::error("the request is not UTF-8 text"),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(_)) if line.len() > MAX_REQUEST => {
            Reply::error(format!("the request is longer than {MAX_REQUEST} bytes"))
        }
        Ok(Ok(_)) => match protocol::parse(&line) {
            Ok(request) => {
                tracing::debug!(?request, "control request");
                handler.handle(request).await
            }
            Err(e) => Reply::error(e),
        },
    };
    let mut text = serde_json::to_vec(&reply).map_err(io::Error::other)?;
    text.push(b'\n');
    tokio::time::timeout(IO_TIMEOUT, write.write_all(&text))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reply not taken"))??;
    write.shutdown().await?;
    // Closing with unread bytes (an over-long request) would reset the
    // connection and could discard the reply before the client reads it:
    // read what is left, within bounds, first.
    let mut rest = reader.into_inner().into_inner().take(DRAIN_BYTES);
    let _ = tokio::time::timeout(DRAIN_TIME, tokio::io::copy(&mut rest, &mut tokio::io::sink())).await;
    Ok(())
}

/// Most bytes read past an over-long request before closing.
const DRAIN_BYTES: u64 = 1 << 20;
/// Longest wait for them.
const DRAIN_TIME: Duration = Duration::from_secs(1);

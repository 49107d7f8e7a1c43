//! The metrics endpoint: `GET /metrics` over HTTP/1.1 (hyper), on a thread and
//! runtime of its own so that scrapers never take a DNS worker's time.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] connections (more are closed at once),
//! [`HEADER_TIMEOUT`] for a request's headers, [`CONNECTION_LIFETIME`] for a
//! whole connection (a scraper that never reads its answer is cut off),
//! requests of at most [`MAX_REQUEST_BYTES`]; expositions are built one at a
//! time on this one thread.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use super::exposition::Format;

/// Builds the whole exposition in a format, at each scrape.
pub(crate) type Render = Arc<dyn Fn(Format) -> String + Send + Sync>;

/// Connections served at once; Prometheus keeps one per target.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// Time for a request's headers to arrive.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection is kept, whatever it does.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// Largest request buffered (hyper's minimum is 8 KiB).
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Most header lines in a request.
const MAX_HEADERS: usize = 32;

/// Connections closed at once because [`MAX_CONNECTIONS`] were open.
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// Binds `addr` (so that a taken port fails the start) and serves what
/// `render` builds on a thread of its own until the process exits.
pub(crate) fn start(addr: SocketAddr, render: Render) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("metrics-http".into()).spawn(move || {
        runtime.block_on(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => serve(listener, render).await,
                Err(error) => tracing::error!(%error, "metrics endpoint not started"),
            }
        })
    })?;
    tracing::info!(listen = %bound, "metrics endpoint: GET /metrics");
    Ok(bound)
}

/// Accepts connections until the runtime ends.
async fn serve(listener: tokio::net::TcpListener, render: Render) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%error, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            REFUSED.fetch_add(1, Relaxed);
            drop(stream);
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let render = render.clone();
                async move { Ok::<_, Infallible>(respond(&render, &request)) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_REQUEST_BYTES)
                .max_headers(MAX_HEADERS)
                .serve_connection(TokioIo::new(stream), service);
            // Malformed requests end the connection with a 400 from hyper.
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(permit);
        });
    }
}

/// Connections refused so far because too many were open.
pub(crate) fn refused() -> u64 {
    REFUSED.load(Relaxed)
}

fn respond(render: &Render, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, text: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "not found; metrics are at /metrics\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n");
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let accept = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let body = render(format);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(format.content_type()),
    );
    response
}

//! The accept loop: every connection (HTTP, view WebSocket, probe channel,
//! pipe) takes a place under the caps on open connections, in all and per
//! client address, and must send its request headers within the
//! header-read timeout, so idle or trickling sockets (slowloris) cannot
//! hold the app's descriptors. `axum::serve` has neither, so the app drives
//! hyper's HTTP/1 connections itself.
//!
//! A connection over a cap gets a `503` with the API's JSON error and is
//! closed. A connection's place is held by its stream, so an upgraded
//! WebSocket keeps it until it closes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::api::guard::ClientAddr;
use crate::limits::{ConnectionLimits, ConnectionPermit, LogLimiter, Refusal};
use crate::state::AppState;

/// Refused connections answered at once; past this many, they are closed without a word.
const REFUSALS_IN_FLIGHT: usize = 64;
/// How long a refused connection is given to send its request before the answer.
const REFUSAL_READ: Duration = Duration::from_millis(500);

/// Serves the API on `listener` until the future is dropped.
pub async fn serve<L>(mut listener: L, state: AppState) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = ConnectionLimits::new(state.config.max_connections, state.config.max_connections_per_address);
    let router = crate::api::router(state.clone());
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let refusal_log = LogLimiter::new(5, Duration::from_secs(10));
    loop {
        // The listener deals with accept errors itself (it waits a moment on EMFILE and the like).
        let (io, peer) = listener.accept().await;
        match limits.try_acquire(peer.ip()) {
            Ok(permit) => {
                let io = Counted { io, _permit: permit };
                tokio::spawn(serve_connection(io, peer, router.clone(), state.clone()));
            }
            Err(refusal) => {
                state.metrics.refused.inc(refusal);
                if let Some(suppressed) = refusal_log.allow(Instant::now()) {
                    tracing::warn!(%peer, cap = refusal.as_str(), suppressed, "connection refused: over a cap");
                }
                // Over the answering budget too: closing is the answer.
                let Ok(slot) = refusals.clone().try_acquire_owned() else { continue };
                let message = refusal_message(&state, refusal);
                tokio::spawn(async move {
                    refuse(io, &message).await;
                    drop(slot);
                });
            }
        }
    }
}

fn refusal_message(state: &AppState, refusal: Refusal) -> String {
    match refusal {
        Refusal::TooManyFromAddress => format!(
            "too many connections from this address (the cap is {}, --max-connections-per-address); try again later",
            state.config.max_connections_per_address
        ),
        _ => format!(
            "the app has too many open connections (the cap is {}, --max-connections); try again later",
            state.config.max_connections
        ),
    }
}

/// Answers `503` with the JSON error, after reading (a little of) the request
/// so that closing does not reset the connection before the client reads the answer.
async fn refuse<I: AsyncRead + AsyncWrite + Unpin>(mut io: I, message: &str) {
    let mut request = [0u8; 4096];
    // Whatever arrives in time; the answer is the same.
    let _ = tokio::time::timeout(REFUSAL_READ, io.read(&mut request)).await;
    let body = serde_json::json!({ "error": message }).to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // The client may be gone already; nothing to do then.
    let _ = tokio::time::timeout(REFUSAL_READ, async {
        io.write_all(response.as_bytes()).await?;
        io.shutdown().await
    })
    .await;
}

async fn serve_connection<I>(io: I, peer: SocketAddr, router: Router, state: AppState)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(ClientAddr(peer)));
        router.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(state.config.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    if let Err(error) = connection.await {
        if error.is_timeout() {
            state.metrics.refused.inc(Refusal::HeaderTimeout);
            tracing::debug!(%peer, "no request headers within the header-read timeout; connection closed");
        } else {
            tracing::trace!(%peer, %error, "connection ended with an error");
        }
    }
}

/// A connection's stream holding its place under the caps: the place is
/// given back when the stream is dropped, after any WebSocket upgraded from it.
struct Counted<I> {
    io: I,
    _permit: ConnectionPermit,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

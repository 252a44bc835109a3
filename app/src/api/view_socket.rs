//! The upgrade of the view WebSockets (live and past), on tokio-tungstenite
//! directly rather than axum's `WebSocket`, to send big messages in fragments.
//!
//! A full processes view at 1,000 hosts is 126 MiB of JSON. tungstenite
//! formats a frame whole into its write buffer, and the buffer keeps that
//! capacity for the life of the connection: ten such clients held 1.3 GiB
//! after their first message. Sent as a text frame and continuations of
//! [`FRAGMENT`] bytes (still one message to the browser, RFC 6455 §5.4), the
//! buffer stays at the fragment's size. axum's `Message` has no raw frames.

use std::future::Future;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use crate::api::error::ApiError;
use crate::state::AppState;

/// The most of a message one frame carries.
pub const FRAGMENT: usize = 256 * 1024;

pub type ViewSocket = WebSocketStream<TokioIo<Upgraded>>;

/// A view socket's settings: browsers send only pongs, close frames and
/// small commands, so reads are small and capped; writes go straight out.
pub fn config(max_client_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(max_client_message))
        .max_frame_size(Some(max_client_message))
}

/// A checked WebSocket handshake, waiting for its answer.
pub struct ViewSocketUpgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for ViewSocketUpgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let refuse = |reason: &str| ApiError::NotWebSocket(reason.to_owned());
        if parts.method != Method::GET {
            return Err(refuse("the method is not GET"));
        }
        if !header_has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !header_has_token(&parts.headers, header::UPGRADE, "websocket")
        {
            return Err(refuse("no `Connection: upgrade` and `Upgrade: websocket`"));
        }
        if !header_has_token(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(refuse("`Sec-WebSocket-Version` is not 13"));
        }
        let key =
            parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned().ok_or_else(|| refuse("no `Sec-WebSocket-Key`"))?;
        let on_upgrade =
            parts.extensions.remove::<OnUpgrade>().ok_or_else(|| refuse("the connection cannot be upgraded"))?;
        Ok(ViewSocketUpgrade { key, on_upgrade })
    }
}

impl ViewSocketUpgrade {
    /// Answers 101 and runs `callback` with the socket once the client has it.
    pub fn on_upgrade<C, Fut>(self, config: WebSocketConfig, callback: C) -> Response
    where
        C: FnOnce(ViewSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let ViewSocketUpgrade { key, on_upgrade } = self;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket =
                        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                    callback(socket).await;
                }
                Err(error) => tracing::debug!(%error, "a view socket's upgrade failed"),
            }
        });
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(Body::empty())
            .expect("a valid 101 answer")
    }
}

/// The frames of one text message: itself when small, else a text frame
/// and continuations of at most [`FRAGMENT`] bytes. Fragments may split a
/// character; the receiver decodes the whole message.
pub fn text_frames(text: String) -> Vec<Message> {
    if text.len() <= FRAGMENT {
        return vec![Message::Text(text.into())];
    }
    let bytes = Bytes::from(text);
    let count = bytes.len().div_ceil(FRAGMENT);
    (0..count)
        .map(|index| {
            let start = index * FRAGMENT;
            let chunk = bytes.slice(start..(start + FRAGMENT).min(bytes.len()));
            let opcode = OpCode::Data(if index == 0 { Data::Text } else { Data::Continue });
            Message::Frame(Frame::message(chunk, opcode, index + 1 == count))
        })
        .collect()
}

/// A comma-separated header holds `token`, in any case.
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|part| part.trim().eq_ignore_ascii_case(token))
}

/// A view client's place under `--max-view-clients` (and in the
/// `periscope_view_clients` gauge), taken before the upgrade and given back
/// when its stream ends; then the memory it used is trimmed back to the kernel.
pub struct ClientSlot(AppState);

impl ClientSlot {
    pub fn take(state: &AppState) -> Result<ClientSlot, ApiError> {
        let cap = state.config.max_view_clients as u64;
        let before = state.metrics.view_clients.fetch_add(1, Ordering::AcqRel);
        if before >= cap {
            state.metrics.view_clients.fetch_sub(1, Ordering::AcqRel);
            state.metrics.refused.inc(crate::limits::Refusal::TooManyViewClients);
            return Err(ApiError::TooManyViewClients(state.config.max_view_clients));
        }
        Ok(ClientSlot(state.clone()))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.metrics.view_clients.fetch_sub(1, Ordering::AcqRel);
        self.0.budgets.trim.request();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_message_goes_in_fragments_that_add_up_to_it() {
        let small = "x".repeat(FRAGMENT);
        assert!(matches!(&text_frames(small.clone())[..], [Message::Text(text)] if text.as_str() == small));

        // Multi-byte characters, so some fragment boundary splits one.
        let big: String = "é→".repeat(FRAGMENT / 2);
        let frames = text_frames(big.clone());
        assert_eq!(frames.len(), big.len().div_ceil(FRAGMENT));
        let mut joined = Vec::new();
        for (index, message) in frames.iter().enumerate() {
            let Message::Frame(frame) = message else { panic!("frame {index} is not raw") };
            let opcode = if index == 0 { Data::Text } else { Data::Continue };
            assert_eq!(frame.header().opcode, OpCode::Data(opcode));
            assert_eq!(frame.header().is_final, index + 1 == frames.len());
            assert!(frame.payload().len() <= FRAGMENT);
            joined.extend_from_slice(frame.payload());
        }
        assert_eq!(String::from_utf8(joined).unwrap(), big);
    }

    #[test]
    fn header_tokens_match_in_lists_and_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(header_has_token(&headers, header::CONNECTION, "upgrade"));
        assert!(!header_has_token(&headers, header::CONNECTION, "close"));
    }
}

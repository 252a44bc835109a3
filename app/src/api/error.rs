//! The API's one error type: each variant maps to a status and a JSON body
//! `{ "error": "…" }`; internals are never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unknown view {0:?}")]
    UnknownView(String),
    #[error("no node {node:?} in view {view}")]
    UnknownNode { view: &'static str, node: String },
    #[error("{0}")]
    BadNodeId(#[from] periscope_report::ParseIdError),
    #[error("{0}")]
    BadOption(#[from] crate::view::BadOption),
    #[error("missing or wrong token: log in at /login, or send `Authorization: Bearer <token>`")]
    Unauthorized,
    #[error("missing or wrong probe token")]
    ProbeUnauthorized,
    #[error("too many wrong tokens from this address; try again in a minute")]
    TooManyLogins,
    #[error("origin {0:?} refused: only the app's own origin (or one given with --allow-origin) may open WebSockets or send requests that change state")]
    ForbiddenOrigin(String),
    #[error("host {0:?} is not served by this app (DNS rebinding protection): add the name with --allow-host")]
    ForbiddenHost(String),
    #[error("the app runs with --read-only: controls and pipes are refused")]
    ReadOnly,
    #[error("{0}")]
    UnknownControl(#[from] crate::control::UnknownControl),
    #[error("{0}")]
    Control(#[from] crate::control::ControlError),
    #[error("{0}")]
    ProbeUnavailable(#[from] crate::state::ProbeUnavailable),
    #[error("the probe refused or failed: {0}")]
    ProbeFailed(String),
    #[error("probe {0} disconnected before answering")]
    ProbeVanished(String),
    #[error("the probe did not answer within {0} s")]
    ControlTimeout(u64),
    #[error("{0}")]
    TooManyPipes(#[from] crate::relay::TooManyPipes),
    #[error("no pipe {0:?} waiting to be attached (it was attached already, expired, or never existed)")]
    UnknownPipe(String),
    #[error("this pipe was opened by another client")]
    NotYourPipe,
    #[error("no such route: {0}")]
    NotFound(String),
    #[error("bad parameter {name}: {reason}")]
    BadParameter { name: &'static str, reason: String },
    #[error("history is off (the app runs with --no-history)")]
    HistoryOff,
    #[error("no history at {at}: {}", match range { Some((from, to)) => format!("it holds {from} to {to}"), None => "it holds nothing yet".to_owned() })]
    NoHistoryAt { at: u64, range: Option<(u64, u64)> },
    #[error("history store: {0}")]
    History(String),
    #[error("internal error")]
    Internal,
    #[error("the app is stopping")]
    Unavailable,
    #[error("this route is a WebSocket, and the request is not an upgrade to one: {0}")]
    NotWebSocket(String),
    #[error("too many view clients (the cap is {0}, --max-view-clients); try again later")]
    TooManyViewClients(usize),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownView(_) | ApiError::UnknownNode { .. } | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadNodeId(_) => StatusCode::NOT_FOUND,
            ApiError::BadOption(_) | ApiError::BadParameter { .. } | ApiError::NotWebSocket(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::HistoryOff => StatusCode::CONFLICT,
            ApiError::NoHistoryAt { .. } => StatusCode::NOT_FOUND,
            ApiError::History(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unauthorized | ApiError::ProbeUnauthorized => StatusCode::UNAUTHORIZED,
            ApiError::ForbiddenOrigin(_) | ApiError::ForbiddenHost(_) | ApiError::ReadOnly | ApiError::NotYourPipe => {
                StatusCode::FORBIDDEN
            }
            ApiError::UnknownControl(_) | ApiError::UnknownPipe(_) => StatusCode::NOT_FOUND,
            ApiError::Control(error) => match error {
                crate::control::ControlError::UnknownProbe(_) | crate::control::ControlError::UnknownNode { .. } => {
                    StatusCode::NOT_FOUND
                }
                crate::control::ControlError::InvalidForState { .. }
                | crate::control::ControlError::NotOffered { .. } => StatusCode::CONFLICT,
                crate::control::ControlError::ControlsOff(_) => StatusCode::FORBIDDEN,
            },
            ApiError::ProbeUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::ProbeFailed(_) | ApiError::ProbeVanished(_) => StatusCode::BAD_GATEWAY,
            ApiError::ControlTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::TooManyPipes(_) | ApiError::TooManyLogins => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable | ApiError::TooManyViewClients(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<crate::view::UnknownView> for ApiError {
    fn from(unknown: crate::view::UnknownView) -> Self {
        ApiError::UnknownView(unknown.0)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, %status, "request refused");
        }
        (status, Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}

/// Largest error body turned into JSON; axum's own rejections are a line or two.
const MAX_PLAIN_ERROR: usize = 16 * 1024;

/// Middleware: an error answer in plain text (axum's own
/// rejections: a bad percent-escape in a path, a WebSocket route asked with a
/// plain GET, a malformed query or body, a wrong method) becomes the API's
/// `{ "error": … }` with the same status, so every route fails the documented way.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Only plain text (axum's rejections) or no body type at all: JSON is
    // already right, and an HTML page (the login page's "Wrong token.") is
    // meant for a browser.
    let is_plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.starts_with("text/plain"));
    if !is_plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_PLAIN_ERROR).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let error = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    let mut json = (status, Json(serde_json::json!({ "error": error }))).into_response();
    // Keep what the first answer said besides its body (Allow on a 405, security headers, …).
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            json.headers_mut().append(name.clone(), value.clone());
        }
    }
    json
}

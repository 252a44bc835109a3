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
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("WebSocket from origin {0:?} refused")]
    ForbiddenOrigin(String),
    #[error("no such route: {0}")]
    NotFound(String),
    #[error("internal error")]
    Internal,
    #[error("the app is stopping")]
    Unavailable,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownView(_) | ApiError::UnknownNode { .. } | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadNodeId(_) => StatusCode::NOT_FOUND,
            ApiError::BadOption(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::ForbiddenOrigin(_) => StatusCode::FORBIDDEN,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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

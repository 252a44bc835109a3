//! `GET /api`, `/api/openapi.json`, `/metrics` and `/healthz`: the app describing itself.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::api::error::ApiError;
use crate::state::AppState;

/// The OpenAPI description of every route, kept beside the router (a test checks they agree).
pub const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api", get(info))
        .route("/api/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
}

#[derive(Serialize)]
struct AppInfo {
    id: String,
    version: &'static str,
    capabilities: &'static [&'static str],
    read_only: bool,
}

async fn info(State(state): State<AppState>) -> Json<AppInfo> {
    Json(AppInfo {
        id: state.app_id.clone(),
        version: env!("CARGO_PKG_VERSION"),
        capabilities: &[
            "topology",
            "ws-diffs",
            "details",
            "metric-history",
            "report",
            "openapi",
            "controls",
            "pipes",
            "audit",
        ],
        read_only: state.config.read_only,
    })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let gauges = state.gauges().await.map_err(|_| ApiError::Unavailable)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&gauges)))
}

async fn healthz() -> &'static str {
    "ok"
}

//! `GET /api/report`: the merged model, one report per probe, as JSON.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::api::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/report", get(report))
}

/// Reports are copied on the store thread (their IDs and strings are shared,
/// so a copy is cheap) and serialized on the blocking pool.
async fn report(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let reports: Vec<periscope_report::Report> =
        state.with_store(|store| store.model.reports().cloned().collect()).await.map_err(|_| ApiError::Unavailable)?;
    let body = tokio::task::spawn_blocking(move || {
        let by_probe: std::collections::BTreeMap<String, &periscope_report::Report> =
            reports.iter().map(|report| (report.probe.to_string(), report)).collect();
        serde_json::to_vec(&by_probe)
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(|_| ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

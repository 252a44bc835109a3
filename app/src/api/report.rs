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

async fn report(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let store = state.store();
    let reports: std::collections::BTreeMap<String, &periscope_report::Report> =
        store.model.reports().map(|report| (report.probe.to_string(), report)).collect();
    let body = serde_json::to_vec(&reports).map_err(|_| ApiError::Internal)?;
    drop(store);
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

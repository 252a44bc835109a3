//! `GET /api/topology`, `GET /api/topology/{view}` and
//! `GET /api/topology/{view}/{node}`: views, their counts, and node details.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::api::error::ApiError;
use crate::api::history;
use crate::api::view_params::parse;
use crate::node_id::NodeId;
use crate::render::output::NodeDetails;
use crate::state::AppState;
use crate::view::{option_specs, ViewId, ViewOptions};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/topology", get(list))
        .route("/api/topology/{view}", get(view))
        .route("/api/topology/{view}/ws", get(crate::api::topology_ws::upgrade))
        .route("/api/topology/{view}/{node}", get(details))
}

#[derive(Serialize)]
pub struct OptionSummary {
    id: &'static str,
    values: &'static [&'static str],
    default: &'static str,
}

#[derive(Serialize)]
pub struct TopologySummary {
    id: &'static str,
    label: &'static str,
    nodes: usize,
    edges: usize,
    options: Vec<OptionSummary>,
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<TopologySummary>>, ApiError> {
    // Counts honour the options the client shows the views with, each over
    // its view's defaults (processes views hide unconnected processes).
    let mut chosen = Vec::new();
    for view in ViewId::ALL {
        chosen.push((view, ViewOptions::for_view(view, query.iter().map(|(k, v)| (k.as_str(), v.as_str())))?));
    }
    let now = crate::clock::now();
    let counts = state
        .with_store(move |store| {
            chosen.into_iter().map(|(view, options)| (view, store.counts(view, &options, now))).collect::<Vec<_>>()
        })
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(Json(
        counts
            .into_iter()
            .map(|(view, counts)| TopologySummary {
                id: view.as_str(),
                label: view.label(),
                nodes: counts.nodes,
                edges: counts.edges,
                options: option_specs(view)
                    .iter()
                    .map(|spec| OptionSummary { id: spec.id, values: spec.values, default: spec.default })
                    .collect(),
            })
            .collect(),
    ))
}

async fn view(
    State(state): State<AppState>,
    Path(view): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (view, options) = parse(&view, &query)?;
    if let Some(at) = history::time_param(&query, "at")? {
        return history::past_graph(&state, view, options, at).await.map(|graph| Json(graph).into_response());
    }
    let graph = state.with_store(move |store| store.graph(view, &options)).await.map_err(|_| ApiError::Unavailable)?;
    let graph = graph.ok_or(ApiError::Internal)?;
    let big = graph.nodes.len() + graph.edges.len() >= BIG_GRAPH;
    // Off the async workers: the processes view of 1,000 hosts is 126 MiB of JSON.
    let body = tokio::task::spawn_blocking(move || serde_json::to_vec(&graph))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|_| ApiError::Internal)?;
    if big {
        // The graph's many small strings are freed now; glibc keeps them unless asked.
        state.budgets.trim.request();
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A graph this big (tens of MiB as JSON) is followed by a trim.
const BIG_GRAPH: usize = 20_000;

async fn details(
    State(state): State<AppState>,
    Path((view, node)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<NodeDetails>, ApiError> {
    let (view, options) = parse(&view, &query)?;
    let node_id: NodeId = node.parse()?;
    let (at, from) = (history::time_param(&query, "at")?, history::time_param(&query, "from")?);
    let mut details = if at.is_some() || from.is_some() {
        history::past_details(&state, view, node_id, at, from).await?
    } else {
        state
            .with_store(move |store| store.details(view, &node_id, &options))
            .await
            .map_err(|_| ApiError::Unavailable)?
    };
    if state.config.read_only {
        // Read-only: the UI shows no control buttons.
        if let Some(details) = details.as_mut() {
            details.controls.clear();
        }
    }
    details.map(Json).ok_or(ApiError::UnknownNode { view: view.as_str(), node })
}

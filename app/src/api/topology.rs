//! `GET /api/topology`, `GET /api/topology/{view}` and
//! `GET /api/topology/{view}/{node}`: views, their counts, and node details.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::api::error::ApiError;
use crate::node_id::NodeId;
use crate::render::output::{NodeDetails, ViewGraph};
use crate::state::{now, AppState};
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

/// Parses `{view}` and the query's options.
pub fn parse(view: &str, query: &[(String, String)]) -> Result<(ViewId, ViewOptions), ApiError> {
    let view: ViewId = view.parse()?;
    let options = ViewOptions::for_view(view, query.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok((view, options))
}

/// Counts honour the query's options (each over its view's defaults), so the
/// view buttons count what the views would show.
async fn list(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<TopologySummary>>, ApiError> {
    let mut chosen = Vec::new();
    for view in ViewId::ALL {
        chosen.push((view, ViewOptions::for_view(view, query.iter().map(|(k, v)| (k.as_str(), v.as_str())))?));
    }
    let mut store = state.store();
    let mut summaries = Vec::new();
    let mut changes = Vec::new();
    for (view, options) in chosen {
        let (counts, more) = store.counts(view, &options, now());
        changes.extend(more);
        summaries.push(TopologySummary {
            id: view.as_str(),
            label: view.label(),
            nodes: counts.nodes,
            edges: counts.edges,
            options: option_specs(view)
                .iter()
                .map(|spec| OptionSummary { id: spec.id, values: spec.values, default: spec.default })
                .collect(),
        });
    }
    drop(store);
    state.publish(changes);
    Ok(Json(summaries))
}

async fn view(
    State(state): State<AppState>,
    Path(view): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<ViewGraph>, ApiError> {
    let (view, options) = parse(&view, &query)?;
    let mut store = state.store();
    let changes = store.ready(view, now());
    let graph = store.graph(view, &options).ok_or(ApiError::Internal)?;
    drop(store);
    state.publish(changes);
    Ok(Json(graph))
}

async fn details(
    State(state): State<AppState>,
    Path((view, node)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<NodeDetails>, ApiError> {
    let (view, options) = parse(&view, &query)?;
    let node_id: NodeId = node.parse()?;
    let mut store = state.store();
    let changes = store.ready(view, now());
    let details = store.details(view, &node_id, &options);
    drop(store);
    state.publish(changes);
    details.map(Json).ok_or(ApiError::UnknownNode { view: view.as_str(), node })
}

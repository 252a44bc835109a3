//! The HTTP and WebSocket API: [`router`] builds all of it from an [`AppState`].
//!
//! One module per resource keeps its routes next to its handlers; handlers
//! extract, call one store or render function, and map the result. Only this
//! module knows HTTP. Every error is an [`error::ApiError`] with a JSON body.

pub mod control;
pub mod error;
pub mod guard;
pub mod history;
pub mod login;
pub mod meta;
pub mod pipe;
pub mod probe_ws;
pub mod probes;
pub mod report;
pub mod server;
pub mod topology;
pub mod topology_ws;
pub mod ui;
pub mod view_params;
pub mod view_socket;

use axum::Router;

use crate::state::AppState;

/// Every route the router serves (method, path), as in `openapi.json`.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api"),
    ("get", "/api/openapi.json"),
    ("get", "/api/topology"),
    ("get", "/api/topology/{view}"),
    ("get", "/api/topology/{view}/ws"),
    ("get", "/api/topology/{view}/{node}"),
    ("get", "/api/probes"),
    ("get", "/api/probe/ws"),
    ("get", "/api/report"),
    ("post", "/api/control/{probe}/{node}/{control}"),
    ("get", "/api/pipe/{id}"),
    ("get", "/api/audit"),
    ("post", "/api/login"),
    ("post", "/api/logout"),
    ("get", "/login"),
    ("get", "/api/history"),
    ("get", "/api/events"),
    ("get", "/metrics"),
    ("get", "/healthz"),
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(meta::router())
        .merge(topology::router())
        .merge(probes::router())
        .merge(probe_ws::router())
        .merge(report::router())
        .merge(control::router())
        .merge(pipe::router())
        .merge(login::router())
        .merge(history::router())
        .fallback(ui::serve)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(axum::middleware::map_response(error::json_errors))
        .with_state(state)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod history_tests;

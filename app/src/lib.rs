//! Periscope's app: accepts every probe's channel, keeps the merged model,
//! renders the views and pushes their changes to browsers.
//!
//! - [`ingest`] speaks the probe protocol; [`store`] holds the [`model`]
//!   (each probe's latest report), the [`render`] state, metric [`history`]
//!   and the probe [`registry`].
//! - [`archive`] keeps history in an embedded store, fed by the store
//!   without ever blocking it, and rebuilds past models for time travel.
//! - [`render`] is pure: from the model to views, incrementally, per probe.
//! - [`api`] is the only module that knows HTTP: [`api::router`] builds it all.
//! - [`state`] ties them together with a lock, change notification and the
//!   background tasks (coalescing diffs, dropping silent probes).
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let state = periscope::state::AppState::new(periscope::config::AppConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4040").await?;
//! periscope::serve(listener, state).await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod archive;
pub mod config;
pub mod history;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod node_id;
pub mod registry;
pub mod render;
pub mod state;
pub mod store;
pub mod view;

use crate::state::AppState;

/// Serves the API and UI on `listener` and runs the background tasks, until the future is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let background = tokio::spawn(state.clone().run_background());
    let result = axum::serve(listener, api::router(state)).await;
    background.abort();
    result
}

//! Periscope's app: accepts every probe's channel, keeps the merged model,
//! renders the views and pushes their changes to browsers.
//!
//! - [`ingest`] speaks the probe protocol; [`store`] holds the [`model`]
//!   (each probe's latest report), the [`render`] state, metric [`history`],
//!   the probe [`registry`] and the view [`subscriptions`].
//! - [`store_thread`] runs the store on its own thread behind a bounded
//!   channel, coalescing changes into one render and one diff per group.
//! - [`archive`] keeps history in an embedded store, fed by the store
//!   without ever blocking it, and rebuilds past models for time travel.
//! - [`render`] is pure: from the model to views, incrementally, per probe.
//! - [`api`] is the only module that knows HTTP: [`api::router`] builds it all.
//! - [`state`] ties them together: settings, counters, the store thread's
//!   handle, probe outboxes and the [`relay`] for control replies and pipes.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let state = periscope::state::AppState::new(periscope::config::AppConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4040").await?;
//! periscope::serve(listener, state).await?;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "jemalloc")]
pub mod allocator;
pub mod api;
pub mod archive;
pub mod audit;
pub mod clock;
pub mod config;
pub mod control;
pub mod credentials;
pub mod history;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod node_id;
pub mod random;
pub mod registry;
pub mod relay;
pub mod render;
pub mod sessions;
pub mod state;
pub mod store;
pub mod store_thread;
pub mod subscriptions;
pub mod tls;
pub mod validate;
pub mod view;

use crate::state::AppState;

/// Serves the API and UI on `listener` until the future is dropped, or until
/// the store thread stops (a bug): then the app must not go on serving stale data.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let stopped = state.clone();
    let _pipes = AbortOnDrop(tokio::spawn(state.clone().expire_pipes()));
    let _trim = AbortOnDrop(tokio::spawn(limits::trim_periodically(limits::TRIM_EVERY)));
    tokio::select! {
        result = api::server::serve(listener, state) => result,
        reason = stopped.store_stopped() => Err(std::io::Error::other(format!("the store thread stopped: {reason}"))),
    }
}

/// [`serve`] over HTTPS.
pub async fn serve_tls(listener: tls::TlsListener, state: AppState) -> std::io::Result<()> {
    let stopped = state.clone();
    let _pipes = AbortOnDrop(tokio::spawn(state.clone().expire_pipes()));
    let _trim = AbortOnDrop(tokio::spawn(limits::trim_periodically(limits::TRIM_EVERY)));
    tokio::select! {
        result = api::server::serve(listener, state) => result,
        reason = stopped.store_stopped() => Err(std::io::Error::other(format!("the store thread stopped: {reason}"))),
    }
}

/// Stops a background task when the server future is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

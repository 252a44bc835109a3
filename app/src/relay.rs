//! Probe → app messages that answer the app rather than report the host:
//! control results and pipe output, routed to whoever is waiting for them.
//!
//! Controls and pipes are not offered yet, so nothing waits and these
//! messages are only counted.

use periscope_report::{ProbeId, ProbeMessage};

use crate::metrics::Metrics;

#[derive(Debug, Default)]
pub struct Relay {}

impl Relay {
    /// Routes a control result or pipe message from `probe`.
    pub fn deliver(&self, probe: &ProbeId, message: ProbeMessage, metrics: &Metrics) {
        Metrics::inc(&metrics.unrouted_replies);
        tracing::debug!(%probe, ?message, "a control or pipe message nobody waits for; dropped");
    }
}

//! The app's own counters, exposed at `/metrics` in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Metrics {
    pub frames_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub snapshots: AtomicU64,
    pub deltas: AtomicU64,
    pub bad_frames: AtomicU64,
    pub sequence_gaps: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub probes_timed_out: AtomicU64,
    pub renders: AtomicU64,
    pub render_micros: AtomicU64,
    pub render_micros_max: AtomicU64,
    pub diffs_sent: AtomicU64,
    pub diff_bytes_sent: AtomicU64,
    pub view_clients: AtomicU64,
    pub view_clients_lagged: AtomicU64,
    /// Bytes of text sent to view clients: full views, diffs and heartbeats.
    pub view_bytes_sent: AtomicU64,
    pub duplicate_hosts: AtomicU64,
    pub unrouted_replies: AtomicU64,
    /// Input refused or held back by a budget or cap (app/src/limits.rs).
    pub refused: crate::limits::Refused,
}

/// Gauges read from the store at scrape time.
pub struct Gauges {
    pub probes: usize,
    /// (view, nodes, edges) with default options.
    pub views: Vec<(&'static str, usize, usize)>,
    pub metric_series: usize,
    /// Distinct (view, options) pairs watched.
    pub view_groups: usize,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub fn record_render(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        Metrics::inc(&self.renders);
        Metrics::add(&self.render_micros, micros);
        self.render_micros_max.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: &AtomicU64| {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        };
        counter(&mut out, "periscope_probe_frames_total", "Frames received from probes.", &self.frames_in);
        counter(&mut out, "periscope_probe_bytes_total", "Bytes received from probes.", &self.bytes_in);
        counter(&mut out, "periscope_probe_snapshots_total", "Snapshots applied.", &self.snapshots);
        counter(&mut out, "periscope_probe_deltas_total", "Deltas applied.", &self.deltas);
        counter(&mut out, "periscope_probe_bad_frames_total", "Probe frames that could not be used.", &self.bad_frames);
        counter(
            &mut out,
            "periscope_probe_sequence_gaps_total",
            "Deltas that did not fit; a snapshot was asked for.",
            &self.sequence_gaps,
        );
        counter(
            &mut out,
            "periscope_probe_rejected_total",
            "Probe connections refused (token, taken probe ID).",
            &self.rejected_connections,
        );
        counter(&mut out, "periscope_probe_timeouts_total", "Probes dropped for silence.", &self.probes_timed_out);
        counter(&mut out, "periscope_renders_total", "Incremental render passes.", &self.renders);
        let _ = writeln!(
            out,
            "# HELP periscope_render_seconds_total Time spent rendering.\n# TYPE periscope_render_seconds_total counter\nperiscope_render_seconds_total {:.6}",
            self.render_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP periscope_render_seconds_max Longest render pass.\n# TYPE periscope_render_seconds_max gauge\nperiscope_render_seconds_max {:.6}",
            self.render_micros_max.load(Ordering::Relaxed) as f64 / 1e6
        );
        counter(&mut out, "periscope_view_diffs_total", "Diff messages sent to view clients.", &self.diffs_sent);
        counter(
            &mut out,
            "periscope_view_bytes_total",
            "Bytes of messages sent to view clients (full views, diffs, heartbeats).",
            &self.view_bytes_sent,
        );
        counter(
            &mut out,
            "periscope_view_clients_lagged_total",
            "View clients that fell behind and were started over.",
            &self.view_clients_lagged,
        );
        counter(
            &mut out,
            "periscope_probe_duplicate_hosts_total",
            "Probes keyed apart because another probe reported their host ID.",
            &self.duplicate_hosts,
        );
        counter(&mut out, "periscope_view_diff_bytes_total", "Bytes of diff messages sent.", &self.diff_bytes_sent);
        let _ = writeln!(
            out,
            "# HELP periscope_view_clients Open view WebSockets.\n# TYPE periscope_view_clients gauge\nperiscope_view_clients {}",
            self.view_clients.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP periscope_probes Connected probes.\n# TYPE periscope_probes gauge\nperiscope_probes {}",
            gauges.probes
        );
        let _ = writeln!(
            out,
            "# HELP periscope_view_nodes Nodes per view (default options).\n# TYPE periscope_view_nodes gauge"
        );
        for (view, nodes, _) in &gauges.views {
            let _ = writeln!(out, "periscope_view_nodes{{view=\"{view}\"}} {nodes}");
        }
        let _ = writeln!(
            out,
            "# HELP periscope_view_edges Edges per view (default options).\n# TYPE periscope_view_edges gauge"
        );
        for (view, _, edges) in &gauges.views {
            let _ = writeln!(out, "periscope_view_edges{{view=\"{view}\"}} {edges}");
        }
        let _ = writeln!(
            out,
            "# HELP periscope_metric_series Entities with sample history.\n# TYPE periscope_metric_series gauge\nperiscope_metric_series {}",
            gauges.metric_series
        );
        let _ = writeln!(
            out,
            "# HELP periscope_view_groups Distinct views and options watched.\n# TYPE periscope_view_groups gauge\nperiscope_view_groups {}",
            gauges.view_groups
        );
        self.refused.render(&mut out);
        out
    }
}

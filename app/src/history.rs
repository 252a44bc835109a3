//! Recent CPU and memory samples of every host, container and process.
//!
//! Probes send metrics only when they move, so the store samples its own copy
//! of each report at a fixed interval instead of recording frames. Samples
//! are small (12 bytes) because a large deployment has 100k entities.

use std::collections::{HashMap, HashSet, VecDeque};

use periscope_report::{ContainerId, HostId, ProbeId, ProcessId, Report, UnixMillis};

/// Seconds between two samples of one entity.
pub const SAMPLE_INTERVAL_MS: u64 = 10_000;
/// How far back samples go: a little over the 15 minutes the details panel promises.
pub const RETENTION_MS: u64 = 16 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MetricKey {
    Host(HostId),
    Container(ContainerId),
    Process(ProcessId),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the Unix epoch.
    pub t_secs: u32,
    /// Percent of one core.
    pub cpu: f32,
    pub memory_kib: u32,
}

impl Sample {
    pub fn t_millis(&self) -> u64 {
        u64::from(self.t_secs) * 1000
    }

    pub fn memory_bytes(&self) -> u64 {
        u64::from(self.memory_kib) * 1024
    }
}

#[derive(Debug, Default)]
struct ProbeHistory {
    last_sample: Option<UnixMillis>,
    keys: HashSet<MetricKey>,
}

#[derive(Debug)]
pub struct History {
    series: HashMap<MetricKey, VecDeque<Sample>>,
    probes: HashMap<ProbeId, ProbeHistory>,
    retention_ms: u64,
}

impl Default for History {
    fn default() -> Self {
        History::with_retention(RETENTION_MS)
    }
}

impl History {
    /// Samples kept for `retention_ms` (past details rebuild a longer range from the archive).
    pub fn with_retention(retention_ms: u64) -> History {
        History { series: HashMap::new(), probes: HashMap::new(), retention_ms }
    }

    /// Samples the report's entities if the probe's last sample is an interval old.
    pub fn sample(&mut self, report: &Report, now: UnixMillis) {
        let probe = self.probes.entry(report.probe.clone()).or_default();
        if probe.last_sample.is_some_and(|last| now.0.saturating_sub(last.0) < SAMPLE_INTERVAL_MS) {
            return;
        }
        probe.last_sample = Some(now);
        let t_secs = u32::try_from(now.0 / 1000).unwrap_or(u32::MAX);
        let retention_ms = self.retention_ms;
        let mut keys = HashSet::with_capacity(probe.keys.len());
        let mut record = |key: MetricKey, cpu: f64, memory: u64| {
            let sample =
                Sample { t_secs, cpu: cpu as f32, memory_kib: u32::try_from(memory / 1024).unwrap_or(u32::MAX) };
            let series = self.series.entry(key.clone()).or_default();
            let oldest = t_secs.saturating_sub(u32::try_from(retention_ms / 1000).unwrap_or(u32::MAX));
            while series.front().is_some_and(|s| s.t_secs < oldest) {
                series.pop_front();
            }
            series.push_back(sample);
            keys.insert(key);
        };
        let host = &report.host;
        record(
            MetricKey::Host(host.id.clone()),
            host.cpu_percent * f64::from(host.cpu_count.max(1)),
            host.memory_used_bytes,
        );
        for container in &report.containers {
            if let Some(stats) = &container.stats {
                record(MetricKey::Container(container.id.clone()), stats.cpu_percent, stats.memory_bytes);
            }
        }
        for process in &report.processes {
            record(MetricKey::Process(process.id.clone()), process.cpu_percent, process.rss_bytes);
        }
        let probe = self.probes.get_mut(&report.probe).expect("inserted above");
        for gone in probe.keys.difference(&keys) {
            self.series.remove(gone);
        }
        probe.keys = keys;
    }

    pub fn remove_probe(&mut self, probe: &ProbeId) {
        if let Some(history) = self.probes.remove(probe) {
            for key in history.keys {
                self.series.remove(&key);
            }
        }
    }

    pub fn series(&self, key: &MetricKey) -> Option<&VecDeque<Sample>> {
        self.series.get(key)
    }

    /// The sum of several entities' samples, aligned to the sample interval.
    pub fn summed(&self, keys: &[MetricKey]) -> Vec<(u64, f64, u64)> {
        let mut buckets: std::collections::BTreeMap<u64, (f64, u64)> = std::collections::BTreeMap::new();
        let interval_secs = SAMPLE_INTERVAL_MS / 1000;
        for key in keys {
            for sample in self.series.get(key).into_iter().flatten() {
                let bucket = u64::from(sample.t_secs) / interval_secs * interval_secs;
                let entry = buckets.entry(bucket).or_default();
                entry.0 += f64::from(sample.cpu);
                entry.1 += sample.memory_bytes();
            }
        }
        buckets.into_iter().map(|(t, (cpu, memory))| (t * 1000, cpu, memory)).collect()
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use periscope_report::fixtures::ReportBuilder;

    use super::*;

    #[test]
    fn samples_once_per_interval_keeps_fifteen_minutes_and_forgets_gone_entities() {
        let mut history = History::default();
        let report = ReportBuilder::new("a").process(10, "sh", None).build();
        let start = 1_700_000_000_000;
        for step in 0..200 {
            // Every 5 s: only every other call samples.
            history.sample(&report, UnixMillis(start + step * 5_000));
        }
        let key = MetricKey::Process(report.processes.iter().next().unwrap().id.clone());
        let series = history.series(&key).unwrap();
        let span = series.back().unwrap().t_millis() - series.front().unwrap().t_millis();
        assert!((15 * 60 * 1000..=RETENTION_MS).contains(&span), "span {span}");
        assert_eq!(series.len() as u64, RETENTION_MS / SAMPLE_INTERVAL_MS + 1);

        let without = ReportBuilder::new("a").build();
        history.sample(&without, UnixMillis(start + 2_000_000));
        assert!(history.series(&key).is_none());
        history.remove_probe(&report.probe);
        assert!(history.is_empty());
    }
}

//! Recent CPU and memory samples of every host, container and process.
//!
//! Probes send metrics only when they move, so the store samples its own copy
//! of each report at a fixed interval instead of recording frames. A series
//! keeps runs of equal samples: most processes are idle, and at 1,000 hosts
//! (225,000 entities) 16 minutes of separate 12-byte samples would hold
//! ~370 MiB where an idle entity's one run holds 16 bytes.

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

/// The sample interval in seconds: a run's samples stand on this grid.
const INTERVAL_SECS: u32 = (SAMPLE_INTERVAL_MS / 1000) as u32;

/// Equal samples from `first` to `last`, read as one every interval. A
/// probe sends figures only when they move, so while no frame comes (or the
/// frames leave this entity out) its figures held: the run covers the gap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    first: u32,
    last: u32,
    cpu: f32,
    memory_kib: u32,
}

impl Run {
    fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        (self.first..=self.last).step_by(INTERVAL_SECS as usize).map(|t_secs| Sample {
            t_secs,
            cpu: self.cpu,
            memory_kib: self.memory_kib,
        })
    }

    fn len(&self) -> usize {
        ((self.last - self.first) / INTERVAL_SECS) as usize + 1
    }
}

/// One entity's samples, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Series {
    runs: VecDeque<Run>,
}

impl Series {
    fn push(&mut self, sample: Sample) {
        if let Some(run) = self.runs.back_mut() {
            if sample.t_secs <= run.last {
                return;
            }
            if run.cpu.to_bits() == sample.cpu.to_bits() && run.memory_kib == sample.memory_kib {
                run.last = sample.t_secs;
                return;
            }
        }
        if self.runs.capacity() == 0 {
            // An idle entity keeps one run: room for one, not four.
            self.runs.reserve_exact(1);
        }
        let Sample { t_secs, cpu, memory_kib } = sample;
        self.runs.push_back(Run { first: t_secs, last: t_secs, cpu, memory_kib });
    }

    /// Drops the samples older than `oldest`.
    fn drop_before(&mut self, oldest: u32) {
        while let Some(front) = self.runs.front_mut() {
            if front.first < oldest {
                // The run's first sample at or after `oldest`.
                front.first += (oldest - front.first).div_ceil(INTERVAL_SECS) * INTERVAL_SECS;
            }
            if front.first > front.last {
                self.runs.pop_front();
                continue;
            }
            break;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Sample> + '_ {
        self.runs.iter().flat_map(Run::samples)
    }

    pub fn len(&self) -> usize {
        self.runs.iter().map(Run::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

#[derive(Debug)]
pub struct History {
    series: HashMap<MetricKey, Series>,
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
            series.drop_before(oldest);
            series.push(sample);
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

    pub fn series(&self, key: &MetricKey) -> Option<&Series> {
        self.series.get(key)
    }

    /// The sum of several entities' samples, aligned to the sample interval.
    pub fn summed(&self, keys: &[MetricKey]) -> Vec<(u64, f64, u64)> {
        let mut buckets: std::collections::BTreeMap<u64, (f64, u64)> = std::collections::BTreeMap::new();
        let interval_secs = SAMPLE_INTERVAL_MS / 1000;
        for key in keys {
            for sample in self.series.get(key).into_iter().flat_map(Series::iter) {
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
    use proptest::prelude::*;

    use super::*;

    fn at(t_secs: u32, cpu: u8) -> Sample {
        Sample { t_secs, cpu: f32::from(cpu), memory_kib: 7 }
    }

    proptest! {
        /// Samples every interval, figures moving or not, read back exactly;
        /// dropping the old keeps exactly the samples from `oldest` on.
        #[test]
        fn runs_read_back_the_samples(cpus in prop::collection::vec(0u8..3, 1..150), keep in 0u32..1600) {
            let mut series = Series::default();
            let plain: Vec<Sample> = cpus.iter().enumerate().map(|(i, cpu)| at(1_000 + 10 * i as u32, *cpu)).collect();
            plain.iter().for_each(|sample| series.push(*sample));
            prop_assert_eq!(series.iter().collect::<Vec<_>>(), plain.clone());
            prop_assert_eq!(series.len(), plain.len());
            let oldest = plain.last().unwrap().t_secs.saturating_sub(keep);
            series.drop_before(oldest);
            let kept: Vec<Sample> = plain.into_iter().filter(|s| s.t_secs >= oldest).collect();
            prop_assert_eq!(series.iter().collect::<Vec<_>>(), kept);
        }
    }

    /// A probe silent for a while held its figures: the gap reads as the
    /// same figures every interval; a figure that moved starts at its time.
    #[test]
    fn a_gap_holds_the_last_figures() {
        let mut series = Series::default();
        series.push(at(1_000, 1));
        series.push(at(1_040, 1));
        series.push(at(1_061, 2));
        let times: Vec<(u32, f32)> = series.iter().map(|s| (s.t_secs, s.cpu)).collect();
        assert_eq!(times, [(1_000, 1.0), (1_010, 1.0), (1_020, 1.0), (1_030, 1.0), (1_040, 1.0), (1_061, 2.0)]);
        assert_eq!(series.runs.len(), 2);
    }

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
        let samples: Vec<Sample> = series.iter().collect();
        let span = samples.last().unwrap().t_millis() - samples[0].t_millis();
        assert!((15 * 60 * 1000..=RETENTION_MS).contains(&span), "span {span}");
        assert_eq!(series.len() as u64, RETENTION_MS / SAMPLE_INTERVAL_MS + 1);
        assert!(samples.windows(2).all(|pair| pair[1].t_secs - pair[0].t_secs == 10), "every 10 s: {samples:?}");
        assert_eq!(series.runs.len(), 1, "an idle process keeps one run");

        let without = ReportBuilder::new("a").build();
        history.sample(&without, UnixMillis(start + 2_000_000));
        assert!(history.series(&key).is_none());
        history.remove_probe(&report.probe);
        assert!(history.is_empty());
    }
}

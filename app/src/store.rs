//! The store: the merged model, its renderer, metric history, the probe
//! registry and the view subscriptions, changed together on one thread.
//!
//! Everything here is synchronous and takes `now` as an argument; the store
//! thread ([`crate::store_thread`]) runs it, and the async parts (sockets,
//! timers) live in [`crate::state`] and [`crate::api`]. Every view is kept
//! rendered, so a read never renders from scratch and counts are cheap.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use periscope_report::{ApplyError, Delta, HostId, ProbeId, Report, UnixMillis};

use crate::archive::Recorder;
use crate::history::History;
use crate::metrics::Metrics;
use crate::model::Model;
use crate::node_id::NodeId;
use crate::registry::Registry;
use crate::render::details::details;
use crate::render::output::{NodeDetails, ViewGraph};
use crate::render::view_state::Changes;
use crate::render::Renderer;
use crate::subscriptions::{ClientId, Outbox, SubscribeError, Subscriptions};
use crate::view::{ViewId, ViewOptions};

/// A view's node and edge counts with some options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub nodes: usize,
    pub edges: usize,
}

#[derive(Debug)]
pub struct Store {
    pub model: Model,
    pub renderer: Renderer,
    pub history: History,
    pub registry: Registry,
    pub subscriptions: Subscriptions,
    /// Hands what was applied to the history writer (when history is on); never blocks.
    pub recorder: Option<Recorder>,
    metrics: Arc<Metrics>,
    /// The model generation the views were last rendered at.
    rendered: u64,
    /// Counts by view and options, with the generation and time they were taken.
    counted: HashMap<(ViewId, ViewOptions), (u64, UnixMillis, Counts)>,
    /// A big probe left: once its views are rendered without it, give the memory back.
    trim_after_flush: bool,
}

/// A probe reporting this many entities frees enough when it leaves to trim at once.
const BIG_PROBE_ENTITIES: usize = 10_000;

/// Counts of a big view walk every node; on a model that changes all the
/// time they are taken again at most this often (the UI polls them).
pub const COUNTS_MAX_AGE_MS: u64 = 1_000;

/// What happened to a delta.
#[derive(Debug, PartialEq, Eq)]
pub enum DeltaOutcome {
    Applied,
    /// The app holds no report of this probe: a snapshot is needed.
    Unknown,
    Gap(ApplyError),
}

impl Default for Store {
    fn default() -> Self {
        Store::new(Arc::new(Metrics::default()))
    }
}

impl Store {
    pub fn new(metrics: Arc<Metrics>) -> Store {
        let mut model = Model::default();
        let mut renderer = Renderer::new();
        for view in ViewId::ALL {
            renderer.materialize(view, &mut model);
        }
        renderer.take_deferred_changes();
        Store {
            model,
            renderer,
            history: History::default(),
            registry: Registry::default(),
            subscriptions: Subscriptions::default(),
            recorder: None,
            metrics,
            rendered: 0,
            counted: HashMap::new(),
            trim_after_flush: false,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn insert_snapshot(&mut self, mut report: Report, now: UnixMillis) {
        if let Some(alias) = self.registry.host_alias(&report.probe) {
            report.rekey_host(alias);
        }
        self.history.sample(&report, now);
        if let Some(recorder) = &mut self.recorder {
            recorder.snapshot(now, &report);
        }
        self.model.insert_snapshot(report);
    }

    pub fn apply_delta(&mut self, mut delta: Delta, now: UnixMillis) -> DeltaOutcome {
        if let Some(alias) = self.registry.host_alias(&delta.probe) {
            delta.rekey_host(alias);
        }
        let probe = delta.probe.clone();
        let copy = self.recorder.as_ref().map(|_| delta.clone());
        match self.model.apply_delta(delta) {
            Ok(true) => {
                if let Some(report) = self.model.report(&probe) {
                    self.history.sample(report, now);
                    if let (Some(recorder), Some(copy)) = (&mut self.recorder, copy) {
                        recorder.delta(now, copy, report);
                    }
                }
                DeltaOutcome::Applied
            }
            Ok(false) => DeltaOutcome::Unknown,
            Err(error) => DeltaOutcome::Gap(error),
        }
    }

    pub fn remove_probe(&mut self, probe: &ProbeId) {
        if let Some(report) = self.model.remove(probe) {
            self.trim_after_flush |= crate::validate::entities(&report) >= BIG_PROBE_ENTITIES;
            if let Some(recorder) = &mut self.recorder {
                recorder.removed(crate::clock::now(), probe);
            }
        }
        self.history.remove_probe(probe);
    }

    /// True when the model changed since the views were last rendered.
    pub fn is_dirty(&self) -> bool {
        self.model.generation() != self.rendered
    }

    /// Renders what changed into every view and sends the diffs to subscribers.
    pub fn flush(&mut self) -> Vec<(ViewId, Changes)> {
        if !self.is_dirty() {
            return Vec::new();
        }
        let started = Instant::now();
        let changes = self.renderer.update(&mut self.model);
        self.rendered = self.model.generation();
        self.subscriptions.publish(&self.renderer, &changes, &self.metrics);
        self.metrics.record_render(started.elapsed());
        if std::mem::take(&mut self.trim_after_flush) {
            // On the store's own thread, which just freed the probe's views; ~1 ms.
            crate::limits::return_freed_memory();
        }
        changes
    }

    /// Subscribes a view client; its outbox gets the full view, then diffs.
    pub fn subscribe(
        &mut self,
        view: ViewId,
        options: ViewOptions,
        outbox: Outbox,
    ) -> Result<ClientId, SubscribeError> {
        self.flush();
        self.subscriptions.subscribe(&self.renderer, view, options, outbox)
    }

    pub fn unsubscribe(&mut self, client: ClientId) {
        self.subscriptions.unsubscribe(client);
    }

    pub fn graph(&mut self, view: ViewId, options: &ViewOptions) -> Option<ViewGraph> {
        self.flush();
        let state = self.renderer.view(view)?;
        let (nodes, edges) = state.full(options);
        Some(ViewGraph { view: view.as_str(), nodes, edges })
    }

    pub fn details(&mut self, view: ViewId, node: &NodeId, options: &ViewOptions) -> Option<NodeDetails> {
        self.flush();
        let state = self.renderer.view(view)?;
        let mut details = details(&self.renderer.ctx(&self.model), state, node, options, &self.history)?;
        details.controls = crate::control::offered(&self.model, node);
        Some(details)
    }

    /// Node and edge counts of a view with these options: taken again when
    /// the model changed, but at most every [`COUNTS_MAX_AGE_MS`].
    pub fn counts(&mut self, view: ViewId, options: &ViewOptions, now: UnixMillis) -> Counts {
        self.flush();
        // A watched view's clients hold it: its counts cost nothing.
        if let Some((nodes, edges)) = self.subscriptions.counts(view, options) {
            return Counts { nodes, edges };
        }
        if let Some((generation, at, counts)) = self.counted.get(&(view, *options)) {
            if *generation == self.rendered || now.0.saturating_sub(at.0) < COUNTS_MAX_AGE_MS {
                return *counts;
            }
        }
        let counts = self.counts_now(view, options);
        self.counted.insert((view, *options), (self.rendered, now, counts));
        counts
    }

    /// Counts as of the last render, without rendering (for scrapes).
    pub fn counts_now(&self, view: ViewId, options: &ViewOptions) -> Counts {
        let (nodes, edges) = self.renderer.view(view).map(|state| state.counts(options)).unwrap_or_default();
        Counts { nodes, edges }
    }

    /// The probe reporting `host` now, other than `probe`.
    pub fn host_owner(&self, host: &HostId, probe: &ProbeId) -> Option<ProbeId> {
        self.model.reports().find(|report| report.host.id == *host && report.probe != *probe).map(|r| r.probe.clone())
    }
}

#[cfg(test)]
mod tests {
    //! The incremental renderer and the subscriptions are the riskiest code:
    //! random sequences of snapshots, deltas and removals over three hosts that
    //! talk to each other must give the views a fresh render gives, and a
    //! client's first view plus every diff it was sent must equal the view.

    use std::collections::BTreeMap;

    use periscope_report::fixtures::{ReportBuilder, HOST_NETNS};
    use periscope_report::{diff, PortMapping, Protocol};
    use proptest::prelude::*;
    use serde_json::Value;
    use tokio::sync::mpsc;

    use super::*;
    use crate::subscriptions::Outgoing;
    use crate::view::Stopped;

    const HOSTS: [&str; 3] = ["a", "b", "c"];
    const CONTAINER_NETNS: u64 = 4026532000;

    /// One host's state, drawn from small pools so that sockets on different
    /// hosts find each other (same bridge IPs on every host, host IPs,
    /// published ports, a public address).
    #[derive(Debug, Clone)]
    struct HostPlan {
        containers: Vec<(u8, bool, bool)>,
        host_processes: Vec<u8>,
        sockets: Vec<(u8, u8, u8, u8)>,
        flows: Vec<(u8, u8)>,
        cpu: u8,
    }

    fn arb_plan() -> impl Strategy<Value = HostPlan> {
        (
            prop::collection::vec((0u8..4, any::<bool>(), any::<bool>()), 0..4),
            prop::collection::vec(0u8..3, 0..3),
            prop::collection::vec((0u8..6, 0u8..7, 0u8..3, 0u8..4), 0..8),
            prop::collection::vec((0u8..4, 0u8..4), 0..3),
            0u8..4,
        )
            .prop_map(|(containers, host_processes, sockets, flows, cpu)| HostPlan {
                containers,
                host_processes,
                sockets,
                flows,
                cpu,
            })
    }

    fn build(host: usize, plan: &HostPlan, seq: u64) -> Report {
        let name = HOSTS[host];
        let host_ip = format!("10.0.0.{}", host + 1);
        let mut builder = ReportBuilder::new(name)
            .seq(seq)
            .interface("eth0", &format!("{host_ip}/24"))
            .interface("docker0", "172.17.0.1/16");
        let mut containers = BTreeMap::new();
        for &(slot, running, published) in &plan.containers {
            containers.insert(slot, (running, published));
        }
        for (&slot, &(running, published)) in &containers {
            let id = format!("{name}{slot}");
            builder = builder
                .container(
                    &id,
                    &format!("c-{id}"),
                    if slot % 2 == 0 { "web" } else { "db" },
                    &format!("172.17.0.{}", slot + 2),
                )
                .edit_container(&id, |container| {
                    if !running {
                        container.state = periscope_report::ContainerState::Exited;
                    }
                    if published {
                        container.ports.push(PortMapping {
                            protocol: Protocol::Tcp,
                            host_ip: "0.0.0.0".parse().unwrap(),
                            host_port: 8000 + u16::from(slot),
                            container_port: 80,
                        });
                    }
                    if let Some(stats) = container.stats.as_mut() {
                        stats.cpu_percent = f64::from(plan.cpu);
                    }
                })
                .process(100 + u32::from(slot), "server", Some(&id));
        }
        for &pid in &plan.host_processes {
            builder = builder.process(10 + u32::from(pid), "agent", None);
        }
        let remotes = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "172.17.0.2", "172.17.0.3", "8.8.8.8"];
        let ports = [80u16, 5432, 8000, 8001];
        for &(local, remote, kind, port) in &plan.sockets {
            let port = ports[usize::from(port)];
            let (netns, pid, local_ip) = if local < 4 && containers.contains_key(&local) {
                (CONTAINER_NETNS + u64::from(local), Some(100 + u32::from(local)), format!("172.17.0.{}", local + 2))
            } else {
                (HOST_NETNS, plan.host_processes.first().map(|p| 10 + u32::from(*p)), host_ip.clone())
            };
            match (kind, remote) {
                (0, _) | (_, 6) => builder = builder.tcp(netns, pid, &format!("{local_ip}:{port}"), None),
                _ => {
                    let remote = remotes[usize::from(remote)];
                    let ephemeral = 40000 + u16::from(local) * 10 + u16::from(kind);
                    builder =
                        builder.tcp(netns, pid, &format!("{local_ip}:{ephemeral}"), Some(&format!("{remote}:{port}")));
                }
            }
        }
        for &(source, target) in &plan.flows {
            let client = format!("172.17.0.{}:0", source + 2);
            let server = format!("{}:80", remotes[usize::from(target)]);
            builder = builder.conntrack(&client, &server, &server);
        }
        builder.build()
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// A probe connects (or reconnects) with a snapshot.
        Snapshot(usize, HostPlan),
        /// A connected probe moves to a new state by a delta.
        Delta(usize, HostPlan),
        Remove(usize),
    }

    fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            1 => (0usize..3, arb_plan()).prop_map(|(host, plan)| Step::Snapshot(host, plan)),
            3 => (0usize..3, arb_plan()).prop_map(|(host, plan)| Step::Delta(host, plan)),
            1 => (0usize..3).prop_map(Step::Remove),
        ];
        prop::collection::vec(step, 1..12)
    }

    const OPTIONS: [ViewOptions; 3] = [
        ViewOptions { stopped: Stopped::Hide, show_system: false, show_unconnected: true },
        ViewOptions { stopped: Stopped::Show, show_system: true, show_unconnected: false },
        ViewOptions { stopped: Stopped::Only, show_system: false, show_unconnected: true },
    ];

    /// Plays the steps on `store`; calls `after` after each with the reports held.
    fn play(store: &mut Store, steps: &[Step], mut after: impl FnMut(&mut Store, &[Report])) {
        let mut held: BTreeMap<usize, Report> = BTreeMap::new();
        for (index, step) in steps.iter().enumerate() {
            let seq = index as u64 + 1;
            match step {
                Step::Snapshot(host, plan) => {
                    let report = build(*host, plan, seq);
                    store.insert_snapshot(report.clone(), UnixMillis(seq * 1000));
                    held.insert(*host, report);
                }
                Step::Delta(host, plan) => {
                    let Some(previous) = held.get(host) else { continue };
                    let next = build(*host, plan, previous.seq + 1);
                    assert_eq!(store.apply_delta(diff(previous, &next), UnixMillis(seq * 1000)), DeltaOutcome::Applied);
                    held.insert(*host, next);
                }
                Step::Remove(host) => {
                    if let Some(report) = held.remove(host) {
                        store.remove_probe(&report.probe);
                    }
                }
            }
            let reports: Vec<Report> = held.values().cloned().collect();
            after(store, &reports);
        }
    }

    fn fresh(reports: &[Report], view: ViewId, options: &ViewOptions) -> ViewGraph {
        let mut store = Store::default();
        for report in reports {
            store.insert_snapshot(report.clone(), UnixMillis(0));
        }
        store.graph(view, options).unwrap()
    }

    /// A client's copy of a view, kept from the messages it was sent.
    #[derive(Default)]
    struct ClientCopy {
        nodes: BTreeMap<String, Value>,
        edges: BTreeMap<String, Value>,
    }

    impl ClientCopy {
        fn apply(&mut self, message: Value) {
            let kind = message["type"].as_str().unwrap().to_owned();
            for (part, copy) in [("nodes", &mut self.nodes), ("edges", &mut self.edges)] {
                if kind == "full" {
                    copy.clear();
                    for item in message[part].as_array().unwrap() {
                        copy.insert(item["id"].as_str().unwrap().to_owned(), item.clone());
                    }
                    continue;
                }
                for id in message[part]["remove"].as_array().unwrap() {
                    assert!(copy.remove(id.as_str().unwrap()).is_some(), "removed {id} was never sent");
                }
                for item in message[part]["add"].as_array().unwrap() {
                    let id = item["id"].as_str().unwrap().to_owned();
                    assert!(copy.insert(id.clone(), item.clone()).is_none(), "added {id} twice");
                }
                // An update carries the id and the fields that changed: merge them in.
                for item in message[part]["update"].as_array().unwrap() {
                    let id = item["id"].as_str().unwrap().to_owned();
                    let held = copy.get_mut(&id).unwrap_or_else(|| panic!("updated {id} it never had"));
                    let changed = item.as_object().unwrap();
                    assert!(changed.len() > 1, "an update of {id} that changes nothing");
                    for (key, value) in changed.iter().filter(|(key, _)| *key != "id") {
                        assert_ne!(held.get(key), Some(value), "{id}: {key} sent unchanged");
                        held[key] = value.clone();
                    }
                }
            }
        }

        fn matches(&self, graph: &ViewGraph) -> bool {
            let graph = serde_json::to_value(graph).unwrap();
            let ids = |part: &str| -> BTreeMap<String, Value> {
                graph[part]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| (v["id"].as_str().unwrap().to_owned(), v.clone()))
                    .collect()
            };
            self.nodes == ids("nodes") && self.edges == ids("edges")
        }
    }

    fn drain(outbox: &mut mpsc::Receiver<Outgoing>, copy: &mut ClientCopy) {
        while let Ok(message) = outbox.try_recv() {
            let value = match message {
                Outgoing::Full(message) => serde_json::to_value(&message).unwrap(),
                Outgoing::Diff(text) => serde_json::from_str(&text).unwrap(),
            };
            copy.apply(value);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn incremental_views_equal_a_fresh_render(steps in arb_steps()) {
            let mut store = Store::default();
            play(&mut store, &steps, |store, reports| {
                for view in ViewId::ALL {
                    for options in &OPTIONS {
                        let incremental = store.graph(view, options).unwrap();
                        assert_eq!(incremental, fresh(reports, view, options), "{view} with {options:?}");
                    }
                }
            });
        }

        #[test]
        fn a_clients_first_view_plus_its_diffs_equal_the_view(steps in arb_steps(), join in 0usize..12) {
            let mut store = Store::default();
            let mut clients = Vec::new();
            let mut step = 0;
            play(&mut store, &steps, |store, _| {
                step += 1;
                if step == join.min(steps.len()) || step == 1 {
                    for view in ViewId::ALL {
                        for options in OPTIONS {
                            let (outbox, messages) = mpsc::channel(1024);
                            store.subscribe(view, options, outbox).unwrap();
                            clients.push((view, options, messages, ClientCopy::default()));
                        }
                    }
                }
                store.flush();
                for (view, options, messages, copy) in &mut clients {
                    drain(messages, copy);
                    let graph = store.graph(*view, options).unwrap();
                    assert!(copy.matches(&graph), "{view} with {options:?} differs from what the client holds");
                    // A watched view's counts come from its clients' copy: they must be the view's.
                    let watched = store.counts(*view, options, UnixMillis(0));
                    assert_eq!(watched, store.counts_now(*view, options), "{view} with {options:?}: counts");
                }
            });
        }
    }
}

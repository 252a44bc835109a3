//! Docker containers and images, through bollard on the engine's socket.
//!
//! A task ([`follow`]) keeps a [`DockerView`] current: a full listing with one
//! inspect per container on (re)connect, then the event stream, where each
//! container event re-inspects just that container and pokes the publish
//! loop for an immediate delta. When the engine is absent or goes away the
//! task logs once, marks the source unavailable and retries with backoff;
//! the last known containers stay in the report until a new listing
//! replaces them (processes keep their container from cgroups meanwhile).
//! Container stats are not asked of Docker at all: see `cgroup`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, EventMessage, EventMessageTypeEnum, HealthStatusEnum,
};
use bollard::query_parameters::{EventsOptions, ListContainersOptions, ListImagesOptions};
use bollard::Docker;
use futures_util::StreamExt;
use periscope_report::{
    Container, ContainerId, ContainerNetwork, ContainerState, Health, Image, ImageId, PortMapping, Protocol, Source,
    SourceState, SourceStatus, UnixMillis,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::collect::capabilities::Capabilities;
use crate::collect::{Collector, Pass};

const REQUEST_TIMEOUT_SECS: u64 = 10;
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// What the probe knows of Docker right now.
#[derive(Debug, Clone)]
pub struct DockerView {
    pub containers: BTreeMap<ContainerId, Container>,
    pub images: BTreeMap<ImageId, Image>,
    /// Network ID → driver, so each container network says whether its addresses are host-local.
    pub drivers: HashMap<String, String>,
    pub status: SourceState,
    /// Containers Docker sent an `oom` event for since they last started. Docker's own
    /// `State.OOMKilled` comes from its exit notice, which can race the OOM notice and miss it.
    pub oom_killed: HashSet<ContainerId>,
}

impl DockerView {
    pub fn new(status: SourceState) -> DockerView {
        DockerView {
            containers: BTreeMap::new(),
            images: BTreeMap::new(),
            drivers: HashMap::new(),
            status,
            oom_killed: HashSet::new(),
        }
    }
}

/// Copies the view into each report, stats left for the cgroup collector.
///
/// A container that stops loses its addresses in Docker's view at once, but
/// the connections it made (conntrack flows, traced flows, sockets of its
/// peers) linger for a while; without an owner their address would show as
/// an unknown node. So a stopped container keeps listing the addresses it
/// had while running for `linger`, and the app (where a running container
/// wins an address over a stopped one) still knows whose they were.
pub struct DockerCollector {
    view: Arc<Mutex<DockerView>>,
    linger: Duration,
    /// Networks of containers last seen running, and since when each has been stopped.
    last_networks: HashMap<ContainerId, (Vec<ContainerNetwork>, Option<Instant>)>,
}

impl DockerCollector {
    pub fn new(view: Arc<Mutex<DockerView>>, linger: Duration) -> DockerCollector {
        DockerCollector { view, linger, last_networks: HashMap::new() }
    }
}

impl Collector for DockerCollector {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn collect(&mut self, pass: &mut Pass<'_>) {
        let Ok(view) = self.view.lock() else { return };
        let now = pass.now;
        for container in view.containers.values() {
            let mut container = container.clone();
            let has_addresses = container.networks.iter().any(|network| !network.addresses.is_empty());
            if !container.state.is_stopped() && has_addresses {
                self.last_networks.insert(container.id.clone(), (container.networks.clone(), None));
            } else if container.state.is_stopped() {
                if let Some((networks, stopped_at)) = self.last_networks.get_mut(&container.id) {
                    if now.duration_since(*stopped_at.get_or_insert(now)) < self.linger {
                        container.networks = networks.clone();
                    }
                }
            }
            pass.report.containers.insert(container);
        }
        let linger = self.linger;
        self.last_networks.retain(|id, (_, stopped_at)| {
            view.containers.contains_key(id) && stopped_at.is_none_or(|at| now.duration_since(at) < linger)
        });
        for image in view.images.values() {
            pass.report.images.insert(image.clone());
        }
        pass.sources.push(SourceStatus { source: Source::Docker, state: view.status.clone() });
    }
}

/// Keeps `view` current until dropped, sending on `changed` after each change.
/// `capabilities` tells a socket that denies the probe from an absent engine.
pub async fn follow(
    socket: &Path,
    view: Arc<Mutex<DockerView>>,
    changed: mpsc::Sender<()>,
    capabilities: Arc<Capabilities>,
) {
    let mut delay = RETRY_MIN;
    let mut outage_logged = false;
    loop {
        let status = match session(socket, &view, &changed).await {
            Ok(()) => {
                warn!(socket = %socket.display(), "Docker event stream ended; reconnecting");
                outage_logged = true;
                delay = RETRY_MIN;
                SourceState::Unavailable { reason: format!("the Docker event stream at {} ended", socket.display()) }
            }
            Err(error) => {
                let status = capabilities.docker_socket_state(socket, &error);
                if !outage_logged {
                    warn!(socket = %socket.display(), reason = status.reason().unwrap_or_default(), "Docker unavailable; reporting host, processes and sockets without it, and retrying");
                    outage_logged = true;
                } else {
                    debug!(error = %error, "Docker still unavailable");
                }
                delay = (delay * 2).min(RETRY_MAX);
                status
            }
        };
        if let Ok(mut view) = view.lock() {
            view.status = status;
        }
        let _ = changed.try_send(()); // Full means a poke is already pending.
        tokio::time::sleep(delay).await;
    }
}

/// A one-off listing, for `--once`.
pub async fn snapshot(socket: &Path) -> Result<DockerView, bollard::errors::Error> {
    let docker = connect(socket).await?;
    let drivers = list_drivers(&docker).await?;
    Ok(DockerView {
        containers: list_all(&docker, &drivers).await?,
        images: list_images(&docker).await?,
        drivers,
        status: SourceState::Active,
        oom_killed: HashSet::new(),
    })
}

async fn connect(socket: &Path) -> Result<Docker, bollard::errors::Error> {
    Docker::connect_with_unix(&socket.to_string_lossy(), REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)?
        .negotiate_version()
        .await
}

/// One connection: list everything, then follow events until the stream ends.
async fn session(
    socket: &Path,
    view: &Mutex<DockerView>,
    changed: &mpsc::Sender<()>,
) -> Result<(), bollard::errors::Error> {
    let docker = connect(socket).await?;
    let since = unix_seconds();
    let drivers = list_drivers(&docker).await?;
    let containers = list_all(&docker, &drivers).await?;
    let images = list_images(&docker).await?;
    if let Ok(mut view) = view.lock() {
        view.containers = containers;
        view.images = images;
        view.drivers = drivers;
        view.status = SourceState::Active;
    }
    info!(socket = %socket.display(), "following Docker events");
    let _ = changed.try_send(());

    let filters =
        HashMap::from([("type".to_owned(), vec!["container".to_owned(), "network".to_owned(), "image".to_owned()])]);
    let mut events =
        docker.events(Some(EventsOptions { since: Some(since.to_string()), until: None, filters: Some(filters) }));
    while let Some(event) = events.next().await {
        let event = event?;
        if handle_event(&docker, view, &event).await {
            let _ = changed.try_send(());
        }
    }
    Ok(())
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

async fn list_drivers(docker: &Docker) -> Result<HashMap<String, String>, bollard::errors::Error> {
    let networks = docker.list_networks(None).await?;
    Ok(networks.into_iter().filter_map(|network| Some((network.id?, network.driver.unwrap_or_default()))).collect())
}

async fn list_all(
    docker: &Docker,
    drivers: &HashMap<String, String>,
) -> Result<BTreeMap<ContainerId, Container>, bollard::errors::Error> {
    let summaries = docker.list_containers(Some(ListContainersOptions { all: true, ..Default::default() })).await?;
    let mut containers = BTreeMap::new();
    for summary in summaries {
        let Some(id) = summary.id else { continue };
        match docker.inspect_container(&id, None).await {
            Ok(inspect) => {
                if let Some(container) = container_from_inspect(&inspect, drivers) {
                    containers.insert(container.id.clone(), container);
                }
            }
            // Removed between list and inspect.
            Err(error) => debug!(container = %id, %error, "inspect failed"),
        }
    }
    Ok(containers)
}

async fn list_images(docker: &Docker) -> Result<BTreeMap<ImageId, Image>, bollard::errors::Error> {
    let summaries = docker.list_images(Some(ListImagesOptions::default())).await?;
    Ok(summaries
        .into_iter()
        .map(|summary| {
            let id = ImageId::new(summary.id);
            let tags = summary.repo_tags.into_iter().filter(|tag| tag != "<none>:<none>").collect();
            (id.clone(), Image { id, tags, size_bytes: u64::try_from(summary.size).unwrap_or(0) })
        })
        .collect())
}

/// Applies one event to the view; true when the view changed.
async fn handle_event(docker: &Docker, view: &Mutex<DockerView>, event: &EventMessage) -> bool {
    let action = event.action.as_deref().unwrap_or("");
    let actor = event.actor.as_ref();
    match event.typ {
        Some(EventMessageTypeEnum::CONTAINER) => {
            // exec_*, attach, resize, top and the like change nothing we report.
            let relevant = matches!(
                action.split(':').next().unwrap_or(""),
                "create"
                    | "start"
                    | "restart"
                    | "die"
                    | "stop"
                    | "kill"
                    | "pause"
                    | "unpause"
                    | "rename"
                    | "destroy"
                    | "update"
                    | "oom"
                    | "health_status"
            );
            let Some(id) = actor.and_then(|a| a.id.clone()) else { return false };
            if let Ok(mut view) = view.lock() {
                match action {
                    "oom" => {
                        view.oom_killed.insert(ContainerId::new(id.as_str()));
                    }
                    "start" | "destroy" => {
                        view.oom_killed.remove(&ContainerId::new(id.as_str()));
                    }
                    _ => {}
                }
            }
            relevant && refresh_container(docker, view, &id, action == "destroy").await
        }
        Some(EventMessageTypeEnum::NETWORK) if matches!(action, "connect" | "disconnect") => {
            let container =
                actor.and_then(|a| a.attributes.as_ref()).and_then(|attributes| attributes.get("container"));
            match container {
                Some(id) => refresh_container(docker, view, id, false).await,
                None => false,
            }
        }
        Some(EventMessageTypeEnum::IMAGE) => match list_images(docker).await {
            Ok(images) => {
                if let Ok(mut view) = view.lock() {
                    view.images = images;
                }
                true
            }
            Err(error) => {
                debug!(%error, "listing images failed");
                false
            }
        },
        _ => false,
    }
}

async fn refresh_container(docker: &Docker, view: &Mutex<DockerView>, id: &str, destroyed: bool) -> bool {
    let container = if destroyed {
        None
    } else {
        match docker.inspect_container(id, None).await {
            Ok(inspect) => {
                // A network created since the last listing: learn its driver first.
                let known = view.lock().map(|view| view.drivers.clone()).unwrap_or_default();
                let networks = inspect.network_settings.as_ref().and_then(|s| s.networks.as_ref());
                let unknown = networks
                    .into_iter()
                    .flatten()
                    .any(|(_, endpoint)| endpoint.network_id.as_ref().is_some_and(|id| !known.contains_key(id)));
                let drivers = match unknown {
                    true => list_drivers(docker).await.unwrap_or(known),
                    false => known,
                };
                let container = container_from_inspect(&inspect, &drivers);
                if let Ok(mut view) = view.lock() {
                    view.drivers = drivers;
                }
                container
            }
            Err(error) => {
                // Gone already (a destroy event follows), or Docker is going away.
                debug!(container = %id, %error, "inspect after event failed");
                None
            }
        }
    };
    let known_image =
        container.as_ref().is_none_or(|c| view.lock().map(|v| v.images.contains_key(&c.image)).unwrap_or(true));
    if !known_image {
        if let Ok(images) = list_images(docker).await {
            if let Ok(mut view) = view.lock() {
                view.images = images;
            }
        }
    }
    let Ok(mut view) = view.lock() else { return false };
    match container {
        Some(mut container) => {
            container.oom_killed |= view.oom_killed.contains(&container.id);
            view.containers.insert(container.id.clone(), container.clone()).as_ref() != Some(&container)
        }
        None => view.containers.remove(&ContainerId::new(id)).is_some(),
    }
}

/// Builds a [`Container`] from `docker inspect` output and the drivers of Docker's networks
/// (by network ID); `None` without an ID.
pub fn container_from_inspect(
    inspect: &ContainerInspectResponse,
    drivers: &HashMap<String, String>,
) -> Option<Container> {
    let id = inspect.id.clone()?;
    let config = inspect.config.as_ref();
    let state = inspect.state.as_ref();
    let status = match state.and_then(|s| s.status) {
        Some(ContainerStateStatusEnum::CREATED) => ContainerState::Created,
        Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
        Some(ContainerStateStatusEnum::PAUSED) => ContainerState::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => ContainerState::Restarting,
        Some(ContainerStateStatusEnum::REMOVING) => ContainerState::Removing,
        Some(ContainerStateStatusEnum::DEAD) => ContainerState::Dead,
        _ => ContainerState::Exited,
    };
    let health = match state.and_then(|s| s.health.as_ref()).and_then(|h| h.status) {
        Some(HealthStatusEnum::STARTING) => Some(Health::Starting),
        Some(HealthStatusEnum::HEALTHY) => Some(Health::Healthy),
        Some(HealthStatusEnum::UNHEALTHY) => Some(Health::Unhealthy),
        _ => None,
    };
    let main_pid = state
        .and_then(|s| s.pid)
        .filter(|pid| {
            *pid > 0 && matches!(status, ContainerState::Running | ContainerState::Paused | ContainerState::Restarting)
        })
        .and_then(|pid| u32::try_from(pid).ok());
    let finished = state.and_then(|s| s.finished_at.as_deref()).and_then(parse_rfc3339_millis).filter(|t| t.0 > 0);
    let mut command: Vec<String> = inspect.path.iter().cloned().collect();
    command.extend(inspect.args.iter().flatten().cloned());
    let settings = inspect.network_settings.as_ref();
    let mut networks: Vec<ContainerNetwork> = settings
        .and_then(|s| s.networks.as_ref())
        .into_iter()
        .flatten()
        .map(|(name, endpoint)| ContainerNetwork {
            name: name.clone(),
            driver: endpoint.network_id.as_ref().and_then(|id| drivers.get(id)).cloned().unwrap_or_default(),
            addresses: [endpoint.ip_address.as_deref(), endpoint.global_ipv6_address.as_deref()]
                .into_iter()
                .flatten()
                .filter_map(|ip| ip.parse::<IpAddr>().ok())
                .collect(),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ports: Vec<PortMapping> = settings
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|(key, bindings)| Some((parse_port_key(key)?, bindings.as_ref()?)))
        .flat_map(|((container_port, protocol), bindings)| {
            bindings.iter().filter_map(move |binding| {
                Some(PortMapping {
                    protocol,
                    host_ip: binding
                        .host_ip
                        .as_deref()
                        .filter(|ip| !ip.is_empty())
                        .unwrap_or("0.0.0.0")
                        .parse()
                        .ok()?,
                    host_port: binding.host_port.as_deref()?.parse().ok()?,
                    container_port,
                })
            })
        })
        .collect();
    ports.sort();
    ports.dedup();
    Some(Container {
        id: ContainerId::new(id),
        name: inspect.name.as_deref().unwrap_or("").trim_start_matches('/').to_owned(),
        image: ImageId::new(inspect.image.clone().unwrap_or_default()),
        image_name: config.and_then(|c| c.image.clone()).unwrap_or_default(),
        command: crate::collect::redact::redact_command(&command.join(" ")),
        hostname: config.and_then(|c| c.hostname.clone()).unwrap_or_default(),
        labels: config
            .and_then(|c| c.labels.as_ref())
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        state: status,
        health,
        created: inspect.created.as_deref().and_then(parse_rfc3339_millis).unwrap_or_default(),
        started: state.and_then(|s| s.started_at.as_deref()).and_then(parse_rfc3339_millis).filter(|t| t.0 > 0),
        restart_count: inspect.restart_count.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
        // Docker keeps the last exit code while the container runs again (0 before it ever stopped);
        // it is meaningful once there is a finish time.
        exit_code: finished.and(state.and_then(|s| s.exit_code)).and_then(|code| i32::try_from(code).ok()),
        oom_killed: state.and_then(|s| s.oom_killed).unwrap_or(false),
        finished,
        networks,
        ports,
        main_pid,
        stats: None,
    })
}

/// `80/tcp` → (80, Tcp); other protocols (sctp) are not modelled.
pub fn parse_port_key(key: &str) -> Option<(u16, Protocol)> {
    let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((port.parse().ok()?, protocol.parse().ok()?))
}

/// Docker's timestamps (`2024-11-28T18:06:12.123456789Z`, or with an offset)
/// as Unix milliseconds; Docker's zero time (`0001-01-01…`) and anything
/// before 1970 give 0, garbage gives `None`.
pub fn parse_rfc3339_millis(text: &str) -> Option<UnixMillis> {
    let bytes = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let slice = text.get(from..from + len)?;
        slice.bytes().all(|b| b.is_ascii_digit()).then(|| slice.parse().ok())?
    };
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if bytes.get(4) != Some(&b'-') || bytes.get(10).is_none_or(|b| *b != b'T' && *b != b' ') {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let fraction = text.get(start..at)?;
        let first3: String = fraction.chars().chain(std::iter::repeat('0')).take(3).collect();
        millis = first3.parse().ok()?;
    }
    let offset_secs = match bytes.get(at) {
        Some(b'Z') | Some(b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let value = digits(at + 1, 2)? * 3600 + digits(at + 4, 2)? * 60;
            if *sign == b'+' {
                value
            } else {
                -value
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(UnixMillis(u64::try_from(seconds * 1000 + millis).unwrap_or(0)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use periscope_report::fixtures::ReportBuilder;

    use super::*;

    #[test]
    fn a_stopped_container_keeps_its_addresses_while_its_flows_linger() {
        let running = ReportBuilder::new("a").container("c1", "client", "busybox", "172.17.0.12").build();
        let container = running.containers.iter().next().unwrap().clone();
        let view = Arc::new(Mutex::new(DockerView::new(SourceState::Active)));
        view.lock().unwrap().containers.insert(container.id.clone(), container.clone());
        let mut collector = DockerCollector::new(view.clone(), Duration::from_secs(60));
        let start = Instant::now();
        let collect = |collector: &mut DockerCollector, at: Instant| {
            let mut report = ReportBuilder::new("a").build();
            let mut pass =
                Pass { now: at, report: &mut report, processes: Vec::new(), pids: Vec::new(), sources: Vec::new() };
            collector.collect(&mut pass);
            let addresses = report
                .containers
                .iter()
                .next()
                .map(|c| c.networks.iter().flat_map(|n| n.addresses.clone()).collect::<Vec<_>>());
            addresses
        };
        assert_eq!(collect(&mut collector, start), Some(vec!["172.17.0.12".parse().unwrap()]));
        // `docker kill`: Docker's view loses the address at once.
        {
            let mut view = view.lock().unwrap();
            let killed = view.containers.get_mut(&container.id).unwrap();
            killed.state = ContainerState::Exited;
            killed.networks[0].addresses.clear();
        }
        let kept = collect(&mut collector, start + Duration::from_secs(1));
        assert_eq!(kept, Some(vec!["172.17.0.12".parse().unwrap()]), "kept while its flows linger");
        assert_eq!(collect(&mut collector, start + Duration::from_secs(62)), Some(vec![]), "then dropped");
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339_millis("1970-01-01T00:00:00Z"), Some(UnixMillis(0)));
        assert_eq!(parse_rfc3339_millis("2024-11-28T18:06:12.123456789Z"), Some(UnixMillis(1_732_817_172_123)));
        assert_eq!(parse_rfc3339_millis("2024-11-28T19:06:12.5+01:00"), Some(UnixMillis(1_732_817_172_500)));
        assert_eq!(parse_rfc3339_millis("0001-01-01T00:00:00Z"), Some(UnixMillis(0)));
        assert_eq!(parse_rfc3339_millis("yesterday"), None);
        assert_eq!(parse_rfc3339_millis("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_millis("2024-11-28T18:06:12"), None);
    }

    #[test]
    fn port_keys() {
        assert_eq!(parse_port_key("80/tcp"), Some((80, Protocol::Tcp)));
        assert_eq!(parse_port_key("53/udp"), Some((53, Protocol::Udp)));
        assert_eq!(parse_port_key("132/sctp"), None);
        assert_eq!(parse_port_key("http/tcp"), None);
    }

    #[test]
    fn inspect_captured_from_docker() {
        let text =
            std::fs::read_to_string(format!("{}/testdata/docker_inspect.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let inspects: Vec<ContainerInspectResponse> = serde_json::from_str(&text).unwrap();
        let endpoint_ids = inspects[0]
            .network_settings
            .as_ref()
            .and_then(|s| s.networks.as_ref())
            .map(|networks| networks.values().filter_map(|e| e.network_id.clone()).collect::<Vec<_>>())
            .unwrap_or_default();
        let drivers: HashMap<String, String> = endpoint_ids.into_iter().map(|id| (id, "bridge".to_owned())).collect();
        let container = container_from_inspect(&inspects[0], &drivers).unwrap();
        assert_eq!(container.name, "periscope-capture");
        assert_eq!(container.image_name, "periscope-test-busybox:latest");
        assert!(container.image.as_str().starts_with("sha256:"));
        assert_eq!(container.state, ContainerState::Running);
        assert_eq!(container.labels.get("com.docker.compose.project").map(String::as_str), Some("shop"));
        assert_eq!(container.compose_service(), Some("web"));
        assert_eq!(container.command, "httpd -f -p 80 -h /www");
        assert!(container.main_pid.is_some());
        assert!(container.created.0 > 1_600_000_000_000 && container.started.is_some());
        // Running and never stopped: no exit code yet.
        assert_eq!((container.exit_code, container.oom_killed, container.finished), (None, false, None));
        assert_eq!(container.networks.len(), 1);
        assert_eq!(container.networks[0].name, "bridge");
        assert_eq!(container.networks[0].driver, "bridge");
        assert!(container.networks[0].addresses.iter().any(|ip| ip.is_ipv4()));
        assert_eq!(
            container.ports,
            vec![PortMapping {
                protocol: Protocol::Tcp,
                host_ip: "127.0.0.1".parse().unwrap(),
                host_port: 18080,
                container_port: 80
            }]
        );
    }
}

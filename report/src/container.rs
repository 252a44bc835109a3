//! Docker containers and images.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::id::{ContainerId, ImageId};
use crate::socket::Protocol;
use crate::UnixMillis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub id: ContainerId,
    /// Without Docker's leading `/`.
    pub name: String,
    pub image: ImageId,
    /// The image as the user named it (`nginx:latest`).
    pub image_name: String,
    pub command: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerState,
    pub health: Option<Health>,
    pub created: UnixMillis,
    pub started: Option<UnixMillis>,
    pub restart_count: u32,
    /// The main process's exit code from the last time it stopped (Docker's `State.ExitCode`);
    /// `None` until it has exited once.
    pub exit_code: Option<i32>,
    /// Docker's `State.OOMKilled`: the kernel's OOM killer struck the container's cgroup
    /// before it last stopped.
    pub oom_killed: bool,
    /// When the container last stopped (Docker's `State.FinishedAt`).
    pub finished: Option<UnixMillis>,
    pub networks: Vec<ContainerNetwork>,
    pub ports: Vec<PortMapping>,
    /// The container's init process on the host, when running.
    pub main_pid: Option<u32>,
    pub stats: Option<ContainerStats>,
}

impl Container {
    /// Docker Compose's project label, when the container came from Compose.
    pub fn compose_project(&self) -> Option<&str> {
        self.labels.get("com.docker.compose.project").map(String::as_str)
    }

    pub fn compose_service(&self) -> Option<&str> {
        self.labels.get("com.docker.compose.service").map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerState {
    /// Stopped containers are hidden by default in views.
    pub fn is_stopped(self) -> bool {
        matches!(self, ContainerState::Created | ContainerState::Exited | ContainerState::Dead)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerNetwork {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    /// Docker's network driver (`bridge`, `overlay`, `macvlan`, …); empty when unknown.
    pub driver: String,
}

impl ContainerNetwork {
    /// Whether the network's addresses mean something only on this host (a bridge, or unknown):
    /// overlay, macvlan and ipvlan addresses are reached from other hosts too.
    pub fn is_host_local(&self) -> bool {
        matches!(self.driver.as_str(), "" | "bridge")
    }
}

/// A published port: traffic to `host_ip:host_port` reaches `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub protocol: Protocol,
    /// Unspecified (0.0.0.0 / ::) means every host address.
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

/// Read from the container's cgroup files each tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerStats {
    /// Percent of one core since the last tick.
    #[serde(with = "crate::tenths")]
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: ImageId,
    pub tags: Vec<String>,
    pub size_bytes: u64,
}

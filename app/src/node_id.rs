//! Typed IDs of view nodes, with one text form each for URLs and JSON.
//!
//! A view node is an entity of the report (host, container, process), a group
//! of them (an image, a process name, a Compose service…) or a pseudo node
//! (The Internet, an unknown address, a host's uncontained processes). The
//! text form is `{kind}:{rest}`; the rest is the report ID's own text form, so
//! it is parsed back with the report's `FromStr`, never split by hand twice.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use periscope_report::{ContainerId, HostId, ParseIdError, ProcessId};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeId {
    Host(HostId),
    Container(ContainerId),
    Process(ProcessId),
    /// All processes with one `comm`, across hosts.
    ProcessName(String),
    /// Short-lived processes of one command in one container (or outside any, on `host`),
    /// folded into one node: each `wget` run of a loop is not a node of its own.
    Command {
        host: HostId,
        container: Option<ContainerId>,
        name: String,
    },
    /// All containers of one image, named without tag or digest.
    Image(String),
    /// All containers with one hostname.
    Hostname(String),
    ComposeProject(String),
    ComposeService {
        project: String,
        service: String,
    },
    /// Public addresses.
    Internet,
    /// A private address that no probe owns.
    Address(IpAddr),
    /// A host's processes outside any container.
    Uncontained(HostId),
}

impl NodeId {
    /// Pseudo nodes stand for something no probe reports as an entity.
    pub fn is_pseudo(&self) -> bool {
        matches!(self, NodeId::Internet | NodeId::Address(_) | NodeId::Uncontained(_))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeId::Host(host) => write!(f, "host:{host}"),
            NodeId::Container(container) => write!(f, "container:{container}"),
            NodeId::Process(process) => write!(f, "process:{process}"),
            NodeId::ProcessName(name) => write!(f, "process-name:{name}"),
            NodeId::Command { host, container, name } => {
                let container = container.as_ref().map(ContainerId::as_str).unwrap_or("-");
                // The name is escaped so that the first '@' starts the host, which may hold anything.
                let name = name.replace('%', "%25").replace('@', "%40");
                write!(f, "command:{container}:{name}@{host}")
            }
            NodeId::Image(image) => write!(f, "image:{image}"),
            NodeId::Hostname(hostname) => write!(f, "hostname:{hostname}"),
            NodeId::ComposeProject(project) => write!(f, "compose-project:{project}"),
            NodeId::ComposeService { project, service } => write!(f, "compose-service:{project}/{service}"),
            NodeId::Internet => f.write_str("internet"),
            NodeId::Address(ip) => write!(f, "address:{ip}"),
            NodeId::Uncontained(host) => write!(f, "uncontained:{host}"),
        }
    }
}

impl FromStr for NodeId {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseIdError { kind: "node", text: text.to_owned(), reason };
        if text == "internet" {
            return Ok(NodeId::Internet);
        }
        let (kind, rest) = text.split_once(':').ok_or_else(|| err("expected kind:id"))?;
        if rest.is_empty() {
            return Err(err("empty id"));
        }
        Ok(match kind {
            "host" => NodeId::Host(rest.parse()?),
            "container" => NodeId::Container(rest.parse()?),
            "process" => NodeId::Process(rest.parse()?),
            "process-name" => NodeId::ProcessName(rest.to_owned()),
            "command" => {
                let (container, rest) = rest.split_once(':').ok_or_else(|| err("expected container:name@host"))?;
                let (name, host) = rest.split_once('@').ok_or_else(|| err("expected name@host"))?;
                NodeId::Command {
                    host: host.parse()?,
                    container: match container {
                        "-" => None,
                        id => Some(id.parse()?),
                    },
                    name: name.replace("%40", "@").replace("%25", "%"),
                }
            }
            "image" => NodeId::Image(rest.to_owned()),
            "hostname" => NodeId::Hostname(rest.to_owned()),
            "compose-project" => NodeId::ComposeProject(rest.to_owned()),
            "compose-service" => {
                // Compose project names cannot contain '/', service names may not either; split at the first.
                let (project, service) = rest.split_once('/').ok_or_else(|| err("expected project/service"))?;
                if project.is_empty() || service.is_empty() {
                    return Err(err("empty project or service"));
                }
                NodeId::ComposeService { project: project.to_owned(), service: service.to_owned() }
            }
            "address" => NodeId::Address(rest.parse().map_err(|_| err("bad IP address"))?),
            "uncontained" => NodeId::Uncontained(rest.parse()?),
            _ => return Err(err("unknown kind")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(id: NodeId) {
        let text = id.to_string();
        assert_eq!(text.parse::<NodeId>(), Ok(id), "text form {text:?}");
    }

    #[test]
    fn text_forms_round_trip() {
        round_trip(NodeId::Host(HostId::new("host-a")));
        round_trip(NodeId::Container(ContainerId::new("3f2a".repeat(16))));
        round_trip(NodeId::Process(ProcessId { host: HostId::new("h@b:c"), pid: 7, start_time: 99 }));
        round_trip(NodeId::ProcessName("nginx: worker".into()));
        round_trip(NodeId::Command { host: HostId::new("h@b:c"), container: None, name: "a@b%40:c".into() });
        round_trip(NodeId::Command {
            host: HostId::new("h"),
            container: Some(ContainerId::new("ab".repeat(32))),
            name: "wget".into(),
        });
        round_trip(NodeId::Image("registry:5000/team/app".into()));
        round_trip(NodeId::Hostname("web".into()));
        round_trip(NodeId::ComposeProject("shop".into()));
        round_trip(NodeId::ComposeService { project: "shop".into(), service: "db".into() });
        round_trip(NodeId::Internet);
        round_trip(NodeId::Address("10.0.0.7".parse().unwrap()));
        round_trip(NodeId::Address("fd00::1".parse().unwrap()));
        round_trip(NodeId::Uncontained(HostId::new("host-a")));
    }

    #[test]
    fn bad_text_forms_are_errors() {
        for text in [
            "",
            "host",
            "host:",
            "command:-:wget",
            "command:-wget@h",
            "command::wget@h",
            "planet:x",
            "address:nope",
            "compose-service:shop",
            "process:1@h",
        ] {
            assert!(text.parse::<NodeId>().is_err(), "{text:?} should not parse");
        }
    }
}

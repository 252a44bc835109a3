//! Which controls a node offers, and what a control asks of its probe.
//!
//! Containers offer lifecycle controls by state (a running container can be
//! stopped, restarted, paused; an exited one started; any removed), plus
//! logs and a terminal; a host offers a terminal only when its probe allows
//! a host shell. A probe started with `--no-controls` offers nothing. The
//! same rules check a request before it goes to the probe, so an invalid one
//! gets a clear error at once instead of Docker's.

use std::str::FromStr;

use periscope_report::{ContainerState, ControlAction, ControlTarget, ProbeId, Report, Source, SourceState};

use crate::model::Model;
use crate::node_id::NodeId;
use crate::render::output::Control;

/// Lines of history a log pipe starts with unless asked otherwise.
pub const DEFAULT_TAIL: u32 = 200;
/// Most lines of history a log pipe may ask for.
pub const MAX_TAIL: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlName {
    Start,
    Stop,
    Restart,
    Pause,
    Unpause,
    Remove,
    Logs,
    Exec,
}

impl ControlName {
    pub const ALL: [ControlName; 8] = [
        ControlName::Start,
        ControlName::Stop,
        ControlName::Restart,
        ControlName::Pause,
        ControlName::Unpause,
        ControlName::Remove,
        ControlName::Logs,
        ControlName::Exec,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ControlName::Start => "start",
            ControlName::Stop => "stop",
            ControlName::Restart => "restart",
            ControlName::Pause => "pause",
            ControlName::Unpause => "unpause",
            ControlName::Remove => "remove",
            ControlName::Logs => "logs",
            ControlName::Exec => "exec",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ControlName::Start => "Start",
            ControlName::Stop => "Stop",
            ControlName::Restart => "Restart",
            ControlName::Pause => "Pause",
            ControlName::Unpause => "Unpause",
            ControlName::Remove => "Remove",
            ControlName::Logs => "Logs",
            ControlName::Exec => "Terminal",
        }
    }

    /// Logs and terminals open a pipe; the others change state (and the UI asks first).
    pub fn opens_pipe(self) -> bool {
        matches!(self, ControlName::Logs | ControlName::Exec)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown control {0:?} (one of start, stop, restart, pause, unpause, remove, logs, exec)")]
pub struct UnknownControl(pub String);

impl FromStr for ControlName {
    type Err = UnknownControl;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ControlName::ALL.into_iter().find(|name| name.as_str() == text).ok_or_else(|| UnknownControl(text.to_owned()))
    }
}

/// Why a control cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no probe {0} is connected")]
    UnknownProbe(ProbeId),
    #[error("probe {probe} reports no node {node}")]
    UnknownNode { probe: ProbeId, node: String },
    #[error("{control} is not offered for {node} while it is {state}")]
    InvalidForState { control: &'static str, node: String, state: String },
    #[error("{control} is not offered for {node}")]
    NotOffered { control: &'static str, node: String },
    #[error("probe {0} does not accept controls (started with --no-controls)")]
    ControlsOff(ProbeId),
}

/// Pipe parameters from the request: log history, terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeParams {
    pub tail: u32,
    pub cols: u16,
    pub rows: u16,
}

impl Default for PipeParams {
    fn default() -> Self {
        PipeParams { tail: DEFAULT_TAIL, cols: 80, rows: 24 }
    }
}

fn source_active(report: &Report, source: Source) -> bool {
    report.meta.sources.iter().any(|status| status.source == source && status.state == SourceState::Active)
}

/// Container controls offered in `state`.
pub fn offered_for_container(state: ContainerState) -> &'static [ControlName] {
    use ControlName::*;
    match state {
        ContainerState::Running => &[Stop, Restart, Pause, Remove, Logs, Exec],
        ContainerState::Paused => &[Unpause, Stop, Remove, Logs],
        ContainerState::Restarting => &[Stop, Remove, Logs],
        ContainerState::Created | ContainerState::Exited | ContainerState::Dead => &[Start, Remove, Logs],
        ContainerState::Removing => &[],
    }
}

/// The controls `node` offers, with the probe that runs them.
pub fn offered(model: &Model, node: &NodeId) -> Vec<Control> {
    let (report, names): (&Report, &[ControlName]) = match node {
        NodeId::Container(id) => match model.container(id) {
            Some((report, container)) => (report, offered_for_container(container.state)),
            None => return Vec::new(),
        },
        NodeId::Host(host) => match model.host_report(host) {
            Some(report) if source_active(report, Source::HostShell) => (report, &[ControlName::Exec]),
            _ => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    if !source_active(report, Source::Controls) {
        return Vec::new();
    }
    names
        .iter()
        .map(|name| Control {
            id: name.as_str(),
            label: name.label(),
            probe: report.probe.to_string(),
            pipe: name.opens_pipe(),
        })
        .collect()
}

/// Checks a control against the model and says what to ask the probe.
pub fn plan(
    model: &Model,
    probe: &ProbeId,
    node: &NodeId,
    control: ControlName,
    params: PipeParams,
) -> Result<(ControlTarget, ControlAction), ControlError> {
    let report = model.report(probe).ok_or_else(|| ControlError::UnknownProbe(probe.clone()))?;
    let unknown = || ControlError::UnknownNode { probe: probe.clone(), node: node.to_string() };
    let target = match node {
        NodeId::Container(id) => {
            let container = report.containers.get(id).ok_or_else(unknown)?;
            if !offered_for_container(container.state).contains(&control) {
                return Err(ControlError::InvalidForState {
                    control: control.as_str(),
                    node: node.to_string(),
                    state: format!("{:?}", container.state).to_lowercase(),
                });
            }
            ControlTarget::Container(id.clone())
        }
        NodeId::Host(host) if *host == report.host.id => {
            if control != ControlName::Exec || !source_active(report, Source::HostShell) {
                return Err(ControlError::NotOffered { control: control.as_str(), node: node.to_string() });
            }
            ControlTarget::Host(host.clone())
        }
        NodeId::Host(_) => return Err(unknown()),
        _ => return Err(ControlError::NotOffered { control: control.as_str(), node: node.to_string() }),
    };
    if !source_active(report, Source::Controls) {
        return Err(ControlError::ControlsOff(probe.clone()));
    }
    let action = match control {
        ControlName::Start => ControlAction::Start,
        ControlName::Stop => ControlAction::Stop,
        ControlName::Restart => ControlAction::Restart,
        ControlName::Pause => ControlAction::Pause,
        ControlName::Unpause => ControlAction::Unpause,
        ControlName::Remove => ControlAction::Remove,
        ControlName::Logs => ControlAction::Logs { tail: params.tail.min(MAX_TAIL) },
        ControlName::Exec => ControlAction::Exec { cols: params.cols, rows: params.rows },
    };
    Ok((target, action))
}

#[cfg(test)]
mod tests {
    use periscope_report::fixtures::ReportBuilder;
    use periscope_report::{ContainerId, SourceStatus};

    use super::*;

    fn model(state: ContainerState, controls: bool) -> Model {
        let mut report = ReportBuilder::new("a").container("web", "web", "nginx", "172.17.0.2").build();
        report.containers.get_mut(&ContainerId::new("web")).unwrap().state = state;
        if controls {
            report.meta.sources.push(SourceStatus { source: Source::Controls, state: SourceState::Active });
        }
        let mut model = Model::default();
        model.insert_snapshot(report);
        model
    }

    #[test]
    fn controls_follow_the_state() {
        let node = NodeId::Container(ContainerId::new("web"));
        let ids = |state| offered(&model(state, true), &node).iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(ContainerState::Running), ["stop", "restart", "pause", "remove", "logs", "exec"]);
        assert_eq!(ids(ContainerState::Exited), ["start", "remove", "logs"]);
        assert_eq!(ids(ContainerState::Paused), ["unpause", "stop", "remove", "logs"]);
        assert!(offered(&model(ContainerState::Running, false), &node).is_empty(), "--no-controls offers nothing");
    }

    #[test]
    fn plans_are_checked_against_the_model() {
        let node = NodeId::Container(ContainerId::new("web"));
        let probe = ProbeId::new("probe-a");
        let running = model(ContainerState::Running, true);
        let params = PipeParams::default();
        assert_eq!(
            plan(&running, &probe, &node, ControlName::Stop, params),
            Ok((ControlTarget::Container(ContainerId::new("web")), ControlAction::Stop))
        );
        assert!(matches!(
            plan(&running, &probe, &node, ControlName::Start, params),
            Err(ControlError::InvalidForState { .. })
        ));
        assert!(matches!(
            plan(&running, &ProbeId::new("nope"), &node, ControlName::Stop, params),
            Err(ControlError::UnknownProbe(_))
        ));
        let missing = NodeId::Container(ContainerId::new("gone"));
        assert!(matches!(
            plan(&running, &probe, &missing, ControlName::Stop, params),
            Err(ControlError::UnknownNode { .. })
        ));
        assert!(matches!(
            plan(&model(ContainerState::Running, false), &probe, &node, ControlName::Stop, params),
            Err(ControlError::ControlsOff(_))
        ));
        assert_eq!("exec".parse::<ControlName>(), Ok(ControlName::Exec));
        assert!("explode".parse::<ControlName>().is_err());
    }
}

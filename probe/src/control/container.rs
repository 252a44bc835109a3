//! Container lifecycle controls through bollard: stop, start, restart,
//! pause, unpause, remove. Errors carry Docker's own text, so the operator
//! reads what the engine said ("container … is not running").

use std::path::Path;

use bollard::query_parameters::{RemoveContainerOptions, RestartContainerOptions, StopContainerOptions};
use bollard::Docker;
use periscope_report::{ContainerId, ControlAction};

const REQUEST_TIMEOUT_SECS: u64 = 60;
/// Seconds Docker waits after SIGTERM before SIGKILL on stop and restart.
pub const STOP_GRACE_SECS: i32 = 10;

/// Connects to the engine, with the API version negotiated (Debian's engine refuses bollard's default).
pub async fn connect(socket: &Path) -> Result<Docker, String> {
    Docker::connect_with_unix(&socket.to_string_lossy(), REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        .map_err(|error| format!("cannot reach Docker at {}: {error}", socket.display()))?
        .negotiate_version()
        .await
        .map_err(|error| format!("cannot reach Docker at {}: {error}", socket.display()))
}

/// Docker's message for an engine error, else bollard's description.
pub fn docker_error(error: bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        other => other.to_string(),
    }
}

/// Runs a lifecycle `action` on `container`.
pub async fn run(socket: &Path, container: &ContainerId, action: ControlAction) -> Result<(), String> {
    let docker = connect(socket).await?;
    let id = container.as_str();
    let result = match action {
        ControlAction::Start => docker.start_container(id, None).await,
        ControlAction::Stop => {
            docker.stop_container(id, Some(StopContainerOptions { t: Some(STOP_GRACE_SECS), signal: None })).await
        }
        ControlAction::Restart => {
            docker.restart_container(id, Some(RestartContainerOptions { t: Some(STOP_GRACE_SECS), signal: None })).await
        }
        ControlAction::Pause => docker.pause_container(id).await,
        ControlAction::Unpause => docker.unpause_container(id).await,
        ControlAction::Remove => {
            docker.remove_container(id, Some(RemoveContainerOptions { force: true, v: false, link: false })).await
        }
        other => return Err(format!("{other:?} is not a lifecycle control")),
    };
    result.map_err(docker_error)
}

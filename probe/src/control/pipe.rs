//! One pipe: a container's logs, a shell in a container, or (with
//! `--host-shell`) a shell on the host, streamed to the app and fed from it.
//!
//! Output is bounded twice, so a `yes` in a terminal cannot stall the
//! probe's reports: a credit window (the app acknowledges what it has
//! forwarded to its client; at most [`WINDOW`] bytes are ever unacknowledged,
//! so a slow browser slows the pipe, not the channel) and a rate cap
//! (`--pipe-bytes-per-sec`). While either holds output back, the pipe reads
//! nothing more from Docker, which in turn slows the process writing.

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use periscope_report::{ContainerId, ControlAction, PipeId, ProbeMessage, RequestId};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::info;

use crate::control::container::{connect, docker_error};
use crate::control::host_shell::HostShell;
use crate::control::Outbox;

/// Events queued for one pipe (input, resizes, acknowledgements).
pub const EVENT_QUEUE: usize = 256;
/// Unacknowledged output bytes a pipe may have in flight.
pub const WINDOW: u32 = 256 * 1024;
/// Largest output frame: small frames keep a report from waiting behind pipe output.
pub const CHUNK: usize = 16 * 1024;
/// The shell started in containers (busybox, alpine and debian all have it).
const SHELL: &str = "/bin/sh";

#[derive(Debug)]
pub enum PipeEvent {
    Input(Vec<u8>),
    Resize { cols: u16, rows: u16 },
    Ack(u32),
}

pub enum Source {
    Container { socket: PathBuf, container: ContainerId, action: ControlAction },
    HostShell(ControlAction),
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub bytes_per_sec: u64,
    pub window: u32,
}

type Output = Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>> + Send>>;

enum Input {
    None,
    Writer(Pin<Box<dyn AsyncWrite + Send>>),
    Pty(std::sync::Arc<HostShell>),
}

/// What a pipe is attached to, for resizes and for the reason it ended.
enum Attached {
    Logs { docker: Docker, container: ContainerId },
    Exec { docker: Docker, exec: String },
    HostShell(std::sync::Arc<HostShell>),
}

struct Opened {
    output: Output,
    input: Input,
    attached: Attached,
}

/// Opens the pipe, answers the control, streams until either side ends, then says why.
pub async fn run(
    request: RequestId,
    pipe: PipeId,
    source: Source,
    events: mpsc::Receiver<PipeEvent>,
    outbox: Outbox,
    limits: Limits,
) {
    let opened = match open(source).await {
        Ok(opened) => opened,
        Err(reason) => {
            info!(?request, %reason, "pipe not opened");
            outbox.send(&ProbeMessage::ControlResult { request, result: Err(reason) }).await;
            return;
        }
    };
    if !outbox.send(&ProbeMessage::ControlResult { request, result: Ok(Some(pipe)) }).await {
        return;
    }
    info!(?pipe, "pipe opened");
    let reason = pump(pipe, opened, events, &outbox, limits).await;
    info!(?pipe, %reason, "pipe closed");
    outbox.send(&ProbeMessage::PipeClosed { pipe, reason: Some(reason) }).await;
}

async fn open(source: Source) -> Result<Opened, String> {
    match source {
        Source::Container { socket, container, action: ControlAction::Logs { tail } } => {
            let docker = connect(&socket).await?;
            // Fail now, with Docker's words, rather than with an empty stream.
            docker.inspect_container(container.as_str(), None).await.map_err(docker_error)?;
            let options = LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                tail: tail.to_string(),
                ..LogsOptions::default()
            };
            let output = docker
                .logs(container.as_str(), Some(options))
                .map(|item| item.map(|log| log.into_bytes().to_vec()).map_err(docker_error));
            Ok(Opened { output: Box::pin(output), input: Input::None, attached: Attached::Logs { docker, container } })
        }
        Source::Container { socket, container, action: ControlAction::Exec { cols, rows } } => {
            let docker = connect(&socket).await?;
            let exec = docker
                .create_exec(
                    container.as_str(),
                    CreateExecOptions {
                        attach_stdin: Some(true),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        tty: Some(true),
                        cmd: Some(vec![SHELL]),
                        env: Some(vec!["TERM=xterm-256color"]),
                        ..CreateExecOptions::default()
                    },
                )
                .await
                .map_err(docker_error)?
                .id;
            let started = docker
                .start_exec(&exec, Some(StartExecOptions { detach: false, tty: true, output_capacity: None }))
                .await
                .map_err(docker_error)?;
            let StartExecResults::Attached { output, input } = started else {
                return Err("Docker started the shell detached".to_owned());
            };
            // A resize before the TTY exists is refused; the first one follows the start.
            if cols > 0 && rows > 0 {
                let _resized = docker.resize_exec(&exec, ResizeExecOptions { height: rows, width: cols }).await;
            }
            let output = output.map(|item| item.map(|log| log.into_bytes().to_vec()).map_err(docker_error));
            Ok(Opened {
                output: Box::pin(output),
                input: Input::Writer(input),
                attached: Attached::Exec { docker, exec },
            })
        }
        Source::HostShell(ControlAction::Exec { cols, rows }) => {
            let shell = std::sync::Arc::new(
                HostShell::spawn(cols, rows).map_err(|error| format!("cannot start a host shell: {error}"))?,
            );
            let output = futures_util::stream::unfold(shell.clone(), |shell| async move {
                match shell.read().await {
                    Ok(Some(bytes)) => Some((Ok(bytes), shell)),
                    Ok(None) => None,
                    Err(error) => Some((Err(format!("reading the terminal: {error}")), shell)),
                }
            });
            Ok(Opened {
                output: Box::pin(output),
                input: Input::Pty(shell.clone()),
                attached: Attached::HostShell(shell),
            })
        }
        Source::Container { action, .. } | Source::HostShell(action) => Err(format!("{action:?} does not open a pipe")),
    }
}

/// Streams until the output ends or the app goes; returns the reason it closed.
async fn pump(
    pipe: PipeId,
    mut opened: Opened,
    mut events: mpsc::Receiver<PipeEvent>,
    outbox: &Outbox,
    limits: Limits,
) -> String {
    let mut credit = u64::from(limits.window);
    let mut pending: Vec<u8> = Vec::new();
    let mut offset = 0usize;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut output_done = false;
    loop {
        let has_pending = offset < pending.len();
        if output_done && !has_pending {
            return ending(&opened.attached).await;
        }
        // The rate cap: the next byte may go when the bytes sent so far have had their time.
        let due = started + Duration::from_secs_f64(sent as f64 / limits.bytes_per_sec as f64);
        tokio::select! {
            biased;
            event = events.recv() => match event {
                None => return "closed by the probe".to_owned(),
                Some(PipeEvent::Ack(bytes)) => credit += u64::from(bytes),
                Some(PipeEvent::Input(data)) => {
                    if let Err(error) = write_input(&mut opened.input, &data).await {
                        return format!("writing to the pipe failed: {error}");
                    }
                }
                Some(PipeEvent::Resize { cols, rows }) => resize(&opened.attached, cols, rows).await,
            },
            () = tokio::time::sleep_until(due), if has_pending && credit > 0 => {
                let take = (pending.len() - offset).min(CHUNK).min(usize::try_from(credit).unwrap_or(CHUNK));
                let data = pending[offset..offset + take].to_vec();
                offset += take;
                credit -= take as u64;
                sent += take as u64;
                if !outbox.send(&ProbeMessage::PipeOutput { pipe, data }).await {
                    return "the app link closed".to_owned();
                }
            }
            item = opened.output.next(), if !has_pending && !output_done => match item {
                Some(Ok(bytes)) => {
                    pending = bytes;
                    offset = 0;
                }
                Some(Err(error)) => return error,
                None => output_done = true,
            },
        }
    }
}

async fn write_input(input: &mut Input, data: &[u8]) -> std::io::Result<()> {
    match input {
        Input::None => Ok(()),
        Input::Writer(writer) => {
            writer.write_all(data).await?;
            writer.flush().await
        }
        Input::Pty(shell) => shell.write_all(data).await,
    }
}

async fn resize(attached: &Attached, cols: u16, rows: u16) {
    if cols == 0 || rows == 0 {
        return;
    }
    match attached {
        Attached::Exec { docker, exec } => {
            if let Err(error) = docker.resize_exec(exec, ResizeExecOptions { height: rows, width: cols }).await {
                info!(%error, "resizing the exec TTY failed");
            }
        }
        Attached::HostShell(shell) => {
            if let Err(error) = shell.resize(cols, rows) {
                info!(%error, "resizing the host TTY failed");
            }
        }
        Attached::Logs { .. } => {}
    }
}

/// Why the output ended, in words for the operator.
async fn ending(attached: &Attached) -> String {
    match attached {
        Attached::Logs { docker, container } => match docker.inspect_container(container.as_str(), None).await {
            Ok(inspect) => {
                let state = inspect.state.unwrap_or_default();
                if state.running == Some(true) {
                    "the log stream ended".to_owned()
                } else {
                    format!("the container exited (code {})", state.exit_code.unwrap_or_default())
                }
            }
            Err(error) => format!("the container is gone: {}", docker_error(error)),
        },
        Attached::Exec { docker, exec } => match docker.inspect_exec(exec).await {
            Ok(inspect) => match inspect.exit_code {
                Some(code) => format!("the shell exited (code {code})"),
                None => "the shell ended (the container stopped)".to_owned(),
            },
            Err(error) => format!("the shell ended: {}", docker_error(error)),
        },
        Attached::HostShell(shell) => match shell.exit_code_within(std::time::Duration::from_millis(500)).await {
            Some(code) => format!("the shell exited (code {code})"),
            None => "the shell ended".to_owned(),
        },
    }
}

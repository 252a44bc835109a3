//! The probe's channel to the app, against a stand-in app on loopback:
//! snapshot then deltas with continuous sequence numbers, a snapshot on
//! request, the bearer token, reconnecting after the app goes away, and
//! controls answered as not supported yet.

mod probe_support;

use std::time::Duration;

use periscope_report::{AppMessage, ControlAction, ControlTarget, ProbeMessage, RequestId, SnapshotReason};
use periscope_tests::wait_until;
use probe_support::{config, runtime, spawn_probe, FakeApp};

/// Every frame continues the previous one on its connection; a reconnect moves forward.
fn assert_chain(app: &FakeApp) {
    app.with(|state| {
        assert!(state.errors.is_empty(), "replay errors: {:?}", state.errors);
        let mut last: Option<(u32, u64)> = None;
        for frame in &state.frames {
            let seq = match &frame.message {
                ProbeMessage::Snapshot(report) => report.seq,
                ProbeMessage::Delta(delta) => {
                    let (connection, previous) = last.expect("a delta after a snapshot");
                    assert_eq!(connection, frame.connection, "a delta opened a connection");
                    assert_eq!(delta.base_seq, previous, "delta base");
                    delta.seq
                }
                _ => continue,
            };
            match last {
                // Within one connection nothing may be skipped.
                Some((connection, previous)) if connection == frame.connection => {
                    assert_eq!(seq, previous + 1, "sequence numbers go up by one")
                }
                // A new connection starts from a snapshot; the probe kept
                // collecting while the app was away, so numbers may jump, never go back.
                Some((_, previous)) => assert!(seq > previous, "seq {seq} after {previous} on a new connection"),
                None => {}
            }
            last = Some((frame.connection, seq));
        }
    });
}

#[test]
fn snapshot_then_deltas_and_a_snapshot_on_request() {
    let runtime = runtime();
    let app = FakeApp::start(&runtime, "127.0.0.1:0");
    spawn_probe(
        &runtime,
        periscope_probe::Config { token: Some("s3cret".into()), ..config(&app.url(), Duration::from_millis(200)) },
    );
    wait_until("a snapshot and deltas", Duration::from_secs(20), || {
        let (snapshots, deltas) = app.with(|s| (s.snapshots().count(), s.deltas().count()));
        (snapshots >= 1 && deltas >= 2).then_some(()).ok_or(format!("{snapshots} snapshots, {deltas} deltas"))
    })
    .unwrap();
    assert_eq!(app.with(|s| s.authorization.clone()), vec![Some("Bearer s3cret".to_owned())]);
    let first = app.with(|s| s.frames.first().map(|f| matches!(f.message, ProbeMessage::Snapshot(_))));
    assert_eq!(first, Some(true), "the first frame is a snapshot");

    app.send(AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown });
    wait_until("a second snapshot", Duration::from_secs(10), || {
        let snapshots = app.with(|s| s.snapshots().count());
        (snapshots >= 2).then_some(()).ok_or(format!("{snapshots} snapshots"))
    })
    .unwrap();
    assert_chain(&app);
    let replayed = app.report().unwrap();
    assert!(replayed.processes.iter().any(|p| p.id.pid == std::process::id()));
    assert_eq!(replayed.meta.dropped_frames, 0);
}

/// The probe answers a control with Docker's own error text, or, with
/// `--no-controls`, refuses it at the source whatever the app asks.
#[test]
fn controls_get_dockers_own_errors_and_no_controls_refuses_at_the_source() {
    for (no_controls, expected) in [(false, "No such container: nope"), (true, "--no-controls")] {
        let result = control_result(no_controls);
        assert!(result.as_ref().is_err_and(|text| text.contains(expected)), "{result:?} lacks {expected:?}");
    }
}

fn control_result(no_controls: bool) -> Result<Option<periscope_report::PipeId>, String> {
    let runtime = runtime();
    let app = FakeApp::start(&runtime, "127.0.0.1:0");
    let mut probe = config(&app.url(), Duration::from_secs(30));
    probe.no_controls = no_controls;
    spawn_probe(&runtime, probe);
    wait_until("a snapshot", Duration::from_secs(20), || {
        app.with(|s| s.snapshots().count()).gt(&0).then_some(()).ok_or("none".to_owned())
    })
    .unwrap();
    app.send(AppMessage::Control {
        request: RequestId(7),
        target: ControlTarget::Container(periscope_report::ContainerId::new("nope")),
        action: ControlAction::Stop,
    });
    wait_until("the control result", Duration::from_secs(10), || {
        app.with(|s| {
            s.frames.iter().find_map(|f| match &f.message {
                ProbeMessage::ControlResult { request: RequestId(7), result } => Some(result.clone()),
                _ => None,
            })
        })
        .ok_or("no result yet".to_owned())
    })
    .unwrap()
}

#[test]
fn reconnects_after_the_app_closes_and_when_it_starts_late() {
    // Find a free port, then start the probe before anything listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let runtime = runtime();
    spawn_probe(&runtime, config(&format!("ws://{address}/api/probe/ws"), Duration::from_millis(200)));
    std::thread::sleep(Duration::from_millis(700)); // Let a few connection attempts fail first.
    let app = FakeApp::start(&runtime, &address);
    wait_until("the late app gets a snapshot", Duration::from_secs(30), || {
        app.with(|s| s.snapshots().count()).gt(&0).then_some(()).ok_or("none".to_owned())
    })
    .unwrap();

    app.close_connection();
    wait_until("a new connection with a fresh snapshot", Duration::from_secs(30), || {
        app.with(|s| {
            let reconnected = s.connections >= 2;
            let snapshot_on_second =
                s.frames.iter().any(|f| f.connection == 2 && matches!(f.message, ProbeMessage::Snapshot(_)));
            (reconnected && snapshot_on_second).then_some(()).ok_or(format!("{} connections", s.connections))
        })
    })
    .unwrap();
    wait_until("deltas on the new connection", Duration::from_secs(10), || {
        let deltas = app.with(|s| {
            s.frames.iter().filter(|f| f.connection == 2 && matches!(f.message, ProbeMessage::Delta(_))).count()
        });
        (deltas >= 1).then_some(()).ok_or(format!("{deltas}"))
    })
    .unwrap();
    let first_on_second = app
        .with(|s| s.frames.iter().find(|f| f.connection == 2).map(|f| matches!(f.message, ProbeMessage::Snapshot(_))));
    assert_eq!(first_on_second, Some(true));
    assert_chain(&app);
}

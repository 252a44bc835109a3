//! The app under hostile and heavy input, over real loopback sockets (issue
//! 15): a decompression flood from token holders, clients past the caps,
//! slowloris connections, a 100,000-container report, probes that never
//! register or send garbage, deltas going backwards, empty IDs, and routes
//! asked the wrong way. Each test names the budget or cap it shows; none
//! asserts a timing beyond a generous deadline (the figures are in
//! BENCHMARKS.md, from `periscope-hostile-bench`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use periscope::config::AppConfig;
use periscope::limits::Refusal;
use periscope::state::AppState;
use periscope_report::fixtures::ReportBuilder;
use periscope_report::{diff, AppMessage, Codec, PipeId, ProbeId, ProbeMessage, Report, StreamEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Starts the app on a free loopback port.
async fn start(configure: impl FnOnce(&mut AppConfig)) -> (AppState, SocketAddr) {
    let mut config = AppConfig::default();
    configure(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    config.listen = Some(address);
    let state = AppState::new(config);
    tokio::spawn(periscope::serve(listener, state.clone()));
    (state, address)
}

/// Polls `check` every 50 ms until it holds, or fails after `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> Result<(), String>) {
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// One HTTP/1.1 request on a fresh connection: status and body.
async fn http(address: SocketAddr, request_line: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("{request_line}\r\nHost: {address}\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn error_of(body: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body:?}"));
    json["error"].as_str().unwrap_or_else(|| panic!("no \"error\" in {body}")).to_owned()
}

/// A probe speaking the real protocol: frames on one compressed stream, and
/// whatever the app answers recorded.
struct Probe {
    frames: tokio::sync::mpsc::Sender<Vec<u8>>,
    encoder: StreamEncoder,
    heard: Arc<Mutex<Vec<AppMessage>>>,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Probe {
    async fn connect(address: SocketAddr) -> Probe {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/api/probe/ws")).await.unwrap();
        let (mut sink, mut stream) = socket.split();
        let (frames, mut outgoing) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let heard = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (heard_by_task, closed_by_task) = (heard.clone(), closed.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    frame = outgoing.recv() => match frame {
                        Some(frame) => if sink.send(Message::Binary(frame.into())).await.is_err() { break },
                        None => break,
                    },
                    message = stream.next() => match message {
                        Some(Ok(Message::Binary(bytes))) => {
                            if let Ok(message) = Codec::default().decode::<AppMessage>(&bytes) {
                                heard_by_task.lock().unwrap().push(message);
                            }
                        }
                        // Pongs go out with the next write; flush so a quiet probe answers pings too.
                        Some(Ok(Message::Ping(_))) => if sink.flush().await.is_err() { break },
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
            closed_by_task.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        Probe { frames, encoder: StreamEncoder::new().unwrap(), heard, closed }
    }

    async fn send(&mut self, message: &ProbeMessage) {
        let frame = self.encoder.encode(&Codec::default(), message).unwrap();
        self.send_raw(frame).await;
    }

    async fn send_raw(&self, frame: Vec<u8>) {
        // The connection may have been closed by the app: that is what some tests wait for.
        let _ = self.frames.send(frame).await;
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn heard(&self) -> Vec<AppMessage> {
        self.heard.lock().unwrap().clone()
    }
}

fn host(name: &str, seq: u64) -> Report {
    ReportBuilder::new(name)
        .seq(seq)
        .container("c1", "web", "nginx", "172.17.0.2")
        .process(10, "nginx", Some("c1"))
        .build()
}

/// The seq of the report the store holds from the probe of host `name`.
async fn probe_seq(state: &AppState, name: &str) -> Option<u64> {
    let probe = ProbeId::new(format!("probe-{name}"));
    state.with_store(move |store| store.model.report(&probe).map(|report| report.seq)).await.unwrap()
}

/// A token holder floods four connections with small frames that each
/// expand to 16 MiB: every connection is held to its decoded-bytes budget,
/// `/healthz` keeps answering, and the real probe beside them stays
/// connected with every delta applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_flood_is_held_to_its_budget_and_starves_nothing() {
    const RATE: u64 = 4 * 1024 * 1024;
    const LIMIT: usize = 20 * 1024 * 1024;
    const EXPANDS_TO: usize = 16 * 1024 * 1024;
    const CONNECTIONS: usize = 4;
    let (state, address) = start(|config| {
        config.probe_decoded_bytes_per_sec = RATE;
        config.max_decoded_bytes = LIMIT;
    })
    .await;

    let mut real = Probe::connect(address).await;
    real.send(&ProbeMessage::Snapshot(host("real", 1))).await;
    wait_until("the real probe to register", Duration::from_secs(10), async || {
        probe_seq(&state, "real").await.map(|_| ()).ok_or_else(|| "not yet".into())
    })
    .await;

    // Well-formed and registered: each flood connection's frames are pipe closings for no pipe,
    // carrying a reason of 16 MiB of NULs that compresses to a few kilobytes.
    let bomb = Codec::with_limit(LIMIT)
        .encode(&ProbeMessage::PipeClosed { pipe: PipeId(7), reason: Some("\0".repeat(EXPANDS_TO)) })
        .unwrap();
    assert!(bomb.len() < 4096, "a bomb frame is {} bytes", bomb.len());
    let frames_before = state.metrics.frames_in.load(std::sync::atomic::Ordering::Relaxed);
    let flood_started = Instant::now();
    let flood_for = Duration::from_secs(6);
    let mut flooders = Vec::new();
    for i in 0..CONNECTIONS {
        let mut flooder = Probe::connect(address).await;
        flooder.send(&ProbeMessage::Snapshot(host(&format!("flood-{i}"), 1))).await;
        let bomb = bomb.clone();
        flooders.push(tokio::spawn(async move {
            // Sends block once the app stops reading (TCP pushes back): stop at the end all the same.
            let end = tokio::time::sleep_until((flood_started + flood_for).into());
            tokio::pin!(end);
            while !flooder.is_closed() {
                tokio::select! {
                    () = &mut end => break,
                    () = flooder.send_raw(bomb.clone()) => {}
                }
            }
            flooder
        }));
    }

    // Meanwhile the real probe reports every 100 ms, and /healthz is asked every 50 ms.
    let mut last = host("real", 1);
    let mut seq = 1;
    let mut slowest_health = Duration::ZERO;
    let mut next_delta = Instant::now();
    while flood_started.elapsed() < flood_for {
        if Instant::now() >= next_delta {
            seq += 1;
            let mut next = host("real", seq);
            next.host.load = [seq as f64, 0.0, 0.0];
            real.send(&ProbeMessage::Delta(diff(&last, &next))).await;
            last = next;
            next_delta += Duration::from_millis(100);
        }
        let asked = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(2), http(address, "GET /healthz HTTP/1.1", "")).await;
        let took = asked.elapsed();
        let (status, _) = answer.unwrap_or_else(|_| panic!("/healthz did not answer within 2 s during the flood"));
        assert_eq!(status, 200);
        slowest_health = slowest_health.max(took);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = flood_started.elapsed();
    let frames = state.metrics.frames_in.load(std::sync::atomic::Ordering::Relaxed) - frames_before;
    for flooder in flooders {
        drop(flooder.await.unwrap());
    }
    eprintln!("slowest /healthz during the flood: {slowest_health:?}");

    // Each connection decoded at most its burst, then its rate, plus the frame that went into debt.
    let flood_frames = frames.saturating_sub(seq + CONNECTIONS as u64);
    let per_connection = (LIMIT as f64 + RATE as f64 * elapsed.as_secs_f64()) / EXPANDS_TO as f64 + 1.0;
    let bound = (per_connection.ceil() as u64) * CONNECTIONS as u64;
    eprintln!("flood frames decoded: {flood_frames} in {elapsed:?} (bound {bound})");
    assert!(flood_frames <= bound, "{flood_frames} bomb frames decoded in {elapsed:?}, over the budget's {bound}");
    assert!(state.metrics.refused.get(Refusal::DecodeThrottled) > 0, "the flooders were held back");

    // The real probe is still connected, and its last delta arrives.
    assert!(!real.is_closed(), "the real probe was dropped during the flood");
    assert_eq!(state.metrics.probes_timed_out.load(std::sync::atomic::Ordering::Relaxed), 0);
    wait_until("the real probe's last delta", Duration::from_secs(10), async || {
        let applied = probe_seq(&state, "real").await;
        (applied == Some(seq)).then_some(()).ok_or_else(|| format!("at {applied:?}, sent {seq}"))
    })
    .await;
    let (status, _) = http(address, "GET /healthz HTTP/1.1", "").await;
    assert_eq!(status, 200);
}

/// Past `max_view_clients`, a view WebSocket is refused with a 503 and the
/// API's JSON error; the places come back when clients leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_clients_past_the_cap_get_a_503_json_error() {
    let (state, address) = start(|_| {}).await;
    let cap = state.config.max_view_clients;
    assert_eq!(cap, 400, "the default cap");
    let url = format!("ws://{address}/api/topology/containers/ws");
    let mut clients = Vec::new();
    for _ in 0..cap {
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        clients.push(socket);
    }
    for _ in 0..(500 - cap) {
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
                assert!(error_of(&body).contains("--max-view-clients"), "{body}");
            }
            other => panic!("client {} past the cap: {:?}", cap + 1, other.map(|_| "connected")),
        }
    }
    assert_eq!(state.metrics.refused.get(Refusal::TooManyViewClients), (500 - cap) as u64);
    for mut client in clients {
        client.close(None).await.unwrap();
    }
    wait_until("every view client to leave", Duration::from_secs(15), async || {
        let open = state.metrics.view_clients.load(std::sync::atomic::Ordering::Relaxed);
        (open == 0).then_some(()).ok_or_else(|| format!("{open} still open"))
    })
    .await;
    let (_socket, response) = tokio_tungstenite::connect_async(&url).await.unwrap();
    assert_eq!(response.status(), 101);
}

/// Connections that trickle their headers a byte at a time are closed by
/// the header-read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_by_the_header_timeout() {
    let (state, address) = start(|config| config.header_read_timeout = Duration::from_secs(1)).await;
    let mut tricklers = Vec::new();
    for _ in 0..100 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
        tricklers.push(tokio::spawn(async move {
            // A header byte every 200 ms, as long as the app listens; then the app's answer, if any.
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                if stream.write_all(b"X").await.is_err() {
                    return started.elapsed();
                }
                let mut buffer = [0u8; 512];
                match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
                    // Whatever hyper says on a timeout, then the close.
                    Ok(Ok(_)) => continue,
                    Err(_) => continue,
                }
            }
            panic!("a slowloris connection was kept open for 30 s");
        }));
    }
    for trickler in tricklers {
        let held = trickler.await.unwrap();
        assert!(held < Duration::from_secs(10), "held {held:?}");
    }
    // Counted as the connection's task ends, a moment after the client sees it closed.
    wait_until("every timeout counted", Duration::from_secs(10), async || {
        let counted = state.metrics.refused.get(Refusal::HeaderTimeout);
        (counted == 100).then_some(()).ok_or_else(|| format!("{counted} counted"))
    })
    .await;
    let (status, _) = http(address, "GET /healthz HTTP/1.1", "").await;
    assert_eq!(status, 200);
}

/// Past the per-address and total caps, a connection is answered 503 with
/// the JSON error and closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_caps_get_a_503_json_error() {
    let (state, address) = start(|config| {
        config.max_connections = 15;
        config.max_connections_per_address = 10;
    })
    .await;
    let from = |source: &'static str| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(address).await.unwrap()
    };
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(from("127.0.0.1").await);
    }
    let refused = async |mut stream: TcpStream| {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        error_of(answer.split_once("\r\n\r\n").unwrap().1)
    };
    let error = refused(from("127.0.0.1").await).await;
    assert!(error.contains("--max-connections-per-address"), "{error}");
    for _ in 0..5 {
        held.push(from("127.0.0.2").await);
    }
    let error = refused(from("127.0.0.2").await).await;
    assert!(error.contains("--max-connections"), "{error}");
    assert_eq!(state.metrics.refused.get(Refusal::TooManyFromAddress), 1);
    assert_eq!(state.metrics.refused.get(Refusal::TooManyConnections), 1);
    drop(held);
    wait_until("the places to come back", Duration::from_secs(10), async || {
        match tokio::time::timeout(Duration::from_secs(2), http(address, "GET /healthz HTTP/1.1", "")).await {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// A 100,000-container snapshot is refused before the store (so never
/// rendered), with the reason sent to its probe, while a second probe's
/// deltas go on being applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_report_is_refused_without_stalling_another_probe() {
    let (state, address) = start(|_| {}).await;
    let mut steady = Probe::connect(address).await;
    steady.send(&ProbeMessage::Snapshot(host("steady", 1))).await;
    wait_until("the steady probe to register", Duration::from_secs(10), async || {
        probe_seq(&state, "steady").await.map(|_| ()).ok_or_else(|| "not yet".into())
    })
    .await;

    let huge = tokio::task::spawn_blocking(|| {
        let mut builder = ReportBuilder::new("huge");
        for i in 0..100_000 {
            builder = builder.container(&format!("{i:064x}"), &format!("c{i}"), "busybox", "172.17.0.2");
        }
        let report = builder.build();
        let mut encoder = StreamEncoder::new().unwrap();
        encoder.encode(&Codec::default(), &ProbeMessage::Snapshot(report)).unwrap()
    })
    .await
    .unwrap();
    eprintln!("the huge snapshot frame: {} bytes", huge.len());
    let big = Probe::connect(address).await;
    big.send_raw(huge).await;

    // The steady probe's deltas keep being applied while the big one is decoded and refused.
    let mut last = host("steady", 1);
    let mut slowest = Duration::ZERO;
    for seq in 2..=30 {
        let mut next = host("steady", seq);
        next.host.load = [seq as f64, 0.0, 0.0];
        let sent = Instant::now();
        steady.send(&ProbeMessage::Delta(diff(&last, &next))).await;
        last = next;
        wait_until("the steady probe's delta", Duration::from_secs(3), async || {
            let applied = probe_seq(&state, "steady").await;
            (applied == Some(seq)).then_some(()).ok_or_else(|| format!("at {applied:?}"))
        })
        .await;
        slowest = slowest.max(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("slowest steady delta while the huge report came: {slowest:?}");

    wait_until("the big probe to be refused", Duration::from_secs(60), async || {
        let rejected = big.heard().into_iter().find_map(|message| match message {
            AppMessage::Rejected { reason } => Some(reason),
            _ => None,
        });
        match rejected {
            Some(reason) if reason.contains("--max-entities-per-probe") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(probe_seq(&state, "huge").await, None, "nothing of the huge report reached the model");
    assert_eq!(state.metrics.refused.get(Refusal::TooManyEntities), 1);
    assert!(!steady.is_closed());
}

/// A connection that never sends a snapshot is closed at the registration
/// deadline, pings or not; one that sends garbage is closed after
/// `max_bad_frames`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_strangers_and_garbage_senders_are_closed() {
    let (state, address) = start(|config| {
        config.probe_register_timeout = Duration::from_secs(1);
        config.max_bad_frames = 5;
    })
    .await;
    let stranger = Probe::connect(address).await;
    let garbage = Probe::connect(address).await;
    for _ in 0..5 {
        garbage.send_raw(b"PSCP\x03\x01not zstd at all".to_vec()).await;
    }
    wait_until("both to be closed", Duration::from_secs(15), async || {
        (stranger.is_closed() && garbage.is_closed())
            .then_some(())
            .ok_or_else(|| format!("stranger {}, garbage {}", stranger.is_closed(), garbage.is_closed()))
    })
    .await;
    assert_eq!(state.metrics.refused.get(Refusal::Unregistered), 1);
    assert_eq!(state.metrics.refused.get(Refusal::BadFrames), 1);
    let (_, metrics) = http(address, "GET /metrics HTTP/1.1", "").await;
    assert!(metrics.contains("periscope_refused_total{reason=\"bad_frames\"} 1"), "{metrics}");
}

/// A delta whose sequence number goes backwards is refused (and a snapshot
/// asked for); a snapshot with an empty container ID is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backwards_sequences_and_empty_ids_are_refused() {
    let (state, address) = start(|_| {}).await;
    let mut probe = Probe::connect(address).await;
    let first = host("seq", 5);
    probe.send(&ProbeMessage::Snapshot(first.clone())).await;
    let mut next = host("seq", 6);
    next.host.load = [1.0, 0.0, 0.0];
    let mut backwards = diff(&first, &next);
    backwards.seq = 4;
    probe.send(&ProbeMessage::Delta(backwards)).await;
    wait_until("a snapshot request", Duration::from_secs(10), async || {
        probe
            .heard()
            .iter()
            .any(|m| matches!(m, AppMessage::RequestSnapshot { .. }))
            .then_some(())
            .ok_or_else(|| format!("{:?}", probe.heard()))
    })
    .await;
    assert_eq!(probe_seq(&state, "seq").await, Some(5), "the backwards delta was not applied");
    assert_eq!(state.metrics.refused.get(Refusal::SequenceBackwards), 1);

    let mut empty = Probe::connect(address).await;
    empty
        .send(&ProbeMessage::Snapshot(
            ReportBuilder::new("empty-id").container("", "web", "nginx", "172.17.0.3").build(),
        ))
        .await;
    wait_until("the refusal", Duration::from_secs(10), async || {
        let rejected = empty
            .heard()
            .into_iter()
            .any(|m| matches!(m, AppMessage::Rejected { reason } if reason.contains("empty container ID")));
        rejected.then_some(()).ok_or_else(|| format!("{:?}", empty.heard()))
    })
    .await;
    assert_eq!(probe_seq(&state, "empty-id").await, None);
    assert_eq!(state.metrics.refused.get(Refusal::InvalidId), 1);
}

/// Every route answers errors with the documented JSON, including axum's
/// own rejections: WebSocket routes asked with a plain GET, a bad
/// percent-escape in a path, a wrong method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_on_every_route_is_json() {
    let (_state, address) = start(|_| {}).await;
    for (request, status) in [
        ("GET /api/topology/containers/ws HTTP/1.1", 400),
        ("GET /api/probe/ws HTTP/1.1", 400),
        ("GET /api/pipe/1 HTTP/1.1", 400),
        ("GET /api/topology/%ZZ HTTP/1.1", 404),
        ("GET /api/topology/containers/%C3%28 HTTP/1.1", 400),
        ("DELETE /api/topology HTTP/1.1", 405),
        ("GET /api/topology/nothing HTTP/1.1", 404),
    ] {
        let (got, body) = http(address, request, "").await;
        assert_eq!(got, status, "{request}: {body}");
        let error = error_of(&body);
        assert!(!error.is_empty(), "{request}");
    }
}

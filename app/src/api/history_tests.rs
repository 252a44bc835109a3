//! Time travel and events through the router, with a real store in a temp
//! directory and its writer thread; playback over channels.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use periscope_report::fixtures::{ReportBuilder, HOST_NETNS};
use periscope_report::{diff, Report, UnixMillis};
use serde_json::Value;
use tower::ServiceExt;

use crate::api::history::stream_past;
use crate::api::router;
use crate::archive::{Archive, HistoryConfig};
use crate::clock::now;
use crate::config::AppConfig;
use crate::state::AppState;
use crate::view::{ViewId, ViewOptions};

fn host(seq: u64, with_web: bool) -> Report {
    let mut builder = ReportBuilder::new("a")
        .seq(seq)
        .interface("eth0", "10.0.0.1/24")
        .interface("docker0", "172.17.0.1/16")
        .process(10, "curl", None);
    if with_web {
        builder = builder
            .container("web", "web", "nginx:1.25", "172.17.0.2")
            .process(100, "nginx", Some("web"))
            .tcp(1001, Some(100), "0.0.0.0:80", None)
            .tcp(HOST_NETNS, Some(10), "172.17.0.1:40000", Some("172.17.0.2:80"));
    }
    builder.build()
}

async fn get_json(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let response = router(state.clone())
        .oneshot(Request::builder().uri(uri).header("host", "localhost:4040").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{uri}: {e}")))
}

/// Waits until the writer has committed history up to `moment`.
async fn wait_for_history(archive: &Archive, moment: UnixMillis) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while archive.range().is_none_or(|(_, to)| to < moment) {
        assert!(Instant::now() < deadline, "history never reached {moment:?}: {:?}", archive.range());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A state with history: the web container at `t1`, gone at `t2`.
async fn recorded(name: &str) -> (AppState, Archive, UnixMillis, UnixMillis, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("periscope-api-history-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let archive = Archive::open(HistoryConfig::new(&dir)).unwrap();
    let state = AppState::with_archive(AppConfig::default(), Some(archive.clone()));
    let t1 = now();
    state.with_store(move |store| store.insert_snapshot(host(1, true), t1)).await.unwrap();
    wait_for_history(&archive, t1).await;
    let t2 = UnixMillis(now().0.max(t1.0 + 1));
    state.with_store(move |store| store.apply_delta(diff(&host(1, true), &host(2, false)), t2)).await.unwrap();
    wait_for_history(&archive, t2).await;
    (state, archive, t1, t2, dir)
}

#[tokio::test]
async fn views_details_and_events_answer_for_a_past_moment() {
    let (state, archive, t1, t2, dir) = recorded("rest").await;

    let (status, info) = get_json(&state, "/api/history").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["enabled"], true);
    assert!(info["from"].as_u64().unwrap() <= t1.0 && info["to"].as_u64().unwrap() >= t2.0, "{info}");

    let (status, then) = get_json(&state, &format!("/api/topology/containers?at={}", t1.0)).await;
    assert_eq!(status, StatusCode::OK, "{then}");
    let ids: Vec<&str> = then["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"container:web"), "{ids:?}");
    assert_eq!(then["edges"].as_array().unwrap().len(), 1);

    let (_, now_view) = get_json(&state, &format!("/api/topology/containers?at={}", t2.0)).await;
    assert!(now_view["nodes"].as_array().unwrap().iter().all(|n| n["id"] != "container:web"));

    let (status, details) = get_json(&state, &format!("/api/topology/containers/container:web?at={}", t1.0)).await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(details["node"]["label"], "web");
    let (status, gone) = get_json(&state, &format!("/api/topology/containers/container:web?at={}", t2.0)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");

    let (status, events) = get_json(&state, &format!("/api/events?from={}&node=container:web", t1.0)).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let kinds: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    // The edge into it was seen when the writer first looked; it is reported gone only 30 s after it went.
    assert_eq!(kinds, ["edge_seen", "container_died", "container_removed"], "{events}");
    assert_eq!(events["events"][0]["peer"]["id"], "container:web");
    assert_eq!(events["events"][2]["node"]["id"], "container:web");
    assert_eq!(events["events"][2]["at"], t2.0);
    let (_, all) = get_json(&state, &format!("/api/events?from={}", t1.0)).await;
    assert_eq!(all["events"][0]["kind"], "probe_connected");

    drop(state);
    archive.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_moments_and_history_off_are_clear_errors() {
    let (state, archive, _, _, dir) = recorded("errors").await;
    for (uri, status, needle) in [
        ("/api/topology/containers?at=yesterday", StatusCode::BAD_REQUEST, "not a time in Unix milliseconds"),
        ("/api/topology/containers?at=1", StatusCode::NOT_FOUND, "no history at 1"),
        ("/api/topology/containers/container:web?at=1", StatusCode::NOT_FOUND, "no history at 1"),
        ("/api/events?from=10&to=5", StatusCode::BAD_REQUEST, "must not be after"),
        ("/api/events?limit=0", StatusCode::BAD_REQUEST, "limit"),
        ("/api/events?node=nonsense", StatusCode::NOT_FOUND, ""),
    ] {
        let (got, body) = get_json(&state, uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{uri}: {body}");
    }
    let off = AppState::new(AppConfig::default());
    let (status, info) = get_json(&off, "/api/history").await;
    assert_eq!((status, info["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    for uri in ["/api/events", "/api/topology/containers?at=5"] {
        let (status, body) = get_json(&off, uri).await;
        assert_eq!(status, StatusCode::CONFLICT, "{uri}");
        assert!(body["error"].as_str().unwrap().contains("--no-history"));
    }
    drop(state);
    archive.close();
    let _ = std::fs::remove_dir_all(&dir);
}

async fn next_json(rx: &mut mpsc::Receiver<String>) -> Value {
    let text = tokio::time::timeout(Duration::from_secs(10), rx.next()).await.expect("a message in time").unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn playback_starts_in_the_past_seeks_and_plays_forward() {
    let (state, archive, t1, t2, dir) = recorded("playback").await;
    let (sink, mut sent) = mpsc::channel::<String>(16);
    let (mut client, incoming) = mpsc::channel::<String>(4);
    let task = tokio::spawn(stream_past(
        state.clone(),
        archive.clone(),
        ViewId::Containers,
        ViewOptions::default(),
        t1,
        1.0,
        true,
        sink,
        incoming,
    ));
    let full = next_json(&mut sent).await;
    assert_eq!(full["type"], "full");
    assert!(full["nodes"].as_array().unwrap().iter().any(|n| n["id"] == "container:web"));
    let clock = next_json(&mut sent).await;
    assert_eq!(
        (clock["type"].as_str(), clock["at"].as_u64(), clock["playing"].as_bool()),
        (Some("clock"), Some(t1.0), Some(false))
    );

    client.send(format!(r#"{{"type":"seek","at":{}}}"#, t2.0)).await.unwrap();
    let full = next_json(&mut sent).await;
    assert!(full["nodes"].as_array().unwrap().iter().all(|n| n["id"] != "container:web"), "{full}");
    assert_eq!(next_json(&mut sent).await["at"], t2.0);

    client.send(format!(r#"{{"type":"seek","at":{}}}"#, t1.0)).await.unwrap();
    assert_eq!(next_json(&mut sent).await["type"], "full");
    assert_eq!(next_json(&mut sent).await["at"], t1.0);
    // Played fast enough to reach t2 in one step: the container goes in a diff, as it went live.
    client.send(r#"{"type":"play","speed":3600}"#.to_owned()).await.unwrap();
    let mut removed = false;
    for _ in 0..6 {
        let message = next_json(&mut sent).await;
        if message["type"] == "diff" {
            removed = message["nodes"]["remove"].as_array().unwrap().iter().any(|id| id == "container:web");
            break;
        }
    }
    assert!(removed, "no diff removing the web container");

    client.send(r#"{"type":"rewind"}"#.to_owned()).await.unwrap();
    let mut error = Value::Null;
    for _ in 0..6 {
        let message = next_json(&mut sent).await;
        if message["type"] == "error" {
            error = message;
            break;
        }
    }
    assert!(error["error"].as_str().unwrap().contains("unknown command"), "{error}");
    drop(client);
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("the stream ends with its client").unwrap();
    drop(state);
    archive.close();
    let _ = std::fs::remove_dir_all(&dir);
}

//! The `periscope` binary as a user runs it: standalone (app plus built-in
//! probe) on a loopback port, and refusing to listen beyond loopback without a token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the app when the test ends, even by a failed assertion.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // Already gone is fine.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(address: SocketAddr, path: &str) -> Result<(String, String), String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no header end")?;
    Ok((head.to_owned(), body.to_owned()))
}

fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => panic!("timed out waiting for {what}: {last}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn standalone_serves_the_ui_and_its_own_probe_on_loopback() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_periscope"))
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("periscope starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let running = Running(child);
    // The first log line names the bound address.
    let mut lines = BufReader::new(stdout).lines();
    let address: SocketAddr = wait_for("the listening log line", Duration::from_secs(30), || {
        let line = lines.next().ok_or("log ended")?.map_err(|e| e.to_string())?;
        let plain: String =
            line.split('\u{1b}').map(|part| part.split_once('m').map_or(part, |(_, rest)| rest)).collect();
        plain
            .split_whitespace()
            .find_map(|word| word.strip_prefix("address="))
            .and_then(|address| address.parse().ok())
            .ok_or(line)
    });
    // Keep draining the log so the app never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));

    let probes = wait_for("the built-in probe", Duration::from_secs(60), || {
        let (_, body) = get(address, "/api/probes")?;
        let probes: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        (probes.as_array().map_or(0, Vec::len) == 1).then_some(probes).ok_or(body)
    });
    let host = probes[0]["host"].as_str().unwrap().to_owned();
    let (_, hosts) = get(address, "/api/topology/hosts").unwrap();
    assert!(hosts.contains(&format!("host:{host}")), "{hosts}");
    // Unconnected processes are hidden by default; this host may have no connection right now.
    let (_, processes) = get(address, "/api/topology/processes?unconnected=show").unwrap();
    assert!(processes.contains("\"kind\":\"process\""));

    let (head, page) = get(address, "/").unwrap();
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/html"), "{head}");
    assert!(page.contains("<html") || page.contains("<!doctype") || page.contains("<!DOCTYPE"), "{page}");
    let (head, _) = get(address, "/healthz").unwrap();
    assert!(head.contains(" 200 "), "{head}");
    drop(running);
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let output = Command::new(env!("CARGO_BIN_EXE_periscope"))
        .args(["--listen", "0.0.0.0:0", "--no-probe"])
        .env_remove("PERISCOPE_TOKEN")
        .output()
        .expect("periscope runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--token"), "{stderr}");
}

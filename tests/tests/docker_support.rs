//! The test-support library against the real Docker engine.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use periscope_tests::docker::{docker, TestContainer, PREFIX};
use periscope_tests::wait_until;

fn http_get(ip: &str) -> Result<String, String> {
    let mut stream =
        TcpStream::connect_timeout(&format!("{ip}:80").parse().map_err(|e| format!("{e}"))?, Duration::from_secs(1))
            .map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    Ok(response)
}

#[test]
fn busybox_httpd_container_is_reachable_over_the_bridge_and_removed() {
    let server = TestContainer::run("httpd", &[], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    assert!(server.name.starts_with(PREFIX));
    let ip = server.ip().unwrap();
    let response = wait_until("httpd to answer", Duration::from_secs(20), || http_get(&ip)).unwrap();
    assert!(response.starts_with("HTTP/1.") && response.contains("periscope test page"), "response: {response}");

    let id = server.id.clone();
    drop(server);
    let remaining = docker(&["ps", "-a", "-q", "--no-trunc", "--filter", &format!("id={id}")]).unwrap();
    assert_eq!(remaining, "", "container {id} should be removed");
}

#[test]
fn container_is_removed_even_when_the_test_panics() {
    let outcome = std::panic::catch_unwind(|| {
        let container = TestContainer::run("panics", &[], &["sleep", "300"]).unwrap();
        let id = container.id.clone();
        std::panic::panic_any(id);
    });
    let id = *outcome.unwrap_err().downcast::<String>().unwrap();
    let remaining = docker(&["ps", "-a", "-q", "--no-trunc", "--filter", &format!("id={id}")]).unwrap();
    assert_eq!(remaining, "");
}

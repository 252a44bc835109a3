//! The app attacked as an outsider would, over real sockets: without the
//! token every route but liveness and the login page is refused; a foreign
//! Host is refused everywhere (DNS rebinding); a foreign Origin cannot open
//! WebSockets or POST; the login page sets an HttpOnly SameSite=Strict
//! cookie; secrets in command lines never reach the API; a probe cannot
//! speak for another probe's ID without its credential; and probes reach an
//! HTTPS app over wss:// with a private CA, refusing what they cannot verify.

mod app_support;

use std::io::Write;
use std::time::Duration;

use app_support::App;
use periscope::config::AppConfig;
use periscope::credentials::Credentials;
use periscope::state::AppState;
use periscope_tests::docker::TestContainer;
use periscope_tests::wait_until;

const UI_TOKEN: &str = "ui-token-0123456789abcdef";
const SECRET: &str = "hunter2-this-must-never-leave-the-host";

fn with_token() -> App {
    App::with(|config| config.ui_token = Some(UI_TOKEN.into()), |_| {})
}

fn bearer() -> String {
    format!("Bearer {UI_TOKEN}")
}

#[test]
fn with_a_token_every_route_needs_it_and_the_login_page_lets_people_in() {
    let app = with_token();
    let auth = bearer();
    wait_until("the probe to register", Duration::from_secs(30), || {
        let answer = app.request("GET", "/api/probes", &[("Authorization", &auth)], "");
        (answer.status == 200 && answer.body.contains(&app.probe_id())).then_some(()).ok_or(answer.body)
    })
    .unwrap();

    for path in [
        "/api",
        "/api/topology",
        "/api/topology/containers",
        "/api/report",
        "/api/probes",
        "/api/audit",
        "/metrics",
        "/",
    ] {
        let answer = app.request("GET", path, &[], "");
        assert_eq!(answer.status, 401, "{path} without a token: {}", answer.body);
        let answer = app.request("GET", path, &[("Authorization", &auth)], "");
        assert_eq!(answer.status, 200, "{path} with the token");
    }
    let wrong = app.request("GET", "/api/topology", &[("Authorization", "Bearer not-the-token-at-all")], "");
    assert_eq!(wrong.status, 401);
    let control = format!("/api/control/{}/container%3Ax/stop", app.probe_id());
    assert_eq!(app.request("POST", &control, &[], "").status, 401);
    // A browser asking for a page is sent to the login page instead.
    let page = app.request("GET", "/", &[("Accept", "text/html")], "");
    assert_eq!((page.status, page.header("location")), (303, Some("/login")));
    assert_eq!(app.request("GET", "/healthz", &[], "").status, 200, "liveness stays open");
    assert_eq!(app.websocket("/api/topology/containers/ws", &[]).err(), Some(401));
    assert_eq!(app.websocket("/api/pipe/0123", &[]).err(), Some(401));
    assert!(app.websocket("/api/topology/containers/ws", &[("Authorization", &auth)]).is_ok());

    // The login page: a wrong token is refused, the right one sets the cookie, which then works.
    let login = app.request("GET", "/login", &[], "");
    assert_eq!(login.status, 200);
    assert!(login.body.contains("name=\"token\""));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let refused = app.request("POST", "/api/login", &form, "token=wrong-token-wrong-token");
    assert_eq!(refused.status, 401);
    assert!(refused.header("set-cookie").is_none());
    // A form gets the page back, saying why (not the API's JSON error).
    assert!(refused.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{}", refused.head);
    assert!(refused.body.contains("id=\"login-error\""), "{}", refused.body);
    let accepted = app.request("POST", "/api/login", &form, &format!("token={UI_TOKEN}"));
    assert_eq!(accepted.status, 303, "{}", accepted.head);
    let cookie = accepted.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(UI_TOKEN), "the cookie is a session, not the token");
    let session = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(app.request("GET", "/api/topology", &[("Cookie", &session)], "").status, 200);
    assert!(app.websocket("/api/topology/containers/ws", &[("Cookie", &session)]).is_ok());
    app.request("POST", "/api/logout", &[("Cookie", &session)], "");
    assert_eq!(app.request("GET", "/api/topology", &[("Cookie", &session)], "").status, 401);

    // Guessing is slow: after a few wrong tokens this address must wait, even with the right one.
    for _ in 0..periscope::sessions::MAX_FAILURES {
        app.request("POST", "/api/login", &form, "token=guess-guess-guess-guess");
    }
    let locked = app.request("POST", "/api/login", &form, &format!("token={UI_TOKEN}"));
    assert_eq!(locked.status, 429, "{}", locked.body);

    // Security headers on the UI and the API alike.
    for path in ["/", "/api", "/login"] {
        let answer = app.request("GET", path, &[("Authorization", &auth)], "");
        let csp = answer.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{path}");
    }
}

#[test]
fn a_foreign_host_is_refused_everywhere_and_a_foreign_origin_cannot_upgrade_or_post() {
    let app = with_token();
    let auth = bearer();
    let port = app.address.port();
    let evil_host = format!("evil.example:{port}");
    let evil_origin = format!("http://evil.example:{port}");
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/login"),
        ("GET", "/healthz"),
        ("GET", "/api"),
        ("GET", "/api/topology"),
        ("GET", "/api/report"),
        ("GET", "/metrics"),
        ("GET", "/api/probe/ws"),
        ("POST", "/api/login"),
        ("POST", "/api/control/p/container%3Ax/stop"),
    ] {
        let headers =
            [("Host", evil_host.as_str()), ("Origin", evil_origin.as_str()), ("Authorization", auth.as_str())];
        let answer = app.request(method, path, &headers, "");
        assert_eq!(answer.status, 403, "{method} {path} with Host {evil_host}: {}", answer.body);
    }
    let headers = [("Host", evil_host.as_str()), ("Origin", evil_origin.as_str()), ("Authorization", auth.as_str())];
    assert_eq!(app.websocket("/api/topology/containers/ws", &headers).err(), Some(403));

    // Our own Host, but a foreign Origin: upgrades and state changes are refused.
    let foreign = [("Origin", "http://evil.example"), ("Authorization", auth.as_str())];
    assert_eq!(app.websocket("/api/topology/containers/ws", &foreign).err(), Some(403));
    assert_eq!(app.websocket("/api/pipe/0123", &foreign).err(), Some(403));
    let answer = app.request("POST", &format!("/api/control/{}/container%3Ax/stop", app.probe_id()), &foreign, "");
    assert_eq!(answer.status, 403, "{}", answer.body);
    let form = [("Origin", "http://evil.example"), ("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(app.request("POST", "/api/login", &form, &format!("token={UI_TOKEN}")).status, 403);
    // The app's own origin is fine.
    let own = format!("http://127.0.0.1:{port}");
    assert!(app.websocket("/api/topology/containers/ws", &[("Origin", &own), ("Authorization", &auth)]).is_ok());
}

#[test]
fn secrets_in_command_lines_never_reach_the_api() {
    let app = App::standalone();
    // A host process and a container, each started with a secret on its command line.
    let mut host_process = std::process::Command::new("sh")
        .args(["-c", "sleep 300; :", "periscope-redaction-test", "--token", SECRET, &format!("--password={SECRET}")])
        .spawn()
        .unwrap();
    let container = TestContainer::run(
        "redact",
        &[],
        &["sh", "-c", "sleep 300; :", "x", &format!("API_KEY={SECRET}"), &format!("https://u:{SECRET}@example.com/")],
    )
    .unwrap();
    let report = wait_until("both in the report, redacted", Duration::from_secs(30), || {
        let report = app_support::http_get(app.address, "/api/report")?;
        let seen = report.contains("periscope-redaction-test") && report.contains(&container.id);
        seen.then_some(report).ok_or_else(|| "not yet".to_owned())
    })
    .unwrap();
    assert!(report.contains("<redacted>"), "the secret's place is marked");
    let mut bodies = vec![report];
    for path in ["/api/topology/processes", "/api/topology/containers", "/api/topology/processes-by-name"] {
        bodies.push(app_support::http_get(app.address, path).unwrap());
    }
    bodies.push(
        app_support::http_get(app.address, &format!("/api/topology/containers/container%3A{}", container.id)).unwrap(),
    );
    for body in &bodies {
        assert!(!body.contains(SECRET), "a secret leaked into the API");
    }
    // Best effort: the process is ours and short-lived anyway.
    let _ = host_process.kill();
    let _ = host_process.wait();
}

/// A second probe on the app's runtime, as another host would run one.
fn spawn_probe(app: &App, probe_id: &str, host_id: &str, token: &str) {
    let config = periscope_probe::Config {
        app: format!("ws://{}/api/probe/ws", app.address),
        token: Some(token.to_owned()),
        probe_id: Some(probe_id.to_owned()),
        host_id: Some(host_id.to_owned()),
        no_docker: true,
        no_conntrack: true,
        ..periscope_probe::Config::default()
    };
    app.runtime.spawn(periscope_probe::run(config));
}

#[test]
fn a_probe_id_with_its_own_credential_cannot_be_used_without_it() {
    let credential = "credential-for-bound-probe-0001";
    let file = format!("bound-probe host-bound {credential}\n");
    let app = App::with(|config| config.credentials = Credentials::parse(&file, "test").unwrap(), |_| {});
    let shared = app.state.config.token.clone().unwrap();
    let probes = |app: &App| -> Vec<String> {
        app.get_json("/api/probes")
            .map(|list| list.as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    wait_until("the built-in probe", Duration::from_secs(30), || {
        probes(&app).contains(&app.probe_id()).then_some(()).ok_or("not yet".to_owned())
    })
    .unwrap();
    let rejected_before = app.state.metrics.rejected_connections.load(std::sync::atomic::Ordering::Relaxed);

    // The shared token speaking for the listed ID or claiming its host, and the credential speaking
    // for another host: refused.
    spawn_probe(&app, "bound-probe", "host-bound", &shared);
    spawn_probe(&app, "squatter", "host-bound", &shared);
    spawn_probe(&app, "bound-probe", "host-other", credential);
    wait_until("the impostors refused", Duration::from_secs(30), || {
        let rejected = app.state.metrics.rejected_connections.load(std::sync::atomic::Ordering::Relaxed);
        (rejected >= rejected_before + 3).then_some(()).ok_or(format!("{rejected} rejected"))
    })
    .unwrap();
    let registered = probes(&app);
    assert!(
        !registered.iter().any(|p| p == "bound-probe" || p == "squatter"),
        "no impostor registered: {registered:?}"
    );

    // The real one: its credential, its host.
    spawn_probe(&app, "bound-probe", "host-bound", credential);
    wait_until("the bound probe", Duration::from_secs(30), || {
        probes(&app).contains(&"bound-probe".to_owned()).then_some(()).ok_or("not yet".to_owned())
    })
    .unwrap();
    let report = app.get_json("/api/report").unwrap();
    assert_eq!(report["bound-probe"]["host"]["id"], "host-bound");
    // By now every impostor has tried more than once: still none got in.
    assert!(!probes(&app).contains(&"squatter".to_owned()));
}

#[test]
fn a_probe_reaches_an_https_app_over_wss_with_a_private_ca_and_refuses_what_it_cannot_verify() {
    let dir = std::env::temp_dir().join(periscope_tests::docker::unique_name("tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Periscope test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
        path
    };
    let ca_file = write("ca.pem", &ca_cert.pem());
    let cert_file = write("server.pem", &server_cert.pem());
    let key_file = write("server-key.pem", &server_key.serialize_pem());

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let token = "tls-probe-token-0123456789";
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let state = AppState::new(AppConfig {
        token: Some(token.into()),
        listen: Some(address),
        tls: true,
        ..AppConfig::default()
    });
    let tls = periscope::tls::server_config(&cert_file, &key_file).unwrap();
    let listener = {
        // The listener spawns its accept task: it needs the runtime entered.
        let _entered = runtime.enter();
        periscope::tls::TlsListener::new(listener, tls).unwrap()
    };
    runtime.spawn(periscope::serve_tls(listener, state.clone()));

    let url = format!("wss://localhost:{}/api/probe/ws", address.port());
    // The link itself: the CA verifies the app; the system's roots do not know it.
    let verified = periscope_probe::link::Target {
        url: url.clone(),
        token: Some(token.into()),
        tls: Some(periscope_probe::link::tls_config(Some(&ca_file)).unwrap()),
    };
    assert!(runtime.block_on(periscope_probe::link::connect(&verified)).is_ok());
    let unverified = periscope_probe::link::Target {
        url: url.clone(),
        token: Some(token.into()),
        tls: Some(periscope_probe::link::tls_config(None).unwrap()),
    };
    let error = runtime.block_on(periscope_probe::link::connect(&unverified)).expect_err("an unknown CA is refused");
    assert!(format!("{error:#}").to_lowercase().contains("certificate"), "{error:#}");

    // The built-in probe's way: the app's own certificate pinned, whatever its name; another is refused.
    let pinned = |pem: &std::path::Path| periscope_probe::link::Target {
        url: format!("wss://127.0.0.1:{}/api/probe/ws", address.port()),
        token: Some(token.into()),
        tls: Some(periscope_probe::link::pinned_tls_config(pem).unwrap()),
    };
    assert!(runtime.block_on(periscope_probe::link::connect(&pinned(&cert_file))).is_ok());
    assert!(runtime.block_on(periscope_probe::link::connect(&pinned(&ca_file))).is_err());

    // The whole probe, over wss://, registers and reports.
    let probe = periscope_probe::Config {
        app: url,
        token: Some(token.into()),
        ca_file: Some(ca_file.clone()),
        probe_id: Some("tls-probe".into()),
        no_docker: true,
        no_conntrack: true,
        ..periscope_probe::Config::default()
    };
    runtime.spawn(periscope_probe::run(probe));
    wait_until("the probe over wss://", Duration::from_secs(30), || {
        let known = state
            .with_store_blocking(|store| store.model.report(&periscope_report::ProbeId::new("tls-probe")).is_some())
            .unwrap_or(false);
        known.then_some(()).ok_or("not yet".to_owned())
    })
    .unwrap();
    runtime.shutdown_background();
    // Best effort: temp files of a finished test.
    let _ = std::fs::remove_dir_all(&dir);
}

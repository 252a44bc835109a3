//! The guard every request passes: Host allow-list, Origin check, the UI
//! token, and security headers on every response; plus the probe channel's
//! own token check.
//!
//! - **Host** must be a loopback name, an IP literal, or a name given with
//!   `--allow-host`. A DNS-rebinding page reaches the app under the
//!   attacker's name (`evil.example:4040`), which this refuses; an IP literal
//!   cannot be rebound, so any is fine.
//! - **Origin**, on WebSocket upgrades and state-changing methods, must name
//!   a host allowed above on the app's own port and scheme (or be listed with
//!   `--allow-origin`) — checked against the app's settings, never against
//!   the request's own Host, which the attacker controls.
//! - **Token**: with a UI token set, every route but `/healthz`, the login
//!   page, its assets and the probe channel (which has its own token) needs
//!   the session cookie set by `POST /api/login` or `Authorization: Bearer`.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::api::error::ApiError;
use crate::config::AppConfig;
use crate::credentials::{constant_time_eq, ProbeAuth};
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "periscope_session";

/// Scripts only from the app itself, never inline; no framing; connections
/// (fetch, WebSocket) only to the app. Styles may be inline: Preact sets
/// style attributes and xterm.js writes its own style element.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The caller's address, as the listener saw it (0.0.0.0:0 when unknown, e.g. in tests without a socket).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl ClientAddr {
    pub fn ip(&self) -> IpAddr {
        self.0.ip()
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// The middleware: checks, then security headers on whatever the answer is.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|info| info.0)
        .unwrap_or(ClientAddr(SocketAddr::from(([0, 0, 0, 0], 0))));
    request.extensions_mut().insert(client);
    let mut response = match check(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(Refusal::Api(error)) => error.into_response(),
        Err(Refusal::LogIn) => Redirect::to("/login").into_response(),
    };
    add_security_headers(response.headers_mut());
    response
}

/// Why the guard answers instead of the route.
enum Refusal {
    Api(ApiError),
    /// A browser asking for a page without a session: the login page instead.
    LogIn,
}

fn check(state: &AppState, request: &Request) -> Result<(), Refusal> {
    let config = &state.config;
    let headers = request.headers();
    let host = request_host(request).ok_or_else(|| Refusal::Api(ApiError::ForbiddenHost(String::new())))?;
    if !host_allowed(&host, config) {
        return Err(Refusal::Api(ApiError::ForbiddenHost(host)));
    }
    let path = request.uri().path();
    let upgrade = headers.get(header::UPGRADE).is_some();
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if upgrade || changes_state {
        check_origin(headers, config).map_err(Refusal::Api)?;
    }
    if is_public(path) || authenticated(headers, state) {
        return Ok(());
    }
    let wants_page = request.method() == Method::GET
        && !upgrade
        && !path.starts_with("/api")
        && path != "/metrics"
        && headers
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if wants_page {
        Err(Refusal::LogIn)
    } else {
        Err(Refusal::Api(ApiError::Unauthorized))
    }
}

/// Routes open without the UI token: liveness, the login page and its
/// (content-hashed, data-free) assets, the login call, and the probe channel
/// (which checks the probe token itself).
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/login" | "/login.html" | "/api/login" | "/api/probe/ws" | "/favicon.ico")
        || path.starts_with("/assets/")
}

/// Whether the request carries the UI token (bearer) or a live session cookie; true when no token is set.
fn authenticated(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(token) = &state.config.ui_token else { return true };
    if bearer(headers).is_some_and(|presented| constant_time_eq(presented.as_bytes(), token.as_bytes())) {
        return true;
    }
    session_cookie(headers).is_some_and(|session| state.sessions.is_valid(session, Instant::now()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The session ID from the `Cookie` header(s).
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Probes authenticate with `Authorization: Bearer <token>`: the shared probe
/// token or a per-probe credential. Open when neither is configured.
pub fn check_probe_token(headers: &HeaderMap, config: &AppConfig) -> Result<ProbeAuth, ApiError> {
    if config.token.is_none() && config.credentials.is_empty() {
        return Ok(ProbeAuth::Open);
    }
    let presented = bearer(headers).ok_or(ApiError::ProbeUnauthorized)?;
    if let Some(credential) = config.credentials.matching(presented) {
        return Ok(ProbeAuth::Bound(credential.clone()));
    }
    match &config.token {
        Some(expected) if constant_time_eq(presented.as_bytes(), expected.as_bytes()) => Ok(ProbeAuth::Shared),
        _ => Err(ApiError::ProbeUnauthorized),
    }
}

/// The Host the request names: the `Host` header, or the URI's authority (HTTP/2).
fn request_host(request: &Request) -> Option<String> {
    let header = request.headers().get(header::HOST).and_then(|host| host.to_str().ok());
    header.or_else(|| request.uri().authority().map(|authority| authority.as_str())).map(str::to_owned)
}

/// `name:port`, `[v6]:port`, `name` → the name (brackets removed), lowercase, without a trailing dot.
fn host_name(host: &str) -> String {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn port_of(host: &str) -> Option<u16> {
    match host.strip_prefix('[') {
        Some(rest) => rest.split_once("]:")?.1.parse().ok(),
        None => host.rsplit_once(':')?.1.parse().ok(),
    }
}

/// A loopback name, an IP literal, or a name given with `--allow-host`.
pub fn host_allowed(host: &str, config: &AppConfig) -> bool {
    let name = host_name(host);
    if name.is_empty() {
        return false;
    }
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok()
        || config.allowed_hosts.iter().any(|allowed| host_name(allowed) == name)
}

/// Browsers send Origin on WebSocket upgrades and on POSTs. Clients that send
/// none are not browsers (a page cannot suppress it), and pass.
pub fn check_origin(headers: &HeaderMap, config: &AppConfig) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map_err(|_| ApiError::ForbiddenOrigin("<not text>".into()))?;
    if origin_allowed(origin, config) {
        Ok(())
    } else {
        Err(ApiError::ForbiddenOrigin(origin.to_owned()))
    }
}

fn origin_allowed(origin: &str, config: &AppConfig) -> bool {
    if config.allowed_origins.iter().any(|allowed| allowed.trim_end_matches('/') == origin) {
        return true;
    }
    let (scheme, authority) = match origin.split_once("://") {
        Some(("http", authority)) => (false, authority),
        Some(("https", authority)) => (true, authority),
        _ => return false,
    };
    if authority.contains('/') || !host_allowed(authority, config) {
        return false;
    }
    let Some(listen) = config.listen else { return true };
    let port = port_of(authority).unwrap_or(if scheme { 443 } else { 80 });
    scheme == config.tls && port == listen.port()
}

/// `Referrer-Policy: no-referrer` would make Chromium send `Origin: null` on
/// same-origin form posts, which the Origin check then refuses; `same-origin`
/// keeps the page's URL from other sites all the same.
fn add_security_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

/// `Set-Cookie` for a new session (or, with `None`, one that clears it).
pub fn session_cookie_header(session: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = match session {
        Some(id) => format!(
            "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
            crate::sessions::SESSION_LIFETIME.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn hosts() {
        let config = AppConfig { allowed_hosts: vec!["periscope.internal".into()], ..AppConfig::default() };
        for host in
            ["localhost:4040", "127.0.0.1:4040", "[::1]:4040", "10.1.2.3", "periscope.internal:4040", "LOCALHOST"]
        {
            assert!(host_allowed(host, &config), "{host}");
        }
        for host in ["evil.example:4040", "evil.example", "localhost.evil.example", "", "127.0.0.1.nip.io"] {
            assert!(!host_allowed(host, &config), "{host}");
        }
    }

    #[test]
    fn origins_are_checked_against_the_app_not_the_request() {
        let config = AppConfig {
            allowed_origins: vec!["http://localhost:5173".into()],
            listen: Some("127.0.0.1:4040".parse().unwrap()),
            ..AppConfig::default()
        };
        let check = |pairs: &[(header::HeaderName, &str)]| check_origin(&headers(pairs), &config).is_ok();
        assert!(check(&[(header::HOST, "127.0.0.1:4040")]));
        assert!(check(&[(header::ORIGIN, "http://127.0.0.1:4040")]));
        assert!(check(&[(header::ORIGIN, "http://localhost:4040")]));
        assert!(check(&[(header::ORIGIN, "http://localhost:5173")]));
        assert!(!check(&[(header::HOST, "evil.example:4040"), (header::ORIGIN, "http://evil.example:4040")]));
        assert!(!check(&[(header::ORIGIN, "http://localhost:8080")]), "another local port is another origin");
        assert!(!check(&[(header::ORIGIN, "https://127.0.0.1:4040")]), "another scheme is another origin");
        assert!(!check(&[(header::ORIGIN, "null")]));
    }

    #[test]
    fn probe_tokens() {
        let open = AppConfig::default();
        assert_eq!(check_probe_token(&HeaderMap::new(), &open).unwrap(), ProbeAuth::Open);
        let config = AppConfig { token: Some("s3cret-s3cret-s3cret".into()), ..AppConfig::default() };
        assert!(check_probe_token(&HeaderMap::new(), &config).is_err());
        assert!(check_probe_token(&headers(&[(header::AUTHORIZATION, "Bearer nope")]), &config).is_err());
        let shared = headers(&[(header::AUTHORIZATION, "Bearer s3cret-s3cret-s3cret")]);
        assert_eq!(check_probe_token(&shared, &config).unwrap(), ProbeAuth::Shared);
    }

    #[test]
    fn cookies() {
        let with = headers(&[(header::COOKIE, "a=b; periscope_session=abc123; c=d")]);
        assert_eq!(session_cookie(&with), Some("abc123"));
        assert_eq!(session_cookie(&headers(&[(header::COOKIE, "a=b")])), None);
        let set = session_cookie_header(Some("x"), true);
        let text = set.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && text.contains("Secure"), "{text}");
    }
}

//! Checks made before a WebSocket upgrade: the probe token and the browser's Origin.

use axum::http::{header, HeaderMap};

use crate::api::error::ApiError;
use crate::config::AppConfig;

/// Probes authenticate with `Authorization: Bearer <token>` when the app has a token.
pub fn check_token(headers: &HeaderMap, config: &AppConfig) -> Result<(), ApiError> {
    let Some(expected) = &config.token else { return Ok(()) };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Browsers send Origin on WebSocket upgrades: only the app's own origin (or
/// one configured) may open one, so another site cannot read the topology
/// through a visitor's browser. Clients that send no Origin are not browsers.
pub fn check_origin(headers: &HeaderMap, config: &AppConfig) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map_err(|_| ApiError::ForbiddenOrigin("<not text>".into()))?;
    if config.allowed_origins.iter().any(|allowed| allowed == origin) {
        return Ok(());
    }
    let host = headers.get(header::HOST).and_then(|host| host.to_str().ok());
    let same = host.is_some_and(|host| {
        origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).is_some_and(|rest| rest == host)
    });
    if same {
        Ok(())
    } else {
        Err(ApiError::ForbiddenOrigin(origin.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn origin() {
        let config = AppConfig { allowed_origins: vec!["http://localhost:5173".into()], ..AppConfig::default() };
        let check = |pairs: &[(header::HeaderName, &str)]| check_origin(&headers(pairs), &config).is_ok();
        assert!(check(&[(header::HOST, "127.0.0.1:4040")]));
        assert!(check(&[(header::HOST, "127.0.0.1:4040"), (header::ORIGIN, "http://127.0.0.1:4040")]));
        assert!(check(&[(header::HOST, "127.0.0.1:4040"), (header::ORIGIN, "http://localhost:5173")]));
        assert!(!check(&[(header::HOST, "127.0.0.1:4040"), (header::ORIGIN, "http://evil.example")]));
        assert!(!check(&[(header::ORIGIN, "http://127.0.0.1:4040")]));
    }

    #[test]
    fn token() {
        let open = AppConfig::default();
        assert!(check_token(&HeaderMap::new(), &open).is_ok());
        let config = AppConfig { token: Some("s3cret".into()), ..AppConfig::default() };
        assert!(check_token(&HeaderMap::new(), &config).is_err());
        assert!(check_token(&headers(&[(header::AUTHORIZATION, "Bearer nope")]), &config).is_err());
        assert!(check_token(&headers(&[(header::AUTHORIZATION, "Bearer s3cret")]), &config).is_ok());
    }
}

//! The login page and calls: `GET /login` (a small page with no script at
//! all, so it needs nothing from the UI build and passes any CSP), `POST
//! /api/login` (the UI token in, an HttpOnly SameSite=Strict session cookie
//! out; a form post is redirected to `/`, a JSON one answered 204) and `POST
//! /api/logout`. Scripts skip all this and send `Authorization: Bearer`.

use std::time::Instant;

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use serde::Deserialize;

use crate::api::error::ApiError;
use crate::api::guard::{session_cookie, session_cookie_header, ClientAddr};
use crate::credentials::constant_time_eq;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/login", get(page)).route("/api/login", post(login)).route("/api/logout", post(logout))
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Periscope: log in</title>
<style>
  body { font: 15px system-ui, sans-serif; background: #10141a; color: #e4e8ee; display: grid; place-items: center; min-height: 100vh; margin: 0; }
  form { background: #1a2029; padding: 2rem; border-radius: 8px; min-width: 18rem; display: grid; gap: 0.8rem; }
  h1 { font-size: 1.2rem; margin: 0; }
  input { font: inherit; padding: 0.5rem; border-radius: 4px; border: 1px solid #3a4452; background: #0d1117; color: inherit; }
  button { font: inherit; padding: 0.5rem; border-radius: 4px; border: 0; background: #2f81f7; color: white; cursor: pointer; }
  .error { color: #ff7b72; margin: 0; }
  .hint { color: #8b949e; font-size: 0.85rem; margin: 0; }
</style>
</head>
<body>
<form method="post" action="/api/login" id="login">
  <h1>Periscope</h1>
  <!--error-->
  <label for="token">Token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
  <button type="submit">Log in</button>
  <p class="hint">The app's UI token (PERISCOPE_TOKEN). Scripts send it as <code>Authorization: Bearer</code>.</p>
</form>
</body>
</html>
"#;

fn login_page(error: Option<&str>) -> Html<String> {
    let error = error.map(|e| format!(r#"<p class="error" id="login-error">{e}</p>"#)).unwrap_or_default();
    Html(PAGE.replace("<!--error-->", &error))
}

async fn page() -> Html<String> {
    login_page(None)
}

async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if state.sessions.locked_out(client.ip(), Instant::now()) {
        tracing::warn!(client = %client.0, "login refused: too many wrong tokens");
        if is_form {
            let page = login_page(Some("Too many wrong tokens: try again in a minute."));
            return Ok((StatusCode::TOO_MANY_REQUESTS, page).into_response());
        }
        return Err(ApiError::TooManyLogins);
    }
    let presented = if is_form {
        Form::<Login>::from_request(request, &()).await.map(|Form(login)| login.token).ok()
    } else {
        Json::<Login>::from_request(request, &()).await.map(|Json(login)| login.token).ok()
    };
    let accepted = match (&state.config.ui_token, &presented) {
        (None, _) => true,
        (Some(token), Some(presented)) => constant_time_eq(presented.trim().as_bytes(), token.as_bytes()),
        (Some(_), None) => false,
    };
    if !accepted {
        state.sessions.failed(client.ip(), Instant::now());
        tracing::warn!(client = %client.0, "login with a wrong token");
        if is_form {
            return Ok((StatusCode::UNAUTHORIZED, login_page(Some("Wrong token."))).into_response());
        }
        return Err(ApiError::Unauthorized);
    }
    let cookie = state
        .config
        .ui_token
        .is_some()
        .then(|| session_cookie_header(Some(&state.sessions.start(Instant::now())), state.config.tls));
    let mut response = if is_form {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(session) = session_cookie(&headers) {
        state.sessions.end(session);
    }
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, session_cookie_header(None, state.config.tls))]).into_response()
}

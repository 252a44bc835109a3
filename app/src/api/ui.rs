//! The embedded browser UI (web/dist, or a page saying how to build it), served at `/`.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::api::error::ApiError;

/// build.rs points this at web/dist when the UI is built, else at a one-page placeholder.
#[derive(RustEmbed)]
#[folder = "$PERISCOPE_UI_DIR"]
struct Assets;

/// Serves a file of the UI; unknown non-API paths get index.html (the UI routes in the browser).
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path == "api" || path.starts_with("api/") {
        return ApiError::NotFound(uri.path().to_owned()).into_response();
    }
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(file) = Assets::get(path) {
        return asset(path, file);
    }
    match Assets::get("index.html") {
        Some(file) if !path.contains('.') => asset("index.html", file),
        _ => ApiError::NotFound(uri.path().to_owned()).into_response(),
    }
}

fn asset(path: &str, file: rust_embed::EmbeddedFile) -> Response {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    // Vite names assets by content hash, so they never change; index.html must be revalidated.
    let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, mime.as_ref().to_owned()), (header::CACHE_CONTROL, cache.to_owned())],
        file.data.into_owned(),
    )
        .into_response()
}

/// Whether the real UI (not the placeholder) is embedded.
pub fn is_built() -> bool {
    Assets::get("index.html")
        .is_some_and(|file| !String::from_utf8_lossy(&file.data).contains("periscope-ui-placeholder"))
}

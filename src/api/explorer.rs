//! The block explorer: one page served at `/`, its script and style under
//! `/explorer/*`, embedded in the binary (no build step, nothing fetched
//! from elsewhere). The page reads only this node's `/api` routes and
//! follows `/api/events`; see `src/api/explorer/app.js`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::Api;

/// The page (`GET /`).
pub const INDEX_HTML: &str = include_str!("explorer/index.html");
/// The page's script (`GET /explorer/app.js`).
pub const APP_JS: &str = include_str!("explorer/app.js");
/// The page's style (`GET /explorer/style.css`).
pub const STYLE_CSS: &str = include_str!("explorer/style.css");

/// The routes of this file.
pub fn routes() -> Router<Api> {
    Router::new()
        .route("/", get(|| asset("text/html; charset=utf-8", INDEX_HTML)))
        .route(
            "/explorer/app.js",
            get(|| asset("text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/explorer/style.css",
            get(|| asset("text/css; charset=utf-8", STYLE_CSS)),
        )
}

async fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

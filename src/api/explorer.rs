//! The block explorer: one page served at `/`, its script, style, icon and
//! vendored QR code library under `/explorer/*`, embedded in the binary (no
//! build step, nothing fetched from elsewhere). The page reads only this
//! node's `/api` routes and follows `/api/events`; its pages are hash routes
//! (`/#/block/HASH`, ...), so every page's URL is `/` to the server. See
//! `src/api/explorer/app.js`; the vendored files and their licenses are
//! listed in `src/api/explorer/vendor/README.md`.

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
/// The page's icon, SVG (`GET /explorer/favicon.svg`, also `/favicon.ico`).
pub const FAVICON_SVG: &str = include_str!("explorer/favicon.svg");
/// qrcode-generator 2.0.4 (MIT), unchanged from npm
/// (`GET /explorer/vendor/qrcode.js`): draws an address's QR code.
pub const QRCODE_JS: &str = include_str!("explorer/vendor/qrcode.js");

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
        .route(
            "/explorer/favicon.svg",
            get(|| asset("image/svg+xml", FAVICON_SVG)),
        )
        .route("/favicon.ico", get(|| asset("image/svg+xml", FAVICON_SVG)))
        .route(
            "/explorer/vendor/qrcode.js",
            get(|| asset("text/javascript; charset=utf-8", QRCODE_JS)),
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

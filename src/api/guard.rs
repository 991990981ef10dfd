//! Who may talk to the API, checked on every request before the routes:
//!
//! * **Host** (DNS rebinding): the `Host` header must be an IP address
//!   (with or without a port), `localhost`, or a name given with
//!   `--http-host`; else 421. A web page whose name was rebound to this
//!   node's address still sends its own name and is refused.
//! * **Origin** on `POST`/`DELETE`: a browser's request from another site
//!   (an `Origin` that is neither this API's own `http://HOST` nor the
//!   `--http-cors` origin) is refused with 403, so a page the user visits
//!   cannot broadcast or command through the local node.
//! * **Content type** of `POST /api/tx` and `POST /api/txs`: none,
//!   `text/plain` or `application/json`; an HTML form's types are refused
//!   with 415.
//! * **CORS** is off by default (no `Access-Control-*` headers: browsers
//!   keep other sites' pages from reading answers); `--http-cors ORIGIN`
//!   allows that one origin to read and to post.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The rules' settings.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Host names accepted besides IP addresses and `localhost`
    /// (`--http-host`), lowercase, without port.
    pub hosts: Vec<String>,
    /// The one cross-origin site allowed (`--http-cors`), e.g.
    /// `https://explorer.example`.
    pub cors: Option<String>,
}

/// The host part of a `Host` header value (`[::1]:8000` → `::1`).
fn host_name(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match value.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => value,
    }
}

impl Guard {
    /// True when `host` (a `Host` header value) names this node safely.
    pub fn host_ok(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || self.hosts.contains(&name)
    }

    /// True when a mutating request with these headers comes from no
    /// browser page, this API's own page, or the `--http-cors` origin.
    pub fn origin_ok(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return true;
        };
        if self.cors.as_deref() == Some(origin) {
            return true;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host))
    }
}

fn refuse(status: StatusCode, field: &'static str, error: String) -> Response {
    ApiError {
        status,
        error,
        field: Some(field),
    }
    .into_response()
}

/// The middleware (module docs).
pub async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !guard.host_ok(host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "host",
            format!(
                "Host {host:?} is not an IP address, localhost or a --http-host name (DNS rebinding)"
            ),
        );
    }
    let mutating = matches!(*req.method(), Method::POST | Method::DELETE);
    if mutating && !guard.origin_ok(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "origin",
            "a request from another site's page (Origin) may not change this node; see --http-cors"
                .into(),
        );
    }
    if *req.method() == Method::POST && matches!(req.uri().path(), "/api/tx" | "/api/txs") {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        let allowed = match ct.as_deref() {
            None | Some("text/plain") | Some("application/json") => true,
            Some(_) => false,
        };
        if !allowed {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type",
                format!(
                    "POST {} takes text/plain (or application/json)",
                    req.uri().path()
                ),
            );
        }
    }
    next.run(req).await
}

/// The CORS layer: none without `--http-cors`, else that origin for GET
/// and POST with `Content-Type` (and `Authorization` for the node routes).
pub fn cors(guard: &Guard) -> Option<tower_http::cors::CorsLayer> {
    let origin = guard.cors.as_deref()?.parse::<header::HeaderValue>().ok()?;
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ips_localhost_or_named() {
        let g = Guard {
            hosts: vec!["node.example".into()],
            cors: None,
        };
        for ok in [
            "127.0.0.1:8000",
            "127.0.0.1",
            "[::1]:8000",
            "localhost:8000",
            "node.example",
            "10.0.0.5",
        ] {
            assert!(g.host_ok(ok), "{ok}");
        }
        for bad in ["evil.example:8000", "", "localhost.evil.example"] {
            assert!(!g.host_ok(bad), "{bad}");
        }
    }
}

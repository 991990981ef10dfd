//! The operator's surface of the HTTP API, through HTTP only: `/metrics`
//! parsed by a Prometheus text-format parser, health and readiness, the
//! Host / Origin / content-type rules and CORS, and the event streams'
//! own bounded pool (one client cannot take every stream, and ordinary
//! requests still answer while streams are full).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::http::{Sse, get_json, http_get};
use support::*;
use tempfile::TempDir;

/// Sends a raw request with exactly these header lines; (status, head,
/// body).
fn raw(port: u16, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn metrics_health_origin_rules_and_the_event_pool() {
    let tmp = TempDir::new().unwrap();
    let mut node = Node::new(tmp.path(), "n");
    let g = node.create_chain();
    let payee = node.create_wallet();
    node.mint_send(&g, &payee, 3);
    let port = free_port();
    let http_addr = format!("127.0.0.1:{port}");
    node.start_central(&["--http", &http_addr, "--http-host", "node.example"]);
    wait_for(WAIT, "the HTTP API", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    // A method a route does not take: 405 with the JSON error body.
    let (s, _, body) = raw(
        port,
        "DELETE",
        "/api/blocks",
        &[&format!("Host: 127.0.0.1:{port}")],
        "",
    );
    assert_eq!(s, 405, "{body}");
    assert!(body.contains("not allowed"), "{body}");

    // Health and readiness.
    assert_eq!(get_json(port, "/api/node/health")["status"], "ok");
    assert_eq!(get_json(port, "/api/node/ready")["height"], 1);

    // Host: IPs, localhost and --http-host names only.
    let get = |host: &str| {
        raw(
            port,
            "GET",
            "/api/blocks/tip/height",
            &[&format!("Host: {host}")],
            "",
        )
        .0
    };
    assert_eq!(get(&format!("127.0.0.1:{port}")), 200);
    assert_eq!(get(&format!("localhost:{port}")), 200);
    assert_eq!(get("node.example"), 200);
    assert_eq!(get(&format!("rebound.example:{port}")), 421);

    // POST /api/tx: a foreign page's Origin, or a form's content type.
    let host = format!("Host: 127.0.0.1:{port}");
    let (s, _, body) = raw(
        port,
        "POST",
        "/api/tx",
        &[
            &host,
            "Origin: http://evil.example",
            "Content-Type: text/plain",
        ],
        "00",
    );
    assert_eq!(s, 403, "{body}");
    let (s, _, body) = raw(
        port,
        "POST",
        "/api/tx",
        &[&host, "Content-Type: application/x-www-form-urlencoded"],
        "00",
    );
    assert_eq!(s, 415, "{body}");
    // Its own page, or no browser at all, reach the route (400: not a tx).
    let own = format!("Origin: http://127.0.0.1:{port}");
    let (s, _, body) = raw(
        port,
        "POST",
        "/api/tx",
        &[&host, &own, "Content-Type: text/plain"],
        "00",
    );
    assert_eq!(s, 400, "{body}");
    // CORS is off: no header lets another site's page read answers.
    let (s, head, _) = raw(
        port,
        "GET",
        "/api/blocks/tip/height",
        &[&host, "Origin: http://evil.example"],
        "",
    );
    assert_eq!(s, 200);
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    // The event pool: 4 streams per client, more get 503 while ordinary
    // requests still answer.
    let streams: Vec<Sse> = (0..4).map(|_| Sse::open(port)).collect();
    let (s, _, body) = raw(port, "GET", "/api/events", &[&host], "");
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("event streams are full"), "{body}");
    assert_eq!(
        http_get(port, "/api/blocks/tip/height"),
        (200, "1".to_string())
    );
    drop(streams);
    wait_for(WAIT, "a stream slot to free", || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("GET /api/events HTTP/1.1\r\n{host}\r\n\r\n").as_bytes())
            .unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).is_ok() && first.ends_with(b"200")
    });

    // /metrics through a Prometheus text-format parser.
    let (s, head, text) = raw(port, "GET", "/metrics", &[&host], "");
    assert_eq!(s, 200, "{text}");
    assert!(
        head.contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} {label:?} missing from {text}"))
    };
    assert_eq!(value("sledchain_height", None), 1.0);
    assert_eq!(
        value("sledchain_peers", Some(("direction", "inbound"))),
        0.0
    );
    assert_eq!(value("sledchain_mempool_transactions", None), 0.0);
    assert!(value("sledchain_tip_age_seconds", None) >= 0.0);
    assert!(
        value(
            "sledchain_http_requests_total",
            Some(("route", "/api/node/health"))
        ) >= 1.0
    );
    assert!(value("sledchain_http_requests_total", Some(("status", "421"))) >= 1.0);
    node.stop();
}

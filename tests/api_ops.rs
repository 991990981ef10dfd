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
    assert_eq!(value("sledchain_side_blocks_held_bytes", None), 0.0);
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

/// Parses a `/metrics` answer into (metric, labels, value) samples.
fn scrape(port: u16) -> Vec<(String, std::collections::HashMap<String, String>, f64)> {
    let (s, _, text) = raw(
        port,
        "GET",
        "/metrics",
        &[&format!("Host: 127.0.0.1:{port}")],
        "",
    );
    assert_eq!(s, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let v = match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            (
                s.metric,
                s.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                v,
            )
        })
        .collect()
}

#[test]
fn bytes_worker_times_and_queue_depth_are_in_the_metrics() {
    let tmp = TempDir::new().unwrap();
    let mut node = Node::new(tmp.path(), "n");
    let g = node.create_chain();
    let payee = node.create_wallet();
    node.mint_send(&g, &payee, 3);
    let port = free_port();
    node.start_central(&["--http", &format!("127.0.0.1:{port}")]);
    wait_for(WAIT, "the HTTP API", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut peer = Node::new(tmp.path(), "peer");
    let peer_port = free_port();
    peer.start_seeded(&node.addr(), &["--http", &format!("127.0.0.1:{peer_port}")]);
    wait_same_tip(&[&node, &peer], 1);

    // Block 1 went to the peer: what it was sent is at least that block.
    let tip = http_get(port, "/api/blocks/tip/hash").1;
    let size = get_json(port, &format!("/api/block/{tip}"))["size"]
        .as_u64()
        .expect("block size");
    let peers = get_json(port, "/api/node/peers");
    let inbound = peers
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["direction"] == "inbound")
        .unwrap_or_else(|| panic!("no inbound peer in {peers}"));
    let (bytes_in, bytes_out) = (
        inbound["bytes_in"].as_u64().expect("bytes_in counted"),
        inbound["bytes_out"].as_u64().expect("bytes_out counted"),
    );
    assert!(bytes_in > 0, "{inbound}");
    assert!(bytes_out > size, "{inbound}: block 1 is {size} bytes");

    let samples = scrape(port);
    let value = |name: &str, addr: Option<&str>| {
        samples
            .iter()
            .find(|(m, l, _)| {
                m == name && addr.is_none_or(|a| l.get("addr").map(String::as_str) == Some(a))
            })
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("{name} {addr:?} missing"))
    };
    let addr = inbound["addr"].as_str().expect("addr");
    assert!(value("sledchain_peer_sent_bytes", Some(addr)) >= bytes_out as f64);
    assert!(value("sledchain_peer_received_bytes", Some(addr)) >= bytes_in as f64);
    assert!(value("sledchain_sent_bytes_total", None) >= bytes_out as f64);
    assert!(value("sledchain_received_bytes_total", None) >= bytes_in as f64);

    // The peer's chain worker validated and connected what it synced; its
    // queue is read when scraped.
    let samples = scrape(peer_port);
    let value = |name: &str| {
        samples
            .iter()
            .find(|(m, _, _)| m == name)
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert!(value("sledchain_block_batch_seconds_count") >= 1.0);
    assert!(value("sledchain_block_batch_seconds_sum") > 0.0);
    assert!(value("sledchain_tx_validation_seconds_count") >= 0.0);
    assert!(value("sledchain_chain_queue_jobs") >= 0.0);
    assert!(value("sledchain_chain_queue_bytes") >= 0.0);
    peer.stop();
    node.stop();
}

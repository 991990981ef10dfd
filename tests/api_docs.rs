//! `docs/api.md` checked against a real node so that it cannot drift:
//!
//! - every route of the router (the `.route("…", …)` calls in
//!   `src/api/*.rs`) has a `### METHOD /api/…` heading in the doc, and every
//!   heading names a route of the router;
//! - every example (a ``Response `STATUS` `` line, optionally
//!   `` to `METHOD /concrete/path` ``, then a fenced block) is replayed on a
//!   node holding a small chain, a mempool transaction and a peer: the status
//!   must match, a JSON example's top-level field names must all appear in
//!   the real answer (for an array, those of its first element), a text
//!   example must have the same shape (number, 64-hex, or JSON object);
//! - the `/api/events` example lists events whose field names must match
//!   the events the node streams while the mutating routes run.
//!
//! `API_DOCS_DUMP=FILE` writes every real answer to FILE instead of checking
//! them, to refresh the doc's examples.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use serde_json::Value;
use support::http::{Sse, get_json, http};
use support::*;
use tempfile::TempDir;

/// One checked example of the doc.
#[derive(Debug, Clone)]
struct Example {
    /// The route heading it belongs to (`GET /api/block/:hash`).
    route: String,
    method: String,
    /// A template (`:name` segments) or a concrete path.
    path: String,
    status: u16,
    lang: String,
    body: String,
}

fn doc_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md"))
        .expect("docs/api.md")
}

/// The `### METHOD /api/...` headings and the examples of docs/api.md.
fn parse_doc(text: &str) -> (BTreeSet<String>, Vec<Example>) {
    let mut routes = BTreeSet::new();
    let mut examples = Vec::new();
    let mut current: Option<(String, String, String)> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("### ") {
            let mut w = h.split_whitespace();
            current = match (w.next(), w.next()) {
                (Some(m), Some(p)) if p.starts_with("/api") => {
                    routes.insert(format!("{m} {p}"));
                    Some((format!("{m} {p}"), m.to_string(), p.to_string()))
                }
                _ => None,
            };
            continue;
        }
        let Some(rest) = line.strip_prefix("Response `") else {
            continue;
        };
        let status: u16 = rest
            .split('`')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad response line {line:?}"));
        let (route, mut method, mut path) = current
            .clone()
            .unwrap_or_else(|| (String::new(), String::new(), String::new()));
        if let Some(target) = rest.split(" to `").nth(1) {
            let target = target.split('`').next().unwrap_or_default();
            let (m, p) = target.split_once(' ').expect("`METHOD PATH`");
            (method, path) = (m.to_string(), p.to_string());
        }
        assert!(
            !path.is_empty(),
            "{line:?} outside a route: say `to METHOD PATH`"
        );
        let fence = lines.next().unwrap_or_default();
        let lang = fence
            .strip_prefix("```")
            .unwrap_or_else(|| panic!("a fenced block must follow {line:?}"))
            .to_string();
        let mut body = String::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        examples.push(Example {
            route,
            method,
            path,
            status,
            lang,
            body,
        });
    }
    (routes, examples)
}

/// `METHOD /api/...` of every `.route(...)` call in src/api/*.rs, with
/// axum's `{name}` segments written `:name`.
fn code_routes() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("src/api") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue; // the explorer's page and assets
        }
        let text = std::fs::read_to_string(path).expect("read");
        for chunk in text.split(".route(").skip(1) {
            let chunk = chunk.split("\n}").next().unwrap_or_default();
            let path = chunk.split('"').nth(1).expect("route path literal");
            let path = path.replace('{', ":").replace('}', "");
            if !path.starts_with("/api") {
                continue; // the explorer page (`/`, `/explorer/*`) is not API
            }
            for m in ["get", "post", "delete", "put", "patch"] {
                let called = chunk.starts_with(&format!("{m}("))
                    || [" ", "(", "."]
                        .iter()
                        .any(|p| chunk.contains(&format!("{p}{m}(")));
                if called {
                    out.insert(format!("{} {path}", m.to_uppercase()));
                }
            }
        }
    }
    out
}

fn substitute(path: &str, values: &BTreeMap<&str, String>) -> String {
    path.split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => values
                .get(name)
                .unwrap_or_else(|| panic!("no value for :{name}"))
                .clone(),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The shape of a text answer: number, 64-hex, JSON object, or other.
fn shape(s: &str) -> &'static str {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        "number"
    } else if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        "hex64"
    } else if s.starts_with('{') {
        "object"
    } else {
        "other"
    }
}

/// Checks one real answer against its documented example.
fn check(ex: &Example, status: u16, real: &str) {
    let what = format!("{} {} (doc route {})", ex.method, ex.path, ex.route);
    assert_eq!(status, ex.status, "{what}: status; answer {real}");
    if ex.lang != "json" {
        assert_eq!(shape(real), shape(&ex.body), "{what}: {real}");
        return;
    }
    let doc: Value =
        serde_json::from_str(&ex.body).unwrap_or_else(|e| panic!("{what}: doc JSON: {e}"));
    let real: Value = serde_json::from_str(real).unwrap_or_else(|e| panic!("{what}: {e}: {real}"));
    let (doc, real) = match (&doc, &real) {
        (Value::Array(d), Value::Array(r)) => {
            assert_eq!(d.is_empty(), r.is_empty(), "{what}: emptiness: {real}");
            match (d.first(), r.first()) {
                (Some(d), Some(r)) => (d.clone(), r.clone()),
                _ => return,
            }
        }
        (Value::Array(_), _) | (_, Value::Array(_)) => panic!("{what}: array vs not: {real}"),
        _ => (doc, real),
    };
    let missing: Vec<_> = keys(&doc).difference(&keys(&real)).cloned().collect();
    assert!(
        missing.is_empty(),
        "{what}: documented fields {missing:?} missing from {real}"
    );
}

/// The documented events: (name, data).
fn doc_events(body: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut name = String::new();
    for l in body.lines() {
        if let Some(n) = l.strip_prefix("event: ") {
            name = n.to_string();
        } else if let Some(d) = l.strip_prefix("data: ") {
            let v = serde_json::from_str(d).unwrap_or_else(|e| panic!("event {name}: {e}"));
            out.push((name.clone(), v));
        }
    }
    out
}

/// Every kind of [`NodeEvent`] as JSON (`type` is the event name). A new
/// kind fails to compile in the `match` until it is listed here, and then
/// fails the test until docs/api.md shows it.
fn event_kinds() -> Vec<Value> {
    use sledchain::net::NodeEvent as E;
    let s = String::new;
    let all = [
        E::BlockConnected {
            hash: s(),
            height: 0,
            tx_count: 0,
        },
        E::BlockDisconnected {
            hash: s(),
            height: 0,
        },
        E::Reorg {
            disconnected: 0,
            connected: 0,
        },
        E::TxAccepted { txid: s(), fee: 0 },
        E::TxRemoved { txid: s() },
        E::PeerConnected {
            addr: s(),
            inbound: false,
            height: 0,
        },
        E::PeerDisconnected {
            addr: s(),
            reason: s(),
        },
    ];
    for e in &all {
        match e {
            E::BlockConnected { .. }
            | E::BlockDisconnected { .. }
            | E::Reorg { .. }
            | E::TxAccepted { .. }
            | E::TxRemoved { .. }
            | E::PeerConnected { .. }
            | E::PeerDisconnected { .. } => {}
        }
    }
    all.iter()
        .map(|e| serde_json::to_value(e).expect("event JSON"))
        .collect()
}

struct Dump(Option<std::fs::File>);

impl Dump {
    fn note(&mut self, method: &str, path: &str, status: u16, body: &str) {
        if let Some(f) = self.0.as_mut() {
            let pretty = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| body.to_string());
            let _ = writeln!(f, "== {method} {path} -> {status}\n{pretty}\n");
        }
    }

    /// [`check`], except while dumping (the doc is being refreshed).
    fn check(&self, ex: &Example, status: u16, real: &str) {
        if self.0.is_none() {
            check(ex, status, real);
        }
    }
}

fn cookie(node: &Node) -> String {
    let text = std::fs::read_to_string(node.dir().join(".cookie")).expect("cookie file");
    format!(
        "Basic {}",
        sledchain::api::auth::base64(text.trim().as_bytes())
    )
}

/// A signed transaction (wire encoding, hex) paying 1 coin of `from`'s only
/// coin back to `to`, built from `from`'s key in `node`'s wallet file.
fn payment_hex(node: &Node, port: u16, from: &str, to: &str) -> String {
    use sledchain::core::address::Address;
    use std::str::FromStr;
    let from_addr = Address::from_str(from).expect("address");
    let to_addr = Address::from_str(to).expect("address");
    let wallets = sledchain::wallet::Wallets::load(&node.wallet_path()).expect("wallet");
    let key = wallets.key(&from_addr).expect("key in the wallet");
    let coins = support::http::api_coins(port, from);
    let tx = sledchain::wallet::send::build_payment(key, &coins, to_addr.pubkey_hash(), 1, 1)
        .expect("payment");
    hex::encode(sledchain::core::encode::encode(&tx))
}

/// Routes whose examples change the node, replayed last in this order.
const MUTATING: [&str; 4] = [
    "POST /api/tx",
    "POST /api/node/peers",
    "DELETE /api/node/peers/:addr",
    "POST /api/node/mint",
];

#[test]
fn every_route_is_documented_and_every_example_matches_a_real_node() {
    let (doc_routes, examples) = parse_doc(&doc_text());
    let code = code_routes();
    assert!(code.len() >= 25, "router parse found only {code:?}");
    let undocumented: Vec<_> = code.difference(&doc_routes).collect();
    let unknown: Vec<_> = doc_routes.difference(&code).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/api.md: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/api.md headings with no route: {unknown:?}"
    );
    for r in &doc_routes {
        assert!(
            examples
                .iter()
                .any(|e| &e.route == r && e.path.contains("/api")),
            "{r}: no example"
        );
    }

    let dir = TempDir::new().expect("tempdir");
    let mut node = Node::new(dir.path(), "docs");
    let g = node.create_chain();
    let payee = node.create_wallet();
    let payment = node.mint_send(&g, &payee, 3);
    let port = free_port();
    let http_addr = format!("127.0.0.1:{port}");
    node.start_central(&[
        "--minter",
        &g,
        "--mint-threshold",
        "100",
        "--http",
        &http_addr,
    ]);
    // The control socket (what `start` waits for) opens before the HTTP
    // listener is bound: a refused connection means "not yet".
    wait_for(WAIT, "the HTTP API", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && support::http::http_get(port, "/api/blocks/tip/height").0 == 200
    });
    let mut peer = Node::new(dir.path(), "peer");
    peer.start_seeded(&node.addr(), &["--http", "off"]);
    let mut inbound = String::new();
    wait_for(WAIT, "an inbound peer", || {
        let peers = get_json(port, "/api/node/peers");
        let found = peers
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["direction"] == "inbound" && p["handshake"] == "done");
        if let Some(p) = found {
            inbound = p["addr"].as_str().unwrap_or_default().to_string();
        }
        !inbound.is_empty()
    });
    let sent = node.ok(&["send", "--from", &g, "--to", &payee, "--amount", "1"]);
    let pending = sent_txid(&sent);
    assert!(get_json(port, &format!("/api/tx/{pending}")).is_object());
    let tip = support::http::http_get(port, "/api/blocks/tip/hash").1;
    // Block 1's coinbase, spent by the mempool payment.
    let spent = get_json(port, &format!("/api/block/{tip}/txids"))[0]
        .as_str()
        .expect("coinbase txid")
        .to_string();

    let values: BTreeMap<&str, String> = [
        ("hash", tip),
        ("height", "1".to_string()),
        ("start_height", "1".to_string()),
        ("start_index", "0".to_string()),
        ("index", "0".to_string()),
        ("txid", payment.clone()),
        ("vout", "0".to_string()),
        ("spent_txid", spent),
        ("last_seen_txid", payment),
        ("address", g.clone()),
        ("addr", inbound),
    ]
    .into_iter()
    .collect();
    let auth = cookie(&node);
    let tx_hex = payment_hex(&node, port, &payee, &g);
    let mut dump = Dump(
        std::env::var_os("API_DOCS_DUMP").map(|p| std::fs::File::create(p).expect("dump file")),
    );

    let is_mutation = |e: &Example| {
        e.path.starts_with("/api") && MUTATING.contains(&e.route.as_str()) && e.status < 300
    };
    let mut events_doc = None;
    for ex in examples.iter().filter(|e| !is_mutation(e)) {
        if ex.route == "GET /api/events" && ex.path == "/api/events" {
            events_doc = Some(ex.clone());
            continue;
        }
        let path = substitute(&ex.path, &values);
        let (status, body) = http(port, &ex.method, &path, &[], "");
        dump.note(&ex.method, &path, status, &body);
        dump.check(ex, status, &body);
    }

    let events_doc = events_doc.expect("an /api/events example");
    let mut events = Sse::open(port);
    for route in MUTATING {
        for ex in examples
            .iter()
            .filter(|e| e.route == route && is_mutation(e))
        {
            let path = substitute(&ex.path, &values);
            let body = match route {
                "POST /api/tx" => tx_hex.clone(),
                "POST /api/node/peers" => "{\"addr\":\"127.0.0.1:1\"}".to_string(),
                _ => String::new(),
            };
            let headers = [("Authorization", auth.as_str())];
            let (status, answer) = http(port, &ex.method, &path, &headers, &body);
            dump.note(&ex.method, &path, status, &answer);
            dump.check(ex, status, &answer);
        }
    }

    let documented = doc_events(&events_doc.body);
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    while ![
        "tx_accepted",
        "block_connected",
        "tx_removed",
        "peer_disconnected",
    ]
    .iter()
    .all(|n| seen.contains_key(*n))
    {
        let (name, data) = events.next();
        dump.note("EVENT", &name, 200, &data);
        let v: Value = serde_json::from_str(&data).expect("event JSON");
        seen.entry(name).or_insert(v);
    }
    if dump.0.is_some() {
        return;
    }
    for kind in event_kinds() {
        let name = kind["type"].as_str().expect("type").to_string();
        let doc = documented
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("event {name} not in docs/api.md"));
        assert_eq!(keys(&doc.1), keys(&kind), "event {name}: documented fields");
    }
    for (name, _) in &documented {
        assert!(
            event_kinds().iter().any(|k| k["type"] == name.as_str()),
            "docs/api.md shows an event {name} the node has not"
        );
    }
    for (name, real) in &seen {
        let doc = documented
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("event {name} not in docs/api.md"));
        let missing: Vec<_> = keys(&doc.1).difference(&keys(real)).cloned().collect();
        assert!(
            missing.is_empty(),
            "event {name}: {missing:?} missing from {real}"
        );
        assert_eq!(keys(&doc.1), keys(real), "event {name}: fields");
    }
}

//! A minimal blocking HTTP/1.1 client for the API tests (one request per
//! connection, `Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `method path` with `body` and extra `headers`; (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP API");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read answer");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").expect("headers end");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// GET `path`: (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, &[], "")
}

/// GET `path`, expecting 200 and JSON.
pub fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = http_get(port, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// `address`'s confirmed coins as `GET /api/address/{address}/utxo` lists
/// them: (outpoint, output paying `address`'s pubkey hash).
pub fn api_coins(
    port: u16,
    address: &str,
) -> Vec<(sledchain::core::tx::OutPoint, sledchain::core::tx::TxOut)> {
    use sledchain::core::address::Address;
    use sledchain::core::hash::Txid;
    use sledchain::core::tx::{OutPoint, TxOut};
    use std::str::FromStr;
    let pubkey_hash = Address::from_str(address).expect("address").pubkey_hash();
    let utxo = get_json(port, &format!("/api/address/{address}/utxo"));
    utxo.as_array()
        .expect("utxo list")
        .iter()
        .map(|u| {
            let op = OutPoint {
                txid: Txid::from_str(u["txid"].as_str().expect("txid")).expect("txid"),
                vout: u["vout"].as_u64().expect("vout") as u32,
            };
            let out = TxOut {
                value: u["value"].as_u64().expect("value"),
                pubkey_hash,
            };
            (op, out)
        })
        .collect()
}

/// An open `GET /api/events` stream.
pub struct Sse(BufReader<TcpStream>);

impl Sse {
    /// Subscribes; returns once the answer's headers arrived.
    pub fn open(port: u16) -> Sse {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        s.write_all(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("write");
        let mut r = BufReader::new(s);
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).expect("read header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Sse(r)
    }

    /// The next event's (name, data), skipping keep-alive comments.
    pub fn next(&mut self) -> (String, String) {
        let (mut name, mut data) = (String::new(), String::new());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.0.read_line(&mut line).expect("read event") > 0,
                "stream ended"
            );
            let l = line.trim_end();
            if let Some(v) = l.strip_prefix("event: ").or(l.strip_prefix("event:")) {
                name = v.to_string();
            } else if let Some(v) = l.strip_prefix("data: ").or(l.strip_prefix("data:")) {
                data.push_str(v);
            } else if l.is_empty() && !data.is_empty() {
                return (name, data);
            }
        }
    }
}

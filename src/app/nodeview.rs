//! The text and JSON of `status` and `peers`: a running node's figures
//! from its protocol ([`NodeInfo`]), or a stopped node's from its store.

use anyhow::Result;
use serde::Serialize;

use super::query::status_lines;
use crate::protocol::{Millis, NodeInfo};
use crate::store::ChainStore;

#[derive(Serialize)]
struct Status {
    running: bool,
    height: Option<u64>,
    tip: Option<String>,
    mempool: Option<usize>,
    peers: Option<usize>,
    uptime_secs: Option<u64>,
    syncing: Option<bool>,
    best_peer_height: Option<u64>,
    minter: Option<bool>,
}

/// `status` of a stopped node: height and tip from the store, `running:
/// no`.
///
/// Errors: the store's; no chain.
pub fn stopped_status(store: &ChainStore, json: bool) -> Result<String> {
    let tip = Some(store.tip()?);
    if json {
        let s = Status {
            running: false,
            height: tip.map(|t| t.height),
            tip: tip.map(|t| t.hash.to_string()),
            mempool: None,
            peers: None,
            uptime_secs: None,
            syncing: None,
            best_peer_height: None,
            minter: None,
        };
        return Ok(serde_json::to_string_pretty(&s)?);
    }
    let lines = status_lines(
        tip.map_or(0, |t| t.height),
        tip.as_ref().map(|t| &t.hash),
        0,
        0,
    );
    Ok(format!("{lines}\nrunning: no"))
}

/// True while a peer is ahead of us.
fn syncing(info: &NodeInfo) -> bool {
    info.best_peer_height > info.height
}

/// `status` of a running node up for `uptime_secs`: the four lines of a
/// stopped node, then `running: yes`, `uptime: N s`, `sync: ...` and
/// `minter: yes|no`; or JSON.
pub fn running_status(info: &NodeInfo, uptime_secs: u64, json: bool) -> String {
    if json {
        let s = Status {
            running: true,
            height: Some(info.height),
            tip: info.tip.map(|t| t.to_string()),
            mempool: Some(info.mempool),
            peers: Some(info.peers.len()),
            uptime_secs: Some(uptime_secs),
            syncing: Some(syncing(info)),
            best_peer_height: Some(info.best_peer_height),
            minter: Some(info.minter),
        };
        return serde_json::to_string_pretty(&s).unwrap_or_default();
    }
    let sync = if syncing(info) {
        format!("syncing (a peer is at height {})", info.best_peer_height)
    } else {
        "synced".to_string()
    };
    let yes = |b: bool| if b { "yes" } else { "no" };
    format!(
        "{}\nrunning: yes\nuptime: {uptime_secs} s\nsync: {sync}\nminter: {}",
        status_lines(
            info.height,
            info.tip.as_ref(),
            info.mempool,
            info.peers.len()
        ),
        yes(info.minter)
    )
}

#[derive(Serialize)]
struct Peer {
    addr: String,
    direction: &'static str,
    handshake_done: bool,
    height: u64,
    ping_ms: Option<Millis>,
    score: u32,
    connected_secs: u64,
}

/// `peers`: one line per connected peer (address, direction, height, ping,
/// misbehaviour score, seconds connected), or JSON; `now` in ms since the
/// Unix epoch.
pub fn peers(info: &NodeInfo, now: Millis, json: bool) -> String {
    let list: Vec<Peer> = info
        .peers
        .iter()
        .map(|p| Peer {
            addr: p.addr.to_string(),
            direction: if p.inbound { "inbound" } else { "outbound" },
            handshake_done: p.ready,
            height: p.height,
            ping_ms: p.ping_ms,
            score: p.score,
            connected_secs: now.saturating_sub(p.connected_at) / 1000,
        })
        .collect();
    if json {
        return serde_json::to_string_pretty(&list).unwrap_or_default();
    }
    if list.is_empty() {
        return "no peers".to_string();
    }
    let lines: Vec<String> = list
        .iter()
        .map(|p| {
            let ping = p.ping_ms.map_or("-".to_string(), |m| format!("{m} ms"));
            format!(
                "{} {} height {} ping {ping} score {} connected {} s{}",
                p.addr,
                p.direction,
                p.height,
                p.score,
                p.connected_secs,
                if p.handshake_done { "" } else { " (handshake)" }
            )
        })
        .collect();
    lines.join("\n")
}

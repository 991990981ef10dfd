//! The node routes: `GET /api/node/status`, `GET /api/node/peers`,
//! `GET /api/node/chaintips`, `GET /api/node/health` (process up, store
//! readable), `GET /api/node/ready` (synced), and, with the cookie ([`super::auth`]),
//! `POST /api/node/peers`, `DELETE /api/node/peers/:addr`,
//! `POST /api/node/mint`; and `GET /api/events`, Server-Sent Events of
//! [`crate::net::NodeEvent`]s (event name = the JSON `type`).

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{delete, get, post};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::schema::{ChainTip, MempoolCount, Peer, Status};
use super::{Api, auth, blocking};
use crate::core::address::Address;
use crate::protocol::{LocalReply, LocalRequest};
use crate::store::BlockStatus;

/// The routes of this file.
pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/node/status", get(status))
        .route("/api/node/peers", get(peers).post(add_peer))
        .route("/api/node/peers/{addr}", delete(drop_peer))
        .route("/api/node/chaintips", get(chaintips))
        .route("/api/node/health", get(health))
        .route("/api/node/ready", get(ready))
        .route("/api/node/mint", post(mint))
        .route("/api/events", get(events))
}

async fn peer_list(api: &Api) -> Result<Vec<crate::protocol::PeerInfo>, ApiError> {
    match api.node.local(LocalRequest::Info).await? {
        LocalReply::Info(info) => Ok(info.peers),
        other => Err(ApiError::internal(format!("unexpected reply {other:?}"))),
    }
}

/// The running node's status (`GET /api/node/status`).
///
/// Errors: 500 reading the store; 503 when the node is stopping.
pub async fn node_status(api: &Api) -> Result<Status, ApiError> {
    let store = api.node.store().clone();
    let tip = store.tip_opt()?;
    let genesis = store.genesis_hash()?;
    let (count, bytes) = api
        .node
        .query(|c| (c.mempool().len(), c.mempool().bytes()))
        .await?;
    let peers = peer_list(api).await?;
    let best_peer = peers.iter().filter(|p| p.ready).map(|p| p.height).max();
    let sync = match (tip, best_peer) {
        (None, _) => "no chain",
        (Some(t), Some(h)) if h > t.height => "syncing",
        _ => "synced",
    };
    let info = api.node.info();
    let now = crate::net::reactor::now_ms();
    Ok(Status {
        running: true,
        height: tip.map(|t| t.height),
        tip: tip.map(|t| t.hash.to_string()),
        genesis: genesis.map(|g| g.to_string()),
        difficulty: store.params().ok().map(|p| p.difficulty),
        mempool: Some(MempoolCount { count, bytes }),
        peers: Some(peers.len()),
        sync: Some(sync.to_string()),
        uptime_s: Some(now.saturating_sub(info.started) / 1000),
        minter: info.minter.map(|m| Address(m).to_string()),
        mint_threshold: Some(info.mint_threshold),
        listen: Some(info.listen.to_string()),
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

async fn status(State(api): State<Api>) -> Result<Json<Status>, ApiError> {
    Ok(Json(node_status(&api).await?))
}

/// `200 {"status": "ok"}` while the process answers and its store reads;
/// else 503.
async fn health(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let store = api.node.store().clone();
    blocking(move || {
        store
            .tip_opt()
            .map_err(|e| ApiError::unavailable(format!("store not readable: {e}")))
    })
    .await?;
    Ok(Json(json!({"status": "ok"})))
}

/// `200` once the node has a chain and no ready peer claims a higher tip
/// (`sync` is `synced`); else 503 with the sync state.
async fn ready(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let s = node_status(&api).await?;
    match s.sync.as_deref() {
        Some("synced") => Ok(Json(json!({"status": "ready", "height": s.height}))),
        other => Err(ApiError::unavailable(format!(
            "not ready: {}",
            other.unwrap_or("unknown")
        ))),
    }
}

/// The running node's peers (`GET /api/node/peers`).
///
/// Errors: 503 when the node is stopping.
pub async fn peers_list(api: &Api) -> Result<Vec<Peer>, ApiError> {
    Ok(peer_list(api)
        .await?
        .into_iter()
        .map(|p| Peer {
            addr: p.addr.to_string(),
            direction: if p.inbound { "inbound" } else { "outbound" }.to_string(),
            handshake: if p.ready { "done" } else { "pending" }.to_string(),
            height: p.height,
            ping_ms: p.ping_ms,
            score: p.score,
            connected_since: p.connected_at / 1000,
            bytes_in: None,
            bytes_out: None,
        })
        .collect())
}

async fn peers(State(api): State<Api>) -> Result<Json<Vec<Peer>>, ApiError> {
    Ok(Json(peers_list(&api).await?))
}

async fn chaintips(State(api): State<Api>) -> Result<Json<Vec<ChainTip>>, ApiError> {
    let store = api.node.store().clone();
    blocking(move || {
        let index = store.block_index()?;
        let parents: HashSet<_> = index.iter().map(|(_, m)| m.prev).collect();
        let tip = store.tip()?;
        let mut out = Vec::new();
        for (hash, meta) in index.iter().filter(|(h, _)| !parents.contains(h)) {
            // Walk back to the best chain: the branch length.
            let (mut cur, mut m, mut len) = (*hash, *meta, 0u64);
            while !store.is_on_best_chain(&cur)? && m.height > 0 {
                len += 1;
                cur = m.prev;
                m = match store.block_meta(&cur)? {
                    Some(m) => m,
                    None => break,
                };
            }
            let status = match meta.status {
                _ if *hash == tip.hash => "active",
                BlockStatus::Invalid => "invalid",
                BlockStatus::Valid => "valid-fork",
                BlockStatus::Stored => "valid-headers",
            };
            out.push(ChainTip {
                height: meta.height,
                hash: hash.to_string(),
                branchlen: len,
                status: status.to_string(),
            });
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.height));
        Ok(Json(out))
    })
    .await
}

fn done(reply: LocalReply) -> Result<Json<Value>, ApiError> {
    match reply {
        LocalReply::Done(what) => Ok(Json(json!({"result": what}))),
        LocalReply::Rejected(why) => Err(ApiError::refused(why)),
        other => Err(ApiError::internal(format!("unexpected reply {other:?}"))),
    }
}

fn socket_addr(s: &str) -> Result<SocketAddr, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad("addr", format!("{s:?} is not IP:PORT")))
}

async fn add_peer(
    State(api): State<Api>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, ApiError> {
    auth::check(&headers, &api.auth)?;
    let v: Value = serde_json::from_str(&body).map_err(|e| ApiError::bad("body", e))?;
    let addr = v
        .get("addr")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("addr", "missing"))?;
    let addr = socket_addr(addr)?;
    done(api.node.local(LocalRequest::AddPeer(addr)).await?)
}

async fn drop_peer(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(addr): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth::check(&headers, &api.auth)?;
    let addr = socket_addr(&addr)?;
    done(api.node.local(LocalRequest::Disconnect(addr)).await?)
}

async fn mint(State(api): State<Api>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    auth::check(&headers, &api.auth)?;
    done(api.node.local(LocalRequest::Mint).await?)
}

/// Most event streams open at once, node-wide: their own pool, apart from
/// the request limits, so streams cannot starve ordinary requests.
pub const MAX_EVENT_STREAMS: usize = 64;
/// Most event streams one client IP address may hold.
pub const MAX_EVENT_STREAMS_PER_CLIENT: usize = 4;
/// An event stream ends after this long (an `EventSource` reconnects by
/// itself), so no stream holds its slot for ever.
pub const EVENT_STREAM_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The event streams' pool: [`MAX_EVENT_STREAMS`] in all,
/// [`MAX_EVENT_STREAMS_PER_CLIENT`] per client.
#[derive(Debug, Default)]
pub struct EventPool {
    open: std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
}

/// One open event stream, released on drop.
struct StreamSlot {
    pool: std::sync::Arc<EventPool>,
    ip: Option<std::net::IpAddr>,
}

impl EventPool {
    fn take(pool: &std::sync::Arc<EventPool>, ip: Option<std::net::IpAddr>) -> Option<StreamSlot> {
        let mut g = pool.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per) = &mut *g;
        if *total >= MAX_EVENT_STREAMS {
            return None;
        }
        if let Some(ip) = ip {
            let n = per.entry(ip).or_insert(0);
            if *n >= MAX_EVENT_STREAMS_PER_CLIENT {
                return None;
            }
            *n += 1;
        }
        *total += 1;
        Some(StreamSlot {
            pool: pool.clone(),
            ip,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut g = self.pool.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per) = &mut *g;
        *total = total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = per.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                per.remove(&ip);
            }
        }
    }
}

async fn events(
    State(api): State<Api>,
    client: Option<axum::Extension<super::ClientIp>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = EventPool::take(&api.events, client.map(|c| c.0.0)).ok_or_else(|| {
        ApiError::unavailable(format!(
            "busy: event streams are full ({MAX_EVENT_STREAMS} in all, {MAX_EVENT_STREAMS_PER_CLIENT} per client)"
        ))
    })?;
    let rx = api.node.subscribe();
    let stop = api.node.shutdown();
    let end = tokio::time::Instant::now() + EVENT_STREAM_LIFETIME;
    let state = (rx, stop, slot);
    let stream = futures::stream::unfold(state, move |(mut rx, mut stop, slot)| async move {
        let got = tokio::select! {
            _ = stop.changed() => return None,
            _ = tokio::time::sleep_until(end) => return None,
            r = rx.recv() => r,
        };
        let ev = match got {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                let e = Event::default().event("lagged").data(n.to_string());
                return Some((Ok(e), (rx, stop, slot)));
            }
            Err(RecvError::Closed) => return None,
        };
        let data = serde_json::to_value(&ev).unwrap_or_default();
        let name = data["type"].as_str().unwrap_or("event").to_string();
        let e = Event::default().event(name).data(data.to_string());
        Some((Ok(e), (rx, stop, slot)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

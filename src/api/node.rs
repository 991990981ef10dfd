//! The node routes: `GET /api/node/status`, `GET /api/node/peers`,
//! `GET /api/node/chaintips`, `GET /api/node/health` (process up, store
//! readable), `GET /api/node/ready` (synced), and, with the cookie ([`super::auth`]),
//! `POST /api/node/peers`, `DELETE /api/node/peers/:addr`,
//! `POST /api/node/mint`; and `GET /api/events`, Server-Sent Events of
//! [`crate::net::NodeEvent`]s (event name = the JSON `type`).

use std::collections::{HashMap, HashSet};
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
use super::schema::{ChainTip as SchemaTip, MempoolCount, Peer, Status};
use super::{Api, auth, blocking};
use crate::core::address::Address;
use crate::core::hash::BlockHash;
use crate::protocol::{LocalReply, LocalRequest};
use crate::store::{BlockMeta, BlockStatus, StoreError};

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
    info_peers(api.node.local(LocalRequest::Info).await?)
}

/// The peers of the protocol's answer to [`LocalRequest::Info`].
fn info_peers(reply: LocalReply) -> Result<Vec<crate::protocol::PeerInfo>, ApiError> {
    Ok(node_info(reply)?.peers)
}

/// The node's figures of one moment: the protocol's answer to
/// [`LocalRequest::Info`] (tip as the chain's events last reported it,
/// mempool, peers).
///
/// Errors: as [`node_info`]; 503 when the node is stopping.
pub(super) async fn info_now(api: &Api) -> Result<crate::protocol::NodeInfo, ApiError> {
    node_info(api.node.local(LocalRequest::Info).await?)
}

/// The protocol's answer to [`LocalRequest::Info`].
///
/// Errors: 503 for [`LocalReply::ChainUnreadable`]; 500 for another reply.
fn node_info(reply: LocalReply) -> Result<crate::protocol::NodeInfo, ApiError> {
    match reply {
        LocalReply::Info(info) => Ok(info),
        other => Err(ApiError::unexpected(other)),
    }
}

/// The running node's status (`GET /api/node/status`).
///
/// Its node figures are of one moment: height, tip, mempool, peers and
/// sync state all come from one answer of the protocol
/// ([`crate::protocol::Protocol::node_info`]: the tip as the chain's
/// events last reported it, the mempool as they left it), never the
/// height from the store (which has a block as soon as it is connected)
/// beside a mempool count from before it. The explorer index's progress
/// is shown at most at that tip (`index_beside`).
///
/// Errors: 503 when the chain store cannot be read
/// ([`ApiError::chain_read`], [`ApiError::chain_unreadable`]) or the
/// node is stopping.
pub async fn node_status(api: &Api) -> Result<Status, ApiError> {
    let info = info_now(api).await?;
    let tip = info.tip.map(|hash| (info.height, hash));
    let store = api.node.store().clone();
    let (genesis, index) = blocking(move || {
        let genesis = match tip {
            Some(_) => store.genesis_hash().map_err(ApiError::chain_read)?,
            None => None,
        };
        let index = crate::api::schema::index_status(&store).map_err(ApiError::chain_read)?;
        Ok((genesis, index))
    })
    .await?;
    let index = index_beside(index, tip);
    let sync = match tip {
        None => "no chain",
        Some((height, _)) if info.best_peer_height > height => "syncing",
        _ => "synced",
    };
    let node = api.node.info();
    let now = crate::net::reactor::now_ms();
    Ok(Status {
        running: true,
        height: tip.map(|t| t.0),
        tip: tip.map(|t| t.1.to_string()),
        genesis: genesis.map(|g| g.to_string()),
        difficulty: api.node.store().params().ok().map(|p| p.difficulty),
        mempool: Some(MempoolCount {
            count: info.mempool,
            bytes: info.mempool_bytes,
        }),
        peers: Some(info.peers.len()),
        sync: Some(sync.to_string()),
        uptime_s: Some(now.saturating_sub(node.started) / 1000),
        minter: node.minter.map(|m| Address(m).to_string()),
        mint_threshold: Some(node.mint_threshold),
        indexed_height: index.0,
        index_tip: index.1,
        listen: Some(node.listen.to_string()),
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// The explorer index's progress (`indexed_height`, `index_tip`) as
/// `status` shows it beside `tip` (height and hash as the protocol last
/// heard of them): the index builder follows the store, which may hold
/// blocks whose events have not reached the protocol yet, so an index past
/// that tip is shown at it (it covers it), and with no tip there is no
/// index to show.
fn index_beside(
    index: (Option<u64>, Option<String>),
    tip: Option<(u64, BlockHash)>,
) -> (Option<u64>, Option<String>) {
    match (index.0, tip) {
        (_, None) => (None, None),
        (Some(indexed), Some((height, hash))) if indexed > height => {
            (Some(height), Some(hash.to_string()))
        }
        _ => index,
    }
}

async fn status(State(api): State<Api>) -> Result<Json<Status>, ApiError> {
    Ok(Json(node_status(&api).await?))
}

/// `200 {"status": "ok"}` while the process answers and its store reads;
/// else 503.
async fn health(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let store = api.node.store().clone();
    blocking(move || store.tip_opt().map_err(ApiError::chain_read)).await?;
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
/// Errors: 503 when the chain store cannot be read
/// ([`ApiError::chain_unreadable`]) or the node is stopping.
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
            bytes_in: p.bytes_in,
            bytes_out: p.bytes_out,
        })
        .collect())
}

async fn peers(State(api): State<Api>) -> Result<Json<Vec<Peer>>, ApiError> {
    Ok(Json(peers_list(&api).await?))
}

/// Most tips `GET /api/node/chaintips` lists (the highest first).
pub const MAX_CHAINTIPS: usize = 1_000;

/// One request at a time computes the tips: concurrent requests wait for
/// it instead of each burning a core.
static CHAINTIPS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn chaintips(State(api): State<Api>) -> Result<Json<Vec<SchemaTip>>, ApiError> {
    let _one = CHAINTIPS.lock().await;
    let store = api.node.store().clone();
    blocking(move || {
        let index = store.block_index().map_err(ApiError::chain_read)?;
        let tip = store.tip().map_err(ApiError::chain_read)?;
        let on_best = |h: &BlockHash, height: u64| Ok(store.hash_at(height)? == Some(*h));
        let mut out = Vec::new();
        let tips = chain_tips(&index, on_best).map_err(ApiError::chain_read)?;
        for t in tips.into_iter().take(MAX_CHAINTIPS) {
            let status = match t.status {
                _ if t.hash == tip.hash => "active",
                BlockStatus::Invalid => "invalid",
                BlockStatus::Valid => "valid-fork",
                BlockStatus::Stored => "valid-headers",
            };
            out.push(SchemaTip {
                height: t.height,
                hash: t.hash.to_string(),
                branchlen: t.branchlen,
                status: status.to_string(),
            });
        }
        Ok(Json(out))
    })
    .await
}

/// A block no other block names as parent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChainTip {
    hash: BlockHash,
    height: u64,
    /// Blocks between it and the best chain (0 on it).
    branchlen: u64,
    status: BlockStatus,
}

/// The tips of `index`, highest first, each with its branch length.
/// `on_best(hash, height)` is asked at most once per indexed block: each
/// walk back towards the best chain stops at a block an earlier walk
/// measured, so the work is bounded by the index, not tips times depth.
///
/// Errors: whatever `on_best` returns.
fn chain_tips(
    index: &[(BlockHash, BlockMeta)],
    mut on_best: impl FnMut(&BlockHash, u64) -> Result<bool, StoreError>,
) -> Result<Vec<ChainTip>, StoreError> {
    let metas: HashMap<BlockHash, &BlockMeta> = index.iter().map(|(h, m)| (*h, m)).collect();
    let parents: HashSet<BlockHash> = index.iter().map(|(_, m)| m.prev).collect();
    // Blocks between a block and the best chain, once measured.
    let mut dist: HashMap<BlockHash, u64> = HashMap::new();
    let mut out = Vec::new();
    for (hash, meta) in index.iter().filter(|(h, _)| !parents.contains(h)) {
        let mut path = Vec::new();
        let mut cur = *hash;
        let base = loop {
            if let Some(d) = dist.get(&cur) {
                break *d;
            }
            let Some(m) = metas.get(&cur) else {
                break 0; // parent not indexed: the branch ends here
            };
            if m.height == 0 || on_best(&cur, m.height)? {
                dist.insert(cur, 0);
                break 0;
            }
            path.push(cur);
            cur = m.prev;
        };
        for (i, h) in path.iter().rev().enumerate() {
            dist.insert(*h, base + i as u64 + 1);
        }
        out.push(ChainTip {
            hash: *hash,
            height: meta.height,
            branchlen: dist.get(hash).copied().unwrap_or(0),
            status: meta.status,
        });
    }
    out.sort_by_key(|t| std::cmp::Reverse(t.height));
    Ok(out)
}

fn done(reply: LocalReply) -> Result<Json<Value>, ApiError> {
    match reply {
        LocalReply::Done(what) => Ok(Json(json!({"result": what}))),
        LocalReply::Rejected(why) => Err(ApiError::refused(why)),
        other => Err(ApiError::unexpected(other)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain read that failed in the protocol (its reply
    /// [`LocalReply::ChainUnreadable`], tests/protocol_reads.rs) is 503
    /// "the chain store cannot be read" on the node routes
    /// (`/api/node/status`, `/api/node/peers`, `/api/node/mint`), not an
    /// internal error or a refused command; a store read that fails on a
    /// node route is 503 too, with the store's error.
    #[test]
    fn an_unreadable_chain_is_503_on_the_node_routes() {
        let peers = info_peers(LocalReply::ChainUnreadable);
        let mint = done(LocalReply::ChainUnreadable);
        for (route, e) in [("peers", peers.err()), ("mint", mint.err())] {
            let e = e.unwrap_or_else(|| panic!("{route}: answered on a failed read"));
            assert_eq!(
                e.status,
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "{route}: {e:?}"
            );
            assert_eq!(
                e.error, "the chain store cannot be read (see the node's log)",
                "{route}"
            );
            assert_eq!(e.field, None, "{route}");
        }
        let read = ApiError::chain_read(StoreError::Corrupt("disk gone".into()));
        assert_eq!(read.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            read.error,
            "the chain store cannot be read: database is corrupt: disk gone"
        );
        let none = ApiError::chain_read(StoreError::NoChain);
        assert_eq!(none.status, axum::http::StatusCode::NOT_FOUND, "{none:?}");
    }

    /// The index builder follows the store, which may be ahead of the tip
    /// the protocol reported: `status` never shows the index above that
    /// tip, and shows none with no tip.
    #[test]
    fn the_index_is_shown_at_most_at_the_reported_tip() {
        let tip = Some((5, hash(5)));
        let behind = (Some(3), Some(hash(3).to_string()));
        assert_eq!(index_beside(behind.clone(), tip), behind);
        let ahead = (Some(7), Some(hash(7).to_string()));
        assert_eq!(
            index_beside(ahead.clone(), tip),
            (Some(5), Some(hash(5).to_string()))
        );
        assert_eq!(index_beside(ahead, None), (None, None));
        assert_eq!(index_beside((None, None), tip), (None, None));
    }

    fn hash(n: u64) -> BlockHash {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&n.to_le_bytes());
        BlockHash(crate::core::hash::Hash256(h))
    }

    fn meta(prev: BlockHash, height: u64) -> BlockMeta {
        BlockMeta {
            prev,
            height,
            chain_work: 0,
            status: BlockStatus::Stored,
        }
    }

    /// A best chain of 200 blocks and a comb of 150 side tips, each a
    /// branch of 1 to 150 blocks forking at height 10: every block is
    /// asked about once, not once per tip walking through it.
    #[test]
    fn tips_of_a_comb_cost_one_question_per_block() {
        let mut index = vec![(hash(0), meta(BlockHash::ZERO, 0))];
        for h in 1..200 {
            index.push((hash(h), meta(hash(h - 1), h)));
        }
        let mut next = 1_000_000;
        let mut prev = hash(10);
        // One spine of 150 side blocks off height 10, each with a tip.
        for d in 1..=150u64 {
            let spine = hash(next);
            index.push((spine, meta(prev, 10 + d)));
            index.push((hash(next + 1), meta(spine, 11 + d)));
            prev = spine;
            next += 2;
        }
        let best: HashSet<BlockHash> = (0..200).map(hash).collect();
        let mut asked = 0;
        let tips = chain_tips(&index, |h, _| {
            asked += 1;
            Ok(best.contains(h))
        })
        .expect("tips");
        assert_eq!(tips.len(), 151, "the best tip and 150 teeth");
        assert!(
            asked <= index.len(),
            "{asked} questions for {} blocks",
            index.len()
        );
        assert_eq!(
            tips.iter()
                .find(|t| t.hash == hash(199))
                .map(|t| t.branchlen),
            Some(0)
        );
        let deepest = tips.iter().map(|t| t.branchlen).max();
        assert_eq!(deepest, Some(151));
    }
}

//! `GET /metrics`: the node's figures in the Prometheus text exposition
//! format (OpenMetrics 1.0, which Prometheus scrapes natively), through
//! the `prometheus-client` crate.
//!
//! | metric | type | labels | source |
//! |---|---|---|---|
//! | `sledchain_height` | gauge | | best chain tip height |
//! | `sledchain_tip_age_seconds` | gauge | | now minus the tip's header time |
//! | `sledchain_peers` | gauge | `direction` (`inbound`, `outbound`) | open connections |
//! | `sledchain_peer_received_bytes` | gauge | `addr`, `direction` | bytes received from each open connection (whole frames) |
//! | `sledchain_peer_sent_bytes` | gauge | `addr`, `direction` | bytes sent to each open connection |
//! | `sledchain_received_bytes_total` | counter | | bytes received from every peer, closed connections included |
//! | `sledchain_sent_bytes_total` | counter | | bytes sent to every peer, closed connections included |
//! | `sledchain_chain_queue_jobs` | gauge | | jobs waiting for the chain worker |
//! | `sledchain_chain_queue_bytes` | gauge | | bytes of peers' blocks and transactions among them |
//! | `sledchain_block_batch_seconds` | histogram | | chain worker time per batch of blocks (validation, connect or reorg, mempool update) |
//! | `sledchain_tx_validation_seconds` | histogram | | chain worker time per transaction checked for the mempool |
//! | `sledchain_mempool_transactions` | gauge | | transactions in the mempool |
//! | `sledchain_mempool_bytes` | gauge | | their encoded bytes |
//! | `sledchain_side_blocks_held_bytes` | gauge | | bytes of version-1 peers' low-work side blocks held in memory (at most 64 MiB) |
//! | `sledchain_uptime_seconds` | gauge | | since the node started |
//! | `sledchain_blocks_connected_total` | counter | | blocks that joined the best chain (node events) |
//! | `sledchain_blocks_disconnected_total` | counter | | blocks that left it in a reorg |
//! | `sledchain_reorgs_total` | counter | | branch switches |
//! | `sledchain_transactions_confirmed_total` | counter | | transactions in connected blocks, coinbases included |
//! | `sledchain_transactions_accepted_total` | counter | | transactions that entered the mempool |
//! | `sledchain_http_requests_total` | counter | `route` (the matched route template, `unmatched` else), `status` | HTTP requests answered |
//!
//! Gauges are read when scraped, the height, mempool and peer gauges from
//! one answer of the protocol (the figures of one moment, as
//! `GET /api/node/status` gives them); counters count from the node's
//! start.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Api, ApiError};
use crate::net::NodeEvent;

/// Labels of `sledchain_peers`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    /// `inbound` or `outbound`.
    pub direction: String,
}

/// Labels of the per-peer byte gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    /// The peer's address (as `GET /api/node/peers` gives it).
    pub addr: String,
    /// `inbound` or `outbound`.
    pub direction: String,
}

/// Labels of `sledchain_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template (`/api/tx/{txid}`), or `unmatched`.
    pub route: String,
    /// The answer's status code.
    pub status: u16,
}

/// The node's metrics (module docs).
pub struct Metrics {
    registry: Registry,
    height: Gauge,
    tip_age: Gauge,
    peers: Family<Direction, Gauge>,
    peer_in: Family<PeerLabels, Gauge>,
    peer_out: Family<PeerLabels, Gauge>,
    bytes_in: Counter,
    bytes_out: Counter,
    /// Held while the byte counters catch up, so two scrapes at once
    /// cannot both add the same bytes.
    catch_up: std::sync::Mutex<()>,
    queue_jobs: Gauge,
    queue_bytes: Gauge,
    mempool_txs: Gauge,
    mempool_bytes: Gauge,
    side_held: Gauge,
    uptime: Gauge,
    blocks_connected: Counter,
    blocks_disconnected: Counter,
    reorgs: Counter,
    txs_confirmed: Counter,
    txs_accepted: Counter,
    http: Family<HttpLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            height: Gauge::default(),
            tip_age: Gauge::default(),
            peers: Family::default(),
            peer_in: Family::default(),
            peer_out: Family::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            catch_up: std::sync::Mutex::default(),
            queue_jobs: Gauge::default(),
            queue_bytes: Gauge::default(),
            mempool_txs: Gauge::default(),
            mempool_bytes: Gauge::default(),
            side_held: Gauge::default(),
            uptime: Gauge::default(),
            blocks_connected: Counter::default(),
            blocks_disconnected: Counter::default(),
            reorgs: Counter::default(),
            txs_confirmed: Counter::default(),
            txs_accepted: Counter::default(),
            http: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "sledchain_height",
            "Best chain tip height",
            m.height.clone(),
        );
        r.register(
            "sledchain_tip_age_seconds",
            "Seconds since the tip's header time",
            m.tip_age.clone(),
        );
        r.register("sledchain_peers", "Open peer connections", m.peers.clone());
        r.register(
            "sledchain_peer_received_bytes",
            "Bytes received from an open peer connection",
            m.peer_in.clone(),
        );
        r.register(
            "sledchain_peer_sent_bytes",
            "Bytes sent to an open peer connection",
            m.peer_out.clone(),
        );
        r.register(
            "sledchain_received_bytes",
            "Bytes received from peers since the node started",
            m.bytes_in.clone(),
        );
        r.register(
            "sledchain_sent_bytes",
            "Bytes sent to peers since the node started",
            m.bytes_out.clone(),
        );
        r.register(
            "sledchain_chain_queue_jobs",
            "Jobs waiting for the chain worker",
            m.queue_jobs.clone(),
        );
        r.register(
            "sledchain_chain_queue_bytes",
            "Bytes of peers' blocks and transactions waiting for the chain worker",
            m.queue_bytes.clone(),
        );
        r.register(
            "sledchain_mempool_transactions",
            "Transactions in the mempool",
            m.mempool_txs.clone(),
        );
        r.register(
            "sledchain_mempool_bytes",
            "Encoded bytes of the mempool's transactions",
            m.mempool_bytes.clone(),
        );
        r.register(
            "sledchain_side_blocks_held_bytes",
            "Bytes of version-1 peers' low-work side blocks held in memory",
            m.side_held.clone(),
        );
        r.register(
            "sledchain_uptime_seconds",
            "Seconds since the node started",
            m.uptime.clone(),
        );
        r.register(
            "sledchain_blocks_connected",
            "Blocks that joined the best chain",
            m.blocks_connected.clone(),
        );
        r.register(
            "sledchain_blocks_disconnected",
            "Blocks that left the best chain in a reorg",
            m.blocks_disconnected.clone(),
        );
        r.register(
            "sledchain_reorgs",
            "Best chain branch switches",
            m.reorgs.clone(),
        );
        r.register(
            "sledchain_transactions_confirmed",
            "Transactions in connected blocks, coinbases included",
            m.txs_confirmed.clone(),
        );
        r.register(
            "sledchain_transactions_accepted",
            "Transactions that entered the mempool",
            m.txs_accepted.clone(),
        );
        r.register(
            "sledchain_http_requests",
            "HTTP requests answered, by route and status",
            m.http.clone(),
        );
        m
    }
}

impl Metrics {
    /// The metrics of `node`: the defaults and the chain worker's
    /// histograms, which the worker fills itself.
    pub fn for_node(node: &crate::net::NodeHandle) -> Metrics {
        let mut m = Metrics::default();
        let t = node.timings();
        m.registry.register(
            "sledchain_block_batch_seconds",
            "Chain worker seconds per batch of blocks: validation, connect or reorg, mempool update",
            t.blocks.clone(),
        );
        m.registry.register(
            "sledchain_tx_validation_seconds",
            "Chain worker seconds per transaction checked for the mempool",
            t.txs.clone(),
        );
        m
    }

    /// Counts one node event.
    pub fn event(&self, e: &NodeEvent) {
        match e {
            NodeEvent::BlockConnected { tx_count, .. } => {
                self.blocks_connected.inc();
                self.txs_confirmed.inc_by(*tx_count as u64);
            }
            NodeEvent::BlockDisconnected { .. } => {
                self.blocks_disconnected.inc();
            }
            NodeEvent::Reorg { .. } => {
                self.reorgs.inc();
            }
            NodeEvent::TxAccepted { .. } => {
                self.txs_accepted.inc();
            }
            _ => {}
        }
    }

    /// Counts one HTTP answer.
    pub fn request(&self, route: &str, status: u16) {
        self.http
            .get_or_create(&HttpLabels {
                route: route.to_string(),
                status,
            })
            .inc();
    }
}

/// Counts the node's events into `metrics` until the node stops.
pub fn count_events(api: &Api) {
    let mut rx = api.node.subscribe();
    let mut stop = api.node.shutdown();
    let metrics = api.metrics.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                r = rx.recv() => match r {
                    Ok(e) => metrics.event(&e),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
            }
        }
    });
}

/// Middleware counting every answer by route template and status.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    metrics.request(&route, resp.status().as_u16());
    resp
}

/// `GET /metrics`.
///
/// Errors: 503 reading the store ([`ApiError::chain_read`]) or when the
/// node is stopping.
pub async fn scrape(State(api): State<Api>) -> Result<Response, ApiError> {
    let m = &api.metrics;
    // Height, mempool and peers of one moment (the protocol's answer), as
    // `GET /api/node/status` gives them.
    let info = super::node::info_now(&api).await?;
    let store = api.node.store().clone();
    let tip = info.tip;
    let time = super::blocking(move || match tip {
        Some(hash) => Ok(store
            .block(&hash)
            .map_err(ApiError::chain_read)?
            .map(|b| b.header.timestamp)),
        None => Ok(None),
    })
    .await?;
    let now = crate::core::params::now_secs();
    if info.tip.is_some() {
        m.height.set(info.height as i64);
    }
    if let Some(t) = time {
        m.tip_age.set(now.saturating_sub(u64::from(t)) as i64);
    }
    m.mempool_txs.set(info.mempool as i64);
    m.mempool_bytes.set(info.mempool_bytes as i64);
    m.side_held.set(info.side_held_bytes as i64);
    let (jobs, queued) = api.node.chain_queue();
    m.queue_jobs.set(jobs as i64);
    m.queue_bytes.set(queued as i64);
    let direction = |inbound: bool| if inbound { "inbound" } else { "outbound" }.to_string();
    for inbound in [true, false] {
        let n = info.peers.iter().filter(|p| p.inbound == inbound).count();
        m.peers
            .get_or_create(&Direction {
                direction: direction(inbound),
            })
            .set(n as i64);
    }
    // Closed connections leave the per-peer gauges.
    m.peer_in.clear();
    m.peer_out.clear();
    for p in &info.peers {
        let labels = PeerLabels {
            addr: p.addr.to_string(),
            direction: direction(p.inbound),
        };
        if let Some(n) = p.bytes_in {
            m.peer_in.get_or_create(&labels).set(n as i64);
        }
        if let Some(n) = p.bytes_out {
            m.peer_out.get_or_create(&labels).set(n as i64);
        }
    }
    // The node's totals only grow: the counters catch up with them.
    let traffic = api.node.traffic();
    {
        let _one = m.catch_up.lock().unwrap_or_else(|e| e.into_inner());
        m.bytes_in
            .inc_by(traffic.bytes_in().saturating_sub(m.bytes_in.get()));
        m.bytes_out
            .inc_by(traffic.bytes_out().saturating_sub(m.bytes_out.get()));
    }
    let started = api.node.info().started;
    m.uptime
        .set((crate::net::reactor::now_ms().saturating_sub(started) / 1000) as i64);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry)
        .map_err(|e| ApiError::internal(format!("encoding metrics: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

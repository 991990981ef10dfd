//! What other layers (the HTTP API) get of a running node: a
//! [`NodeHandle`] to send local requests to the protocol, run read-only
//! queries on the chain worker and read the store, and a broadcast of
//! [`NodeEvent`]s fed by the reactor.

use std::net::SocketAddr;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::queue::JobSender;
use super::reactor::Control;
use super::worker::Job;
use crate::chain::{Chain, ChainEvent};
use crate::core::hash::BlockHash;
use crate::protocol::{LocalReply, LocalRequest, Millis};
use crate::store::ChainStore;

/// Events kept for slow subscribers before they miss some.
pub const EVENT_BUFFER: usize = 1024;

/// Something that happened on a running node, for live subscribers
/// (`GET /api/events`). Serialized as JSON with a `type` field in
/// snake case (`block_connected`, …); hashes and txids in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A block joined the best chain (by extending it or in a reorg).
    BlockConnected {
        /// Its hash.
        hash: String,
        /// Its height.
        height: u64,
        /// Its transactions, coinbase included.
        tx_count: usize,
    },
    /// A block left the best chain in a reorg.
    BlockDisconnected {
        /// Its hash.
        hash: String,
        /// Its height.
        height: u64,
    },
    /// The best chain switched branches.
    Reorg {
        /// Blocks disconnected.
        disconnected: usize,
        /// Blocks connected.
        connected: usize,
    },
    /// A transaction entered the mempool.
    TxAccepted {
        /// Its txid.
        txid: String,
        /// Its fee, whole coins.
        fee: u64,
    },
    /// A transaction left the mempool (mined, conflicting, evicted, expired).
    TxRemoved {
        /// Its txid.
        txid: String,
    },
    /// A peer completed the handshake.
    PeerConnected {
        /// Its address.
        addr: String,
        /// True when it dialled us.
        inbound: bool,
        /// Its best height as it said.
        height: u64,
    },
    /// A connection closed.
    PeerDisconnected {
        /// Its address.
        addr: String,
        /// Why, as text.
        reason: String,
    },
}

impl NodeEvent {
    /// The event a chain event is worth, if any.
    pub fn from_chain(e: &ChainEvent) -> Option<NodeEvent> {
        Some(match e {
            ChainEvent::BlockConnected {
                hash, height, txs, ..
            } => NodeEvent::BlockConnected {
                hash: hash.to_string(),
                height: *height,
                tx_count: *txs,
            },
            ChainEvent::BlockDisconnected { hash, height } => NodeEvent::BlockDisconnected {
                hash: hash.to_string(),
                height: *height,
            },
            ChainEvent::Reorg {
                disconnected,
                connected,
            } => NodeEvent::Reorg {
                disconnected: *disconnected,
                connected: *connected,
            },
            ChainEvent::TxAccepted { tx, fee, .. } => NodeEvent::TxAccepted {
                txid: tx.txid().to_string(),
                fee: *fee,
            },
            ChainEvent::TxRemoved { txid } => NodeEvent::TxRemoved {
                txid: txid.to_string(),
            },
            _ => return None,
        })
    }
}

/// Static facts about the running node.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The P2P listening address.
    pub listen: SocketAddr,
    /// When it started (ms since the Unix epoch).
    pub started: Millis,
    /// The pubkey hash it mints to, if it mints.
    pub minter: Option<[u8; 20]>,
    /// The mint threshold (mempool transactions).
    pub mint_threshold: usize,
    /// `--genesis`, if given.
    pub genesis: Option<BlockHash>,
}

/// The node is stopping: a request could not be answered.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the node is stopping")]
pub struct Stopping;

/// A cloneable handle on a running node (module docs).
#[derive(Clone)]
pub struct NodeHandle {
    pub(super) control: mpsc::Sender<Control>,
    pub(super) jobs: JobSender,
    pub(super) store: ChainStore,
    pub(super) events: broadcast::Sender<NodeEvent>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) info: NodeInfo,
    pub(super) traffic: std::sync::Arc<super::peer::Traffic>,
    pub(super) timings: super::worker::Timings,
}

impl NodeHandle {
    /// Sends `request` to the protocol and waits for its reply.
    ///
    /// Errors: [`Stopping`].
    pub async fn local(&self, request: LocalRequest) -> Result<LocalReply, Stopping> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Local(request, tx))
            .await
            .map_err(|_| Stopping)?;
        rx.await.map_err(|_| Stopping)
    }

    /// Runs `f` on the chain worker between chain updates (it sees the
    /// mempool) and returns its result. `f` must be short: chain work
    /// waits for it. Scans that need only the store belong in
    /// `spawn_blocking` on [`NodeHandle::store`] instead.
    ///
    /// Errors: [`Stopping`].
    pub async fn query<T, F>(&self, f: F) -> Result<T, Stopping>
    where
        T: Send + 'static,
        F: FnOnce(&Chain) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let (done, _) = oneshot::channel();
        let job: super::worker::QueryJob = Box::new(move |chain| {
            let _ = tx.send(f(chain));
            Ok(String::new())
        });
        self.jobs
            .send(Job::Query(job, done))
            .map_err(|_| Stopping)?;
        rx.await.map_err(|_| Stopping)
    }

    /// The store (sled is safe to read from any thread; scans belong in
    /// `spawn_blocking`).
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// A receiver of the node's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Turns true when the node shuts down.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Static facts about the node.
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// Bytes read from and written to peers since the node started, every
    /// connection together (closed ones included): whole frames, header
    /// and payload.
    pub fn traffic(&self) -> &super::peer::Traffic {
        &self.traffic
    }

    /// The chain worker's timings (histograms it fills as it works).
    pub fn timings(&self) -> &super::worker::Timings {
        &self.timings
    }

    /// The chain worker's queue: jobs waiting, and bytes of blocks and
    /// transactions from peers among them.
    pub fn chain_queue(&self) -> (usize, u64) {
        (self.jobs.depth(), self.jobs.total_bytes())
    }
}

/// A service started with the node, inside its tokio runtime (the HTTP
/// API): gets the handle, spawns its tasks, returns.
///
/// Errors: it could not start (the node does not start either).
pub type Service = Box<dyn FnOnce(NodeHandle) -> anyhow::Result<()> + Send>;

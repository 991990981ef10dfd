//! The node's peer logic as a state machine with no sockets, no tokio and
//! no clock (nakamoto's `fsm` design): [`Protocol::step`] takes an
//! [`Input`] and the current time and returns [`Output`]s for the caller to
//! carry out. The tokio reactor in [`crate::net`] and the simulator in
//! [`crate::sim`] drive the same code.
//!
//! Sub-machines, one file each:
//! * [`peers`]: the handshake, misbehaviour scores and bans, pings and the
//!   idle and handshake timeouts.
//! * [`sync`]: block sync (Bitcoin's pre-headers design: `getblocks` with a
//!   block locator, `inv` of up to 500 hashes, one `getdata`, repeat while
//!   the peer is ahead) and serving `getblocks`/`getdata`, with `getdata`
//!   answers paced by bytes flushed to the peer. Its state (blocks in
//!   flight, orphans, each peer's sync facts) has one owner, [`SyncMgr`];
//!   who holds the sync window and stall detection are in [`sync_peer`].
//! * [`relay`]: transaction relay, the mempool as the protocol sees it,
//!   and the decision to mint.
//! * [`announce`]: block announcements (a new tip pushed whole to synced
//!   peers, `inv` to the others) and the bound on unrequested blocks.
//! * [`addrbook`]: known addresses (new and tried tables, per-source
//!   limits), dial backoff and bans.
//! * [`eviction`]: which inbound peer makes room for a newcomer.
//! * [`points`]: the one table of misbehaviour points.
//! * [`txflood`]: the filter of recently rejected transactions and each
//!   peer's budget of transactions with missing inputs.
//!
//! The chain is read through [`BlockReader`] (tip, locator, blocks to
//! serve; the node passes its store), and a failed read is reported, never
//! taken for an answer; everything that writes it goes out as [`Output::ProcessBlock`],
//! [`Output::AcceptTx`] or [`Output::Mint`] and comes back as
//! [`Input::Chain`], so validation and reorgs never run inside `step`.

pub mod addrbook;
pub mod announce;
pub mod discovery;
pub mod eviction;
mod local;
pub mod peers;
pub mod points;
pub mod reader;
pub mod relay;
pub mod sync;
pub mod sync_peer;
pub mod txflood;
pub mod types;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::chain::ChainEvent;
pub use crate::chain::PeerId;
use crate::core::hash::Txid;
use crate::core::tx::Transaction;
use crate::store::{ChainStore, StoreError, Tip};
use crate::wire::message::Message;
pub use addrbook::AddrBook;
pub use peers::Peer;
pub use points::Misbehavior;
pub use reader::BlockReader;
pub use sync::{Asked, SyncMgr, SyncPeer};
pub use types::{
    Config, DisconnectReason, Event, Input, LocalReply, LocalRequest, Millis, NodeInfo, Output,
    PeerInfo, ReplyId,
};

/// One node's protocol state (module docs).
pub struct Protocol {
    config: Config,
    store: Box<dyn BlockReader>,
    now: Millis,
    rng: u64,
    peers: BTreeMap<PeerId, Peer>,
    book: AddrBook,
    /// Block sync: blocks in flight, orphans, each peer's sync facts.
    sync: SyncMgr,
    /// The mempool as reported by the chain layer.
    mempool: BTreeMap<Txid, Arc<Transaction>>,
    /// Transactions requested by `getdata`, and when.
    txs_requested: BTreeMap<Txid, Millis>,
    /// Recently rejected transactions, cleared when the tip changes.
    rejects: txflood::RejectFilter,
    /// Transactions that recently left the mempool (mostly mined): not
    /// fetched or validated again when other peers announce them late;
    /// cleared when a block is disconnected ([`relay`]).
    removed: txflood::RejectFilter,
    mint_pending: bool,
    replies: BTreeMap<Txid, Vec<ReplyId>>,
    /// Transactions accepted during this step and their senders, announced
    /// together at its end ([`relay`]).
    tx_invs: Vec<(Txid, Option<PeerId>)>,
    out: Vec<Output>,
}

impl Protocol {
    /// A protocol over `store` (read only: tip, locator, blocks to serve)
    /// with `known` peer addresses from an earlier run.
    pub fn new(config: Config, store: ChainStore, known: Vec<SocketAddr>) -> Protocol {
        Protocol::with_reader(config, Box::new(store), known)
    }

    /// A protocol reading the chain through `store` (any [`BlockReader`])
    /// with `known` peer addresses from an earlier run.
    pub fn with_reader(
        config: Config,
        store: Box<dyn BlockReader>,
        known: Vec<SocketAddr>,
    ) -> Protocol {
        let rng = config.nonce | 1;
        let mut book = AddrBook::new(known);
        book.pin(config.seeds.iter().copied());
        Protocol {
            book,
            config,
            store,
            now: 0,
            rng,
            peers: BTreeMap::new(),
            sync: SyncMgr::default(),
            mempool: BTreeMap::new(),
            txs_requested: BTreeMap::new(),
            rejects: Default::default(),
            removed: Default::default(),
            mint_pending: false,
            replies: BTreeMap::new(),
            tx_invs: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Handles one input at time `now` (ms since the Unix epoch) and
    /// returns what to do, in order.
    pub fn step(&mut self, input: Input, now: Millis) -> Vec<Output> {
        self.now = self.now.max(now);
        match input {
            Input::Connected {
                peer,
                addr,
                inbound,
            } => self.on_connected(peer, addr, inbound),
            Input::DialFailed { addr } => self.book.failed(addr, self.now),
            Input::Disconnected { peer } => self.on_disconnected(peer),
            Input::Received { peer, message } => self.on_message(peer, message),
            Input::Malformed { peer, error } => {
                self.misbehaving(peer, Misbehavior::Malformed(error.to_string()))
            }
            Input::Flushed { peer, bytes } => self.on_flushed(peer, bytes),
            Input::Tick => self.on_tick(),
            Input::InboundFull { addr } => self.on_inbound_full(addr),
            Input::Chain(events) => events.into_iter().for_each(|e| self.on_chain(e)),
            Input::MintDone => {
                self.mint_pending = false;
                self.maybe_mint();
            }
            Input::Local(id, request) => self.on_local(id, request),
        }
        self.flush_tx_invs();
        std::mem::take(&mut self.out)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Connected peers, by id.
    pub fn peers(&self) -> &BTreeMap<PeerId, Peer> {
        &self.peers
    }

    /// The address book.
    pub fn addrbook(&self) -> &AddrBook {
        &self.book
    }

    /// The filter of recently rejected transactions.
    pub fn rejects(&self) -> &txflood::RejectFilter {
        &self.rejects
    }

    /// Transactions in the mempool, as the chain layer reported them.
    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    /// The block-sync state: blocks in flight, each peer's sync facts.
    pub fn sync(&self) -> &SyncMgr {
        &self.sync
    }

    /// The tip, `None` with no chain (or when the store cannot be read:
    /// the paths that must tell the two apart use [`Protocol::read`]).
    pub fn tip(&self) -> Option<Tip> {
        self.store.tip().ok().flatten()
    }

    /// `r`'s value, or `None` after reporting the failed chain read
    /// ([`Event::ChainReadFailed`]): the caller then does nothing rather
    /// than act on a guess.
    fn read<T>(&mut self, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.event(Event::ChainReadFailed(e.to_string()));
                None
            }
        }
    }

    fn height(&self) -> Option<u64> {
        self.tip().map(|t| t.height)
    }

    fn send(&mut self, peer: PeerId, message: Message) {
        self.out.push(Output::Send { peer, message });
    }

    fn event(&mut self, event: Event) {
        self.out.push(Output::Event(event));
    }

    /// A pseudo-random number from the seed (xorshift64*): deterministic
    /// for a given [`Config::nonce`].
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn on_message(&mut self, peer: PeerId, message: Message) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.closing.is_some() {
            return;
        }
        p.last_recv = self.now;
        if p.version.is_none() && !matches!(message, Message::Version(_)) {
            return self.misbehaving(peer, Misbehavior::MessageBeforeVersion);
        }
        match message {
            Message::Version(v) => self.on_version(peer, v),
            Message::GetBlocks(g) => self.on_getblocks(peer, g),
            Message::Inv(inv) => self.on_inv(peer, inv),
            Message::GetData(g) => self.on_getdata(peer, g),
            Message::Block(b) => self.on_block(peer, b.block),
            Message::Tx(t) => self.on_tx(peer, t.transaction),
            Message::Addr(a) => self.on_addr(peer, a.addrs),
            Message::NotFound(n) => self.on_notfound(peer, n),
            Message::Ping(n) => self.send(peer, Message::Pong(n)),
            Message::Pong(n) => self.on_pong(peer, n),
        }
    }

    fn on_chain(&mut self, event: ChainEvent) {
        self.note_useful(&event);
        match event {
            ChainEvent::BlockConnected {
                hash, from, height, ..
            } => {
                self.sync.remove_orphan(&hash);
                if let Some(p) = from {
                    self.sync.connected(p, height);
                }
                self.announce_block(hash, from);
            }
            ChainEvent::TipChanged(_) => {
                self.rejects.clear();
                self.maybe_mint();
            }
            ChainEvent::Orphan { hash, from, height } => self.orphan(hash, from, height),
            ChainEvent::SideBranch { hash, .. } => {
                self.sync.remove_orphan(&hash);
            }
            ChainEvent::InvalidBlock { hash, from, error } => {
                self.sync.remove_orphan(&hash);
                if let Some(p) = from {
                    self.misbehaving(p, Misbehavior::InvalidBlock(hash, error.to_string()));
                }
            }
            ChainEvent::FutureBlock { hash, time, .. } => {
                // Not stored and not blamed (the clocks may differ), but
                // not fetched again until it may be valid.
                self.sync.remove_orphan(&hash);
                self.sync.add_future(hash, time);
            }
            ChainEvent::BlockDone { hash, from } => self.block_done(hash, from),
            ChainEvent::TxAccepted { tx, from, .. } => self.tx_accepted(tx, from),
            ChainEvent::TxRejected { txid, from, error } => self.tx_rejected(txid, from, &error),
            ChainEvent::TxRemoved { txid } => self.tx_removed(txid),
            ChainEvent::BlockDisconnected { .. } => self.removed.clear(),
            _ => {}
        }
    }

    fn on_local(&mut self, id: ReplyId, request: LocalRequest) {
        match request {
            LocalRequest::Status => {
                let tip = self.tip();
                let reply = LocalReply::Status {
                    height: tip.map_or(0, |t| t.height),
                    tip: tip.map(|t| t.hash),
                    mempool: self.mempool.len(),
                    peers: self.peers.len(),
                };
                self.out.push(Output::Reply(id, reply));
            }
            LocalRequest::SubmitTx(tx) => {
                let txid = tx.txid();
                if self.mempool.contains_key(&txid) {
                    let reply = LocalReply::Rejected(format!(
                        "transaction {txid} is already in the mempool"
                    ));
                    return self.out.push(Output::Reply(id, reply));
                }
                self.replies.entry(txid).or_default().push(id);
                self.out.push(Output::AcceptTx { tx, from: None });
            }
            other => self.on_local_node(id, other),
        }
    }
}

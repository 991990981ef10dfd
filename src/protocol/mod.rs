//! The node's peer logic as a state machine with no sockets, no tokio and
//! no clock (nakamoto's `fsm` design): [`Protocol::step`] takes an
//! [`Input`] and the current time and returns [`Output`]s for the caller to
//! carry out. The tokio reactor in [`crate::net`] and the simulator in
//! [`crate::sim`] drive the same code.
//!
//! `Protocol` composes managers, each owning its per-peer map (keyed by
//! [`PeerId`]) and its bounds, each told of every connection and
//! disconnection; one file each:
//! * [`peers`]: the handshake, misbehaviour scores and bans, pings, the
//!   idle and handshake timeouts, and one connection per pair of nodes
//!   ([`Peer`] is its per-peer state).
//! * [`sync`]: block sync and serving `getblocks`/`getheaders`/`getdata`,
//!   with `getdata` answers paced by bytes flushed to the peer. Peers of
//!   protocol version 2 are synced headers first ([`sync_headers`]:
//!   `getheaders`, checked headers in a header tree, blocks of the best
//!   header chain from several peers in a moving window); older ones by
//!   Bitcoin's pre-headers design (`getblocks` with a block locator, `inv`
//!   of up to 500 hashes, one `getdata`, repeat while the peer is ahead;
//!   who holds that sync window and stall detection are in [`sync_peer`]).
//!   Its state (blocks in flight, orphans, headers, each peer's sync
//!   facts) has one owner, [`SyncMgr`].
//! * [`relay`]: the wire side of transaction relay (what comes in goes to
//!   [`TxMgr`], what it decides goes out), local submissions and the
//!   decision to mint.
//! * [`announce`]: block announcements (a new tip pushed whole to synced
//!   peers, `inv` to the others) and the bound on unrequested blocks.
//! * [`addrs`]: the address manager ([`AddrMgr`]): the address book
//!   ([`addrbook`]: new and tried tables, per-netgroup source limits, dial
//!   backoff, bans, the records saved across restarts) and each peer's
//!   `addr` state; [`discovery`] gossips and dials through it.
//! * [`eviction`]: which inbound peer makes room for a newcomer.
//! * [`points`]: the one table of misbehaviour points.
//! * [`txs`]: the transaction manager ([`TxMgr`]): the mempool as the
//!   protocol sees it, every announcer of every txid we lack, one request
//!   per txid with a timeout that falls back to the next announcer,
//!   per-peer caps, the reject filters and missing-input budgets
//!   ([`txflood`]), and paced, deduplicated answers to transaction
//!   `getdata`.
//!
//! The chain is read through [`BlockReader`] (tip, locator, blocks to
//! serve; the node passes its store), and a failed read is reported, never
//! taken for an answer; everything that writes it goes out as [`Output::ProcessBlock`],
//! [`Output::AcceptTx`] or [`Output::Mint`] and comes back as
//! [`Input::Chain`], so validation and reorgs never run inside `step`.

pub mod addrbook;
pub mod addrs;
pub mod announce;
pub mod discovery;
pub mod eviction;
mod local;
pub mod peers;
pub mod points;
pub mod reader;
pub mod relay;
pub mod sync;
pub mod sync_headers;
pub mod sync_peer;
pub mod txflood;
pub mod txs;
pub mod types;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::chain::ChainEvent;
pub use crate::chain::PeerId;
use crate::core::hash::Txid;
use crate::store::{ChainStore, StoreError, Tip};
use crate::wire::message::Message;
pub use addrbook::AddrBook;
pub use addrs::AddrMgr;
pub use peers::Peer;
pub use points::Misbehavior;
pub use reader::BlockReader;
pub use sync::{Asked, SyncMgr, SyncPeer};
pub use txs::TxMgr;
pub use types::{
    Config, DisconnectReason, Event, Input, LocalReply, LocalRequest, Millis, NodeInfo, Output,
    PeerInfo, ReplyId,
};

/// One node's protocol state (module docs).
pub struct Protocol {
    config: Config,
    store: Box<dyn BlockReader>,
    now: Millis,
    /// Local secrets and the nonce we show ([`Secrets`]).
    secrets: Secrets,
    /// State of the pseudo-random numbers behind dial choices (never
    /// shown to peers).
    rng: u64,
    /// State of the pseudo-random ping nonces (shown to peers, so kept
    /// apart from `rng`).
    ping_rng: u64,
    peers: BTreeMap<PeerId, Peer>,
    /// Peers gone lately, still to be charged for what the chain layer
    /// finds later ([`peers::MAX_DEPARTED`]).
    departed: peers::Departed,
    /// Addresses: the book and per-peer gossip state ([`addrs`]).
    addrs: AddrMgr,
    /// Block sync: blocks in flight, orphans, each peer's sync facts.
    sync: SyncMgr,
    /// Transactions: mempool, announcements, requests, filters, answers
    /// ([`txs`]).
    txs: TxMgr,
    /// The tip as the chain's events last reported it
    /// ([`ChainEvent::TipChanged`]), first read from the store when the
    /// protocol was made (`None` while unknown: that read failed). The
    /// store has a block as soon as the chain connects it, the mempool
    /// copy in `txs` when the chain's events arrive: `status` and
    /// [`Protocol::node_info`] show this tip, so every figure they give is
    /// of one moment.
    reported: Option<Option<Tip>>,
    mint_pending: bool,
    replies: BTreeMap<Txid, Vec<ReplyId>>,
    out: Vec<Output>,
}

/// The values derived from [`Config::nonce`], each by SHA-256 under its own
/// label, so none reveals the seed or another: the nonce we show in
/// `version`, and local secrets no peer ever sees (the eviction key, the
/// seeds of dial choices and of ping nonces). A peer that learns our
/// `version` nonce cannot predict which netgroups eviction protects or
/// which addresses we dial.
#[derive(Debug, Clone, Copy)]
struct Secrets {
    /// Sent in `version`.
    version: u64,
    /// Keys the eviction ranking of netgroups.
    eviction: u64,
    /// Seeds dial choices.
    dial: u64,
    /// Seeds ping nonces.
    ping: u64,
}

impl Secrets {
    fn new(seed: u64) -> Secrets {
        let derive = |label: &[u8]| {
            let mut data = label.to_vec();
            data.extend_from_slice(&seed.to_le_bytes());
            let h = crate::core::hash::sha256(&data);
            u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
        };
        Secrets {
            version: derive(b"sledchain version nonce"),
            eviction: derive(b"sledchain eviction key"),
            dial: derive(b"sledchain dial seed"),
            ping: derive(b"sledchain ping seed"),
        }
    }
}

/// One step of xorshift64* over `state`.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
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
        let secrets = Secrets::new(config.nonce);
        let mut book = AddrBook::new(known);
        book.pin(config.seeds.iter().copied());
        book.hide(config.default_seeds.iter().copied());
        let reported = store.tip().ok();
        Protocol {
            addrs: AddrMgr::new(book),
            config,
            store,
            now: 0,
            rng: secrets.dial | 1,
            ping_rng: secrets.ping | 1,
            secrets,
            peers: BTreeMap::new(),
            departed: peers::Departed::default(),
            sync: SyncMgr::default(),
            txs: TxMgr::default(),
            reported,
            mint_pending: false,
            replies: BTreeMap::new(),
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
            Input::DialFailed { addr } => self.addrs.book.failed(addr, self.now),
            Input::Disconnected { peer } => self.on_disconnected(peer),
            Input::Received { peer, message } => self.on_message(peer, message),
            Input::Malformed { peer, error } => {
                self.misbehaving(peer, Misbehavior::Malformed(error.to_string()))
            }
            Input::Flushed { peer, bytes } => self.on_flushed(peer, bytes),
            Input::TxFlushed { peer, bytes } => self.on_tx_flushed(peer, bytes),
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
        self.flush_tx_requests();
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

    /// The address manager.
    pub fn addrs(&self) -> &AddrMgr {
        &self.addrs
    }

    /// The address book.
    pub fn addrbook(&self) -> &AddrBook {
        self.addrs.book()
    }

    /// Takes back the peer records an earlier run saved (the store's
    /// `peers` tree), at `now` (ms since the Unix epoch): addresses with
    /// their failures and last contact, and bans still running
    /// ([`AddrBook::restore`]).
    pub fn restore_peers(
        &mut self,
        records: impl IntoIterator<Item = (SocketAddr, crate::store::PeerRecord)>,
        now: Millis,
    ) {
        self.addrs.book.restore(records, now);
    }

    /// The filter of recently rejected transactions.
    pub fn rejects(&self) -> &txflood::RejectFilter {
        self.txs.rejects()
    }

    /// Transactions in the mempool, as the chain layer reported them.
    pub fn mempool_len(&self) -> usize {
        self.txs.mempool().len()
    }

    /// The transaction manager.
    pub fn txs(&self) -> &TxMgr {
        &self.txs
    }

    /// The block-sync state: blocks in flight, each peer's sync facts.
    pub fn sync(&self) -> &SyncMgr {
        &self.sync
    }

    /// The tip, `Ok(None)` with no chain.
    ///
    /// Errors: the [`BlockReader`]'s, when the chain cannot be read.
    pub fn tip(&self) -> Result<Option<Tip>, StoreError> {
        self.store.tip()
    }

    /// The tip to show (`status`, [`Protocol::node_info`]): as the chain's
    /// events last reported it, the moment of the mempool count
    /// ([`Protocol::mempool_len`]) and of the peers' figures, not the
    /// store's tip, which may already hold blocks whose events are on
    /// their way. `Ok(None)` with no chain.
    ///
    /// Errors: the [`BlockReader`]'s: the store is read all the same, so a
    /// chain that cannot be read answers an error, never figures that may
    /// be stale.
    pub fn reported_tip(&self) -> Result<Option<Tip>, StoreError> {
        let stored = self.store.tip()?;
        Ok(self.reported.unwrap_or(stored))
    }

    /// The tip for a decision: `Some(None)` with no chain, `None` after
    /// reporting a failed read ([`Protocol::read`]).
    fn read_tip(&mut self) -> Option<Option<Tip>> {
        let r = self.store.tip();
        self.read(r)
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

    /// Our height; `None` with no chain or after reporting a failed read
    /// (callers then do nothing; those that must tell the two apart use
    /// [`Protocol::read_tip`]).
    fn height(&mut self) -> Option<u64> {
        self.read_tip().flatten().map(|t| t.height)
    }

    fn send(&mut self, peer: PeerId, message: Message) {
        self.out.push(Output::Send { peer, message });
    }

    fn event(&mut self, event: Event) {
        self.out.push(Output::Event(event));
    }

    /// The nonce we send in `version`, derived from [`Config::nonce`] by
    /// SHA-256 under its own label (the local secrets are derived under
    /// others, so it gives none of them away); a `version` carrying it is
    /// our own.
    pub fn nonce(&self) -> u64 {
        self.secrets.version
    }

    /// A pseudo-random number for dial choices (xorshift64*): deterministic
    /// for a given [`Config::nonce`], never sent.
    fn random(&mut self) -> u64 {
        xorshift(&mut self.rng)
    }

    /// A ping nonce, from its own sequence: a peer that sees ping nonces
    /// learns nothing of the dial choices.
    fn ping_nonce(&mut self) -> u64 {
        xorshift(&mut self.ping_rng)
    }

    fn on_message(&mut self, peer: PeerId, message: Message) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.closing.is_some() {
            return;
        }
        if !matches!(message, Message::Pong(_)) {
            p.last_recv = self.now; // a pong only with our ping's nonce (`on_pong`)
        }
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
            Message::GetHeaders(g) => self.on_getheaders(peer, g),
            Message::Headers(h) => self.on_headers(peer, h.headers),
        }
    }

    fn on_chain(&mut self, event: ChainEvent) {
        self.note_useful(&event);
        match event {
            ChainEvent::BlockConnected {
                hash, from, height, ..
            } => {
                self.sync.remove_orphan(&hash);
                self.sync.forget_header(&hash);
                if let Some(p) = from {
                    self.sync.connected(p, height);
                }
                self.announce_block(hash, from);
            }
            ChainEvent::TipChanged(tip) => {
                self.reported = Some(Some(tip));
                self.txs.tip_changed();
                self.maybe_mint();
            }
            ChainEvent::Orphan { hash, from, height } => self.orphan(hash, from, height),
            ChainEvent::SideBranch { hash, .. } => {
                self.sync.remove_orphan(&hash);
                self.sync.forget_header(&hash);
            }
            ChainEvent::InvalidBlock { hash, from, error } => {
                self.sync.remove_orphan(&hash);
                self.sync.forget_branch(&hash);
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
            ChainEvent::TxRemoved { txid } => self.txs.removed(txid),
            ChainEvent::BlockDisconnected { .. } => self.txs.block_disconnected(),
            _ => {}
        }
    }

    fn on_local(&mut self, id: ReplyId, request: LocalRequest) {
        match request {
            LocalRequest::Status => {
                let tip = self.reported_tip();
                let Some(tip) = self.read(tip) else {
                    return self.out.push(Output::Reply(id, unreadable()));
                };
                let reply = LocalReply::Status {
                    height: tip.map_or(0, |t| t.height),
                    tip: tip.map(|t| t.hash),
                    mempool: self.txs.mempool().len(),
                    peers: self.peers.len(),
                };
                self.out.push(Output::Reply(id, reply));
            }
            LocalRequest::SubmitTx(tx) => {
                let txid = tx.txid();
                if self.txs.mempool().contains_key(&txid) {
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

/// The answer to a local request that needed a chain read which failed
/// (reported as [`Event::ChainReadFailed`]).
fn unreadable() -> LocalReply {
    LocalReply::ChainUnreadable
}

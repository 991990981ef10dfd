//! Block sync and serving: `getblocks` with a block locator, `inv`,
//! `getdata`, `block`, `notfound`. Peers of protocol version 2 are synced
//! headers first instead (`sync_headers.rs`: `getheaders`/`headers`, then
//! `getdata` along the best header chain); what a block costs on arrival
//! (below) and the serving of `getdata` are the same for both.
//!
//! A version-1 peer: a node behind it sends `getblocks`; the answer is an `inv` of up to
//! 500 best-chain hashes after the fork point; the unknown ones are asked
//! for in one `getdata` and handed to the chain layer in order as they
//! arrive; once the last of them arrives and the peer is still ahead, the
//! node asks again at once (`sync_peer.rs`). A block is asked of one peer
//! at a time ([`InFlight`]), and at most 500 blocks of one peer at once
//! (1,000 while the next `inv` is asked for ahead,
//! [`MAX_BLOCKS_IN_FLIGHT`]). `getdata` answers are paced: at most
//! [`ANSWER_BYTES`] of blocks are sent and not yet flushed to one peer.
//!
//! A block's proof of work is checked against the chain's difficulty on
//! arrival, before it goes to the chain layer: one with less costs its
//! sender [`Misbehavior::LowProofOfWork`] and is dropped. A block refused
//! for a timestamp too far ahead is neither fetched nor validated again
//! until our clock is within two hours of it ([`SyncMgr::is_future`]).
//!
//! The too-little-chainwork rule (Core's, [`enough_side_work`]): a block
//! on a side branch trailing our tip by more than
//! [`SIDE_BRANCH_MARGIN_BLOCKS`] blocks' work does not go to the chain
//! layer, so is not stored. Pushed unasked, it is refused and costs its
//! sender points, unless it extends a branch held in memory (below),
//! when it is judged as a block asked for. From a version-2 peer a block is asked for only on a
//! header chain that beats our tip. From a version-1 peer (no headers, so
//! a block cannot be judged before it arrives) one we asked for is held
//! in memory, counted against that peer's room and costing it no points
//! ([`SideBuffer`]), once it passes the context-free checks
//! (`core::validation::check_block_sanity`) and its height is its
//! parent's plus one ([`Misbehavior::InvalidBlock`] otherwise, so a
//! forged body under another's header, or a false height, is never held): when a later block of
//! that peer brings the branch within the margin (an honest peer's reorg,
//! announced whole in one `inv`), the held blocks go to the chain layer in
//! order, then that one; otherwise they go when the peer leaves.
//!
//! The state all this reads and writes is owned by [`SyncMgr`] (`mgr.rs`).

pub mod headers;
pub mod mgr;
pub mod side;

pub use headers::{HeaderEntry, HeaderTree};
pub use mgr::{Asked, InFlight, SyncMgr, SyncPeer};
pub use side::SideBuffer;

use super::Misbehavior;
use super::types::{Event, Output};
use super::{PeerId, Protocol};
use crate::core::block::{Block, block_work};
use crate::core::hash::{BlockHash, Hash256};
use crate::core::validation::{BlockError, check_block_sanity, check_header_pow};
use crate::wire::message::Message;
use crate::wire::payload::{
    BlockMsg, GetBlocks, GetData, Inv, InvKind, MAX_BLOCKS_PER_INV, MAX_INV_ITEMS, NotFound,
};

/// Bytes of blocks sent to one peer and not yet flushed to its socket
/// before further `getdata` answers wait. Kept well under the net layer's
/// per-peer send queue (`net::peer::PEER_QUEUE_BYTES`), which the answers
/// (this plus one block) must fit in.
pub const ANSWER_BYTES: u64 = 256_000;

/// Block hashes one peer may have waiting to be served (two `inv`s'
/// worth); further `getdata` items are ignored until it drains, so a peer
/// that never reads holds 32 KB of them, not 1.6 MB.
pub const SERVE_QUEUE_MAX: usize = 2 * MAX_BLOCKS_PER_INV;

/// How many blocks' work a side branch may trail our tip by and still
/// have its blocks stored ([`Protocol::too_little_work`](super::Protocol)):
/// room for a race or a short reorg to build up block by block.
pub const SIDE_BRANCH_MARGIN_BLOCKS: u64 = 6;

/// The too-little-chainwork rule, in one place (Bitcoin Core's, with an
/// anti-DoS margin): whether a block whose branch has `work` from genesis
/// to it, inclusive, may go to the chain layer while our tip has
/// `tip_work`: true when it trails the tip by at most
/// [`SIDE_BRANCH_MARGIN_BLOCKS`] blocks of `unit` work each (a block's
/// work at the chain's difficulty, `core::block::block_work`). Applied to
/// blocks pushed unasked and to version-1 peers' blocks (`sync.rs`), and
/// to short `headers` answers (`sync_headers.rs`).
pub fn enough_side_work(work: u128, unit: u128, tip_work: u128) -> bool {
    let margin = unit.saturating_mul(u128::from(SIDE_BRANCH_MARGIN_BLOCKS));
    work.saturating_add(margin) >= tip_work
}

/// Blocks asked of one peer and not yet processed: two `inv`s' worth, so
/// the next `inv` can be asked for while one is validated
/// ([`Protocol::ask_ahead`](super::Protocol)).
pub const MAX_BLOCKS_IN_FLIGHT: usize = 2 * MAX_BLOCKS_PER_INV;

impl Protocol {
    /// Sends `getblocks` with our block locator to `peer`, unless one is
    /// awaited from it already or another peer holds the sync window
    /// ([`Protocol::may_sync_from`]); it is then asked once that one is
    /// done ([`Protocol::resume_sync`]).
    pub(super) fn send_getblocks(&mut self, peer: PeerId) {
        if self.headers_first(peer) {
            return self.send_getheaders(peer, None);
        }
        if !self.may_sync_from(peer) {
            return;
        }
        let Some(mut locator) = self.read(self.store.locator()) else {
            return;
        };
        let now = self.now;
        let Some(p) = self.sync.peer_mut(peer) else {
            return;
        };
        if p.getblocks_pending.is_some() {
            return;
        }
        p.getblocks_pending = Some(now);
        // Asked ahead: blocks up to `last_asked` are on their way, so the
        // peer continues after it.
        if let Some(ahead) = p.last_asked {
            locator.insert(0, ahead);
        }
        let me = self.config.me.to_string();
        self.send(
            peer,
            Message::GetBlocks(GetBlocks {
                addr_from: me,
                locator,
                stop: BlockHash::ZERO,
            }),
        );
    }

    pub(super) fn on_getblocks(&mut self, peer: PeerId, g: GetBlocks) {
        let read = self
            .store
            .hashes_after(&g.locator, &g.stop, MAX_BLOCKS_PER_INV);
        let Some(hashes) = self.read(read) else {
            return;
        };
        if hashes.is_empty() {
            return;
        }
        let inv = Inv {
            addr_from: self.config.me.to_string(),
            kind: InvKind::Block,
            items: hashes.into_iter().map(|h| h.0).collect(),
        };
        self.send(peer, Message::Inv(inv));
    }

    pub(super) fn on_inv(&mut self, peer: PeerId, inv: Inv) {
        if inv.kind == InvKind::Tx {
            return self.on_tx_inv(peer, inv.items);
        }
        let Some(tip) = self.read_tip() else {
            return; // reported; nothing asked for on a guess
        };
        if tip.is_none() && !self.may_give_genesis(peer, None) {
            return; // with no chain, blocks only from a peer that may start it
        }
        if self.headers_first(peer) {
            return self.on_block_inv_headers(peer, &inv.items);
        }
        let (answer, room) = self.inv_room(peer);
        // The first hash of an inv answering `getblocks` follows a block we
        // hold, so it is no orphan of ours: if we mark it as one, the mark
        // outlived the chain layer's copy, and it is fetched again rather
        // than waited for forever.
        if let Some(first) = inv.items.first() {
            self.sync.remove_orphan(&BlockHash(*first));
        }
        let mut wanted: Vec<Hash256> = Vec::new();
        let mut busy = 0;
        for h in inv.items {
            let hash = BlockHash(h);
            if self.sync.in_flight(&hash).is_some() {
                busy += 1;
                continue;
            }
            if self.sync.is_orphan(&hash)
                || self.sync.is_future(&hash, self.now)
                || self.sync.side().knows(peer, &hash)
            {
                // Held from this peer, or turned away from it, counts as
                // known for it alone (`SideBuffer`).
                continue;
            }
            let Some(known) = self.read(self.store.block_meta(&hash)) else {
                return; // cannot tell whether we have it: ask for nothing
            };
            if known.is_none() && wanted.len() < room {
                wanted.push(h);
            }
        }
        if wanted.is_empty() {
            if answer && busy > 0 {
                // What it offers is on its way from others: asked again on
                // a later tick, not at once and again and again.
                return;
            }
            if answer && room > 0 {
                // Asked for what follows our tip, it offers nothing new: not
                // asked again and again.
                self.doubt_height(peer);
            }
            return self.maybe_continue_sync(peer);
        }
        if answer && !self.may_sync_from(peer) {
            // Another peer holds the sync window: this one is asked again
            // once it is free, so ranges do not interleave.
            return;
        }
        let kind = if answer {
            Asked::Sync
        } else {
            Asked::Announced
        };
        let now = self.now;
        for h in &wanted {
            self.sync.request(BlockHash(*h), peer, kind, now);
        }
        if answer {
            if let Some(p) = self.sync.peer_mut(peer) {
                p.last_asked = wanted.last().map(|h| BlockHash(*h));
            }
            self.syncing_event(peer);
        }
        self.getdata(peer, InvKind::Block, wanted);
    }

    /// Reports a sync from `peer` under way, aiming at the height its
    /// requests can show: its claimed height, but never further ahead of
    /// our tip than the blocks it offered (a claim alone, even of 2^64-1,
    /// starts no sync run).
    fn syncing_event(&mut self, peer: PeerId) {
        let Some(tip) = self.read_tip() else {
            return; // reported
        };
        let ours = tip.map_or(0, |t| t.height);
        let offered = self.sync.pending_of(peer, Asked::Sync) as u64;
        let claimed = self.sync.peer(peer).map_or(0, |p| p.height());
        let theirs = claimed.min(ours.saturating_add(offered));
        if theirs > ours {
            self.event(Event::Syncing { peer, ours, theirs });
        }
    }

    pub(super) fn getdata(&mut self, peer: PeerId, kind: InvKind, items: Vec<Hash256>) {
        for chunk in items.chunks(MAX_INV_ITEMS) {
            let g = GetData {
                addr_from: self.config.me.to_string(),
                kind,
                items: chunk.to_vec(),
            };
            self.send(peer, Message::GetData(g));
        }
    }

    pub(super) fn on_getdata(&mut self, peer: PeerId, g: GetData) {
        if g.kind == InvKind::Tx {
            return self.serve_txs(peer, g.items);
        }
        let Some(p) = self.sync.peer_mut(peer) else {
            return;
        };
        let room = SERVE_QUEUE_MAX.saturating_sub(p.serve_queue.len());
        p.serve_queue.extend(g.items.into_iter().take(room));
        self.serve_blocks(peer);
    }

    /// Sends queued blocks while less than [`ANSWER_BYTES`] are unflushed;
    /// unknown ones are answered with one `notfound`. A failed read stops
    /// serving (reported, not answered as unknown).
    fn serve_blocks(&mut self, peer: PeerId) {
        let mut missing = Vec::new();
        loop {
            let Some(p) = self.sync.peer_mut(peer) else {
                return;
            };
            if p.unflushed >= ANSWER_BYTES {
                break;
            }
            let Some(h) = p.serve_queue.pop_front() else {
                break;
            };
            let Some(found) = self.read(self.store.block(&BlockHash(h))) else {
                break;
            };
            match found {
                Some(block) => {
                    let now = self.now;
                    if let Some(p) = self.sync.peer_mut(peer) {
                        if p.unflushed == 0 {
                            p.last_flush = now;
                        }
                        p.unflushed = p.unflushed.saturating_add(block.encoded_size());
                    }
                    self.sync.prove(peer, block.height);
                    let addr_from = self.config.me.to_string();
                    self.send(peer, Message::Block(BlockMsg { addr_from, block }));
                }
                None => missing.push(h),
            }
        }
        self.notfound(peer, InvKind::Block, missing);
    }

    /// One `notfound` for the items we could not serve, if any.
    fn notfound(&mut self, peer: PeerId, kind: InvKind, items: Vec<Hash256>) {
        if !items.is_empty() {
            self.send(peer, Message::NotFound(NotFound { kind, items }));
        }
    }

    pub(super) fn on_flushed(&mut self, peer: PeerId, bytes: u64) {
        let now = self.now;
        if let Some(p) = self.sync.peer_mut(peer) {
            p.unflushed = p.unflushed.saturating_sub(bytes);
            p.last_flush = now;
            self.serve_blocks(peer);
        }
    }

    pub(super) fn on_block(&mut self, peer: PeerId, block: Block) {
        let hash = block.hash();
        let Some(tip) = self.read_tip() else {
            return; // reported; not taken for "no chain yet"
        };
        if block.height == 0 && tip.is_none() && !self.may_give_genesis(peer, Some(hash)) {
            return self.refuse_genesis(peer, hash);
        }
        if !self.enough_work(peer, &block) {
            return;
        }
        if self.sync.is_future(&hash, self.now) {
            // Refused lately for its timestamp: not validated again.
            self.sync.release(&hash, peer, Some(false));
            return self.maybe_continue_sync(peer);
        }
        match self.sync.in_flight(&hash) {
            Some(f) if f.peer == peer && f.received => return, // the first copy is being processed
            Some(f) if f.peer == peer => {}
            _ if self.sync.side().knows(peer, &hash) => return, // held or turned away already
            Some(f) if !f.received && self.low_work_push(peer, &block) => {
                // Asked of another peer, still to send it: this unasked
                // copy is charged as any low-work push, and that request
                // stands, so the peer asked is not taken for a pusher when
                // its copy comes.
                return;
            }
            _ => {
                if !self.admit_block(peer, hash) {
                    return;
                }
                self.sync
                    .pushed_on(peer, hash, block.header.prev_block_hash);
            }
        }
        if self.too_little_work(peer, &block) {
            return self.maybe_continue_sync(peer);
        }
        let height = block.height;
        let Some(block) = self.side_branch(peer, hash, block) else {
            // Held in memory (or turned away): no longer in flight, and
            // the peer's sync goes on as if it had been processed.
            self.sync.claim(peer, height);
            self.ask_ahead(peer, hash, height);
            return self.maybe_continue_sync(peer);
        };
        self.sync
            .received(hash, peer, block.encoded_size(), self.now);
        self.sync.claim(peer, height);
        let from = Some(peer);
        self.out.push(Output::ProcessBlock { block, from });
        self.ask_ahead(peer, hash, height);
    }

    /// The too-little-chainwork rule for a block (hash `hash`) from a
    /// version-1 peer, asked for or pushed unasked onto a branch held from
    /// it ([`SideBuffer`], module docs). Its branch's work is its parent's
    /// (held from any peer, else stored) plus its own, plus that of the
    /// blocks handed on as orphans waiting on it ([`SyncMgr::orphans_on`]:
    /// blocks of the branch that came before it, their parent unknown). Within the margin
    /// ([`enough_side_work`]): the held ancestors go to the chain layer
    /// first, in order (`Output::ProcessBlock` from `peer`), and the block
    /// comes back to be handed on. Below it: the block is held in memory
    /// (or turned away past the buffer's bounds, without misbehaviour
    /// points, as is a block whose parent was turned away from `peer`)
    /// and `None` comes back. Blocks of version-2 peers, on our tip, with
    /// no chain yet or whose parent is unknown (the chain layer keeps
    /// those aside as orphans, in memory) come back at once; a failed read
    /// drops the block (not stored on a guess).
    fn side_branch(&mut self, peer: PeerId, hash: BlockHash, block: Block) -> Option<Block> {
        if self.headers_first(peer) {
            return Some(block);
        }
        let Some(Some(tip)) = self.read_tip() else {
            return Some(block); // no chain yet (genesis), or reported
        };
        let prev = block.header.prev_block_hash;
        if prev == tip.hash {
            return Some(block);
        }
        // Held from this peer, or from another that sent it first (the
        // branch is the same whoever sent its blocks).
        let held = self.sync.side().work_of(&prev);
        let (parent_work, parent_height) = match held {
            Some(w) => w,
            None => match self.read(self.store.block_meta(&prev)) {
                None => {
                    self.sync.release(&hash, peer, None);
                    return None;
                }
                Some(None) if self.sync.side().knows(peer, &prev) => {
                    // Its parent was turned away from this peer and is
                    // not stored: so is it, rather than go to the chain
                    // layer as an orphan. (A parent stored since, from
                    // anyone, is judged as any stored parent.)
                    self.sync.turn_away_side(peer, hash);
                    return None;
                }
                Some(None) => {
                    self.sync.note_orphan_parent(hash, prev);
                    return Some(block);
                }
                Some(Some(parent)) => (parent.chain_work, parent.height),
            },
        };
        let unit = block_work(block.header.bits);
        let work = parent_work.saturating_add(unit);
        // Blocks of its branch handed on already, kept by the chain layer
        // as orphans until it comes (their proof of work, at the chain's
        // difficulty as every block's, was checked on arrival).
        let waiting = unit.saturating_mul(u128::from(self.sync.orphans_on(&hash)));
        if !enough_side_work(work.saturating_add(waiting), unit, tip.chain_work) {
            // Checked before it is held: a held block is kept once for
            // every peer that sends it (`SideBuffer`), so a forged body
            // under an honest block's header must never take its place;
            // and a height its parent's does not allow (the chain layer's
            // rule) would be a claim of it held uncharged.
            let expected = parent_height.saturating_add(1);
            let sane = if block.height == expected {
                check_block_sanity(&block, self.now / 1000)
            } else {
                Err(BlockError::BadHeight {
                    expected,
                    got: block.height,
                })
            };
            match sane {
                Ok(()) => {}
                // The chain layer's rule: not stored, not blamed.
                Err(BlockError::TimeTooNew(_)) => return Some(block),
                Err(e) => {
                    self.sync.release(&hash, peer, Some(false));
                    self.misbehaving(peer, Misbehavior::InvalidBlock(hash, e.to_string()));
                    return None;
                }
            }
            self.sync.hold_side(peer, hash, block, work);
            return None;
        }
        if held.is_some() {
            let now = self.now;
            let (ancestors, others) = self.sync.hand_side_branch(peer, &prev, now);
            for b in ancestors {
                let from = Some(peer);
                self.out.push(Output::ProcessBlock { block: b, from });
            }
            for other in others {
                self.maybe_continue_sync(other);
            }
        }
        Some(block)
    }

    /// Whether `block`'s proof of work meets the chain's difficulty
    /// (`core::validation::check_header_pow`), checked before anything
    /// costly: a block short of it costs `peer`
    /// [`Misbehavior::LowProofOfWork`] and goes no further. True with no
    /// chain yet (genesis sets the difficulty) and false when the
    /// difficulty cannot be read.
    fn enough_work(&mut self, peer: PeerId, block: &Block) -> bool {
        let Some(difficulty) = self.read(self.store.difficulty()) else {
            return false;
        };
        let Some(difficulty) = difficulty else {
            return true;
        };
        let Err(e) = check_header_pow(&block.header, difficulty) else {
            return true;
        };
        let hash = block.hash();
        self.sync.release(&hash, peer, Some(false));
        self.misbehaving(peer, Misbehavior::LowProofOfWork(hash, e.to_string()));
        false
    }

    /// Bitcoin Core's "too-little-chainwork" rule ([`enough_side_work`])
    /// for blocks pushed unasked: one on a side branch whose cumulative
    /// work stays more than [`SIDE_BRANCH_MARGIN_BLOCKS`] blocks' work
    /// below our tip's is not handed to the chain layer (so not stored)
    /// and costs its sender [`Misbehavior::LowWorkBlock`]. Blocks we asked
    /// for are not refused here: from a version-2 peer they are on a
    /// header chain that beats our tip (`sync_headers.rs`); from a
    /// version-1 peer we cannot tell a deep reorg's first blocks from junk
    /// without headers, so they are held in memory until their branch has
    /// the work (`Protocol::side_branch`). True when the block is dropped
    /// (its request released).
    fn too_little_work(&mut self, peer: PeerId, block: &Block) -> bool {
        let hash = block.hash();
        let Some(f) = self.sync.in_flight(&hash) else {
            return false;
        };
        if f.kind != Asked::Unrequested {
            return false;
        }
        if !self.low_work_push(peer, block) {
            return false;
        }
        self.sync.release(&hash, peer, None);
        true
    }

    /// The too-little-chainwork rule for a block `peer` sent unasked
    /// ([`Protocol::too_little_work`]), its request left alone: true when
    /// it is dropped, charged [`Misbehavior::LowWorkBlock`] when its
    /// branch trails our tip by more than the margin, uncharged when its
    /// parent cannot be read (not stored on a guess).
    fn low_work_push(&mut self, peer: PeerId, block: &Block) -> bool {
        let prev = block.header.prev_block_hash;
        let Some(Some(tip)) = self.read(self.store.tip()) else {
            return false;
        };
        if prev == tip.hash {
            return false;
        }
        let Some(parent) = self.read(self.store.block_meta(&prev)) else {
            return true; // cannot tell: not stored on a guess
        };
        let Some(parent) = parent else {
            return false; // an orphan: the chain layer keeps it aside
        };
        let unit = block_work(block.header.bits);
        let work = parent.chain_work.saturating_add(unit);
        if enough_side_work(work, unit, tip.chain_work) {
            return false;
        }
        self.misbehaving(peer, Misbehavior::LowWorkBlock(block.hash()));
        true
    }

    /// With no chain yet: whether `peer` may give us a genesis block with
    /// hash `hash` (`None`: not known yet, as for an `inv`). With
    /// [`Config::genesis`](super::Config::genesis) set, any peer, for that
    /// hash only; else only an outbound peer dialled at one of
    /// [`Config::seeds`](super::Config::seeds). An inbound peer, or one
    /// found through `addr`, never picks our network.
    pub(super) fn may_give_genesis(&self, peer: PeerId, hash: Option<BlockHash>) -> bool {
        match (self.config.genesis, hash) {
            (Some(want), Some(h)) => h == want,
            (Some(_), None) => true,
            (None, _) => self
                .peers
                .get(&peer)
                .is_some_and(|p| !p.inbound && self.config.seeds.contains(&p.addr)),
        }
    }

    /// Drops a genesis block `peer` may not give us (no score: it may be an
    /// honest node of another network), forgetting our request for it.
    fn refuse_genesis(&mut self, peer: PeerId, hash: BlockHash) {
        self.sync.release(&hash, peer, Some(false));
        if let Some(addr) = self.peers.get(&peer).map(|p| p.addr) {
            self.event(super::Event::GenesisRefused { addr, hash });
        }
    }

    pub(super) fn on_notfound(&mut self, peer: PeerId, n: NotFound) {
        if n.kind != InvKind::Block {
            return self.on_tx_notfound(peer, n.items);
        }
        for h in n.items {
            self.sync.release(&BlockHash(h), peer, Some(false));
        }
        self.maybe_continue_sync(peer);
    }

    /// The chain layer keeps `hash` (at `height`) as an orphan: remember
    /// not to fetch it again (as many as the chain layer keeps) and ask its
    /// sender for the blocks before it. Orphans its sender pushed unasked,
    /// past [`mgr::MAX_UNCONNECTING_BLOCKS`] in a row, cost it
    /// [`Misbehavior::UnconnectedBlock`] each, but for those built on a
    /// block we dropped from it (`SyncMgr::excuse_orphan`); its height is
    /// a claim, not a proof.
    pub(super) fn orphan(&mut self, hash: BlockHash, from: Option<PeerId>, height: u64) {
        self.sync.add_orphan(hash);
        let Some(p) = from else { return };
        if self
            .sync
            .in_flight(&hash)
            .is_some_and(|f| f.kind == Asked::Headers)
        {
            return; // fetched ahead of its parent from the header chain
        }
        let pushed = self
            .sync
            .in_flight(&hash)
            .is_some_and(|f| f.peer == p && f.kind == Asked::Unrequested);
        self.sync.claim(p, height);
        if pushed && !self.sync.excuse_orphan(p, &hash) && self.sync.unconnecting(p) {
            self.misbehaving(p, Misbehavior::UnconnectedBlock(hash));
        }
        self.send_getblocks(p);
    }

    /// The chain layer finished with a block from `from`.
    pub(super) fn block_done(&mut self, hash: BlockHash, from: Option<super::PeerId>) {
        let Some(peer) = from else { return };
        self.sync.release(&hash, peer, None);
        self.maybe_continue_sync(peer);
    }

    /// Asks `peer` for more blocks once everything asked of it for sync is
    /// processed and it is still ahead of us.
    pub(super) fn maybe_continue_sync(&mut self, peer: PeerId) {
        if self.headers_first(peer) {
            if self.sync.pending_of(peer, Asked::Headers) <= self.blocks_in_transit_cap() / 2 {
                self.fetch_blocks();
            }
            return;
        }
        let height = self.height();
        let window = self.sync.pending_of(peer, Asked::Sync);
        let Some(p) = self.sync.peer_mut(peer) else {
            return;
        };
        let ahead = height.is_some_and(|h| p.height() > h);
        if window == 0 && p.getblocks_pending.is_none() {
            p.last_asked = None;
            if ahead {
                self.send_getblocks(peer);
            } else {
                self.resume_sync();
            }
        }
    }
}

//! Block sync and serving: `getblocks` with a block locator, `inv`,
//! `getdata`, `block`, `notfound`.
//!
//! A node behind a peer sends `getblocks`; the answer is an `inv` of up to
//! 500 best-chain hashes after the fork point; the unknown ones are asked
//! for in one `getdata` and handed to the chain layer in order as they
//! arrive; once the last of them arrives and the peer is still ahead, the
//! node asks again at once (`sync_peer.rs`). A block is asked of one peer at a time
//! ([`InFlight`]), and at most 500 blocks of one peer at once (1,000 while
//! the next `inv` is asked for ahead, [`MAX_BLOCKS_IN_FLIGHT`]). `getdata`
//! answers are paced: at most [`ANSWER_BYTES`] of blocks are sent and not
//! yet flushed to one peer.

use super::types::Output;
use super::{PeerId, Protocol};
use crate::chain::locator::{hashes_after_locator, locator};
use crate::core::block::Block;
use crate::core::hash::{BlockHash, Hash256};
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

/// Blocks asked of one peer and not yet processed: two `inv`s' worth, so
/// the next `inv` can be asked for while one is validated
/// ([`Protocol::ask_ahead`](super::Protocol)).
pub const MAX_BLOCKS_IN_FLIGHT: usize = 2 * MAX_BLOCKS_PER_INV;

/// A block asked of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// The peer asked.
    pub peer: PeerId,
    /// When (ms).
    pub asked: super::Millis,
    /// It arrived and is with the chain layer.
    pub received: bool,
    /// Its encoded size once it arrived (0 before).
    pub bytes: u64,
}

impl Protocol {
    /// Sends `getblocks` with our block locator to `peer`, unless another
    /// peer is the sync peer now ([`Protocol::may_sync_from`]); it is then
    /// asked once that one is done ([`Protocol::resume_sync`]).
    pub(super) fn send_getblocks(&mut self, peer: PeerId) {
        if !self.may_sync_from(peer) {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.getblocks_pending = Some(self.now);
        let mut locator = locator(&self.store).unwrap_or_default();
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
        let hashes = hashes_after_locator(&self.store, &g.locator, &g.stop, MAX_BLOCKS_PER_INV)
            .unwrap_or_default();
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
        if self.tip().is_none() && !self.may_give_genesis(peer, None) {
            return; // with no chain, blocks only from a peer that may start it
        }
        let (answer, room) = self.inv_room(peer);
        // The first hash of an inv answering `getblocks` follows a block we
        // hold, so it is no orphan of ours: if we mark it as one, the mark
        // outlived the chain layer's copy, and it is fetched again rather
        // than waited for forever.
        if let Some(first) = inv.items.first() {
            self.orphans.remove(&BlockHash(*first));
        }
        let wanted: Vec<Hash256> = inv
            .items
            .into_iter()
            .filter(|h| {
                let h = BlockHash(*h);
                !self.blocks_in_flight.contains_key(&h)
                    && !self.orphans.contains(&h)
                    && !self.store.has_block(&h).unwrap_or(true)
            })
            .take(room)
            .collect();
        if wanted.is_empty() {
            if answer && room > 0 {
                // Asked for what follows our tip, it offers nothing new: not
                // asked again and again.
                self.doubt_height(peer);
            }
            return self.maybe_continue_sync(peer);
        }
        let now = self.now;
        for h in &wanted {
            let f = InFlight {
                peer,
                asked: now,
                received: false,
                bytes: 0,
            };
            self.blocks_in_flight.insert(BlockHash(*h), f);
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.blocks_pending += wanted.len();
            p.last_asked = wanted.last().map(|h| BlockHash(*h));
        }
        self.getdata(peer, InvKind::Block, wanted);
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
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let room = SERVE_QUEUE_MAX.saturating_sub(p.serve_queue.len());
        p.serve_queue.extend(g.items.into_iter().take(room));
        self.serve_blocks(peer);
    }

    /// Sends queued blocks while less than [`ANSWER_BYTES`] are unflushed;
    /// unknown ones are answered with one `notfound`.
    fn serve_blocks(&mut self, peer: PeerId) {
        let mut missing = Vec::new();
        loop {
            let Some(p) = self.peers.get_mut(&peer) else {
                return;
            };
            if p.unflushed >= ANSWER_BYTES {
                break;
            }
            let Some(h) = p.serve_queue.pop_front() else {
                break;
            };
            match self.store.block(&BlockHash(h)).ok().flatten() {
                Some(block) => {
                    if p.unflushed == 0 {
                        p.last_flush = self.now;
                    }
                    p.unflushed = p.unflushed.saturating_add(block.encoded_size());
                    p.best_height = p.best_height.max(block.height);
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
        if let Some(p) = self.peers.get_mut(&peer) {
            p.unflushed = p.unflushed.saturating_sub(bytes);
            p.last_flush = self.now;
            self.serve_blocks(peer);
        }
    }

    pub(super) fn on_block(&mut self, peer: PeerId, block: Block) {
        let hash = block.hash();
        if block.height == 0 && self.tip().is_none() && !self.may_give_genesis(peer, Some(hash)) {
            return self.refuse_genesis(peer, hash);
        }
        if !self.admit_block(peer, hash) {
            return;
        }
        let now = self.now;
        let bytes = block.encoded_size();
        let entry = self.blocks_in_flight.entry(hash).or_insert(InFlight {
            peer,
            asked: now,
            received: false,
            bytes,
        });
        if entry.peer == peer && entry.received {
            return; // sent twice: the first copy is being processed
        }
        if entry.peer != peer {
            // Unrequested, or asked of another peer: process it anyway
            // (announcements by block push), counted against this peer.
            *entry = InFlight {
                peer,
                asked: now,
                received: true,
                bytes,
            };
            if let Some(p) = self.peers.get_mut(&peer) {
                p.blocks_pending += 1;
            }
        }
        entry.received = true;
        entry.bytes = bytes;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.best_height = p.best_height.max(block.height);
        }
        let height = block.height;
        let from = Some(peer);
        self.out.push(Output::ProcessBlock { block, from });
        self.ask_ahead(peer, hash, height);
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
        if self
            .blocks_in_flight
            .get(&hash)
            .is_some_and(|f| f.peer == peer && !f.received)
        {
            self.blocks_in_flight.remove(&hash);
            if let Some(p) = self.peers.get_mut(&peer) {
                p.blocks_pending = p.blocks_pending.saturating_sub(1);
            }
        }
        if let Some(addr) = self.peers.get(&peer).map(|p| p.addr) {
            self.event(super::Event::GenesisRefused { addr, hash });
        }
    }

    pub(super) fn on_notfound(&mut self, peer: PeerId, n: NotFound) {
        if n.kind != InvKind::Block {
            return self.on_tx_notfound(peer, n.items);
        }
        for h in n.items {
            if self
                .blocks_in_flight
                .get(&BlockHash(h))
                .is_some_and(|f| f.peer == peer && !f.received)
            {
                self.blocks_in_flight.remove(&BlockHash(h));
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.blocks_pending = p.blocks_pending.saturating_sub(1);
                }
            }
        }
        self.maybe_continue_sync(peer);
    }

    /// The chain layer keeps `hash` as an orphan: remember not to fetch it
    /// again (as many as the chain layer keeps) and ask its sender for the
    /// blocks before it.
    pub(super) fn orphan(&mut self, hash: BlockHash, from: Option<PeerId>) {
        self.orphans.insert(hash);
        while self.orphans.len() > crate::chain::orphans::MAX_ORPHANS {
            self.orphans.pop_first();
        }
        if let Some(p) = from {
            self.send_getblocks(p);
        }
    }

    /// The chain layer finished with a block from `from`.
    pub(super) fn block_done(&mut self, hash: BlockHash, from: Option<super::PeerId>) {
        let Some(peer) = from else { return };
        if self
            .blocks_in_flight
            .get(&hash)
            .is_some_and(|f| f.peer == peer)
        {
            self.blocks_in_flight.remove(&hash);
            if let Some(p) = self.peers.get_mut(&peer) {
                p.blocks_pending = p.blocks_pending.saturating_sub(1);
            }
        }
        self.maybe_continue_sync(peer);
    }

    /// Asks `peer` for more blocks once everything asked of it is processed
    /// and it is still ahead of us.
    pub(super) fn maybe_continue_sync(&mut self, peer: PeerId) {
        let height = self.height();
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let ahead = match height {
            Some(h) => p.best_height > h,
            None => false,
        };
        if p.blocks_pending == 0 && p.getblocks_pending.is_none() {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.last_asked = None;
            }
            if ahead {
                self.send_getblocks(peer);
            } else {
                self.resume_sync();
            }
        }
    }
}

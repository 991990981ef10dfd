//! [`SideBuffer`]: low-work side-branch blocks from version-1 peers,
//! held in memory and not handed to the chain layer (so never stored)
//! until their branch has enough work. Owned by [`super::SyncMgr`]; the
//! rule that decides what is held (the too-little-chainwork margin,
//! `sync.rs::enough_side_work`) and when a held branch goes to the chain
//! layer lives in `protocol/sync.rs` (`Protocol::side_branch`).
//!
//! Why: a version-1 peer has no headers, so a block it offers cannot be
//! judged before it arrives, and an honest one announces a reorg's whole
//! heavier branch in one `inv` (up to 500 hashes after the fork point)
//! whose first blocks have less work than our tip until its later ones
//! arrive. Those blocks wait here, counted against the room of the peer
//! that sent them (no misbehaviour points: it may be honest);
//! once a later block of that peer brings the branch within the margin,
//! the held ancestors go to the chain layer in order, then that block
//! (ancestors held from another peer too: a peer's branch may build on
//! blocks another peer was asked for and sent first).
//! Junk never gets there: it stays here until the peer leaves or it is
//! evicted.
//!
//! Bounds, per peer: [`MAX_SIDE_BLOCKS_PER_PEER`] blocks (one `inv`'s
//! worth: what an honest peer's one answer can make us hold) and
//! [`MAX_SIDE_BYTES_PER_PEER`]; node-wide [`MAX_SIDE_BYTES`]. Bytes are
//! blocks' encoded sizes. A block sent by several peers is kept once and
//! counted once node-wide (in full in each sender's room): one solved
//! block sent over many connections takes no more memory and evicts
//! nothing. When the node-wide cap is reached, a peer under
//! its fair share (the cap divided by the peers holding a block no other
//! peer holds, itself counted) makes room by evicting the newest block held from the peer
//! holding the most bytes and from it alone, when that one holds more
//! than it would; otherwise its block is turned away. So one peer, or a
//! few, cannot take the room of another, and each block evicted is paid
//! for by a new block's proof of work. A block turned away (over a cap) or evicted is dropped
//! without blame (the peer may be an honest one with a deeper reorg than
//! fits: such a reorg must come from a version-2 peer, whose headers show
//! its work first) and remembered for that peer
//! ([`MAX_TURNED_AWAY`] at most), so its repeated `inv` does not make us
//! fetch it again and again. Only the peer that sent a block counts it as
//! known: another peer's announcement of it is still asked for, so no
//! peer can keep a block from us by holding it here. A peer's blocks and
//! memory go when it disconnects; a held block also goes when the chain
//! layer stores it from anyone.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::mgr::Asked;
use crate::chain::PeerId;
use crate::core::block::Block;
use crate::core::hash::BlockHash;
use crate::wire::payload::MAX_BLOCKS_PER_INV;

/// Blocks one peer may have held at once: one `inv`'s worth
/// ([`MAX_BLOCKS_PER_INV`]), what an honest version-1 peer's answer to one
/// `getblocks` offers after a fork point.
pub const MAX_SIDE_BLOCKS_PER_PEER: usize = MAX_BLOCKS_PER_INV;

/// Bytes of blocks one peer may have held at once (32 MiB): room for a
/// reorg of 32 full (1 MB) blocks, or of a whole `inv` of blocks of up to
/// 64 KB, which covers an honest version-1 peer on a branch forking a few
/// dozen full blocks deep; half of [`MAX_SIDE_BYTES`], so two peers fit
/// together without evicting each other.
pub const MAX_SIDE_BYTES_PER_PEER: u64 = 32 << 20;

/// Bytes of blocks held from every peer together (64 MiB): the same
/// size as the chain worker's queue (`net::queue::TOTAL_JOB_BYTES`), and
/// on top of it, so blocks on their way to the chain layer and blocks held
/// here take at most 128 MiB together.
pub const MAX_SIDE_BYTES: u64 = 64 << 20;

/// Hashes turned away or evicted that are remembered per peer (not asked
/// of it again); past it the oldest is forgotten.
pub const MAX_TURNED_AWAY: usize = MAX_BLOCKS_PER_INV;

/// A held block's entry for one peer that sent it (the block itself is
/// kept once, however many peers sent it).
#[derive(Debug, Clone)]
pub struct HeldBlock {
    /// Its branch's work from genesis to it, inclusive (as
    /// `BlockMeta::chain_work`).
    pub work: u128,
    /// Why it was in flight when it arrived (restored when it goes to the
    /// chain layer).
    pub kind: Asked,
    /// Its encoded size (bytes).
    bytes: u64,
    /// When it was held, in the buffer's order (eviction takes the newest).
    seq: u64,
}

/// A held block, kept once for every peer that sent it.
#[derive(Debug)]
struct Shared {
    block: Block,
    /// Its branch's work from genesis to it, inclusive (the same whoever
    /// sent it: the hash fixes the branch).
    work: u128,
    bytes: u64,
    /// Peers holding it (at least one).
    holders: usize,
}

/// One peer's held blocks and the hashes it may not make us fetch again.
#[derive(Debug, Default)]
struct PeerSide {
    held: BTreeMap<BlockHash, HeldBlock>,
    bytes: u64,
    turned_away: BTreeSet<BlockHash>,
    turned_order: VecDeque<BlockHash>,
}

impl PeerSide {
    fn turn_away(&mut self, hash: BlockHash) {
        if !self.turned_away.insert(hash) {
            return;
        }
        self.turned_order.push_back(hash);
        while self.turned_order.len() > MAX_TURNED_AWAY {
            if let Some(old) = self.turned_order.pop_front() {
                self.turned_away.remove(&old);
            }
        }
    }

    fn remove(&mut self, hash: &BlockHash) -> Option<HeldBlock> {
        let e = self.held.remove(hash)?;
        self.bytes = self.bytes.saturating_sub(e.bytes);
        Some(e)
    }
}

/// One holder of `hash` fewer: the block comes back (taken when that was
/// the last holder, its bytes leaving `total`; else a copy).
fn unshare(
    blocks: &mut BTreeMap<BlockHash, Shared>,
    total: &mut u64,
    hash: &BlockHash,
) -> Option<Block> {
    let s = blocks.get_mut(hash)?;
    s.holders = s.holders.saturating_sub(1);
    if s.holders > 0 {
        return Some(s.block.clone());
    }
    let s = blocks.remove(hash)?;
    *total = total.saturating_sub(s.bytes);
    Some(s.block)
}

/// Low-work side blocks of version-1 peers held in memory (module docs).
#[derive(Debug)]
pub struct SideBuffer {
    peers: BTreeMap<PeerId, PeerSide>,
    /// Every held block, once.
    blocks: BTreeMap<BlockHash, Shared>,
    /// Bytes of `blocks`.
    bytes: u64,
    seq: u64,
    max_blocks: usize,
    max_peer_bytes: u64,
    max_bytes: u64,
}

impl Default for SideBuffer {
    fn default() -> Self {
        SideBuffer::with_caps(
            MAX_SIDE_BLOCKS_PER_PEER,
            MAX_SIDE_BYTES_PER_PEER,
            MAX_SIDE_BYTES,
        )
    }
}

impl SideBuffer {
    /// An empty buffer holding at most `max_blocks` blocks and
    /// `max_peer_bytes` bytes per peer and `max_bytes` in all (the
    /// defaults are the module's constants; tests use small ones).
    pub fn with_caps(max_blocks: usize, max_peer_bytes: u64, max_bytes: u64) -> SideBuffer {
        SideBuffer {
            peers: BTreeMap::new(),
            blocks: BTreeMap::new(),
            bytes: 0,
            seq: 0,
            max_blocks,
            max_peer_bytes,
            max_bytes,
        }
    }

    /// Bytes held from every peer (encoded sizes; a block held from
    /// several peers counted once, as it is kept once): the memory held
    /// blocks take, bounded by [`MAX_SIDE_BYTES`].
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes held from `peer` (every block it sent counted in full,
    /// whoever else sent it too): what its room is measured in.
    pub fn bytes_of(&self, peer: PeerId) -> u64 {
        self.peers.get(&peer).map_or(0, |p| p.bytes)
    }

    /// Blocks held from `peer`.
    pub fn len_of(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.held.len())
    }

    /// `peer`'s entry for the block `hash`, if held from it.
    pub fn get(&self, peer: PeerId, hash: &BlockHash) -> Option<&HeldBlock> {
        self.peers.get(&peer)?.held.get(hash)
    }

    /// The work of the branch ending at `hash` (as [`HeldBlock::work`])
    /// and that block's height, when it is held from any peer.
    pub fn work_of(&self, hash: &BlockHash) -> Option<(u128, u64)> {
        self.blocks.get(hash).map(|s| (s.work, s.block.height))
    }

    /// True when `hash` is held from `peer` or was turned away from it:
    /// not asked of it again.
    pub fn knows(&self, peer: PeerId, hash: &BlockHash) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.held.contains_key(hash) || p.turned_away.contains(hash))
    }

    /// Holds `block` (hash `hash`, its branch's work `work`, in flight as
    /// `kind`) for `peer`, within the bounds (module docs). True when held
    /// (or held already); false when turned away (remembered as such). A
    /// block held from another peer already takes no more memory, so it
    /// needs room only within `peer`'s own bounds and evicts nothing.
    pub fn hold(
        &mut self,
        peer: PeerId,
        hash: BlockHash,
        block: Block,
        work: u128,
        kind: Asked,
    ) -> bool {
        let size = block.encoded_size();
        let (count, mine) = {
            let p = self.peers.entry(peer).or_default();
            if p.held.contains_key(&hash) {
                return true;
            }
            (p.held.len(), p.bytes)
        };
        if count >= self.max_blocks || mine.saturating_add(size) > self.max_peer_bytes {
            self.turn_away(peer, hash);
            return false;
        }
        if !self.blocks.contains_key(&hash) {
            while self.bytes.saturating_add(size) > self.max_bytes {
                if !self.evict_for(peer, size) {
                    self.turn_away(peer, hash);
                    return false;
                }
            }
            self.bytes = self.bytes.saturating_add(size);
        }
        self.blocks
            .entry(hash)
            .or_insert(Shared {
                block,
                work,
                bytes: size,
                holders: 0,
            })
            .holders += 1;
        self.seq = self.seq.wrapping_add(1);
        let held = HeldBlock {
            work,
            kind,
            bytes: size,
            seq: self.seq,
        };
        let p = self.peers.entry(peer).or_default();
        p.held.insert(hash, held);
        p.bytes = p.bytes.saturating_add(size);
        true
    }

    /// With the node-wide cap reached, makes room for `size` more bytes of
    /// `peer`'s by evicting the newest block held from the peer holding
    /// the most bytes and from it alone (evicting a block another peer
    /// holds too would free nothing), when `peer` stays within its fair
    /// share and that one holds more than `peer` would. False when nothing
    /// may be evicted.
    fn evict_for(&mut self, peer: PeerId, size: u64) -> bool {
        // Peers sharing the room: those holding a block no other peer
        // holds. One cheap block sent over many connections adds no
        // holder, so it cannot shrink an honest peer's share.
        let blocks = &self.blocks;
        let holders = self
            .peers
            .iter()
            .filter(|(id, p)| {
                **id == peer
                    || p.held
                        .keys()
                        .any(|h| blocks.get(h).is_some_and(|s| s.holders == 1))
            })
            .count()
            .max(1) as u64;
        let share = self.max_bytes / holders;
        let after = self.bytes_of(peer).saturating_add(size);
        if after > share {
            return false;
        }
        let mut victims: Vec<(u64, PeerId)> = self
            .peers
            .iter()
            .filter(|(id, p)| **id != peer && p.bytes > after)
            .map(|(id, p)| (p.bytes, *id))
            .collect();
        victims.sort_by_key(|&(bytes, id)| (std::cmp::Reverse(bytes), id));
        for (_, victim) in victims {
            let Some(v) = self.peers.get_mut(&victim) else {
                continue;
            };
            let blocks = &self.blocks;
            let newest = v
                .held
                .iter()
                .filter(|(h, _)| blocks.get(*h).is_some_and(|s| s.holders == 1))
                .max_by_key(|(_, e)| e.seq)
                .map(|(h, _)| *h);
            let Some(hash) = newest else {
                continue;
            };
            v.remove(&hash);
            v.turn_away(hash);
            unshare(&mut self.blocks, &mut self.bytes, &hash);
            return true;
        }
        false
    }

    /// Remembers `hash` as turned away from `peer` (not asked of it
    /// again, [`MAX_TURNED_AWAY`] at most).
    pub fn turn_away(&mut self, peer: PeerId, hash: BlockHash) {
        self.peers.entry(peer).or_default().turn_away(hash);
    }

    /// Takes out the held branch ending at `hash` for `peer`: that block
    /// and its held ancestors, in chain order (first the one whose parent
    /// is not held), with the kind each was in flight as from `peer`
    /// ([`Asked::Announced`] for one held from others only: a peer's
    /// branch may build on blocks another peer sent first). They leave
    /// every peer's held blocks (they go to the chain layer). Empty when
    /// `hash` is not held.
    pub fn take_branch(&mut self, peer: PeerId, hash: &BlockHash) -> Vec<(Block, Asked)> {
        let mut out = Vec::new();
        let mut next = *hash;
        while let Some(shared) = self.blocks.remove(&next) {
            self.bytes = self.bytes.saturating_sub(shared.bytes);
            let mut kind = Asked::Announced;
            for (id, p) in self.peers.iter_mut() {
                if let Some(e) = p.remove(&next)
                    && *id == peer
                {
                    kind = e.kind;
                }
            }
            next = shared.block.header.prev_block_hash;
            out.push((shared.block, kind));
        }
        out.reverse();
        out
    }

    /// `hash` was stored by the chain layer: it leaves every peer's held
    /// blocks (its held descendants find it in the store).
    pub fn forget(&mut self, hash: &BlockHash) {
        for p in self.peers.values_mut() {
            p.remove(hash);
        }
        if let Some(s) = self.blocks.remove(hash) {
            self.bytes = self.bytes.saturating_sub(s.bytes);
        }
    }

    /// `peer` left: its held blocks and what it turned away go.
    pub fn remove_peer(&mut self, peer: PeerId) {
        if let Some(p) = self.peers.remove(&peer) {
            for hash in p.held.keys() {
                unshare(&mut self.blocks, &mut self.bytes, hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block on `prev` told apart by `i`, all of one size (unsolved: the
    /// buffer checks no work).
    fn blk(prev: BlockHash, i: u32) -> Block {
        Block::template(prev, 1, 1, i, [i as u8; 20], 20, vec![])
    }

    fn size() -> u64 {
        blk(BlockHash::ZERO, 0).encoded_size()
    }

    #[test]
    fn a_peer_over_its_block_cap_is_turned_away_and_remembered() {
        let mut s = SideBuffer::with_caps(2, u64::MAX, u64::MAX);
        for i in 0..3 {
            let b = blk(BlockHash::ZERO, i);
            let held = s.hold(1, b.hash(), b.clone(), 1, Asked::Announced);
            assert_eq!(held, i < 2, "block {i}");
            assert!(s.knows(1, &b.hash()));
            assert!(
                !s.knows(2, &b.hash()),
                "another peer's announcement blocked"
            );
        }
        assert_eq!(s.len_of(1), 2);
        let b = blk(BlockHash::ZERO, 9);
        assert!(
            s.hold(2, b.hash(), b, 1, Asked::Announced),
            "another peer's room taken"
        );
    }

    #[test]
    fn the_node_wide_cap_is_shared_fairly() {
        let sz = size();
        // Per peer up to 4 blocks, 6 in all.
        let mut s = SideBuffer::with_caps(100, 4 * sz, 6 * sz);
        for i in 0..4 {
            let b = blk(BlockHash::ZERO, i);
            assert!(s.hold(1, b.hash(), b, 1, Asked::Sync));
        }
        for i in 10..12 {
            let b = blk(BlockHash::ZERO, i);
            assert!(s.hold(2, b.hash(), b, 1, Asked::Sync));
        }
        // Full; peer 2 holds its share (3 of 6) after one more: peer 1's
        // newest goes for it.
        let b = blk(BlockHash::ZERO, 12);
        assert!(s.hold(2, b.hash(), b, 1, Asked::Sync));
        assert_eq!((s.len_of(1), s.len_of(2)), (3, 3));
        assert!(
            s.knows(1, &blk(BlockHash::ZERO, 3).hash()),
            "evicted, not remembered"
        );
        assert!(s.get(1, &blk(BlockHash::ZERO, 3).hash()).is_none());
        // Past its share: turned away, peer 1 keeps its room.
        let b = blk(BlockHash::ZERO, 13);
        assert!(!s.hold(2, b.hash(), b, 1, Asked::Sync));
        assert_eq!((s.len_of(1), s.len_of(2)), (3, 3));
        assert_eq!(s.bytes(), 6 * sz);
        s.remove_peer(1);
        assert_eq!(s.bytes(), 3 * sz);
    }

    #[test]
    fn a_branch_comes_out_in_chain_order_and_frees_its_bytes() {
        let mut s = SideBuffer::default();
        let a = blk(BlockHash::ZERO, 1);
        let b = blk(a.hash(), 2);
        let c = blk(b.hash(), 3);
        let other = blk(BlockHash::ZERO, 4);
        for (x, w) in [(&a, 1), (&b, 2), (&c, 3), (&other, 1)] {
            assert!(s.hold(1, x.hash(), x.clone(), w, Asked::Announced));
        }
        assert_eq!(s.get(1, &b.hash()).map(|e| e.work), Some(2));
        let out: Vec<BlockHash> = s
            .take_branch(1, &c.hash())
            .iter()
            .map(|(x, _)| x.hash())
            .collect();
        assert_eq!(out, vec![a.hash(), b.hash(), c.hash()]);
        assert_eq!((s.len_of(1), s.bytes()), (1, other.encoded_size()));
        s.forget(&other.hash());
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn peers_holding_only_a_shared_copy_do_not_shrink_the_fair_share() {
        let sz = size();
        // Per peer up to 4 blocks, 6 in all.
        let mut s = SideBuffer::with_caps(100, 4 * sz, 6 * sz);
        let h = blk(BlockHash::ZERO, 0);
        assert!(s.hold(1, h.hash(), h, 1, Asked::Sync));
        // One cheap block over many connections, and one peer's 4 blocks:
        // the buffer is full.
        let x = blk(BlockHash::ZERO, 50);
        for peer in 3..40 {
            s.hold(peer, x.hash(), x.clone(), 1, Asked::Announced);
        }
        for i in 60..64 {
            let b = blk(BlockHash::ZERO, i);
            assert!(s.hold(2, b.hash(), b, 1, Asked::Announced));
        }
        assert_eq!(s.bytes(), 6 * sz);
        // The honest peer's next block takes room from the fullest
        // holder: the shared copy's 37 senders count as no holder.
        let b = blk(BlockHash::ZERO, 1);
        assert!(s.hold(1, b.hash(), b, 1, Asked::Sync), "turned away");
        assert_eq!((s.len_of(1), s.len_of(2)), (2, 3));
    }

    #[test]
    fn one_block_sent_by_many_peers_evicts_nobody() {
        let sz = size();
        // Per peer up to 4 blocks, 6 in all.
        let mut s = SideBuffer::with_caps(100, 4 * sz, 6 * sz);
        let honest: Vec<Block> = (0..4).map(|i| blk(BlockHash::ZERO, i)).collect();
        for b in &honest {
            assert!(s.hold(1, b.hash(), b.clone(), 1, Asked::Sync));
        }
        // One block, solved once, sent over many connections: it takes
        // its bytes once, so it makes no one's room.
        let x = blk(BlockHash::ZERO, 50);
        for peer in 2..40 {
            s.hold(peer, x.hash(), x.clone(), 1, Asked::Announced);
        }
        assert_eq!(s.len_of(1), 4, "an honest peer's blocks evicted");
        assert_eq!(s.bytes(), 5 * sz, "one block counted more than once");
        // So is a block the honest peer holds, relayed by another.
        assert!(s.hold(2, honest[3].hash(), honest[3].clone(), 1, Asked::Announced));
        assert_eq!((s.len_of(1), s.bytes()), (4, 5 * sz));
        // Taken out for one peer, it leaves every peer's held blocks.
        let out = s.take_branch(2, &honest[3].hash());
        assert_eq!(out.len(), 1);
        assert_eq!((s.len_of(1), s.len_of(2), s.bytes()), (3, 1, 4 * sz));
        for peer in 2..40 {
            s.remove_peer(peer);
        }
        assert_eq!(s.bytes(), 3 * sz);
    }
}

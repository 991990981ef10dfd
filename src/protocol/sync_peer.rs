//! One sync peer at a time (btcd's `syncPeer`, Bitcoin Core's single
//! `getblocks` peer before headers-first).
//!
//! Blocks are fetched by `getblocks` -> `inv` -> `getdata` from one peer
//! while it has a `getblocks` or blocks outstanding; another peer is not
//! asked meanwhile. Two peers answering at once (two connections to the
//! same node are common) would interleave their ranges, so blocks would
//! arrive ahead of their parents, as orphans, past the orphan pool's
//! bound, and be fetched again and again. Announcements of new blocks
//! (`inv`, pushed `block`) are still taken from every peer.
//!
//! When the sync peer has nothing outstanding (caught up, gone, or
//! stalled past the request timeouts, which also forget the height it
//! claimed), the next tick or finished block hands the
//! role to a ready peer ahead of us.

use super::sync::MAX_BLOCKS_IN_FLIGHT;
use super::{Millis, PeerId, Protocol};
use crate::core::hash::BlockHash;
use crate::wire::payload::MAX_BLOCKS_PER_INV;

/// Bytes of blocks received and not yet processed above which the next
/// blocks are not asked for ahead ([`Protocol::ask_ahead`]): the memory a
/// sync may hold beyond the blocks in flight.
pub const ASK_AHEAD_BYTES: u64 = 8 << 20;

impl Protocol {
    /// Whether blocks may be asked of `peer` by `getblocks` now: no other
    /// peer has blocks outstanding, or a `getblocks` outstanding while it
    /// claims to be ahead of us (one sent to a peer at our height, to
    /// compare tips, holds nothing up: it may rightly go unanswered).
    pub(super) fn may_sync_from(&self, peer: PeerId) -> bool {
        let height = self.height().unwrap_or(0);
        !self.peers.iter().any(|(id, p)| {
            *id != peer
                && (p.blocks_pending > 0
                    || (p.getblocks_pending.is_some() && p.best_height > height))
        })
    }

    /// With no sync peer busy, asks the ready peer furthest ahead of us (the
    /// lowest id among equals) for blocks. Called on each tick and when a
    /// peer's blocks are all processed.
    pub(super) fn resume_sync(&mut self) {
        let Some(height) = self.height() else {
            return;
        };
        if !self.may_sync_from(PeerId::MAX) {
            return;
        }
        let next = self
            .peers
            .iter()
            .filter(|(_, p)| p.is_ready() && p.best_height > height)
            .max_by_key(|(id, p)| (p.best_height, std::cmp::Reverse(**id)))
            .map(|(id, _)| *id);
        if let Some(peer) = next {
            self.send_getblocks(peer);
        }
    }

    /// Once the last block of the latest `inv` asked of `peer` (at
    /// `height`, hash `hash`) arrives, and the peer is further ahead, asks
    /// it for the next ones at once, while the chain layer still validates
    /// these: the link never idles. Only while the blocks received and not
    /// yet processed, from every peer, stay under [`ASK_AHEAD_BYTES`]; the
    /// blocks asked of one peer stay within
    /// [`MAX_BLOCKS_IN_FLIGHT`](super::sync::MAX_BLOCKS_IN_FLIGHT).
    pub(super) fn ask_ahead(&mut self, peer: PeerId, hash: BlockHash, height: u64) {
        let queued: u64 = self
            .blocks_in_flight
            .values()
            .filter(|f| f.received)
            .map(|f| f.bytes)
            .sum();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.last_asked != Some(hash) {
            return;
        }
        p.last_asked = None;
        if p.best_height > height && p.getblocks_pending.is_none() && queued < ASK_AHEAD_BYTES {
            p.last_asked = Some(hash);
            self.send_getblocks(peer);
        }
    }

    /// Forgets block requests unanswered for a minute, so
    /// another peer's announcement can fetch them.
    pub(super) fn expire_requests(&mut self) {
        const REQUEST_TIMEOUT: Millis = 60_000;
        // A `getblocks` is answered at once (an `inv`, or nothing when the
        // peer has no more); one unanswered this long frees the sync peer
        // role, so a peer claiming a height it never serves holds it for
        // this long, once.
        const GETBLOCKS_TIMEOUT: Millis = 10_000;
        let now = self.now;
        let mut expired: Vec<(BlockHash, PeerId)> = Vec::new();
        for (h, r) in &self.blocks_in_flight {
            if !r.received && now.saturating_sub(r.asked) >= REQUEST_TIMEOUT {
                expired.push((*h, r.peer));
            }
        }
        for (h, p) in expired {
            self.blocks_in_flight.remove(&h);
            if let Some(peer) = self.peers.get_mut(&p) {
                peer.blocks_pending = peer.blocks_pending.saturating_sub(1);
            }
            self.doubt_height(p);
        }
        let unanswered: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.getblocks_pending
                    .is_some_and(|at| now.saturating_sub(at) >= GETBLOCKS_TIMEOUT)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in unanswered {
            if let Some(p) = self.peers.get_mut(&id) {
                p.getblocks_pending = None;
            }
            self.doubt_height(id);
        }
    }

    /// For an `inv` of blocks from `peer`: whether it answers our
    /// `getblocks` (the pending mark is taken), and how many of its blocks
    /// may be asked for. At most one inv's worth of blocks is asked of one
    /// peer at once (two for an answer to our `getblocks`, which may ask
    /// ahead): an inv of 50,000 made-up hashes must not park every later
    /// announcement of them on a peer that never answers.
    pub(super) fn inv_room(&mut self, peer: PeerId) -> (bool, usize) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return (false, 0);
        };
        let answer = p.getblocks_pending.take().is_some();
        let limit = if answer {
            MAX_BLOCKS_IN_FLIGHT
        } else {
            MAX_BLOCKS_PER_INV
        };
        let room = limit
            .saturating_sub(p.blocks_pending)
            .min(MAX_BLOCKS_PER_INV);
        (answer, room)
    }

    /// `peer` did not back the height it claimed (a request timed out, or
    /// it answered `getblocks` with nothing new): its height falls to ours,
    /// so it is not picked as the sync peer again until it announces a
    /// block.
    pub(super) fn doubt_height(&mut self, peer: PeerId) {
        let height = self.height().unwrap_or(0);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.best_height = p.best_height.min(height);
        }
    }
}

//! Who holds the sync window, and stall detection (btcd's `syncPeer`,
//! Bitcoin Core's `BLOCK_STALLING_TIMEOUT`).
//!
//! Blocks are fetched by `getblocks` -> `inv` -> `getdata`. The blocks
//! asked for from an answer to our `getblocks` form the sync window, held
//! by one peer at a time: two peers answering at once (two connections to
//! the same node are common) would interleave their ranges, so blocks
//! would arrive ahead of their parents, as orphans, past the orphan pool's
//! bound, and be fetched again and again. Nothing else holds sync up: a
//! `getblocks` awaited from a peer that claims a height, or blocks asked
//! for because a peer announced them unasked (an `inv` of made-up hashes),
//! never keep another peer from being asked.
//!
//! A peer that has blocks asked of it and delivers none of them for
//! [`BLOCK_STALLING_TIMEOUT`] is disconnected
//! ([`DisconnectReason::Stalling`]): it can hold the window (or a block
//! others announce) for that long, once per connection. After each such
//! disconnect the timeout doubles, up to [`BLOCK_STALLING_TIMEOUT_MAX`],
//! and it decays back by 15% per block asked for that arrives (Core's
//! adaptive stall timeout: when our own link is slow, peers are not
//! dropped one after another). The clock does not
//! run while [`ASK_AHEAD_BYTES`] of received blocks wait for the chain
//! layer: then the delay is ours. A claimed height
//! is only a hint of whom to ask: a peer that answers `getblocks` with
//! nothing new, or not within [`GETBLOCKS_TIMEOUT`], loses it.
//!
//! When the window is free (caught up, holder gone or stalled), the next
//! tick or finished block hands it to a ready peer ahead of us.

use super::sync::Asked;
use super::sync::MAX_BLOCKS_IN_FLIGHT;
use super::types::DisconnectReason;
use super::{Millis, PeerId, Protocol};
use crate::core::hash::BlockHash;
use crate::wire::payload::MAX_BLOCKS_PER_INV;

/// Bytes of blocks received and not yet processed above which the next
/// blocks are not asked for ahead (`Protocol::ask_ahead`): the memory a
/// sync may hold beyond the blocks in flight.
pub const ASK_AHEAD_BYTES: u64 = 8 << 20;

/// How long a peer with blocks asked of it may deliver none of them
/// before it is disconnected (ms), at first: Bitcoin Core's
/// `BLOCK_STALLING_TIMEOUT` (2 s there; a generous 10 s here). It doubles
/// after each stall disconnect, up to [`BLOCK_STALLING_TIMEOUT_MAX`], and
/// decays back as blocks arrive (`SyncMgr::stall_timeout`).
pub const BLOCK_STALLING_TIMEOUT: Millis = 10_000;

/// The most the stall timeout grows to after stall disconnects (ms):
/// Core's `BLOCK_STALLING_TIMEOUT_MAX`, 64 s.
pub const BLOCK_STALLING_TIMEOUT_MAX: Millis = 64_000;

/// How long an answer to `getblocks` is awaited (ms): it is answered at
/// once (an `inv`, or nothing when the peer has no more); one unanswered
/// this long costs the peer its claimed height.
pub const GETBLOCKS_TIMEOUT: Millis = 10_000;

impl Protocol {
    /// Whether blocks may be asked of `peer` from a `getblocks` answer now:
    /// no other peer holds the sync window (module docs).
    pub(super) fn may_sync_from(&self, peer: PeerId) -> bool {
        self.sync.window_holder().is_none_or(|h| h == peer)
    }

    /// With the sync window free, asks the ready peer furthest ahead of us
    /// (the lowest id among equals) that is not asked already for blocks.
    /// Called on each tick and when a peer's blocks are all processed.
    pub(super) fn resume_sync(&mut self) {
        let Some(height) = self.height() else {
            return;
        };
        self.fetch_blocks();
        if self.sync.window_holder().is_some() {
            return;
        }
        let next = self
            .sync
            .peers()
            .iter()
            .filter(|(id, s)| {
                s.height() > height
                    && s.getblocks_pending.is_none()
                    && s.getheaders_pending.is_none()
                    // Headers-first peers are asked for headers only while
                    // they claim more than their headers showed.
                    && !(s.speaks_headers()
                        && s.best_header.is_some_and(|(_, h, _)| h >= s.claimed))
                    && self.peers.get(id).is_some_and(|p| p.is_ready())
            })
            .max_by_key(|(id, s)| (s.height(), std::cmp::Reverse(**id)))
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
        let queued = self.sync.queued_bytes();
        let Some(p) = self.sync.peer_mut(peer) else {
            return;
        };
        if p.last_asked != Some(hash) {
            return;
        }
        p.last_asked = None;
        if p.height() > height && p.getblocks_pending.is_none() && queued < ASK_AHEAD_BYTES {
            p.last_asked = Some(hash);
            self.send_getblocks(peer);
        }
    }

    /// Stall detection and request timeouts: a peer that delivered none of
    /// the blocks asked of it for [`BLOCK_STALLING_TIMEOUT`] is
    /// disconnected; one that left our `getblocks` unanswered for
    /// [`GETBLOCKS_TIMEOUT`] loses its claimed height. (Transaction
    /// requests time out in `TxMgr`.)
    pub(super) fn expire_requests(&mut self) {
        let now = self.now;
        if self.sync.queued_bytes() >= ASK_AHEAD_BYTES {
            // The chain layer is behind: blocks may wait on our side (a
            // full queue stops reading), so nobody is stalling.
            self.sync.pause_stall_clocks(now);
        }
        let timeout = self.sync.stall_timeout();
        let stalled = self.sync.expire(now.saturating_sub(timeout));
        if !stalled.is_empty() {
            self.sync.stalled_out();
        }
        for peer in stalled {
            self.disconnect(peer, DisconnectReason::Stalling(timeout / 1000));
        }
        self.sync.expire_future(now);
        self.expire_headers_sync();
        let unanswered: Vec<PeerId> = self
            .sync
            .peers()
            .iter()
            .filter(|(_, p)| {
                p.getblocks_pending
                    .is_some_and(|at| now.saturating_sub(at) >= GETBLOCKS_TIMEOUT)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in unanswered {
            if let Some(p) = self.sync.peer_mut(id) {
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
        let pending = self.sync.pending(peer);
        let Some(p) = self.sync.peer_mut(peer) else {
            return (false, 0);
        };
        let answer = p.getblocks_pending.take().is_some();
        let limit = if answer {
            MAX_BLOCKS_IN_FLIGHT
        } else {
            MAX_BLOCKS_PER_INV
        };
        let room = limit.saturating_sub(pending).min(MAX_BLOCKS_PER_INV);
        (answer, room)
    }

    /// `peer` did not back the height it claimed (a request timed out, or
    /// it answered `getblocks` with nothing new): its height falls to ours,
    /// so it is not picked as the sync peer again until it announces a
    /// block.
    pub(super) fn doubt_height(&mut self, peer: PeerId) {
        let Some(tip) = self.read_tip() else {
            return; // reported; not doubted down to a guess
        };
        self.sync.doubt(peer, tip.map_or(0, |t| t.height));
    }

    /// True when `peer` holds blocks in the sync window.
    pub fn holds_window(&self, peer: PeerId) -> bool {
        self.sync.pending_of(peer, Asked::Sync) > 0
    }
}

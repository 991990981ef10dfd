//! Headers-first sync (Bitcoin Core since 0.10), with peers whose
//! `version` is `HEADERS_VERSION` (2) or later; older peers are synced by
//! `getblocks` (`sync.rs`, `sync_peer.rs`), and `getblocks` is still
//! answered.
//!
//! 1. Headers: `getheaders` with our block locator (our best header's
//!    parent first) goes to a peer at the handshake, when it announces a block
//!    by `inv` we do not know, when it sends an orphan, and again from the
//!    last header of a full answer ([`MAX_HEADERS`]). Each header of a
//!    `headers` answer is checked before it is kept in the header tree
//!    ([`sync::headers::HeaderTree`](super::sync::headers::HeaderTree), owned by `SyncMgr`): the first links to a header or
//!    block we know ([`Misbehavior::UnconnectedHeaders`] otherwise), each
//!    is the child of the one before, meets the chain's proof of work
//!    (`check_header_pow`), is dated at most 2 h ahead of our clock
//!    ([`Misbehavior::FutureHeader`]) and after the median time of its
//!    eleven ancestors ([`Misbehavior::InvalidHeader`] for the others). A
//!    short answer whose last header trails our tip by more than
//!    [`SIDE_BRANCH_MARGIN_BLOCKS`](super::sync::SIDE_BRANCH_MARGIN_BLOCKS)
//!    blocks' work ([`enough_side_work`]) is not kept at all: a
//!    low-work branch costs us one pass over its headers.
//! 2. Blocks: a block is asked for only when it is on a peer's best
//!    header chain and that chain beats our tip (more work, or equal work
//!    and a lower tip hash: `chain::state::beats`). Blocks are asked of
//!    every peer whose header chain holds them, at most
//!    [`MAX_BLOCKS_IN_TRANSIT_PER_PEER`] per peer (an equal share of the
//!    window when fewer peers serve), within
//!    [`BLOCK_DOWNLOAD_WINDOW`] blocks of the first block we lack (so the
//!    blocks that arrive ahead of their parents fit the chain layer's
//!    orphan pool of 100).
//! 3. Stalls: the peer holding the window's first block (the lowest
//!    block asked for and not arrived) for the stall timeout
//!    (`BLOCK_STALLING_TIMEOUT`, adaptive: `SyncMgr::stall_timeout`) is
//!    disconnected ([`DisconnectReason::Stalling`]), as is any peer that
//!    delivers none of its blocks for that long (`sync_peer.rs`); its
//!    blocks are then asked of the others.

use std::collections::BTreeMap;

use super::Misbehavior;
use super::sync::{Asked, HeaderEntry, SyncPeer, enough_side_work};
use super::sync_peer::ASK_AHEAD_BYTES;
use super::types::{DisconnectReason, Event};
use super::{PeerId, Protocol};
use crate::chain::state::beats;
use crate::core::block::{BlockHeader, block_work};
use crate::core::hash::{BlockHash, Hash256};
use crate::core::params::MAX_FUTURE_BLOCK_TIME;
use crate::core::validation::{MEDIAN_TIME_SPAN, check_block_time, check_header_pow, median_time};
use crate::store::BlockStatus;
use crate::wire::message::Message;
use crate::wire::payload::{GetHeaders, Headers, InvKind, MAX_HEADERS, MAX_LOCATOR};

/// How far past the first block we lack blocks are asked for (Core's
/// `BLOCK_DOWNLOAD_WINDOW` is 1,024; ours stays under the chain layer's
/// orphan pool of 100, since a block that arrives before its parent waits
/// there).
pub const BLOCK_DOWNLOAD_WINDOW: u64 = 64;

/// Blocks asked of one peer at once in headers-first sync when several
/// peers serve (Core's `MAX_BLOCKS_IN_TRANSIT_PER_PEER`); with fewer than
/// `BLOCK_DOWNLOAD_WINDOW / 16` serving peers each gets an equal share of
/// the window instead (`Protocol::blocks_in_transit_cap`).
pub const MAX_BLOCKS_IN_TRANSIT_PER_PEER: usize = 16;

impl Protocol {
    /// Blocks one headers-first peer may have in flight: an equal share of
    /// [`BLOCK_DOWNLOAD_WINDOW`] among the ready headers-first peers, at
    /// least [`MAX_BLOCKS_IN_TRANSIT_PER_PEER`]. Core keeps 16 per peer and
    /// syncs from 8 or more; from one peer 16 in flight would cost a round
    /// trip (and a chain-layer run) per 16 blocks, so one peer may fill the
    /// window. The window still bounds what waits in the orphan pool.
    pub(super) fn blocks_in_transit_cap(&self) -> usize {
        let serving = self
            .sync
            .peers()
            .iter()
            .filter(|(id, p)| self.serves_headers_first(**id, p))
            .count()
            .max(1);
        (BLOCK_DOWNLOAD_WINDOW as usize / serving).max(MAX_BLOCKS_IN_TRANSIT_PER_PEER)
    }

    /// Whether `peer` (its sync state `p`) may be asked for blocks headers
    /// first: it speaks headers, finished its handshake and is not being
    /// closed. The peers [`Protocol::blocks_in_transit_cap`] shares the
    /// window among and `fetch_blocks` asks.
    fn serves_headers_first(&self, peer: PeerId, p: &SyncPeer) -> bool {
        p.speaks_headers()
            && self
                .peers
                .get(&peer)
                .is_some_and(|x| x.is_ready() && x.closing.is_none())
    }
}

impl Protocol {
    /// True when `peer` syncs headers first (its `version` was at least
    /// `HEADERS_VERSION`) and we have a chain (genesis itself comes by
    /// `getblocks`).
    pub(super) fn headers_first(&self, peer: PeerId) -> bool {
        self.sync.peer(peer).is_some_and(|p| p.speaks_headers())
            && matches!(self.tip(), Ok(Some(_)))
    }

    /// Sends `getheaders` to `peer` with our block locator, `from` (the
    /// last header of a full answer) and our best header's parent first,
    /// unless one is awaited from it already.
    pub(super) fn send_getheaders(&mut self, peer: PeerId, from: Option<BlockHash>) {
        let Some(mut locator) = self.read(self.store.locator()) else {
            return;
        };
        if locator.is_empty() {
            return;
        }
        // The best header's parent, not the header itself: a peer that
        // has it answers it too, so we learn it holds that chain (Core's
        // `m_best_header->pprev`).
        let best = self
            .sync
            .headers()
            .best()
            .map(|(_, e)| e.header.prev_block_hash);
        let now = self.now;
        let Some(p) = self.sync.peer_mut(peer) else {
            return;
        };
        if p.getheaders_pending.is_some() {
            return;
        }
        p.getheaders_pending = Some(now);
        for h in [best, from].into_iter().flatten() {
            if !locator.contains(&h) {
                locator.insert(0, h);
            }
        }
        while locator.len() > MAX_LOCATOR {
            // Keep genesis, the last entry.
            locator.remove(locator.len() - 2);
        }
        let addr_from = self.config.me.to_string();
        self.send(
            peer,
            Message::GetHeaders(GetHeaders {
                addr_from,
                locator,
                stop: BlockHash::ZERO,
            }),
        );
    }

    /// Answers `getheaders` with the headers of our best chain after the
    /// locator's fork point, at most [`MAX_HEADERS`] (an empty `headers`
    /// when there are none). A failed read answers nothing.
    /// Headers served before are taken from `SyncMgr`'s memory of them,
    /// not read again (the store reads a whole block for its header).
    pub(super) fn on_getheaders(&mut self, peer: PeerId, g: GetHeaders) {
        let read = self.store.hashes_after(&g.locator, &g.stop, MAX_HEADERS);
        let Some(hashes) = self.read(read) else {
            return;
        };
        let mut headers = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let header = match self.sync.served_header(&hash) {
                Some(h) => h,
                None => match self.read(self.store.header(&hash)) {
                    None => return,
                    Some(None) => break,
                    Some(Some(h)) => {
                        self.sync.remember_served(hash, h);
                        h
                    }
                },
            };
            headers.push(header);
        }
        self.send(peer, Message::Headers(Headers { headers }));
    }

    /// An `inv` of blocks from a headers-first peer: when it names a block
    /// we neither hold, expect nor have the header of, we ask for the
    /// headers (module docs); the blocks follow from them.
    pub(super) fn on_block_inv_headers(&mut self, peer: PeerId, items: &[Hash256]) {
        for h in items {
            let hash = BlockHash(*h);
            if self.sync.in_flight(&hash).is_some()
                || self.sync.is_orphan(&hash)
                || self.sync.headers().get(&hash).is_some()
            {
                continue;
            }
            let Some(known) = self.read(self.store.block_meta(&hash)) else {
                return;
            };
            if known.is_none() {
                return self.send_getheaders(peer, None);
            }
        }
    }

    /// The times of `hash` and its ancestors, at most
    /// [`MEDIAN_TIME_SPAN`], oldest first: from the header tree, then
    /// `SyncMgr`'s memory of stored headers read, then the store (and
    /// remembered), so a `headers` message sent again and again does not
    /// make us read the same stored blocks again. `None` after a failed
    /// read.
    fn ancestor_times(&mut self, hash: BlockHash) -> Option<Vec<u32>> {
        let mut times = Vec::new();
        let mut at = hash;
        while times.len() < MEDIAN_TIME_SPAN && at != BlockHash::ZERO {
            let header = match self.sync.headers().get(&at) {
                Some(e) => e.header,
                None => match self.sync.served_header(&at) {
                    Some(h) => h,
                    None => match self.read(self.store.header(&at))? {
                        Some(h) => {
                            self.sync.remember_served(at, h);
                            h
                        }
                        None => break,
                    },
                },
            };
            times.push(header.timestamp);
            at = header.prev_block_hash;
        }
        times.reverse();
        Some(times)
    }

    /// A `headers` message from `peer` (module docs): checked, kept in
    /// the header tree, its last header made the peer's best, then blocks
    /// asked for; a full answer asks for the next headers.
    pub(super) fn on_headers(&mut self, peer: PeerId, headers: Vec<BlockHeader>) {
        if !self.headers_first(peer) {
            return; // a version-1 peer is not asked for headers
        }
        let asked = self
            .sync
            .peer_mut(peer)
            .and_then(|p| p.getheaders_pending.take())
            .is_some();
        let Some(first) = headers.first() else {
            if asked {
                // Nothing after our locator: it is not ahead of us.
                self.doubt_height(peer);
            }
            return self.fetch_blocks();
        };
        let (Some(Some(difficulty)), Some(Some(tip))) = (
            self.read(self.store.difficulty()),
            self.read(self.store.tip()),
        ) else {
            return; // no chain yet (genesis comes by `getblocks`), or unreadable
        };
        let parent = first.prev_block_hash;
        let linked = match self.sync.headers().get(&parent) {
            Some(e) => Some((e.height, e.chain_work, BlockStatus::Valid)),
            None => match self.read(self.store.block_meta(&parent)) {
                None => return,
                Some(m) => m.map(|m| (m.height, m.chain_work, m.status)),
            },
        };
        let Some((mut height, mut work, status)) = linked else {
            return self.misbehaving(peer, Misbehavior::UnconnectedHeaders(first.hash()));
        };
        if status == BlockStatus::Invalid {
            let fault =
                Misbehavior::InvalidHeader(first.hash(), "child of an invalid block".into());
            return self.misbehaving(peer, fault);
        }
        let Some(mut times) = self.ancestor_times(parent) else {
            return;
        };
        let now_secs = self.now / 1000;
        let mut prev = parent;
        let mut accepted: Vec<(BlockHash, HeaderEntry)> = Vec::new();
        let mut fault = None;
        for h in &headers {
            let hash = h.hash();
            if h.prev_block_hash != prev {
                let e = "not the child of the header before it".to_string();
                fault = Some(Misbehavior::InvalidHeader(hash, e));
                break;
            }
            if let Err(e) = check_header_pow(h, difficulty) {
                fault = Some(Misbehavior::InvalidHeader(hash, e.to_string()));
                break;
            }
            if u64::from(h.timestamp) > now_secs.saturating_add(MAX_FUTURE_BLOCK_TIME) {
                fault = Some(Misbehavior::FutureHeader(hash, h.timestamp));
                break;
            }
            if let Err(e) = check_block_time(h, median_time(&times)) {
                fault = Some(Misbehavior::InvalidHeader(hash, e.to_string()));
                break;
            }
            height = height.saturating_add(1);
            work = work.saturating_add(block_work(h.bits));
            accepted.push((
                hash,
                HeaderEntry {
                    header: *h,
                    height,
                    chain_work: work,
                },
            ));
            times.push(h.timestamp);
            if times.len() > MEDIAN_TIME_SPAN {
                times.remove(0);
            }
            prev = hash;
        }
        let mut full = headers.len() >= MAX_HEADERS && fault.is_none();
        if let Some(&(_, e)) = accepted.last() {
            let unit = block_work(difficulty);
            if full || enough_side_work(e.chain_work, unit, tip.chain_work) {
                let Some(kept) = self.keep_headers(peer, &accepted) else {
                    return;
                };
                // With the tree full, the rest is asked again once blocks
                // were stored (the claim stays above the best header).
                full &= kept == accepted.len();
                if let Some(&(last, e)) = kept.checked_sub(1).and_then(|i| accepted.get(i)) {
                    self.sync.best_header(peer, last, e.height, e.chain_work);
                    if e.height > tip.height
                        && beats((e.chain_work, last), (tip.chain_work, tip.hash))
                    {
                        self.event(Event::Syncing {
                            peer,
                            ours: tip.height,
                            theirs: e.height,
                        });
                    }
                }
            }
        }
        if asked && headers.len() < MAX_HEADERS && fault.is_none() {
            let shown = accepted.last().map_or(0, |(_, e)| e.height);
            let best = self
                .sync
                .peer(peer)
                .and_then(|p| p.best_header)
                .map_or(0, |(_, h, _)| h);
            self.sync.settle_claim(peer, shown.max(best));
        }
        if let Some(f) = fault {
            self.misbehaving(peer, f);
            if !self.peers.contains_key(&peer) {
                return;
            }
        } else if full {
            self.send_getheaders(peer, accepted.last().map(|(h, _)| *h));
        }
        self.fetch_blocks();
    }

    /// Adds the headers of blocks not stored to the tree, stopping when it
    /// is full. Returns how many of `accepted` (from the first) are now
    /// in the tree or stored; `None` after a failed read.
    fn keep_headers(
        &mut self,
        peer: PeerId,
        accepted: &[(BlockHash, HeaderEntry)],
    ) -> Option<usize> {
        for (i, (hash, entry)) in accepted.iter().enumerate() {
            if self.sync.headers().get(hash).is_some() {
                continue;
            }
            let stored = self.read(self.store.block_meta(hash))?;
            if stored.is_none() && !self.sync.add_header(*hash, *entry, peer) {
                return Some(i);
            }
        }
        Some(accepted.len())
    }

    /// Asks each headers-first peer whose best header chain beats our tip
    /// for the blocks of that chain we lack, within the window (module
    /// docs). Called when headers arrive, a peer's blocks are done, and
    /// on each tick.
    pub(super) fn fetch_blocks(&mut self) {
        let Some(Some(tip)) = self.read(self.store.tip()) else {
            return;
        };
        let now = self.now;
        let candidates: Vec<(PeerId, BlockHash)> = self
            .sync
            .peers()
            .iter()
            .filter(|(id, p)| self.serves_headers_first(**id, p))
            .filter_map(|(id, p)| p.best_header.map(|(h, _, w)| (*id, h, w)))
            .filter(|(_, h, w)| beats((*w, *h), (tip.chain_work, tip.hash)))
            .map(|(id, h, _)| (id, h))
            .collect();
        let mut paths: BTreeMap<BlockHash, Vec<(BlockHash, HeaderEntry)>> = BTreeMap::new();
        let cap = self.blocks_in_transit_cap();
        for (peer, best) in candidates {
            let room = cap.saturating_sub(self.sync.pending_of(peer, Asked::Headers));
            if room == 0 {
                continue;
            }
            let path = match paths.get(&best) {
                Some(p) => p.clone(),
                None => {
                    let p = self
                        .sync
                        .header_window(&best, BLOCK_DOWNLOAD_WINDOW as usize);
                    paths.insert(best, p.clone());
                    p
                }
            };
            let Some((_, root)) = path.first() else {
                continue;
            };
            // The window starts at a child of a stored, valid block.
            let Some(parent) = self.read(self.store.block_meta(&root.header.prev_block_hash))
            else {
                return;
            };
            if parent.is_none_or(|m| m.status == BlockStatus::Invalid) {
                continue;
            }
            let mut wanted: Vec<Hash256> = Vec::new();
            for (i, (hash, _)) in path.iter().enumerate() {
                if wanted.len() >= room {
                    break;
                }
                if self.sync.in_flight(hash).is_some() || self.sync.is_future(hash, now) {
                    continue;
                }
                if self.sync.is_orphan(hash) {
                    if i > 0 {
                        continue; // waits in the chain layer for its parent
                    }
                    // Its parent is stored, so the mark outlived the
                    // chain layer's copy: fetched again.
                    self.sync.remove_orphan(hash);
                }
                let Some(stored) = self.read(self.store.block_meta(hash)) else {
                    return;
                };
                if stored.is_some() {
                    self.sync.forget_header(hash);
                    continue;
                }
                wanted.push(hash.0);
            }
            for h in &wanted {
                self.sync.request(BlockHash(*h), peer, Asked::Headers, now);
            }
            if !wanted.is_empty() {
                self.getdata(peer, InvKind::Block, wanted);
            }
        }
    }

    /// The peer that holds up the download window: the one asked for the
    /// lowest block asked for in headers-first sync and not arrived, when
    /// asked before `cutoff` (ms), and only while the chain layer keeps
    /// up (else the delay is ours).
    fn window_staller(&self, cutoff: super::Millis) -> Option<PeerId> {
        if self.sync.queued_bytes() >= ASK_AHEAD_BYTES {
            return None;
        }
        let headers = self.sync.headers();
        self.sync
            .all_in_flight()
            .iter()
            .filter(|(_, f)| f.kind == Asked::Headers && !f.received)
            .filter_map(|(h, f)| headers.get(h).map(|e| (e.height, *f)))
            .min_by_key(|(height, f)| (*height, f.peer))
            .filter(|(_, f)| f.asked < cutoff)
            .map(|(_, f)| f.peer)
    }

    /// Stall detection of the download window and the `getheaders`
    /// timeout (called on each tick, `sync_peer.rs::expire_requests`).
    pub(super) fn expire_headers_sync(&mut self) {
        let now = self.now;
        let timeout = self.sync.stall_timeout();
        if let Some(peer) = self.window_staller(now.saturating_sub(timeout)) {
            self.sync.stalled_out();
            self.disconnect(peer, DisconnectReason::Stalling(timeout / 1000));
        }
        let unanswered: Vec<PeerId> = self
            .sync
            .peers()
            .iter()
            .filter(|(_, p)| {
                p.getheaders_pending
                    .is_some_and(|at| now.saturating_sub(at) >= super::sync_peer::GETBLOCKS_TIMEOUT)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in unanswered {
            if let Some(p) = self.sync.peer_mut(id) {
                p.getheaders_pending = None;
            }
            self.doubt_height(id);
        }
    }
}

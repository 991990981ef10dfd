//! [`SyncMgr`]: the one owner of block-sync state (nakamoto's `syncmgr`,
//! Bitcoin Core's `mapBlocksInFlight` and per-peer `CNodeState` sync
//! fields). Nothing outside this file writes these fields; the rules that
//! read them live in `sync.rs`, `sync_peer.rs` and `announce.rs`.
//!
//! What a peer has pending is derived from the one map of blocks in
//! flight ([`SyncMgr::pending`]), never counted by hand: a request that
//! ends (arrived and processed, `notfound`, timed out, peer gone) leaves
//! the map, and every count follows.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::super::sync_peer::{BLOCK_STALLING_TIMEOUT, BLOCK_STALLING_TIMEOUT_MAX};
use super::super::{Millis, PeerId};
use super::headers::{HeaderEntry, HeaderTree};
use super::side::SideBuffer;
use crate::core::block::{Block, BlockHeader};
use crate::core::hash::{BlockHash, Hash256};
use crate::core::params::MAX_FUTURE_BLOCK_TIME;
use crate::wire::payload::HEADERS_VERSION;

/// Why a block is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// Asked for from a peer's answer to our `getblocks`: part of the
    /// sync window (one peer holds it at a time, `sync_peer.rs`).
    Sync,
    /// Asked for because the peer announced it by `inv` unasked: never
    /// holds the sync window up.
    Announced,
    /// Sent to us unasked (block push) and taken
    /// (`announce.rs::admit_block`).
    Unrequested,
    /// Asked for from the header chain a peer sent (headers-first sync,
    /// `sync_headers.rs`): blocks of several peers at once, in a moving
    /// window ahead of our tip.
    Headers,
}

/// A block asked of a peer, or sent by it unasked and taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// The peer asked (or that sent it).
    pub peer: PeerId,
    /// When (ms since the Unix epoch).
    pub asked: Millis,
    /// Why.
    pub kind: Asked,
    /// It arrived and is with the chain layer.
    pub received: bool,
    /// Its encoded size once it arrived (0 before).
    pub bytes: u64,
}

/// One peer's sync facts (its connection facts stay in
/// [`super::super::Peer`]).
#[derive(Debug, Clone, Default)]
pub struct SyncPeer {
    /// The height it claims: from its `version`, or a block it sent that
    /// is not validated yet (an orphan). Only a hint of whom to ask for
    /// blocks: it is dropped as soon as the peer fails to back it
    /// ([`SyncMgr::doubt`]), falls to what its headers showed once it
    /// answers `getheaders` ([`SyncMgr::settle_claim`]), and is never
    /// reported beyond what the peer showed ([`SyncPeer::shown_height`]).
    pub claimed: u64,
    /// The height it proved: blocks it sent that the chain layer stored
    /// on a valid branch, and blocks we sent it.
    pub known: u64,
    /// When we sent a `getblocks` whose answer is awaited (ms).
    pub getblocks_pending: Option<Millis>,
    /// The last block hash of the latest `inv` we asked it for, while
    /// those blocks are on their way: the next `getblocks` starts its
    /// locator there, so it is sent before they are processed.
    pub last_asked: Option<BlockHash>,
    /// When a block we asked it for last arrived (ms; 0: never): stall
    /// detection measures from here.
    pub last_delivery: Millis,
    /// Blocks it pushed unasked in a row whose parent we did not know
    /// (reset when one of its blocks connects): past
    /// [`MAX_UNCONNECTING_BLOCKS`] each costs points.
    pub unconnecting: u32,
    /// Blocks it pushed that we dropped for the bound on unrequested
    /// blocks (`announce::MAX_UNREQUESTED`), and the blocks it pushed on
    /// them since (the latest [`MAX_EXCUSED_BLOCKS`]): an orphan among them
    /// is one we made by dropping its parent, not one the peer sent
    /// unconnected, and is not counted in `unconnecting` (at most
    /// [`MAX_EXCUSED_BLOCKS`] until one of its blocks connects).
    pub excused: VecDeque<BlockHash>,
    /// Orphans excused so far (`excused`), reset when one of its blocks
    /// connects.
    pub excused_orphans: u32,
    /// Block hashes it asked for and we have not sent yet.
    pub serve_queue: VecDeque<Hash256>,
    /// Bytes of blocks sent and not yet reported flushed.
    pub unflushed: u64,
    /// When block answers last made progress (ms): a send with nothing
    /// unflushed, or a flush.
    pub last_flush: Millis,
    /// The protocol version of its `version` (0 before it): from
    /// [`HEADERS_VERSION`] on it is synced headers first.
    pub version: u32,
    /// The best validated header it sent us: hash, height, chain work.
    pub best_header: Option<(BlockHash, u64, u128)>,
    /// When we sent a `getheaders` whose answer is awaited (ms).
    pub getheaders_pending: Option<Millis>,
}

impl SyncPeer {
    /// True when it speaks `getheaders`/`headers` ([`HEADERS_VERSION`]).
    pub fn speaks_headers(&self) -> bool {
        self.version >= HEADERS_VERSION
    }

    /// Its best height for sync decisions: the higher of the claimed and
    /// the proven one.
    pub fn height(&self) -> u64 {
        self.claimed.max(self.known)
    }

    /// Its height as reported to the operator: the proven height, or the
    /// claim while that is being tested, but never more than
    /// [`MAX_CLAIM_AHEAD`] blocks beyond `ours` without proof.
    pub fn shown_height(&self, ours: u64) -> u64 {
        let bound = ours.max(self.known).saturating_add(MAX_CLAIM_AHEAD);
        self.known.max(self.claimed.min(bound))
    }
}

/// How far ahead of what it proved a peer's claimed height is reported
/// ([`SyncPeer::shown_height`]) or aimed at by a sync (`Event::Syncing`):
/// two `inv`s' worth, what one round of requests can show.
pub const MAX_CLAIM_AHEAD: u64 = 1_000;

/// Unrequested blocks in a row that do not connect which a peer may push
/// before each further one costs points (Bitcoin Core's
/// `MAX_UNCONNECTING_HEADERS`, smaller: each of ours is a whole block): an
/// honest peer may push a tip whose parent we lack once or twice after a
/// race.
pub const MAX_UNCONNECTING_BLOCKS: u32 = 3;

/// Pushed blocks per peer remembered as dropped by us or built on one
/// ([`SyncPeer::excused`]), and orphans among them excused between two
/// of its blocks connecting: an honest minter pushing a block every few
/// milliseconds to a busy node (which drops its pushes past
/// `announce::MAX_UNREQUESTED`) makes an orphan of each block it pushes
/// until the one dropped is fetched (`getblocks`, one round trip), and
/// was banned for them; an attacker gains this many orphans, no more,
/// per block of its that connects.
pub const MAX_EXCUSED_BLOCKS: usize = 32;

/// Blocks refused for a timestamp too far ahead that are remembered (not
/// fetched again while remembered); past it the one dated furthest ahead
/// is forgotten first.
pub const MAX_FUTURE_REMEMBERED: usize = 1_000;

/// The block-sync state of one node (module docs).
#[derive(Debug, Default)]
pub struct SyncMgr {
    in_flight: BTreeMap<BlockHash, InFlight>,
    /// Orphans the chain layer holds (not fetched again).
    orphans: BTreeSet<BlockHash>,
    /// Version-1 peers' blocks handed to the chain layer with their
    /// parent unknown, and that parent (child to parent), as many as the
    /// chain layer keeps orphans: a held branch counts the work of those
    /// waiting on it ([`SyncMgr::orphans_on`]).
    orphan_parents: BTreeMap<BlockHash, BlockHash>,
    /// Blocks refused as too far in the future, and their header times
    /// (seconds since the Unix epoch).
    future: BTreeMap<BlockHash, u32>,
    peers: BTreeMap<PeerId, SyncPeer>,
    /// Validated headers whose blocks are not stored yet.
    headers: HeaderTree,
    /// The current stall timeout (ms; 0 before any stall: the base).
    stall_timeout: Millis,
    /// Headers of stored blocks read for `headers` answers or to check
    /// the time of a header sent to us, by hash (a block's header never
    /// changes), so a peer repeating `getheaders` or `headers` does not
    /// make us read its blocks again; emptied when it passes
    /// [`MAX_SERVED_HEADERS`].
    served_headers: BTreeMap<BlockHash, BlockHeader>,
    /// Low-work side blocks of version-1 peers held in memory, not
    /// handed to the chain layer ([`SideBuffer`]).
    side: SideBuffer,
}

/// Stored headers remembered (for `getheaders` answers and header time
/// checks; about 10 MB with the map's overhead); past it the memory
/// starts over empty.
pub const MAX_SERVED_HEADERS: usize = 100_000;

impl SyncMgr {
    /// A peer connected.
    pub fn add_peer(&mut self, peer: PeerId, now: Millis) {
        self.peers.insert(
            peer,
            SyncPeer {
                last_flush: now,
                ..SyncPeer::default()
            },
        );
    }

    /// A peer left: its requests end (others may be asked), its facts go,
    /// and the headers it sent are pooled with those of peers that left,
    /// the first evicted from a full tree ([`HeaderTree`]).
    pub fn remove_peer(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
        self.side.remove_peer(peer);
        self.headers.release_owner(peer);
        self.in_flight.retain(|_, f| f.peer != peer);
    }

    /// One peer's sync facts.
    pub fn peer(&self, peer: PeerId) -> Option<&SyncPeer> {
        self.peers.get(&peer)
    }

    pub(in crate::protocol) fn peer_mut(&mut self, peer: PeerId) -> Option<&mut SyncPeer> {
        self.peers.get_mut(&peer)
    }

    /// The validated headers whose blocks are not stored yet.
    pub fn headers(&self) -> &HeaderTree {
        &self.headers
    }

    /// Adds a validated header from `peer` (`sync_headers.rs` checked
    /// it); false when the tree is full and nothing may be evicted for it
    /// ([`HeaderTree`]'s bound and shares). A peer whose best header was
    /// evicted to make room falls back to that header's parent when held
    /// (else to none): it is asked for its headers again while it claims
    /// more (`sync_peer.rs::resume_sync`).
    pub fn add_header(&mut self, hash: BlockHash, entry: HeaderEntry, peer: PeerId) -> bool {
        let Ok(evicted) = self.headers.insert(hash, entry, peer) else {
            return false;
        };
        if let Some((gone, e)) = evicted {
            let parent = e.header.prev_block_hash;
            let back = self
                .headers
                .get(&parent)
                .map(|p| (parent, p.height, p.chain_work));
            for p in self.peers.values_mut() {
                if p.best_header.is_some_and(|(h, _, _)| h == gone) {
                    p.best_header = back;
                }
            }
        }
        true
    }

    /// The lowest `n` headers of the tree's path to `best`, in chain
    /// order (`HeaderTree::window`).
    pub fn header_window(&mut self, best: &BlockHash, n: usize) -> Vec<(BlockHash, HeaderEntry)> {
        self.headers.window(best, n)
    }

    /// `hash`'s block is stored or refused: its header leaves the tree,
    /// and any peer's held copy leaves the [`SideBuffer`].
    pub fn forget_header(&mut self, hash: &BlockHash) {
        self.headers.remove(hash);
        self.side.forget(hash);
    }

    /// `hash`'s block was refused as invalid: its header and every header
    /// descending from it leave the tree, and any held copy of it the
    /// [`SideBuffer`].
    pub fn forget_branch(&mut self, hash: &BlockHash) {
        self.headers.remove_branch(hash);
        self.side.forget(hash);
    }

    /// `peer` answered our `getheaders` in full up to `height`: the
    /// height it claimed falls to what its headers showed (a claim never
    /// outranks validated headers).
    pub fn settle_claim(&mut self, peer: PeerId, height: u64) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.claimed = p.claimed.min(height);
        }
    }

    /// The header of the stored block `hash`, if remembered.
    pub fn served_header(&self, hash: &BlockHash) -> Option<BlockHeader> {
        self.served_headers.get(hash).copied()
    }

    /// Remembers `header` of the stored block `hash` ([`MAX_SERVED_HEADERS`]).
    pub fn remember_served(&mut self, hash: BlockHash, header: BlockHeader) {
        if self.served_headers.len() >= MAX_SERVED_HEADERS {
            self.served_headers.clear();
        }
        self.served_headers.insert(hash, header);
    }

    /// `peer` said `version` with protocol version `version`.
    pub fn set_version(&mut self, peer: PeerId, version: u32) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.version = version;
        }
    }

    /// `peer` sent validated headers up to `hash` at `height` with
    /// `work`: its best header, when it has more work than the one known,
    /// and its proven height (it has the blocks of the headers it sends).
    pub fn best_header(&mut self, peer: PeerId, hash: BlockHash, height: u64, work: u128) {
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.best_header.is_none_or(|(_, _, w)| work > w) {
                p.best_header = Some((hash, height, work));
            }
            p.known = p.known.max(height);
        }
    }

    /// Every peer's sync facts, by id.
    pub fn peers(&self) -> &BTreeMap<PeerId, SyncPeer> {
        &self.peers
    }

    /// Blocks asked of `peer` (or taken from it unasked) that are not
    /// processed yet: derived from the blocks in flight.
    pub fn pending(&self, peer: PeerId) -> usize {
        self.in_flight.values().filter(|f| f.peer == peer).count()
    }

    /// [`SyncMgr::pending`] of one kind.
    pub fn pending_of(&self, peer: PeerId, kind: Asked) -> usize {
        self.in_flight
            .values()
            .filter(|f| f.peer == peer && f.kind == kind)
            .count()
    }

    /// The peer holding the sync window: the one with blocks asked from a
    /// `getblocks` answer not processed yet (at most one, `sync_peer.rs`).
    pub fn window_holder(&self) -> Option<PeerId> {
        self.in_flight
            .values()
            .find(|f| f.kind == Asked::Sync)
            .map(|f| f.peer)
    }

    /// The request for `hash`, if any.
    pub fn in_flight(&self, hash: &BlockHash) -> Option<InFlight> {
        self.in_flight.get(hash).copied()
    }

    /// Every request, by block hash.
    pub fn all_in_flight(&self) -> &BTreeMap<BlockHash, InFlight> {
        &self.in_flight
    }

    /// Bytes of blocks received and not yet processed, from every peer.
    pub fn queued_bytes(&self) -> u64 {
        self.in_flight
            .values()
            .filter(|f| f.received)
            .map(|f| f.bytes)
            .sum()
    }

    /// The low-work side blocks of version-1 peers held in memory
    /// ([`SideBuffer`]); [`SideBuffer::bytes`] is the memory they take.
    pub fn side(&self) -> &SideBuffer {
        &self.side
    }

    /// Holds `block` (hash `hash`, its branch's work `work`) from `peer`
    /// in memory instead of handing it to the chain layer: its request
    /// ends (it is no longer in flight, so no sync window or stall clock
    /// waits for it). True when held, false when turned away for the
    /// buffer's bounds ([`SideBuffer::hold`]).
    pub fn hold_side(&mut self, peer: PeerId, hash: BlockHash, block: Block, work: u128) -> bool {
        let kind = self
            .in_flight
            .get(&hash)
            .filter(|f| f.peer == peer)
            .map_or(Asked::Announced, |f| f.kind);
        self.release(&hash, peer, None);
        self.side.hold(peer, hash, block, work, kind)
    }

    /// A block of `peer`'s whose parent was turned away from it
    /// ([`SideBuffer::knows`] and not held) is turned away too: its request
    /// ends and it is not asked of `peer` again.
    pub fn turn_away_side(&mut self, peer: PeerId, hash: BlockHash) {
        self.release(&hash, peer, None);
        self.side.turn_away(peer, hash);
    }

    /// Takes the held branch ending at `hash` out of the buffer for
    /// `peer` (its blocks held from `peer` or others), in
    /// chain order ([`SideBuffer::take_branch`]), each block recorded as
    /// received from `peer` (its kind as when it arrived) and so with the
    /// chain layer until [`SyncMgr::release`]d. A block another peer's copy
    /// of is with the chain layer already is left out; a request for one
    /// made of another peer ends (those peers are returned, once each, to
    /// have their sync go on).
    pub fn hand_side_branch(
        &mut self,
        peer: PeerId,
        hash: &BlockHash,
        now: Millis,
    ) -> (Vec<Block>, Vec<PeerId>) {
        let mut blocks = Vec::new();
        let mut others = BTreeSet::new();
        for (block, kind) in self.side.take_branch(peer, hash) {
            let h = block.hash();
            match self.in_flight.get(&h) {
                Some(f) if f.received => continue,
                Some(f) if f.peer != peer => {
                    others.insert(f.peer);
                }
                _ => {}
            }
            let f = InFlight {
                peer,
                asked: now,
                kind,
                received: true,
                bytes: block.encoded_size(),
            };
            self.in_flight.insert(h, f);
            blocks.push(block);
        }
        (blocks, others.into_iter().collect())
    }

    /// Records `hash` as asked of `peer` at `now` (replacing any earlier
    /// request for it).
    pub fn request(&mut self, hash: BlockHash, peer: PeerId, kind: Asked, now: Millis) {
        let f = InFlight {
            peer,
            asked: now,
            kind,
            received: false,
            bytes: 0,
        };
        self.in_flight.insert(hash, f);
    }

    /// `hash` arrived from `peer` (`bytes` encoded) and goes to the chain
    /// layer.
    pub fn received(&mut self, hash: BlockHash, peer: PeerId, bytes: u64, now: Millis) {
        let mut asked = false;
        if let Some(f) = self.in_flight.get_mut(&hash) {
            f.received = true;
            f.bytes = bytes;
            asked = f.kind != Asked::Unrequested;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.last_delivery = now;
        }
        if asked {
            // A block we asked for arrived: the stall timeout decays back
            // towards its base (Core: by 15% per block).
            let t = self.stall_timeout().saturating_mul(85) / 100;
            self.stall_timeout = t.max(BLOCK_STALLING_TIMEOUT);
        }
    }

    /// How long a peer with blocks asked of it may deliver none of them
    /// (ms): [`BLOCK_STALLING_TIMEOUT`], doubled after each stall
    /// disconnect up to [`BLOCK_STALLING_TIMEOUT_MAX`] (when it was our
    /// links that were slow, not the peers) and decaying by 15% per block
    /// asked for that arrives (Bitcoin Core's adaptive
    /// `m_block_stalling_timeout`).
    pub fn stall_timeout(&self) -> Millis {
        self.stall_timeout.max(BLOCK_STALLING_TIMEOUT)
    }

    /// A peer was disconnected for stalling: the next one gets twice as
    /// long, up to [`BLOCK_STALLING_TIMEOUT_MAX`].
    pub fn stalled_out(&mut self) {
        self.stall_timeout = self
            .stall_timeout()
            .saturating_mul(2)
            .min(BLOCK_STALLING_TIMEOUT_MAX);
    }

    /// Ends the request for `hash` when it is `peer`'s (`received`: only
    /// if it arrived; `Some(false)`: only if it did not). True when one
    /// ended.
    pub fn release(&mut self, hash: &BlockHash, peer: PeerId, received: Option<bool>) -> bool {
        let mine = self
            .in_flight
            .get(hash)
            .is_some_and(|f| f.peer == peer && received.is_none_or(|r| f.received == r));
        if mine {
            self.in_flight.remove(hash);
        }
        mine
    }

    /// Ends every request not answered since `cutoff` (ms): asked before
    /// it and the peer delivered nothing after it. Returns the peers that
    /// held them, once each.
    pub fn expire(&mut self, cutoff: Millis) -> Vec<PeerId> {
        let peers = &self.peers;
        let mut late = BTreeSet::new();
        self.in_flight.retain(|_, f| {
            let progress = peers.get(&f.peer).map_or(0, |p| p.last_delivery);
            let stale = !f.received && f.asked < cutoff && progress < cutoff;
            if stale {
                late.insert(f.peer);
            }
            !stale
        });
        late.into_iter().collect()
    }

    /// Peers holding requests not answered since `cutoff` (ms), as for
    /// [`SyncMgr::expire`], without ending them.
    pub fn stalled(&self, cutoff: Millis) -> Vec<PeerId> {
        let mut late = BTreeSet::new();
        for f in self.in_flight.values() {
            let progress = self.peers.get(&f.peer).map_or(0, |p| p.last_delivery);
            if !f.received && f.asked < cutoff && progress < cutoff {
                late.insert(f.peer);
            }
        }
        late.into_iter().collect()
    }

    /// The chain layer holds `hash` as an orphan; at most as many as it
    /// keeps are remembered.
    pub fn add_orphan(&mut self, hash: BlockHash) {
        self.orphans.insert(hash);
        while self.orphans.len() > crate::chain::orphans::MAX_ORPHANS {
            self.orphans.pop_first();
        }
    }

    /// `hash` is no orphan (connected, stored, refused, or its mark
    /// outlived the chain layer's copy).
    pub fn remove_orphan(&mut self, hash: &BlockHash) {
        self.orphans.remove(hash);
        self.orphan_parents.remove(hash);
    }

    /// A version-1 peer's block `hash`, whose parent `parent` we neither
    /// store nor hold, goes to the chain layer (kept there as an orphan);
    /// at most as many as it keeps are remembered.
    pub fn note_orphan_parent(&mut self, hash: BlockHash, parent: BlockHash) {
        self.orphan_parents.insert(hash, parent);
        while self.orphan_parents.len() > crate::chain::orphans::MAX_ORPHANS {
            self.orphan_parents.pop_first();
        }
    }

    /// The longest line of blocks noted as waiting on `hash` in the chain
    /// layer ([`SyncMgr::note_orphan_parent`]): the blocks a held block
    /// brings along when it goes to the chain layer. Bounded by the
    /// blocks noted (each visited once).
    pub fn orphans_on(&self, hash: &BlockHash) -> u64 {
        let mut children: BTreeMap<BlockHash, Vec<BlockHash>> = BTreeMap::new();
        for (child, parent) in &self.orphan_parents {
            children.entry(*parent).or_default().push(*child);
        }
        let mut longest = 0;
        let mut seen = BTreeSet::new();
        let mut stack = vec![(*hash, 0u64)];
        while let Some((h, depth)) = stack.pop() {
            longest = longest.max(depth);
            for c in children.get(&h).into_iter().flatten() {
                if seen.insert(*c) {
                    stack.push((*c, depth + 1));
                }
            }
        }
        longest
    }

    /// True when the chain layer holds `hash` as an orphan.
    pub fn is_orphan(&self, hash: &BlockHash) -> bool {
        self.orphans.contains(hash)
    }

    /// `hash`, dated `time` (seconds since the Unix epoch), was refused
    /// for a timestamp too far ahead: it is not fetched again until our
    /// clock is within [`MAX_FUTURE_BLOCK_TIME`] of it.
    pub fn add_future(&mut self, hash: BlockHash, time: u32) {
        self.future.insert(hash, time);
        while self.future.len() > MAX_FUTURE_REMEMBERED {
            let latest = self.future.iter().max_by_key(|(_, t)| **t).map(|(h, _)| *h);
            if let Some(h) = latest {
                self.future.remove(&h);
            }
        }
    }

    /// True when `hash` was refused for a timestamp that is still too far
    /// ahead at `now` (ms since the Unix epoch).
    pub fn is_future(&self, hash: &BlockHash, now: Millis) -> bool {
        self.future
            .get(hash)
            .is_some_and(|t| too_far_ahead(*t, now))
    }

    /// Forgets refusals whose blocks are no longer too far ahead at `now`.
    pub fn expire_future(&mut self, now: Millis) {
        self.future.retain(|_, t| too_far_ahead(*t, now));
    }

    /// `peer` did not back the height it claimed: its heights fall to
    /// `ours`.
    pub fn doubt(&mut self, peer: PeerId, ours: u64) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.claimed = p.claimed.min(ours);
            p.known = p.known.min(ours);
        }
    }

    /// Every peer's stall clock restarts at `now`: we, not they, held the
    /// blocks back (the chain layer's queue was full).
    pub fn pause_stall_clocks(&mut self, now: Millis) {
        for p in self.peers.values_mut() {
            p.last_delivery = now;
        }
    }

    /// `peer` pushed an unasked block that does not connect: true when it
    /// is past [`MAX_UNCONNECTING_BLOCKS`] in a row.
    pub fn unconnecting(&mut self, peer: PeerId) -> bool {
        self.peers.get_mut(&peer).is_some_and(|p| {
            p.unconnecting = p.unconnecting.saturating_add(1);
            p.unconnecting > MAX_UNCONNECTING_BLOCKS
        })
    }

    /// `peer` claims `height` (its `version`, an unvalidated block).
    pub fn claim(&mut self, peer: PeerId, height: u64) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.claimed = p.claimed.max(height);
        }
    }

    /// `peer` proved `height` (a block of it stored on a valid branch, a
    /// block we sent it).
    pub fn prove(&mut self, peer: PeerId, height: u64) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.known = p.known.max(height);
        }
    }

    /// A block from `peer` connected to our chain at `height`: proven,
    /// and its run of unconnecting blocks ends, as do its excused ones
    /// ([`SyncPeer::excused`]).
    pub fn connected(&mut self, peer: PeerId, height: u64) {
        self.prove(peer, height);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.unconnecting = 0;
            p.excused_orphans = 0;
        }
    }

    /// We dropped `hash`, pushed by `peer`, for the bound on unrequested
    /// blocks: a block it pushes on it is excused if it turns out an
    /// orphan ([`SyncPeer::excused`]).
    pub fn dropped_push(&mut self, peer: PeerId, hash: BlockHash) {
        if let Some(p) = self.peers.get_mut(&peer) {
            remember_excused(p, hash);
        }
    }

    /// `peer` pushed `hash`, child of `prev`, and it was taken: excused
    /// like its parent when that was dropped by us or built on one.
    pub fn pushed_on(&mut self, peer: PeerId, hash: BlockHash, prev: BlockHash) {
        if let Some(p) = self.peers.get_mut(&peer)
            && p.excused.contains(&prev)
        {
            remember_excused(p, hash);
        }
    }

    /// `peer` pushed an unasked block that does not connect: true when it
    /// is excused ([`SyncPeer::excused`], within
    /// [`MAX_EXCUSED_BLOCKS`] orphans), counted as such.
    pub fn excuse_orphan(&mut self, peer: PeerId, hash: &BlockHash) -> bool {
        self.peers.get_mut(&peer).is_some_and(|p| {
            let excused =
                p.excused.contains(hash) && (p.excused_orphans as usize) < MAX_EXCUSED_BLOCKS;
            if excused {
                p.excused_orphans += 1;
            }
            excused
        })
    }
}

/// Remembers `hash` among `p`'s excused blocks, the oldest forgotten
/// past [`MAX_EXCUSED_BLOCKS`].
fn remember_excused(p: &mut SyncPeer, hash: BlockHash) {
    if p.excused.contains(&hash) {
        return;
    }
    if p.excused.len() >= MAX_EXCUSED_BLOCKS {
        p.excused.pop_front();
    }
    p.excused.push_back(hash);
}

/// True when a header dated `time` (seconds) is beyond
/// [`MAX_FUTURE_BLOCK_TIME`] of the clock `now` (ms), the rule of
/// `core::validation::check_block_sanity`.
fn too_far_ahead(time: u32, now: Millis) -> bool {
    u64::from(time) > (now / 1000).saturating_add(MAX_FUTURE_BLOCK_TIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> BlockHash {
        BlockHash(Hash256([i; 32]))
    }

    #[test]
    fn pending_counts_follow_the_map() {
        let mut m = SyncMgr::default();
        m.add_peer(1, 0);
        m.add_peer(2, 0);
        m.request(h(1), 1, Asked::Sync, 0);
        m.request(h(2), 1, Asked::Announced, 0);
        m.request(h(3), 2, Asked::Unrequested, 0);
        assert_eq!((m.pending(1), m.pending(2)), (2, 1));
        assert_eq!(m.window_holder(), Some(1));
        // Released by its own peer only.
        assert!(!m.release(&h(1), 2, None));
        assert!(m.release(&h(1), 1, Some(false)));
        assert_eq!(m.window_holder(), None);
        m.remove_peer(1);
        assert_eq!((m.pending(1), m.pending(2)), (0, 1));
    }

    #[test]
    fn a_request_expires_only_without_delivery() {
        let mut m = SyncMgr::default();
        m.add_peer(1, 0);
        m.request(h(1), 1, Asked::Sync, 100);
        m.request(h(2), 1, Asked::Sync, 100);
        m.received(h(2), 1, 10, 5_000);
        // Delivered something after the cutoff: not stalled.
        assert!(m.expire(1_000).is_empty());
        assert_eq!(m.expire(6_000), vec![1]);
        assert_eq!(m.pending(1), 1, "the received block stays");
    }

    #[test]
    fn the_stall_timeout_doubles_after_a_stall_up_to_64_s_and_decays_with_blocks() {
        let mut m = SyncMgr::default();
        m.add_peer(1, 0);
        assert_eq!(m.stall_timeout(), BLOCK_STALLING_TIMEOUT);
        m.stalled_out();
        assert_eq!(m.stall_timeout(), 2 * BLOCK_STALLING_TIMEOUT);
        for _ in 0..10 {
            m.stalled_out();
        }
        assert_eq!(m.stall_timeout(), BLOCK_STALLING_TIMEOUT_MAX);
        // A block asked for arrives: 15% off; a block pushed unasked does
        // not count.
        m.request(h(1), 1, Asked::Unrequested, 0);
        m.received(h(1), 1, 10, 1);
        assert_eq!(m.stall_timeout(), BLOCK_STALLING_TIMEOUT_MAX);
        m.request(h(2), 1, Asked::Headers, 0);
        m.received(h(2), 1, 10, 1);
        assert_eq!(m.stall_timeout(), BLOCK_STALLING_TIMEOUT_MAX * 85 / 100);
        for i in 3..40 {
            m.request(h(i), 1, Asked::Headers, 0);
            m.received(h(i), 1, 10, 1);
        }
        assert_eq!(m.stall_timeout(), BLOCK_STALLING_TIMEOUT);
    }

    fn header_entry(prev: BlockHash, height: u64, nonce: u32) -> (BlockHash, HeaderEntry) {
        let header = BlockHeader {
            version: 1,
            prev_block_hash: prev,
            merkle_root: Hash256::default(),
            timestamp: 0,
            bits: 1,
            nonce,
        };
        let e = HeaderEntry {
            header,
            height,
            chain_work: u128::from(height),
        };
        (header.hash(), e)
    }

    #[test]
    fn a_peer_whose_best_header_is_evicted_falls_back_to_its_parent_and_a_leaving_peer_goes_first()
    {
        let mut m = SyncMgr {
            headers: HeaderTree::with_cap(4),
            ..SyncMgr::default()
        };
        m.add_peer(1, 0);
        m.add_peer(2, 0);
        let (a, ea) = header_entry(BlockHash::ZERO, 1, 1);
        let (b, eb) = header_entry(a, 2, 2);
        let (c, ec) = header_entry(b, 3, 3);
        for (h, e) in [(a, ea), (b, eb), (c, ec)] {
            assert!(m.add_header(h, e, 1));
        }
        m.best_header(1, c, 3, 3);
        let (x, ex) = header_entry(BlockHash::ZERO, 1, 10);
        let (y, ey) = header_entry(x, 2, 11);
        assert!(m.add_header(x, ex, 2));
        // Full: peer 1 holds more, its tip goes for peer 2's header.
        assert!(m.add_header(y, ey, 2));
        assert!(m.headers().get(&c).is_none());
        assert_eq!(m.peer(1).and_then(|p| p.best_header), Some((b, 2, 2)));
        // Equal shares now: peer 2 may not take more.
        let (z, ez) = header_entry(y, 3, 12);
        assert!(!m.add_header(z, ez, 2));
        // Peer 1 leaves: its headers are evicted first.
        m.remove_peer(1);
        assert!(m.add_header(z, ez, 2));
        assert!(m.headers().get(&b).is_none() && m.headers().get(&a).is_some());
        assert_eq!(m.headers().share(2), 3);
    }

    #[test]
    fn orphans_on_a_dropped_push_are_excused_a_bounded_number_of_times() {
        let mut m = SyncMgr::default();
        m.add_peer(1, 0);
        let h = |i: u8| BlockHash(Hash256([i; 32]));
        m.dropped_push(1, h(0));
        // A chain pushed on the dropped block: each excused as an orphan
        // until the bound; a block on anything else never is.
        for i in 1..=(MAX_EXCUSED_BLOCKS as u8 + 5) {
            m.pushed_on(1, h(i), h(i - 1));
            let excused = m.excuse_orphan(1, &h(i));
            assert_eq!(excused, usize::from(i) <= MAX_EXCUSED_BLOCKS, "orphan {i}");
        }
        m.pushed_on(1, h(200), h(199));
        assert!(!m.excuse_orphan(1, &h(200)));
        // One of its blocks connects: the count starts again.
        m.connected(1, 1);
        let last = MAX_EXCUSED_BLOCKS as u8 + 5;
        m.pushed_on(1, h(last + 1), h(last));
        assert!(m.excuse_orphan(1, &h(last + 1)));
    }

    #[test]
    fn a_claim_is_shown_only_within_reach() {
        let p = SyncPeer {
            claimed: u64::MAX,
            known: 5,
            ..SyncPeer::default()
        };
        assert_eq!(p.height(), u64::MAX);
        assert_eq!(p.shown_height(10), 10 + MAX_CLAIM_AHEAD);
    }
}

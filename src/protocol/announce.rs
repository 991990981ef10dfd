//! Block announcements by push: a block that becomes our tip goes as a
//! full `block` message straight to every peer known to be synced
//! (Bitcoin's BIP152 high-bandwidth mode, without compact blocks), saving
//! the `inv` -> `getdata` round trip per hop; every other peer gets an
//! `inv`. The wire format is unchanged.
//!
//! A peer is known to be synced when its best known height
//! ([`super::Peer::best_height`]: from its `version`, the blocks it sent
//! us and the blocks we sent it) is exactly the tip's parent height: a
//! peer that is further behind would only keep the block as an orphan, and
//! a peer at the tip's height or above has it or a rival (an `inv` lets it
//! ask). A block never goes back to the peer it came from.
//!
//! On the receiving side an unrequested block (or one asked of another
//! peer) is dropped when we have it already (stored and not known
//! invalid), when it is being processed, or when it is a known orphan: it
//! is neither processed nor announced again. Otherwise it goes to the
//! chain layer, at most [`MAX_UNREQUESTED`] per peer at once; further ones
//! are dropped with an [`Event::UnrequestedDropped`] and no score (an
//! honest peer may push a few blocks in a burst, e.g. after a reorg).

use super::types::Event;
use super::{PeerId, Protocol};
use crate::core::block::Block;
use crate::core::hash::BlockHash;
use crate::store::BlockStatus;
use crate::wire::message::Message;
use crate::wire::payload::{BlockMsg, Inv, InvKind};

/// Unrequested blocks of one peer that may be with the chain layer at
/// once; more are dropped (module docs).
pub const MAX_UNREQUESTED: usize = 4;

impl Protocol {
    /// A block joined the best chain: pushed to synced peers when it is
    /// the tip, announced by `inv` to every other peer but its sender
    /// (module docs).
    pub(super) fn announce_block(&mut self, hash: BlockHash, from: Option<PeerId>) {
        let block = match self.tip() {
            Some(t) if t.hash == hash => self.store.block(&hash).ok().flatten(),
            _ => None,
        };
        let targets: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| p.is_ready() && Some(**id) != from)
            .map(|(id, _)| *id)
            .collect();
        for peer in targets {
            match &block {
                Some(b) if self.is_synced(peer, b.height) => self.push_block(peer, b.clone()),
                _ => {
                    let inv = Inv {
                        addr_from: self.config.me.to_string(),
                        kind: InvKind::Block,
                        items: vec![hash.0],
                    };
                    self.send(peer, Message::Inv(inv));
                }
            }
        }
    }

    /// True when `peer`'s best known height is the parent height of a
    /// block at `height`.
    fn is_synced(&self, peer: PeerId, height: u64) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.best_height.checked_add(1) == Some(height))
    }

    /// Sends `block` unasked; `peer` is then known to have its height.
    fn push_block(&mut self, peer: PeerId, block: Block) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.best_height = p.best_height.max(block.height);
        }
        let addr_from = self.config.me.to_string();
        self.send(peer, Message::Block(BlockMsg { addr_from, block }));
    }

    /// Whether a `block` with `hash` from `peer` goes to the chain layer
    /// (module docs). A block `peer` was asked for always does; an
    /// unrequested one that does is recorded as asked of `peer`, counted
    /// against it until its [`unrequested_done`](Self::unrequested_done),
    /// and releases a request for it made of another peer.
    pub(super) fn admit_block(&mut self, peer: PeerId, hash: BlockHash) -> bool {
        let flight = self.blocks_in_flight.get(&hash).copied();
        if flight.is_some_and(|f| f.peer == peer && !f.received) {
            return true;
        }
        let known_valid = self
            .store
            .block_meta(&hash)
            .ok()
            .flatten()
            .is_some_and(|m| m.status != BlockStatus::Invalid);
        if known_valid || flight.is_some_and(|f| f.received) || self.orphans.contains(&hash) {
            return false;
        }
        let pending = self.unrequested.values().filter(|p| **p == peer).count();
        if pending >= MAX_UNREQUESTED {
            if let Some(addr) = self.peers.get(&peer).map(|p| p.addr) {
                self.event(Event::UnrequestedDropped { addr, hash });
            }
            return false;
        }
        if let Some(f) = flight
            && let Some(p) = self.peers.get_mut(&f.peer)
        {
            // Asked of another peer and not arrived: that request is over,
            // and may have been the last that peer's sync waited for.
            p.blocks_pending = p.blocks_pending.saturating_sub(1);
            self.maybe_continue_sync(f.peer);
        }
        // Taken as asked of `peer`: `on_block` marks it received and
        // `block_done` releases it.
        let asked = super::sync::InFlight {
            peer,
            asked: self.now,
            received: false,
            bytes: 0,
        };
        self.blocks_in_flight.insert(hash, asked);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.blocks_pending += 1;
        }
        self.unrequested.insert(hash, peer);
        true
    }

    /// The chain layer finished with block `hash`: an unrequested block no
    /// longer counts against its sender.
    pub(super) fn unrequested_done(&mut self, hash: BlockHash) {
        self.unrequested.remove(&hash);
    }
}

//! Block announcements by push: a block that becomes our tip goes as a
//! full `block` message straight to every peer known to be synced
//! (Bitcoin's BIP152 high-bandwidth mode, without compact blocks), saving
//! the `inv` -> `getdata` round trip per hop; every other peer gets an
//! `inv`. The wire format is unchanged.
//!
//! A peer is known to be synced when its best known height
//! ([`super::SyncPeer::height`]: from its `version`, the blocks it sent
//! us and the blocks we sent it) is exactly the tip's parent height: a
//! peer that is further behind would only keep the block as an orphan, and
//! a peer at the tip's height or above has it or a rival (an `inv` lets it
//! ask). A block never goes back to the peer it came from.
//!
//! On the receiving side an unrequested block (or one asked of another
//! peer) is dropped when we have it already (stored and not known
//! invalid), when it is being processed, or when it is a known orphan: it
//! is neither processed nor announced again. Otherwise it goes to the
//! chain layer, at most [`MAX_UNREQUESTED`] per peer at once (counted from
//! the blocks in flight taken [`Asked::Unrequested`]); further ones
//! are dropped with an [`Event::UnrequestedDropped`] and no score (an
//! honest peer may push a few blocks in a burst, e.g. after a reorg). One
//! that turns out not to connect to any block we know costs its sender
//! [`super::Misbehavior::UnconnectedBlock`] (`sync.rs`), unless it was
//! built on a block we dropped (`SyncPeer::excused`: an orphan we made).

use super::sync::Asked;
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
        let block = match self.read_tip().flatten() {
            Some(t) if t.hash == hash => self.read(self.store.block(&hash)).flatten(),
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
        self.sync
            .peer(peer)
            .is_some_and(|p| p.height().checked_add(1) == Some(height))
    }

    /// Sends `block` unasked; `peer` is then known to have its height.
    fn push_block(&mut self, peer: PeerId, block: Block) {
        self.sync.prove(peer, block.height);
        let addr_from = self.config.me.to_string();
        self.send(peer, Message::Block(BlockMsg { addr_from, block }));
    }

    /// Whether a `block` with `hash` from `peer`, not asked of it, goes to
    /// the chain layer (module docs). One that does is recorded as
    /// [`Asked::Unrequested`] of `peer`, counted against it until the chain
    /// layer is done with it, and releases a request for it made of
    /// another peer.
    pub(super) fn admit_block(&mut self, peer: PeerId, hash: BlockHash) -> bool {
        let flight = self.sync.in_flight(&hash);
        let Some(meta) = self.read(self.store.block_meta(&hash)) else {
            return false;
        };
        let known_valid = meta.is_some_and(|m| m.status != BlockStatus::Invalid);
        if known_valid || flight.is_some_and(|f| f.received) || self.sync.is_orphan(&hash) {
            return false;
        }
        if self.sync.pending_of(peer, Asked::Unrequested) >= MAX_UNREQUESTED {
            if let Some(addr) = self.peers.get(&peer).map(|p| p.addr) {
                self.event(Event::UnrequestedDropped { addr, hash });
            }
            self.sync.dropped_push(peer, hash);
            return false;
        }
        self.sync.request(hash, peer, Asked::Unrequested, self.now);
        if let Some(f) = flight {
            // Asked of another peer and not arrived: that request is over,
            // and may have been the last that peer's sync waited for.
            self.maybe_continue_sync(f.peer);
        }
        true
    }
}

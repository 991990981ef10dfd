//! The address manager ([`AddrMgr`]): the address book
//! ([`super::addrbook`]), what address gossip keeps per peer, and when
//! the book is saved to the store's `peers` tree (every
//! [`SAVE_INTERVAL`], and soon after a ban: [`super::Output::SavePeers`]),
//! in one owner.
//!
//! Per peer it keeps whether our `addr` went out (once per connection)
//! and the peer's `addr` rate limit, as Bitcoin Core does: a bucket of
//! [`ADDR_BURST`] address tokens refilled at one per [`ADDR_TOKEN_MS`] ms;
//! each address in an `addr` costs one, and the addresses past an empty
//! bucket are ignored. A peer's entry lives from its connection to its
//! disconnection.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::PeerId;
use super::addrbook::AddrBook;
use super::types::Millis;
use crate::store::PeerRecord;

/// Addresses a peer may send at once (its full bucket).
pub const ADDR_BURST: u64 = 1_000;
/// One more address token per this many ms (0.1 per second).
pub const ADDR_TOKEN_MS: Millis = 10_000;

/// How often the address book is saved to the `peers` tree (ms), so a node
/// killed without a clean shutdown loses at most this much of its
/// failures and last contacts.
pub const SAVE_INTERVAL: Millis = 60_000;
/// Least time between two saves (ms): a ban is saved at once unless a save
/// went out this lately, then at the first tick past it, so a flood of bans
/// costs one save per `SAVE_GAP`.
pub const SAVE_GAP: Millis = 1_000;

/// Address tokens in thousandths, so that refills stay exact integers.
const ADDR_MILLI: u64 = 1_000;

/// What the address manager keeps of one connected peer.
#[derive(Debug, Clone, Copy)]
struct AddrPeer {
    /// Whether our `addr` went out already.
    sent: bool,
    /// Addresses it may still send, in thousandths.
    tokens: u64,
    /// When `tokens` was last refilled (ms).
    tokens_at: Millis,
}

/// The address manager (module docs).
#[derive(Debug)]
pub struct AddrMgr {
    /// Known addresses, backoff and bans.
    pub(super) book: AddrBook,
    peers: BTreeMap<PeerId, AddrPeer>,
    /// When the book was last saved, or first asked to be (ms); `None`
    /// before [`AddrMgr::save_due`] was first called.
    saved_at: Option<Millis>,
    /// A ban was set since the last save.
    ban_unsaved: bool,
}

impl AddrMgr {
    /// A manager over `book`.
    pub fn new(book: AddrBook) -> AddrMgr {
        AddrMgr {
            book,
            peers: BTreeMap::new(),
            saved_at: None,
            ban_unsaved: false,
        }
    }

    /// A ban was set: the book is saved at the next [`AddrMgr::save_due`]
    /// [`SAVE_GAP`] after the last save.
    pub fn ban_set(&mut self) {
        self.ban_unsaved = true;
    }

    /// The records to save now ([`AddrBook::records`]), when a ban is
    /// unsaved and the last save is [`SAVE_GAP`] old, or the last save (or
    /// the first call) is [`SAVE_INTERVAL`] old; `None` otherwise.
    pub fn save_due(&mut self, now: Millis) -> Option<Vec<(SocketAddr, PeerRecord)>> {
        let since = self.saved_at.map_or(Millis::MAX, |t| now.saturating_sub(t));
        let last = *self.saved_at.get_or_insert(now);
        let due =
            (self.ban_unsaved && since >= SAVE_GAP) || now.saturating_sub(last) >= SAVE_INTERVAL;
        if !due {
            return None;
        }
        self.saved_at = Some(now);
        self.ban_unsaved = false;
        Some(self.book.records(now))
    }

    /// The address book.
    pub fn book(&self) -> &AddrBook {
        &self.book
    }

    /// Address tokens `peer` has left, in thousandths of an address, as
    /// of its last `addr`; `None` for an unknown peer.
    pub fn addr_tokens(&self, peer: PeerId) -> Option<u64> {
        self.peers.get(&peer).map(|p| p.tokens)
    }

    /// `peer` connected at `now`: a full bucket, nothing sent yet.
    pub fn connected(&mut self, peer: PeerId, now: Millis) {
        let p = AddrPeer {
            sent: false,
            tokens: ADDR_BURST * ADDR_MILLI,
            tokens_at: now,
        };
        self.peers.insert(peer, p);
    }

    /// `peer` is gone.
    pub fn disconnected(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }

    /// True the first time it is asked for `peer` (our `addr` goes out
    /// then), false after, and for an unknown peer.
    pub fn first_send(&mut self, peer: PeerId) -> bool {
        self.peers
            .get_mut(&peer)
            .is_some_and(|p| !std::mem::replace(&mut p.sent, true))
    }

    /// `peer` sent `count` addresses at `now`: how many of them its bucket
    /// allows (taken from it).
    pub fn admit(&mut self, peer: PeerId, count: usize, now: Millis) -> usize {
        let Some(p) = self.peers.get_mut(&peer) else {
            return 0;
        };
        let elapsed = now.saturating_sub(p.tokens_at);
        let refill = elapsed.saturating_mul(ADDR_MILLI) / ADDR_TOKEN_MS;
        p.tokens = p.tokens.saturating_add(refill).min(ADDR_BURST * ADDR_MILLI);
        p.tokens_at = now;
        let allowed = (p.tokens / ADDR_MILLI).min(count as u64);
        p.tokens -= allowed * ADDR_MILLI;
        allowed as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_bucket_bursts_then_refills_at_its_rate() {
        let mut m = AddrMgr::new(AddrBook::default());
        m.connected(1, 0);
        assert!(m.first_send(1));
        assert!(!m.first_send(1));
        assert_eq!(m.admit(1, 1_500, 0), ADDR_BURST as usize);
        assert_eq!(m.admit(1, 10, ADDR_TOKEN_MS * 3), 3);
        m.disconnected(1);
        assert_eq!(m.admit(1, 10, ADDR_TOKEN_MS * 100), 0);
    }
}

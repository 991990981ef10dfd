//! The address manager ([`AddrMgr`]): the address book
//! ([`super::addrbook`]) and what address gossip keeps per peer, in one
//! owner.
//!
//! Per peer it keeps whether our `addr` went out (once per connection)
//! and the peer's `addr` rate limit, as Bitcoin Core does: a bucket of
//! [`ADDR_BURST`] address tokens refilled at one per [`ADDR_TOKEN_MS`] ms;
//! each address in an `addr` costs one, and the addresses past an empty
//! bucket are ignored. A peer's entry lives from its connection to its
//! disconnection.

use std::collections::BTreeMap;

use super::PeerId;
use super::addrbook::AddrBook;
use super::types::Millis;

/// Addresses a peer may send at once (its full bucket).
pub const ADDR_BURST: u64 = 1_000;
/// One more address token per this many ms (0.1 per second).
pub const ADDR_TOKEN_MS: Millis = 10_000;

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
}

impl AddrMgr {
    /// A manager over `book`.
    pub fn new(book: AddrBook) -> AddrMgr {
        AddrMgr {
            book,
            peers: BTreeMap::new(),
        }
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

//! Keeping floods of unusable transactions cheap: a filter of recently
//! rejected txids (Bitcoin Core's `recentRejects`) and a per-peer budget
//! of transactions with missing inputs.
//!
//! * [`RejectFilter`]: a transaction refused for a reason its txid fully
//!   determines is not validated again, and not asked for again, until the
//!   tip changes (a new tip can make it valid: a spent input may return in a
//!   reorg, a conflicting mempool transaction may be mined away). The txid
//!   does not cover signatures and public keys, so a refusal for a bad
//!   signature or a key that does not own the output is never remembered:
//!   a valid transaction with the same txid may follow (those cost the
//!   sender 10 points each instead). A remembered refusal keeps its points,
//!   charged again to a peer that sends the transaction again.
//! * [`TxBucket`]: a transaction with missing inputs says nothing bad of
//!   its sender (it may have been mined, or its parent not yet relayed), so
//!   it is neither scored nor remembered; instead each peer may cause
//!   [`MISSING_INPUTS_BURST`] such refusals at once, refilled by one every
//!   [`MISSING_INPUTS_REFILL`] ms. A peer with an empty bucket has its `tx`
//!   messages dropped without validation and its transaction `inv`s
//!   ignored, with no score: the bucket alone bounds what the flood costs,
//!   and an honest peer that hits it after a reorg loses nothing but relay
//!   for a moment.

use std::collections::{HashMap, VecDeque};

use super::types::Millis;
use crate::core::hash::Txid;

/// Most txids a [`RejectFilter`] remembers; past it the oldest go.
pub const MAX_REJECTS: usize = 50_000;

/// Missing-input refusals a peer may cause in a burst.
pub const MISSING_INPUTS_BURST: u32 = 100;

/// Milliseconds per missing-input refusal added back to a peer's budget
/// (10 a second).
pub const MISSING_INPUTS_REFILL: Millis = 100;

/// Recently rejected txids and the misbehaviour points each refusal was
/// worth (module docs).
#[derive(Debug, Default)]
pub struct RejectFilter {
    points: HashMap<Txid, u32>,
    order: VecDeque<Txid>,
}

impl RejectFilter {
    /// Remembers `txid` as rejected, worth `points` to a sender; the oldest
    /// entry goes past [`MAX_REJECTS`].
    pub fn insert(&mut self, txid: Txid, points: u32) {
        if self.points.insert(txid, points).is_none() {
            self.order.push_back(txid);
        }
        while self.order.len() > MAX_REJECTS {
            if let Some(old) = self.order.pop_front() {
                self.points.remove(&old);
            }
        }
    }

    /// The points of a remembered refusal of `txid`, `None` when not
    /// remembered.
    pub fn get(&self, txid: &Txid) -> Option<u32> {
        self.points.get(txid).copied()
    }

    /// True when `txid` is remembered.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.points.contains_key(txid)
    }

    /// Forgets everything (the tip changed).
    pub fn clear(&mut self) {
        self.points.clear();
        self.order.clear();
    }

    /// Number of txids remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// One peer's budget of missing-input refusals: a token bucket of
/// [`MISSING_INPUTS_BURST`] tokens refilled one per
/// [`MISSING_INPUTS_REFILL`] ms (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxBucket {
    tokens: u32,
    /// Time (ms) up to which refills are counted.
    at: Millis,
}

impl TxBucket {
    /// A full bucket at `now` (ms).
    pub fn new(now: Millis) -> TxBucket {
        TxBucket {
            tokens: MISSING_INPUTS_BURST,
            at: now,
        }
    }

    fn refill(&mut self, now: Millis) {
        let add = now.saturating_sub(self.at) / MISSING_INPUTS_REFILL;
        self.at = self.at.saturating_add(add * MISSING_INPUTS_REFILL);
        let add = u32::try_from(add).unwrap_or(u32::MAX);
        self.tokens = self.tokens.saturating_add(add).min(MISSING_INPUTS_BURST);
        if self.tokens == MISSING_INPUTS_BURST {
            self.at = self.at.max(now);
        }
    }

    /// Tokens left at `now`.
    pub fn tokens(&mut self, now: Millis) -> u32 {
        self.refill(now);
        self.tokens
    }

    /// True when the budget is spent at `now`: the peer's transactions are
    /// dropped unvalidated.
    pub fn is_empty(&mut self, now: Millis) -> bool {
        self.tokens(now) == 0
    }

    /// Takes one token at `now` (a missing-input refusal), if any is left.
    pub fn take(&mut self, now: Millis) {
        self.refill(now);
        self.tokens = self.tokens.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hash::Hash256;

    #[test]
    fn bucket_empties_and_refills_at_its_rate_up_to_the_burst() {
        let mut b = TxBucket::new(1_000);
        for _ in 0..MISSING_INPUTS_BURST {
            assert!(!b.is_empty(1_000));
            b.take(1_000);
        }
        assert!(b.is_empty(1_000));
        assert!(b.is_empty(1_000 + MISSING_INPUTS_REFILL - 1));
        assert_eq!(b.tokens(1_000 + 3 * MISSING_INPUTS_REFILL), 3);
        assert_eq!(b.tokens(1_000_000_000), MISSING_INPUTS_BURST);
        // Full: idle time is not banked past the burst.
        b.take(1_000_000_000);
        assert_eq!(b.tokens(1_000_000_000), MISSING_INPUTS_BURST - 1);
    }

    #[test]
    fn filter_is_bounded_and_forgets_the_oldest() {
        let mut f = RejectFilter::default();
        let txid = |i: usize| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Txid(Hash256(h))
        };
        for i in 0..=MAX_REJECTS {
            f.insert(txid(i), 10);
        }
        assert_eq!(f.len(), MAX_REJECTS);
        assert!(!f.contains(&txid(0)));
        assert_eq!(f.get(&txid(MAX_REJECTS)), Some(10));
        f.clear();
        assert!(f.is_empty() && !f.contains(&txid(1)));
    }
}

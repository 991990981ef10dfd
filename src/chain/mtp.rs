//! Median time past (BIP113) of a stored chain: the header times of a
//! block and the ten before it, read through a bounded cache so that
//! checking a block reads no block bodies in the steady state. The rule
//! itself (a block's time exceeds its parent's median time past) is
//! `core::validation::check_block_time`.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::core::block::BlockHeader;
use crate::core::hash::BlockHash;
use crate::core::validation::{MEDIAN_TIME_SPAN, median_time};
use crate::store::{ChainStore, StoreError};

/// Header facts cached: more are dropped all at once (refilled from the
/// store as needed), so memory stays under ~0.5 MB.
pub const MAX_CACHED_TIMES: usize = 8_192;

/// Each block's parent and time, by hash. A block's hash commits to both,
/// so an entry is true whatever chain or store the block is in.
#[derive(Debug, Default)]
pub struct HeaderTimes {
    map: Mutex<HashMap<BlockHash, (BlockHash, u32)>>,
}

impl HeaderTimes {
    /// Remembers `header`'s parent and time.
    pub fn note(&self, header: &BlockHeader) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= MAX_CACHED_TIMES {
                m.clear();
            }
            m.insert(header.hash(), (header.prev_block_hash, header.timestamp));
        }
    }

    /// The median time past of the chain ending at `tip` (inclusive): the
    /// median of the header times of `tip` and up to ten blocks before it,
    /// in seconds since the Unix epoch. A block missing from the cache is
    /// read from `store`; the walk stops at genesis or at a block the store
    /// does not hold.
    ///
    /// Errors: [`StoreError`] reading a block.
    pub fn median_time_past(&self, store: &ChainStore, tip: BlockHash) -> Result<u32, StoreError> {
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cursor = tip;
        while times.len() < MEDIAN_TIME_SPAN && cursor != BlockHash::ZERO {
            let cached = self.map.lock().ok().and_then(|m| m.get(&cursor).copied());
            let (prev, time) = match cached {
                Some(facts) => facts,
                None => match store.block(&cursor)? {
                    Some(b) => {
                        self.note(&b.header);
                        (b.header.prev_block_hash, b.header.timestamp)
                    }
                    None => break,
                },
            };
            times.push(time);
            cursor = prev;
        }
        Ok(median_time(&times))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use crate::chain::mempool::Mempool;
    use crate::chain::miner;
    use crate::chain::state::{BlockOutcome, ChainError, ChainState};
    use crate::core::block::Block;
    use crate::core::hash::BlockHash;
    use crate::core::validation::{BlockError, SigCache};
    use crate::store::ChainStore;

    const T0: u32 = 1_700_000_000;

    fn mined(prev: BlockHash, height: u64, time: u32) -> Block {
        let mut b = Block::template(prev, height, 1, time, [1; 20], 20, vec![]);
        assert!(miner::solve(&mut b, 1, &AtomicBool::new(false)));
        b
    }

    /// A chain of genesis and blocks 1..=10 dated T0 + 100 * height.
    fn chain() -> (ChainState, BlockHash) {
        let store = ChainStore::temporary().expect("store");
        let g = mined(BlockHash::ZERO, 0, T0);
        store.init_genesis(&g).expect("genesis");
        let state = ChainState::new(store, Arc::new(SigCache::new(16))).expect("state");
        let mut prev = g.hash();
        for h in 1..=10 {
            let b = mined(prev, h, T0 + 100 * h as u32);
            let now = u64::from(T0) + 10_000;
            assert!(matches!(
                state.accept_block(&b, now),
                Ok(BlockOutcome::Connected(_))
            ));
            prev = b.hash();
        }
        (state, prev)
    }

    #[test]
    fn a_block_not_after_the_median_time_past_is_invalid() {
        let (state, tip) = chain();
        // Times T0 .. T0 + 1000: the median of the last 11 is T0 + 500.
        let median = T0 + 500;
        assert_eq!(state.median_time_past(tip).expect("mtp"), median);
        let now = u64::from(T0) + 10_000;
        for time in [0, 1, median] {
            let b = mined(tip, 11, time);
            match state.accept_block(&b, now) {
                Err(ChainError::Invalid {
                    error: BlockError::TimeTooOld { time: t, median: m },
                    ..
                }) => assert_eq!((t, m), (time, median)),
                other => panic!("time {time} accepted: {other:?}"),
            }
        }
        // Earlier than its parent, but after the median: valid.
        let b = mined(tip, 11, median + 1);
        assert!(matches!(
            state.accept_block(&b, now),
            Ok(BlockOutcome::Connected(_))
        ));
    }

    #[test]
    fn the_miner_dates_a_block_after_the_median_time_past() {
        let (state, tip) = chain();
        // A clock far behind (1970): the template is still valid.
        let b = miner::template(&state, &Mempool::default(), [2; 20], 0).expect("template");
        assert_eq!(b.header.prev_block_hash, tip);
        assert_eq!(b.header.timestamp, T0 + 501);
        // A clock ahead is used as is.
        let b = miner::template(&state, &Mempool::default(), [2; 20], T0 + 5_000).expect("t");
        assert_eq!(b.header.timestamp, T0 + 5_000);
    }
}

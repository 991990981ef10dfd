//! Block locators and the `getblocks` answer, read straight from the store
//! (Bitcoin's pre-headers sync: `getblocks` carries a locator, the answer is
//! an `inv` of the best-chain hashes after the fork point).

use crate::core::hash::BlockHash;
use crate::store::{ChainStore, StoreError};

/// Bitcoin's block locator from the tip: the last 10 hashes one by one,
/// then steps doubling back, always ending with genesis; at most 101
/// hashes. Empty when the store holds no chain.
///
/// Errors: [`StoreError`] from reading the heights tree.
pub fn locator(store: &ChainStore) -> Result<Vec<BlockHash>, StoreError> {
    let (Some(tip), Some(genesis)) = (store.tip_opt()?, store.genesis_hash()?) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut height = i128::from(tip.height);
    let mut step: i128 = 1;
    while height > 0 && out.len() < 100 {
        if let Some(h) = store.hash_at(height as u64)? {
            out.push(h);
        }
        if out.len() >= 10 {
            step *= 2;
        }
        height -= step;
    }
    out.push(genesis);
    Ok(out)
}

/// Answer to `getblocks`: best-chain hashes after the first `locator`
/// entry found on the best chain, ascending, up to `stop` inclusive or `max`
/// hashes. An empty locator (a node with no chain) gets genesis first.
/// Empty when the store holds no chain.
///
/// Errors: [`StoreError`] from reading the index.
pub fn hashes_after_locator(
    store: &ChainStore,
    locator: &[BlockHash],
    stop: &BlockHash,
    max: usize,
) -> Result<Vec<BlockHash>, StoreError> {
    let (Some(tip), Some(genesis)) = (store.tip_opt()?, store.genesis_hash()?) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut height = 1;
    if locator.is_empty() {
        out.push(genesis);
    } else {
        for h in locator {
            if store.is_on_best_chain(h)?
                && let Some(m) = store.block_meta(h)?
            {
                height = m.height + 1;
                break;
            }
        }
    }
    while height <= tip.height && out.len() < max {
        let Some(h) = store.hash_at(height)? else {
            break;
        };
        out.push(h);
        if h == *stop {
            break;
        }
        height += 1;
    }
    Ok(out)
}

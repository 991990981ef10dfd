//! The miner: a block template from the mempool, and its proof of work.
//! One module for both `startnode --minter` and `send --mint`.

use std::sync::atomic::AtomicBool;

use crate::core::block::{Block, solve_header};
use crate::core::params::{MAX_BLOCK_SIZE, SUBSIDY};
use crate::store::StoreError;

use super::mempool::Mempool;
use super::state::ChainState;

/// Room left in a block template for the header, the coinbase and the
/// encoding's length prefixes, in bytes.
pub const TEMPLATE_RESERVE: u64 = 10_000;

/// An unsolved block on the tip: a coinbase paying the subsidy (20 coins)
/// plus the fees of the selected mempool transactions to `minter` (a pubkey
/// hash), then those transactions (parents before children, within
/// `MAX_BLOCK_SIZE - TEMPLATE_RESERVE` bytes). `time` is the clock in
/// seconds since the Unix epoch; the header's time is the later of it and
/// one second past the tip's median time past (BIP113), so a slow clock
/// still mints a valid block.
///
/// Errors: [`StoreError`] reading the tip or the times before it.
pub fn template(
    chain: &ChainState,
    mempool: &Mempool,
    minter: [u8; 20],
    time: u32,
) -> Result<Block, StoreError> {
    let tip = chain.tip()?;
    let time = time.max(chain.median_time_past(tip.hash)?.saturating_add(1));
    let (txs, fees) = mempool.select(MAX_BLOCK_SIZE - TEMPLATE_RESERVE);
    Ok(Block::template(
        tip.hash,
        tip.height + 1,
        chain.params().difficulty,
        time,
        minter,
        SUBSIDY.saturating_add(fees),
        txs,
    ))
}

/// Solves `block`'s proof of work on `threads` threads; false if `cancel`
/// became true first (the block is then unsolved). One thread gives a
/// deterministic nonce (the simulator relies on it).
pub fn solve(block: &mut Block, threads: usize, cancel: &AtomicBool) -> bool {
    solve_header(&mut block.header, threads, cancel)
}

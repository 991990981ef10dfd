//! Block decoding and `check_block_sanity`.
//!
//! Any block that decodes must re-encode to the same bytes. Sanity is then
//! checked twice: as received, and with the proof of work made trivial
//! (`bits` 0) and the merkle root filled in, so the rules behind those two
//! checks (coinbase, transactions, duplicates, double spends) are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sledchain::core::Block;
use sledchain::core::encode::{decode, encode};
use sledchain::core::params::MAX_BLOCK_SIZE;
use sledchain::core::validation::check_block_sanity;

/// A fixed clock, so results do not depend on when the fuzzer runs.
const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(block) = decode::<Block>(data, MAX_BLOCK_SIZE) else {
        return;
    };
    assert_eq!(encode(&block), data, "block encoding is not canonical");
    assert_eq!(block.encoded_size(), data.len() as u64);
    let _ = check_block_sanity(&block, NOW);
    let _ = check_block_sanity(&block, 0);
    let _ = check_block_sanity(&block, u64::MAX);

    let mut easy = block;
    easy.header.bits = 0;
    easy.header.merkle_root = easy.compute_merkle_root();
    let _ = easy.txids();
    let _ = check_block_sanity(&easy, u64::MAX);
});

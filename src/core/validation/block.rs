//! Block rules: context-free sanity, and context against the parent and a
//! [`UtxoView`].

use std::collections::{HashMap, HashSet};

use super::sigs::{SigCache, SigCheck, verify_sig_checks};
use super::tx::{check_tx_sanity, inputs_with};
use super::{BlockError, TxError};
use crate::core::block::{Block, BlockHeader};
use crate::core::hash::{BlockHash, Txid};
use crate::core::params::{
    MAX_BLOCK_SIZE, MAX_DIFFICULTY, MAX_FUTURE_BLOCK_TIME, MIN_DIFFICULTY, SUBSIDY,
};
use crate::core::tx::{OutPoint, TxOut};
use crate::core::view::UtxoView;

/// The chain's proof-of-work rule for a header: its bits are within
/// [`MIN_DIFFICULTY`]..=[`MAX_DIFFICULTY`] and are the chain's `difficulty`
/// (fixed per chain, from genesis), and its hash has that many leading
/// zero bits. One hash of 80 bytes: checked before anything else costly,
/// so a block made cheaply (bits 1) costs its sender, not us.
///
/// Errors: [`BlockError::BitsOutOfRange`], [`BlockError::BadBits`], then
/// [`BlockError::BadProofOfWork`].
pub fn check_header_pow(header: &BlockHeader, difficulty: u32) -> Result<(), BlockError> {
    if !(MIN_DIFFICULTY..=MAX_DIFFICULTY).contains(&header.bits) {
        return Err(BlockError::BitsOutOfRange(header.bits));
    }
    if header.bits != difficulty {
        return Err(BlockError::BadBits {
            expected: difficulty,
            got: header.bits,
        });
    }
    if !header.meets_target() {
        return Err(BlockError::BadProofOfWork(header.bits));
    }
    Ok(())
}

/// How many blocks' times make the median time past (BIP113): the block
/// itself and the ten before it, for the median a child must exceed.
pub const MEDIAN_TIME_SPAN: usize = 11;

/// The median of `times` (at most [`MEDIAN_TIME_SPAN`] header times, in any
/// order), as Bitcoin Core's `GetMedianTimePast`: sorted, the element at
/// half the count (the upper median for an even count); 0 for none.
pub fn median_time(times: &[u32]) -> u32 {
    let mut t = times.to_vec();
    t.sort_unstable();
    t.get(t.len() / 2).copied().unwrap_or(0)
}

/// BIP113: a block's time must be after `median_time_past`, the
/// [`median_time`] of its parent and the ten blocks before it (fewer near
/// genesis). Keeps timestamps moving forward although each may be off.
///
/// Errors: [`BlockError::TimeTooOld`].
pub fn check_block_time(header: &BlockHeader, median_time_past: u32) -> Result<(), BlockError> {
    if header.timestamp <= median_time_past {
        return Err(BlockError::TimeTooOld {
            time: header.timestamp,
            median: median_time_past,
        });
    }
    Ok(())
}

/// Context-free checks of a block, at clock `now` (seconds since the Unix
/// epoch): size, bits within
/// [`MIN_DIFFICULTY`]..=[`MAX_DIFFICULTY`], proof of work, timestamp, coinbase placement and height,
/// every transaction's sanity, no duplicate txid, no outpoint spent twice, and
/// the merkle root.
///
/// Errors: the [`BlockError`] of the first rule broken, in that order.
pub fn check_block_sanity(block: &Block, now: u64) -> Result<(), BlockError> {
    let size = block.encoded_size();
    if size > MAX_BLOCK_SIZE {
        return Err(BlockError::TooLarge(size));
    }
    let bits = block.header.bits;
    if !(MIN_DIFFICULTY..=MAX_DIFFICULTY).contains(&bits) {
        return Err(BlockError::BitsOutOfRange(bits));
    }
    if !block.header.meets_target() {
        return Err(BlockError::BadProofOfWork(block.header.bits));
    }
    if u64::from(block.header.timestamp) > now.saturating_add(MAX_FUTURE_BLOCK_TIME) {
        return Err(BlockError::TimeTooNew(block.header.timestamp));
    }
    let first = block
        .transactions
        .first()
        .ok_or(BlockError::NoTransactions)?;
    if !first.is_coinbase() {
        return Err(BlockError::FirstNotCoinbase);
    }
    if first.coinbase_height != block.height {
        return Err(BlockError::CoinbaseHeightMismatch {
            coinbase: first.coinbase_height,
            block: block.height,
        });
    }
    let txids = block.txids();
    let mut seen_tx = HashSet::with_capacity(txids.len());
    let mut spent = HashSet::new();
    for (index, (tx, txid)) in block.transactions.iter().zip(&txids).enumerate() {
        if index > 0 && tx.is_coinbase() {
            return Err(BlockError::MultipleCoinbases(index));
        }
        check_tx_sanity(tx).map_err(|error| BlockError::Tx {
            index,
            txid: *txid,
            error,
        })?;
        if !seen_tx.insert(*txid) {
            return Err(BlockError::DuplicateTx(*txid));
        }
        if index > 0 {
            for input in &tx.inputs {
                if !spent.insert(input.prev_out) {
                    return Err(BlockError::DoubleSpendInBlock(input.prev_out));
                }
            }
        }
    }
    if block.compute_merkle_root() != block.header.merkle_root {
        return Err(BlockError::BadMerkleRoot);
    }
    Ok(())
}

/// What the parent of a block under validation is.
#[derive(Debug, Clone, Copy)]
pub struct ParentInfo {
    /// The parent's hash.
    pub hash: BlockHash,
    /// The parent's height.
    pub height: u64,
}

/// Result of [`check_block_context`]: what connecting the block changes.
#[derive(Debug, Clone, Default)]
pub struct BlockUndo {
    /// For every non-coinbase input of the block, in block order, the output
    /// it spent. Disconnecting the block restores these.
    pub spent: Vec<TxOut>,
    /// Sum of the block's fees.
    pub fees: u64,
}

/// Checks a block (already sanity-checked) against its parent, the chain's
/// difficulty and `view`, the outputs it spends from the UTXO set as of the
/// parent (see [`UtxoView::for_block`]), verifying all signatures in
/// parallel. Outputs created earlier in the same block may be spent by later
/// transactions, each once; they are resolved here, not from `view`.
///
/// Errors: [`BlockError::BadHeight`], [`BlockError::BadBits`],
/// [`BlockError::Tx`] (missing input, wrong owner, bad signature, overspend),
/// [`BlockError::FeeOverflow`], [`BlockError::CoinbaseTooLarge`],
/// [`BlockError::NoTransactions`].
pub fn check_block_context(
    block: &Block,
    parent: &ParentInfo,
    difficulty: u32,
    view: &UtxoView,
    cache: Option<&SigCache>,
) -> Result<BlockUndo, BlockError> {
    let checked = check_block_context_deferred(block, parent, difficulty, view)?;
    verify_sig_checks(&checked.sig_checks, cache).map_err(|(index, input, e)| BlockError::Tx {
        index,
        txid: checked.txids.get(index).copied().unwrap_or_default(),
        error: TxError::BadSignature(input, e),
    })?;
    Ok(checked.undo)
}

/// A block that passed every context rule but its signatures: what
/// [`check_block_context_deferred`] returns.
#[derive(Debug, Clone, Default)]
pub struct DeferredSigs {
    /// What connecting the block changes.
    pub undo: BlockUndo,
    /// The signatures still to verify (`tx_index` is the transaction's
    /// position in the block).
    pub sig_checks: Vec<SigCheck>,
    /// Every txid of the block, in block order.
    pub txids: Vec<Txid>,
}

/// [`check_block_context`] without verifying the signatures: they come
/// back in [`DeferredSigs::sig_checks`], so a batch of blocks can verify
/// all of theirs in one parallel pass. The block is valid only once they
/// pass.
///
/// Errors: those of [`check_block_context`] but [`TxError::BadSignature`].
pub fn check_block_context_deferred(
    block: &Block,
    parent: &ParentInfo,
    difficulty: u32,
    view: &UtxoView,
) -> Result<DeferredSigs, BlockError> {
    let expected = parent.height + 1;
    if block.height != expected {
        return Err(BlockError::BadHeight {
            expected,
            got: block.height,
        });
    }
    if block.header.bits != difficulty {
        return Err(BlockError::BadBits {
            expected: difficulty,
            got: block.header.bits,
        });
    }
    let (undo, sig_checks, txids) = check_block_inputs(block, view)?;
    let allowed = SUBSIDY
        .checked_add(undo.fees)
        .ok_or(BlockError::FeeOverflow)?;
    let paid = block
        .transactions
        .first()
        .ok_or(BlockError::NoTransactions)?
        .output_sum()
        .ok_or(BlockError::FeeOverflow)?;
    if paid > allowed {
        return Err(BlockError::CoinbaseTooLarge { paid, allowed });
    }
    Ok(DeferredSigs {
        undo,
        sig_checks,
        txids,
    })
}

/// Checks the inputs of every non-coinbase transaction of `block`, in
/// order, resolving each outpoint from the outputs created earlier in the
/// block (taking it, so it resolves once) or else from `view`. Returns the
/// undo data and fees, the signatures to verify, and every txid in block
/// order.
fn check_block_inputs(
    block: &Block,
    view: &UtxoView,
) -> Result<(BlockUndo, Vec<SigCheck>, Vec<Txid>), BlockError> {
    // Outputs created inside this block, spendable by later transactions.
    let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
    let mut undo = BlockUndo::default();
    let mut checks = Vec::new();
    let mut txids = Vec::with_capacity(block.transactions.len());
    for (index, tx) in block.transactions.iter().enumerate() {
        let txid = tx.txid();
        txids.push(txid);
        if index > 0 {
            let c = inputs_with(tx, index, |op| {
                created.remove(op).or_else(|| view.get(op).copied())
            })
            .map_err(|error| BlockError::Tx { index, txid, error })?;
            undo.fees = undo
                .fees
                .checked_add(c.fee)
                .ok_or(BlockError::FeeOverflow)?;
            undo.spent.extend(c.spent);
            checks.extend(c.sig_checks);
        }
        for (vout, out) in tx.outputs.iter().enumerate() {
            created.insert(
                OutPoint {
                    txid,
                    vout: vout as u32,
                },
                *out,
            );
        }
    }
    Ok((undo, checks, txids))
}

//! Consensus rules, split as btcd splits them:
//!
//! * *sanity* checks need nothing but the block or transaction itself
//!   ([`check_tx_sanity`], [`check_block_sanity`]);
//! * *context* checks need the parent and the UTXO set
//!   ([`check_tx_inputs`], [`check_block_context`]).
//!
//! Signature verification, the expensive part, is collected into
//! [`SigCheck`]s and run in parallel by [`verify_sig_checks`], skipping any
//! found in a [`SigCache`] (Bitcoin Core's signature cache: a transaction
//! verified on entry to the mempool is not verified again in a block).
//!
//! Every rule has its own error variant.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use rayon::prelude::*;

use super::block::Block;
use super::encode::encoded_len;
use super::hash::{BlockHash, Hash256, Txid, hash160, sha256};
use super::params::{MAX_BLOCK_SIZE, MAX_FUTURE_BLOCK_TIME, MAX_TX_SIZE, SUBSIDY};
use super::tx::{OutPoint, SigError, Transaction, TxOut, sighash, verify_signature};

/// Why a transaction is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// No inputs.
    #[error("transaction has no inputs")]
    NoInputs,
    /// No outputs.
    #[error("transaction has no outputs")]
    NoOutputs,
    /// Serialized size over [`MAX_TX_SIZE`].
    #[error("transaction is {0} bytes, over the {MAX_TX_SIZE}-byte limit")]
    TooLarge(u64),
    /// The same outpoint is spent twice in the transaction.
    #[error("transaction spends {0} twice")]
    DuplicateInput(OutPoint),
    /// Output values sum past `u64::MAX`.
    #[error("output values overflow u64")]
    OutputOverflow,
    /// A non-coinbase input spends the null outpoint.
    #[error("input {0} spends the null outpoint outside a coinbase")]
    NullInput(usize),
    /// A non-coinbase transaction with a non-zero coinbase height.
    #[error("coinbase_height is {0} in a transaction that is not a coinbase")]
    NonZeroCoinbaseHeight(u64),
    /// A coinbase where only ordinary transactions may stand (mempool, or not
    /// first in a block).
    #[error("unexpected coinbase")]
    UnexpectedCoinbase,
    /// An input spends an output that does not exist or is already spent.
    #[error("input {index} spends {outpoint}, which is missing or already spent")]
    MissingInput {
        /// Input index.
        index: usize,
        /// The outpoint it names.
        outpoint: OutPoint,
    },
    /// The input's public key does not hash to the spent output's owner.
    #[error("input {0}: public key does not own the spent output")]
    WrongOwner(usize),
    /// The input's signature does not verify.
    #[error("input {0}: {1}")]
    BadSignature(usize, SigError),
    /// Input values sum past `u64::MAX`.
    #[error("input values overflow u64")]
    InputOverflow,
    /// Outputs exceed inputs.
    #[error("outputs ({outputs}) exceed inputs ({inputs})")]
    InsufficientInputs {
        /// Sum of spent output values.
        inputs: u64,
        /// Sum of this transaction's outputs.
        outputs: u64,
    },
    /// The UTXO set could not be read.
    #[error("UTXO lookup failed: {0}")]
    View(String),
}

/// Why a block is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Serialized size over [`MAX_BLOCK_SIZE`].
    #[error("block is {0} bytes, over the {MAX_BLOCK_SIZE}-byte limit")]
    TooLarge(u64),
    /// The hash does not meet the target of the header's bits.
    #[error("proof of work: hash does not have {0} leading zero bits")]
    BadProofOfWork(u32),
    /// The header's merkle root is not that of the transactions.
    #[error("merkle root does not match the transactions")]
    BadMerkleRoot,
    /// No transactions at all.
    #[error("block has no transactions")]
    NoTransactions,
    /// The first transaction is not a coinbase.
    #[error("first transaction is not a coinbase")]
    FirstNotCoinbase,
    /// A coinbase after the first transaction.
    #[error("transaction {0} is a second coinbase")]
    MultipleCoinbases(usize),
    /// The same txid twice (CVE-2012-2459's merkle duplication).
    #[error("duplicate transaction {0}")]
    DuplicateTx(Txid),
    /// Two transactions of the block spend the same outpoint.
    #[error("outpoint {0} is spent twice in the block")]
    DoubleSpendInBlock(OutPoint),
    /// The coinbase's height is not the block's.
    #[error("coinbase height {coinbase} differs from block height {block}")]
    CoinbaseHeightMismatch {
        /// `coinbase_height` of the coinbase.
        coinbase: u64,
        /// `height` of the block.
        block: u64,
    },
    /// Timestamp more than [`MAX_FUTURE_BLOCK_TIME`] ahead of the clock.
    #[error("timestamp {0} is more than 2 hours in the future")]
    TimeTooNew(u32),
    /// A transaction broke a rule.
    #[error("transaction {index} ({txid}): {error}")]
    Tx {
        /// Position in the block.
        index: usize,
        /// Its txid.
        txid: Txid,
        /// The rule.
        error: TxError,
    },
    /// The parent block is not known.
    #[error("parent {0} is unknown")]
    UnknownParent(BlockHash),
    /// Height is not parent's height + 1.
    #[error("height {got} does not follow parent height (expected {expected})")]
    BadHeight {
        /// Parent height + 1.
        expected: u64,
        /// The block's height field.
        got: u64,
    },
    /// Bits differ from the chain's difficulty.
    #[error("bits {got} differ from the chain's difficulty {expected}")]
    BadBits {
        /// The chain's difficulty.
        expected: u32,
        /// The header's bits.
        got: u32,
    },
    /// The coinbase pays more than subsidy plus fees.
    #[error("coinbase pays {paid}, more than subsidy + fees = {allowed}")]
    CoinbaseTooLarge {
        /// Sum of the coinbase's outputs.
        paid: u64,
        /// Subsidy plus the block's fees.
        allowed: u64,
    },
    /// Fees summed past `u64::MAX`.
    #[error("fees overflow u64")]
    FeeOverflow,
    /// The UTXO set or block index could not be read.
    #[error("lookup failed: {0}")]
    View(String),
}

/// Context-free checks of a transaction (coinbase or not).
///
/// Errors: [`TxError::NoInputs`], [`TxError::NoOutputs`], [`TxError::TooLarge`],
/// [`TxError::OutputOverflow`], [`TxError::DuplicateInput`],
/// [`TxError::NullInput`], [`TxError::NonZeroCoinbaseHeight`].
pub fn check_tx_sanity(tx: &Transaction) -> Result<(), TxError> {
    if tx.inputs.is_empty() {
        return Err(TxError::NoInputs);
    }
    if tx.outputs.is_empty() {
        return Err(TxError::NoOutputs);
    }
    let size = encoded_len(tx);
    if size > MAX_TX_SIZE {
        return Err(TxError::TooLarge(size));
    }
    tx.output_sum().ok_or(TxError::OutputOverflow)?;
    if tx.is_coinbase() {
        return Ok(());
    }
    if tx.coinbase_height != 0 {
        return Err(TxError::NonZeroCoinbaseHeight(tx.coinbase_height));
    }
    let mut seen = HashSet::with_capacity(tx.inputs.len());
    for (i, input) in tx.inputs.iter().enumerate() {
        if input.prev_out.is_null() {
            return Err(TxError::NullInput(i));
        }
        if !seen.insert(input.prev_out) {
            return Err(TxError::DuplicateInput(input.prev_out));
        }
    }
    Ok(())
}

/// Context-free checks of a block, at clock `now` (seconds since the Unix
/// epoch): size, proof of work, timestamp, coinbase placement and height,
/// every transaction's sanity, no duplicate txid, no outpoint spent twice, and
/// the merkle root.
///
/// Errors: the [`BlockError`] of the first rule broken, in that order.
pub fn check_block_sanity(block: &Block, now: u64) -> Result<(), BlockError> {
    let size = block.encoded_size();
    if size > MAX_BLOCK_SIZE {
        return Err(BlockError::TooLarge(size));
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

/// One signature to verify: input `input` of transaction `tx_index`.
#[derive(Clone, Debug)]
pub struct SigCheck {
    /// Position of the transaction (in its block, or 0 for a lone transaction).
    pub tx_index: usize,
    /// Input index within the transaction.
    pub input: usize,
    /// SEC1 public key from the input.
    pub pubkey: [u8; 65],
    /// The sighash the input signs.
    pub sighash: Hash256,
    /// `r ‖ s`.
    pub signature: [u8; 64],
}

impl SigCheck {
    /// Signature-cache key: SHA-256 of `sighash ‖ pubkey ‖ signature`.
    pub fn cache_key(&self) -> [u8; 32] {
        let mut b = [0u8; 32 + 65 + 64];
        b[..32].copy_from_slice(self.sighash.as_bytes());
        b[32..97].copy_from_slice(&self.pubkey);
        b[97..].copy_from_slice(&self.signature);
        sha256(&b)
    }

    /// Verifies this one signature.
    pub fn verify(&self) -> Result<(), SigError> {
        verify_signature(&self.pubkey, self.sighash.as_bytes(), &self.signature)
    }
}

/// The cache's keys as a set, and the same keys in insertion order for eviction.
type CacheEntries = (HashSet<[u8; 32]>, VecDeque<[u8; 32]>);

/// A bounded set of signature checks already known to pass (Bitcoin Core's
/// signature cache). Oldest entries leave first when it is full.
pub struct SigCache {
    inner: Mutex<CacheEntries>,
    capacity: usize,
}

impl SigCache {
    /// An empty cache holding at most `capacity` entries (32 bytes each plus overhead).
    pub fn new(capacity: usize) -> SigCache {
        SigCache {
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
            capacity,
        }
    }

    /// True if `key` was inserted and not yet evicted.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.inner
            .lock()
            .map(|g| g.0.contains(key))
            .unwrap_or(false)
    }

    /// Remembers a passing check.
    pub fn insert(&self, key: [u8; 32]) {
        if let Ok(mut g) = self.inner.lock()
            && g.0.insert(key)
        {
            g.1.push_back(key);
            while g.1.len() > self.capacity {
                if let Some(old) = g.1.pop_front() {
                    g.0.remove(&old);
                }
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.0.len()).unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Verifies `checks` in parallel (rayon), skipping those in `cache` and adding
/// those that pass to it.
///
/// Errors: the failing check's `(tx_index, input, reason)`; which failure is
/// reported when several fail is unspecified.
pub fn verify_sig_checks(
    checks: &[SigCheck],
    cache: Option<&SigCache>,
) -> Result<(), (usize, usize, SigError)> {
    let run = |c: &SigCheck| -> Result<(), (usize, usize, SigError)> {
        let key = cache.map(|_| c.cache_key());
        if let (Some(cache), Some(key)) = (cache, key.as_ref())
            && cache.contains(key)
        {
            return Ok(());
        }
        c.verify().map_err(|e| (c.tx_index, c.input, e))?;
        if let (Some(cache), Some(key)) = (cache, key) {
            cache.insert(key);
        }
        Ok(())
    };
    if checks.len() < 2 {
        checks.iter().try_for_each(run)
    } else {
        checks.par_iter().try_for_each(run)
    }
}

/// What checking a transaction's inputs found.
#[derive(Debug, Clone)]
pub struct InputsChecked {
    /// Inputs minus outputs, in whole coins.
    pub fee: u64,
    /// The outputs the inputs spend, in input order (undo data).
    pub spent: Vec<TxOut>,
    /// Signatures still to verify.
    pub sig_checks: Vec<SigCheck>,
}

/// Checks a non-coinbase transaction against the outputs it spends:
/// every input's outpoint resolves through `lookup` (`Ok(None)` = missing or
/// spent), the input's public key hashes to the spent output's owner, and
/// inputs ≥ outputs. Signatures are returned as [`SigCheck`]s, not verified.
///
/// Errors: [`TxError::UnexpectedCoinbase`], [`TxError::MissingInput`],
/// [`TxError::WrongOwner`], [`TxError::InputOverflow`],
/// [`TxError::OutputOverflow`], [`TxError::InsufficientInputs`],
/// [`TxError::View`].
pub fn check_tx_inputs<F>(
    tx: &Transaction,
    tx_index: usize,
    mut lookup: F,
) -> Result<InputsChecked, TxError>
where
    F: FnMut(&OutPoint) -> Result<Option<TxOut>, String>,
{
    if tx.is_coinbase() {
        return Err(TxError::UnexpectedCoinbase);
    }
    let txid = tx.txid();
    let mut total_in: u64 = 0;
    let mut spent = Vec::with_capacity(tx.inputs.len());
    let mut sig_checks = Vec::with_capacity(tx.inputs.len());
    for (i, input) in tx.inputs.iter().enumerate() {
        let out = lookup(&input.prev_out)
            .map_err(TxError::View)?
            .ok_or(TxError::MissingInput {
                index: i,
                outpoint: input.prev_out,
            })?;
        if hash160(&input.pubkey) != out.pubkey_hash {
            return Err(TxError::WrongOwner(i));
        }
        total_in = total_in
            .checked_add(out.value)
            .ok_or(TxError::InputOverflow)?;
        sig_checks.push(SigCheck {
            tx_index,
            input: i,
            pubkey: input.pubkey,
            sighash: sighash(&txid, i as u32, &out),
            signature: input.signature,
        });
        spent.push(out);
    }
    let total_out = tx.output_sum().ok_or(TxError::OutputOverflow)?;
    if total_out > total_in {
        return Err(TxError::InsufficientInputs {
            inputs: total_in,
            outputs: total_out,
        });
    }
    Ok(InputsChecked {
        fee: total_in - total_out,
        spent,
        sig_checks,
    })
}

/// Fully checks a lone transaction for the mempool: sanity, not a coinbase,
/// inputs via `lookup`, and signatures (using `cache`).
///
/// Errors: any [`TxError`].
pub fn check_transaction<F>(
    tx: &Transaction,
    lookup: F,
    cache: Option<&SigCache>,
) -> Result<InputsChecked, TxError>
where
    F: FnMut(&OutPoint) -> Result<Option<TxOut>, String>,
{
    check_tx_sanity(tx)?;
    if tx.is_coinbase() {
        return Err(TxError::UnexpectedCoinbase);
    }
    let checked = check_tx_inputs(tx, 0, lookup)?;
    verify_sig_checks(&checked.sig_checks, cache)
        .map_err(|(_, i, e)| TxError::BadSignature(i, e))?;
    Ok(checked)
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
/// difficulty and the UTXO set as of the parent (`lookup`), verifying all
/// signatures in parallel. Outputs created earlier in the same block may be
/// spent by later transactions.
///
/// Errors: [`BlockError::BadHeight`], [`BlockError::BadBits`],
/// [`BlockError::Tx`] (missing input, wrong owner, bad signature, overspend),
/// [`BlockError::FeeOverflow`], [`BlockError::CoinbaseTooLarge`].
pub fn check_block_context<F>(
    block: &Block,
    parent: &ParentInfo,
    difficulty: u32,
    mut lookup: F,
    cache: Option<&SigCache>,
) -> Result<BlockUndo, BlockError>
where
    F: FnMut(&OutPoint) -> Result<Option<TxOut>, String>,
{
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
    // Outputs created inside this block, spendable by later transactions.
    let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
    let mut undo = BlockUndo::default();
    let mut checks = Vec::new();
    let mut txids = Vec::with_capacity(block.transactions.len());
    for (index, tx) in block.transactions.iter().enumerate() {
        let txid = tx.txid();
        txids.push(txid);
        if index > 0 {
            let c = check_tx_inputs(tx, index, |op| match created.remove(op) {
                Some(o) => Ok(Some(o)),
                None => lookup(op),
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
    verify_sig_checks(&checks, cache).map_err(|(index, input, e)| BlockError::Tx {
        index,
        txid: txids.get(index).copied().unwrap_or_default(),
        error: TxError::BadSignature(input, e),
    })?;
    Ok(undo)
}

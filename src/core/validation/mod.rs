//! Consensus rules, split as btcd splits them:
//!
//! * *sanity* checks need nothing but the block or transaction itself
//!   ([`check_tx_sanity`], [`check_block_sanity`]);
//! * *context* checks need the parent and the outputs being spent, fetched
//!   beforehand into a [`UtxoView`](crate::core::view::UtxoView)
//!   ([`check_tx_inputs`], [`check_transaction`], [`check_block_context`]).
//!   They read nothing else, so they cannot fail for want of I/O.
//!
//! Signature verification, the expensive part, is collected into
//! [`SigCheck`]s and run in parallel by [`verify_sig_checks`], skipping any
//! found in a [`SigCache`] (Bitcoin Core's signature cache: a transaction
//! verified on entry to the mempool is not verified again in a block).
//!
//! Every rule has its own error variant.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`TxError`], [`BlockError`] |
//! | `tx.rs` | transaction sanity and inputs |
//! | `block.rs` | block sanity and context |
//! | `sigs.rs` | [`SigCheck`], [`SigCache`], [`verify_sig_checks`] |

mod block;
mod sigs;
mod tx;

pub use block::{
    BlockUndo, DeferredSigs, MEDIAN_TIME_SPAN, ParentInfo, check_block_context,
    check_block_context_deferred, check_block_sanity, check_block_time, check_header_pow,
    median_time,
};
pub use sigs::{SigCache, SigCheck, verify_sig_checks};
pub use tx::{InputsChecked, check_transaction, check_tx_inputs, check_tx_sanity};

use super::hash::{BlockHash, Txid};
use super::params::{MAX_BLOCK_SIZE, MAX_DIFFICULTY, MAX_TX_SIZE, MIN_DIFFICULTY};
use super::tx::{OutPoint, SigError};

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
}

/// Why a block is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Serialized size over [`MAX_BLOCK_SIZE`].
    #[error("block is {0} bytes, over the {MAX_BLOCK_SIZE}-byte limit")]
    TooLarge(u64),
    /// The header's bits are outside
    /// [`MIN_DIFFICULTY`]..=[`MAX_DIFFICULTY`] (on every chain, genesis
    /// included: 0 bits would make proof of work free, and past 64 a
    /// chain's cumulative work could overflow).
    #[error("bits {0} outside {MIN_DIFFICULTY}..={MAX_DIFFICULTY}")]
    BitsOutOfRange(u32),
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
    /// Timestamp more than
    /// [`MAX_FUTURE_BLOCK_TIME`](crate::core::params::MAX_FUTURE_BLOCK_TIME) ahead of the clock.
    #[error("timestamp {0} is more than 2 hours in the future")]
    TimeTooNew(u32),
    /// The header time is not after the median time past of its parent
    /// (BIP113: the median of the previous 11 blocks' times).
    #[error("timestamp {time} is not after the median time past {median}")]
    TimeTooOld {
        /// The block's time (seconds since the Unix epoch).
        time: u32,
        /// The median time past it must exceed.
        median: u32,
    },
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
}

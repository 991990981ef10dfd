//! Mempool policy: the limits a transaction must meet to be held and
//! relayed, on top of the consensus rules, and the fee rate that orders
//! eviction and block selection. Policy, not consensus: a block may hold
//! transactions this policy refuses.

use std::cmp::Ordering;

use crate::core::hash::Txid;
use crate::core::params::MAX_BLOCK_SIZE;
use crate::core::tx::OutPoint;
use crate::core::validation::TxError;
use crate::store::StoreError;

/// Largest encoded transaction the mempool accepts, in bytes. Bitcoin Core's
/// `MAX_STANDARD_TX_WEIGHT` (src/policy/policy.h) is 400,000 weight units,
/// 100 kvB, against a 1 MB block; the same 100,000 bytes here keep any
/// accepted transaction, plus a coinbase and header, inside the
/// `MAX_BLOCK_SIZE - TEMPLATE_RESERVE` bytes a template fills.
pub const MAX_STANDARD_TX_SIZE: u64 = 100_000;

/// Most transactions in a transaction's unconfirmed ancestry, itself
/// included (Bitcoin Core's `DEFAULT_ANCESTOR_LIMIT`, src/policy/policy.h).
pub const MAX_ANCESTORS: usize = 25;

/// Largest encoded size of a transaction with its unconfirmed ancestors, in
/// bytes (Bitcoin Core's `DEFAULT_ANCESTOR_SIZE_LIMIT_KVB`, 101 kvB).
pub const MAX_ANCESTOR_SIZE: u64 = 101_000;

/// Most transactions in a mempool transaction's unconfirmed descendants,
/// itself included (Bitcoin Core's `DEFAULT_DESCENDANT_LIMIT`).
pub const MAX_DESCENDANTS: usize = 25;

/// Largest encoded size of a mempool transaction with its descendants, in
/// bytes (Bitcoin Core's `DEFAULT_DESCENDANT_SIZE_LIMIT_KVB`, 101 kvB).
pub const MAX_DESCENDANT_SIZE: u64 = 101_000;

/// Default bound of the mempool, in MB (10^6 bytes) of encoded
/// transactions (`startnode --mempool-mb`). Bitcoin Core's default
/// `-maxmempool` is 300 MB (src/kernel/mempool_options.h); blocks here are
/// rarer and payments smaller.
pub const DEFAULT_MEMPOOL_MB: u64 = 50;

/// How long a transaction may wait in the mempool, in seconds: 24 hours
/// (Bitcoin Core's `DEFAULT_MEMPOOL_EXPIRY_HOURS` is two weeks,
/// src/kernel/mempool_options.h).
pub const MEMPOOL_EXPIRY_SECS: u64 = 24 * 3600;

const _: () = assert!(MAX_STANDARD_TX_SIZE < MAX_BLOCK_SIZE / 2);

/// The mempool's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Most encoded transaction bytes held; at least
    /// [`MAX_STANDARD_TX_SIZE`] is enforced.
    pub max_bytes: u64,
    /// Seconds after entering that a transaction expires.
    pub expiry_secs: u64,
}

impl MempoolLimits {
    /// `mb` MB (10^6 bytes) of transactions, the default expiry.
    pub fn with_mb(mb: u64) -> MempoolLimits {
        MempoolLimits {
            max_bytes: mb.saturating_mul(1_000_000),
            expiry_secs: MEMPOOL_EXPIRY_SECS,
        }
    }
}

impl Default for MempoolLimits {
    /// [`DEFAULT_MEMPOOL_MB`] and [`MEMPOOL_EXPIRY_SECS`].
    fn default() -> MempoolLimits {
        MempoolLimits::with_mb(DEFAULT_MEMPOOL_MB)
    }
}

/// A fee rate: `fee` whole coins over `size` encoded bytes. Compared exactly
/// by cross-multiplying in `u128` (no floats); a size of 0 counts as 1.
#[derive(Debug, Clone, Copy)]
pub struct FeeRate {
    /// Fee in whole coins.
    pub fee: u64,
    /// Encoded size in bytes.
    pub size: u64,
}

impl FeeRate {
    /// `fee` coins over `size` bytes.
    pub fn new(fee: u64, size: u64) -> FeeRate {
        FeeRate { fee, size }
    }
}

impl Ord for FeeRate {
    fn cmp(&self, other: &FeeRate) -> Ordering {
        let a = u128::from(self.fee) * u128::from(other.size.max(1));
        let b = u128::from(other.fee) * u128::from(self.size.max(1));
        a.cmp(&b)
    }
}

impl PartialOrd for FeeRate {
    fn partial_cmp(&self, other: &FeeRate) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for FeeRate {
    fn eq(&self, other: &FeeRate) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for FeeRate {}

impl std::fmt::Display for FeeRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} coins per {} bytes", self.fee, self.size)
    }
}

/// Why a transaction was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    /// Already in the mempool.
    #[error("transaction {0} is already in the mempool")]
    AlreadyKnown(Txid),
    /// Spends an outpoint another mempool transaction spends.
    #[error("input {outpoint} is already spent by mempool transaction {other}")]
    Conflict {
        /// The contested outpoint.
        outpoint: OutPoint,
        /// The mempool transaction spending it.
        other: Txid,
    },
    /// No chain yet: nothing can be validated.
    #[error("no chain yet: transactions wait until the node has a genesis block")]
    NoChain,
    /// Larger than [`MAX_STANDARD_TX_SIZE`].
    #[error("transaction is {0} bytes, over the {MAX_STANDARD_TX_SIZE}-byte standard limit")]
    NonStandardSize(u64),
    /// With its unconfirmed ancestors it would exceed [`MAX_ANCESTORS`]
    /// transactions or [`MAX_ANCESTOR_SIZE`] bytes.
    #[error(
        "too many unconfirmed ancestors: {count} transactions, {size} bytes \
         (limits {MAX_ANCESTORS}, {MAX_ANCESTOR_SIZE})"
    )]
    TooManyAncestors {
        /// Transactions, itself included.
        count: usize,
        /// Bytes, itself included.
        size: u64,
    },
    /// Mempool transaction `ancestor` would get more than
    /// [`MAX_DESCENDANTS`] descendants or [`MAX_DESCENDANT_SIZE`] bytes.
    #[error("mempool transaction {ancestor} has too many unconfirmed descendants")]
    TooManyDescendants {
        /// The ancestor whose limit it would break.
        ancestor: Txid,
    },
    /// The mempool is full and the transaction's fee rate does not beat the
    /// lowest package that would have to leave.
    #[error("mempool is full: a fee rate above {needed} is needed")]
    Full {
        /// The rate to beat (strictly).
        needed: FeeRate,
    },
    /// Breaks a consensus rule.
    #[error("invalid transaction {txid}: {error}")]
    Invalid {
        /// Its txid.
        txid: Txid,
        /// The rule.
        error: TxError,
    },
    /// The UTXO set could not be read; says nothing about the transaction.
    #[error(transparent)]
    Store(#[from] StoreError),
}

//! Chain parameters: the constants every node enforces.

/// Block subsidy in whole coins, paid to the minter by the coinbase (as in the
/// classic Go design this project mirrors; no halving).
pub const SUBSIDY: u64 = 20;

/// Default proof-of-work difficulty for a new chain, in leading zero bits of
/// the block hash.
pub const DEFAULT_DIFFICULTY: u32 = 16;

/// Smallest and largest difficulty a chain may be created with, in bits.
/// The upper bound keeps a block's work (2^bits) and any chain's cumulative
/// work well inside a `u128`.
pub const MIN_DIFFICULTY: u32 = 1;
/// See [`MIN_DIFFICULTY`].
pub const MAX_DIFFICULTY: u32 = 64;

/// Largest serialized block, in bytes (Bitcoin's pre-segwit limit).
pub const MAX_BLOCK_SIZE: u64 = 1_000_000;

/// Largest serialized transaction, in bytes (a transaction must fit in a block).
pub const MAX_TX_SIZE: u64 = MAX_BLOCK_SIZE;

/// How far a block's timestamp may be ahead of the validating node's clock,
/// in seconds (Bitcoin's 2 hours).
pub const MAX_FUTURE_BLOCK_TIME: u64 = 2 * 60 * 60;

/// Block header version this node creates.
pub const BLOCK_VERSION: u32 = 1;

/// Transaction version this node creates.
pub const TX_VERSION: u32 = 1;

/// Per-chain parameters, read from the genesis block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainParams {
    /// Required proof of work for every block, in leading zero bits.
    pub difficulty: u32,
}

/// Current time in seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

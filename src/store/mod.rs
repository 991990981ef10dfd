//! The sled chain store.
//!
//! One sled database per node, at `DATADIR/PORT/chain`, with these trees
//! (keys and values, byte layouts; integers in keys are big-endian so keys
//! sort numerically, values are bincode as [`crate::core::encode`] defines):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `blocks` | block hash (32) | [`Block`](crate::core::Block) |
//! | `index` | block hash (32) | [`BlockMeta`]: height, parent, cumulative work, status |
//! | `heights` | height (u64 BE) | block hash (32), best chain only |
//! | `meta` | `b"tip"`, `b"genesis"`, `b"difficulty"` | hash (32), hash (32), u32 BE |
//! | `utxo` | outpoint: txid (32) ‖ vout (u32 BE) | [`TxOut`](crate::core::TxOut) |
//! | `addr_utxo` | pubkey hash (20) ‖ outpoint (36) | value (u64 BE) |
//! | `undo` | block hash (32) | the outputs the block spent, in input order |
//! | `peers` | `host:port` (UTF-8) | [`PeerRecord`] |
//! | `explorer` | `T` ‖ txid, `A` ‖ pubkey hash ‖ height ‖ position, `S` ‖ outpoint, `L` | the explorer indexes and their locator (`txindex.rs`) |
//!
//! `addr_utxo` makes balance and coin selection proportional to one
//! address's own outputs (a prefix scan), not to the whole UTXO set.
//!
//! The explorer indexes (a transaction's block, an address's history,
//! which input spends an output) let the HTTP API answer without scanning
//! the chain. They are built beside the chain, not in it (`indexer.rs`,
//! Bitcoin Core's `BaseIndex`): with their own best-block locator, written
//! in their own batches, caught up by their own thread and rolled back on
//! reorgs.
//!
//! Blocks are written once: a block's bytes and its `index` entry are
//! stored when it is accepted (or connected, for a block first seen
//! extending the tip), outside the chain state, and never rewritten.
//! Everything else (`heights`, `meta`, `utxo`, `addr_utxo`, `undo`, the
//! *chain state*) is read and written through an
//! in-memory cache (`cache.rs`, Bitcoin Core's `CCoinsViewCache`) and
//! reaches sled in one atomic step (a transaction, or a journal for a large
//! cache) across those trees, with the tip
//! it is valid for (`meta` `b"tip"`, Core's `DB_BEST_BLOCK`), when the cache
//! is flushed. So sled always holds the chain state of one block, whole;
//! after a crash the node opens at that block and connects the stored
//! blocks above it again (`chain/state.rs`, `activate_best_chain`).
//!
//! Beside the sled directory, `chain.best` (`record.rs`) records the tip of
//! the last flush; a database whose chain state is not at or above it lost
//! data, and [`ChainStore::open`] refuses it ([`StoreError::Damaged`]).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`ChainStore`], opening and flushing, the best-block check, [`StoreError`], the record types |
//! | `cache.rs` | the chain-state cache and its atomic flush |
//! | `record.rs` | the best-block record file |
//! | `index.rs` | blocks, block index, best-chain heights, tip, genesis and chain metadata |
//! | `utxo.rs` | UTXO set, address index, undo data, connect/disconnect |
//! | `reindex.rs` | the UTXO set rebuilt from the blocks (parallel reads, only the difference written) |
//! | `peers.rs` | peer records |
//! | `txindex.rs` | transaction, address-history and spent-by indexes: layout and readers |
//! | `indexer.rs` | the index builder: its locator, catch-up, rollback on reorgs, its thread |
//! | `index_rebuild.rs` | those indexes checked and repaired from the blocks (`reindexutxo`; the chain's entries gathered by key and the tree checked with a lookup per entry, sorted and merged with one ordered scan of the tree when they differ, entry by entry past a memory budget; only the difference written) |

use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::transaction::TransactionError;

use crate::core::hash::{BlockHash, Hash256};
use crate::core::params::MAX_BLOCK_SIZE;

mod cache;
mod index;
mod index_rebuild;
mod indexer;
mod peers;
mod record;
mod reindex;
mod txindex;
mod utxo;

pub use cache::{DEFAULT_DBCACHE_MB, FLUSH_INTERVAL};
pub use index::BlockIter;
pub use indexer::{IndexThread, IndexTip, STEP_BLOCKS, STEP_ENTRIES};
pub use record::{BestRecord, Recorded};
pub use txindex::HistoryEntry;

use cache::Space;

/// Errors from the chain store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or internal error.
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// The database is locked by another process (a running node).
    #[error("database {0} is in use by another process")]
    Locked(String),
    /// A stored value does not decode, or a record the chain needs is missing.
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    /// No chain yet: no genesis block.
    #[error("no chain yet: run `node createblockchain` or start the node to sync from the seed")]
    NoChain,
    /// A genesis block exists already.
    #[error("a chain exists already")]
    ChainExists,
    /// The block is not in the store.
    #[error("block {0} not found")]
    MissingBlock(BlockHash),
    /// The database lost data: its chain state is not at (or above) the
    /// tip the best-block record says was flushed (`record.rs`), or sled
    /// found its files corrupt. The node refuses to start on it.
    #[error(
        "database is damaged: {0}. The node will not start on it: run `node reindexutxo` to rebuild the chain state from the blocks it still holds (the node then fetches the rest from its peers), or stop the node, delete its data directory and resync"
    )]
    Damaged(String),
    /// The best-block record could not be read or written.
    #[error("best-block record {0}")]
    Record(String),
    /// The explorer indexes are too far behind the tip to answer now: the
    /// index builder is catching up (`indexer.rs`).
    #[error(
        "the transaction and address indexes are catching up: indexed to height {}, tip at height {tip}; retry shortly",
        indexed.map_or_else(|| "none".to_string(), |h| h.to_string())
    )]
    IndexBehind {
        /// Height the indexes answer for (`None`: not even genesis).
        indexed: Option<u64>,
        /// The tip's height.
        tip: u64,
    },
    /// Asked to connect a block that does not extend the tip.
    #[error("block {block} does not extend the tip {tip}")]
    NotOnTip {
        /// The block.
        block: BlockHash,
        /// The current tip.
        tip: BlockHash,
    },
}

/// Validation status of a stored block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockStatus {
    /// Passed sanity checks; not yet connected (a side branch, or waiting).
    Stored,
    /// Was connected to the best chain at least once, so fully valid.
    Valid,
    /// Failed validation (itself, or a descendant of an invalid block).
    Invalid,
}

/// Per-block index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Height (genesis 0).
    pub height: u64,
    /// Parent hash (zero for genesis).
    pub prev: BlockHash,
    /// Sum of [`block_work`](crate::core::block::block_work) from genesis to this block, inclusive.
    pub chain_work: u128,
    /// Validation status.
    pub status: BlockStatus,
}

/// What the node remembers about another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PeerRecord {
    /// Last successful contact, seconds since the Unix epoch (0 = never).
    pub last_seen: u64,
    /// Consecutive failed connection attempts.
    pub failures: u32,
    /// Banned until this time, seconds since the Unix epoch (0 = not banned).
    pub banned_until: u64,
}

/// Summary of the best chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Tip hash.
    pub hash: BlockHash,
    /// Tip height.
    pub height: u64,
    /// Cumulative work of the tip.
    pub chain_work: u128,
}

const TIP: &[u8] = b"tip";
const GENESIS: &[u8] = b"genesis";
const DIFFICULTY: &[u8] = b"difficulty";

/// Largest value read back from the store: a block plus slack.
const VALUE_LIMIT: u64 = MAX_BLOCK_SIZE * 4;

/// The sled chain store (see module docs).
#[derive(Clone)]
pub struct ChainStore {
    db: sled::Db,
    blocks: sled::Tree,
    index: sled::Tree,
    peers: sled::Tree,
    /// The explorer indexes and their locator (`txindex.rs`, `indexer.rs`).
    explorer: sled::Tree,
    /// One index step at a time (the builder thread and readers catching up).
    indexer: std::sync::Arc<std::sync::Mutex<()>>,
    /// The chain-state trees behind their cache (`cache.rs`).
    state: std::sync::Arc<cache::StateDb>,
    /// Blocks disconnected through this store (all clones) since opened.
    disconnects: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The last tip read ([`ChainStore::tip`]): a block's height and
    /// cumulative work never change, so while `meta` names the same tip
    /// hash its index entry is not read and decoded again (the protocol
    /// asks for the tip several times per message).
    tip_memo: std::sync::Arc<std::sync::Mutex<Option<Tip>>>,
}

/// A [`StoreError::Corrupt`] saying `what`.
fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A block hash from its 32 stored bytes. Errors: [`StoreError::Corrupt`].
fn hash_from(bytes: &[u8]) -> Result<BlockHash, StoreError> {
    let a: [u8; 32] = bytes
        .try_into()
        .map_err(|_| corrupt("stored hash is not 32 bytes"))?;
    Ok(BlockHash(Hash256(a)))
}

/// Removes the explorer indexes of the older layout, kept in the chain
/// state (trees `tx_index`, `addr_history`, `spent_by` and `meta` key
/// `indexed`): the index builder writes them again in `explorer`.
///
/// Errors: [`StoreError::Db`].
fn drop_old_indexes(db: &sled::Db) -> Result<(), StoreError> {
    let names = db.tree_names();
    for old in ["tx_index", "addr_history", "spent_by"] {
        if names.iter().any(|n| n.as_ref() == old.as_bytes()) {
            db.drop_tree(old)?;
        }
    }
    if names.iter().any(|n| n.as_ref() == b"meta") {
        db.open_tree("meta")?.remove(b"indexed")?;
    }
    Ok(())
}

/// The error a sled transaction across trees ended with.
fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Db(e),
    }
}

impl ChainStore {
    /// Opens (creating if needed) the store at `path` with a page cache of
    /// `cache_bytes` and checks its chain state against the best-block
    /// record (`record.rs`). The explorer indexes are not built here: the
    /// index builder catches them up (`indexer.rs`).
    ///
    /// Errors: [`StoreError::Locked`] when another process holds it,
    /// [`StoreError::Damaged`] when the chain state is below or beside the
    /// recorded tip (or sled finds its files corrupt), [`StoreError::Db`]
    /// otherwise.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<ChainStore, StoreError> {
        // A process that just closed the database (a CLI command, a node
        // that is exiting) may hold its lock for a moment: retry briefly.
        Self::open_waiting(path, cache_bytes, std::time::Duration::from_secs(2))
    }

    /// [`ChainStore::open`], waiting up to `wait` for another process to
    /// let go of the database (sled's lock is exclusive, so two commands
    /// reading the same stopped node take turns); retries back off from 20
    /// to 250 ms.
    ///
    /// Errors: as [`ChainStore::open`], [`StoreError::Locked`] once `wait`
    /// has passed.
    pub fn open_waiting(
        path: &Path,
        cache_bytes: u64,
        wait: std::time::Duration,
    ) -> Result<ChainStore, StoreError> {
        let store = Self::open_for_repair(path, cache_bytes, wait)?;
        store.check_best_record()?;
        Ok(store)
    }

    /// [`ChainStore::open_waiting`] without the best-block check: for `reindexutxo` (which repairs a damaged store and
    /// records its tip again) and `checkchain` (which reports the damage).
    ///
    /// Errors: as [`ChainStore::open_waiting`], never
    /// [`StoreError::Damaged`] for a record mismatch.
    pub fn open_for_repair(
        path: &Path,
        cache_bytes: u64,
        wait: std::time::Duration,
    ) -> Result<ChainStore, StoreError> {
        Self::open_unchecked(path, cache_bytes, wait, true)
    }

    /// [`ChainStore::open_for_repair`] for a command that writes in one
    /// go and flushes before it ends (`reindexutxo`): without sled's
    /// background flusher, which every 500 ms writes, cleans segments
    /// (rewriting pages the command never touched) and fsyncs, and which
    /// the command would wait for when it closes the store. What such a
    /// store writes is durable once [`ChainStore::flush`] (or
    /// [`ChainStore::record_tip`]) returns, and when the last handle is
    /// dropped (sled flushes then).
    ///
    /// Errors: as [`ChainStore::open_for_repair`].
    pub fn open_for_reindex(
        path: &Path,
        cache_bytes: u64,
        wait: std::time::Duration,
    ) -> Result<ChainStore, StoreError> {
        Self::open_unchecked(path, cache_bytes, wait, false)
    }

    /// Opens without the best-block check, with or without sled's
    /// background `flusher`.
    fn open_unchecked(
        path: &Path,
        cache_bytes: u64,
        wait: std::time::Duration,
        flusher: bool,
    ) -> Result<ChainStore, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Db(e.into()))?;
        }
        let deadline = std::time::Instant::now() + wait;
        let mut pause = std::time::Duration::from_millis(20);
        let db = loop {
            match Self::open_db(path, cache_bytes, flusher) {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(250));
                }
                other => break other?,
            }
        };
        Self::from_db(db, Some(BestRecord::beside(path)), false)
    }

    fn from_db(
        db: sled::Db,
        record: Option<BestRecord>,
        every_write: bool,
    ) -> Result<ChainStore, StoreError> {
        drop_old_indexes(&db)?;
        let state = cache::StateDb::open(&db, every_write, record)?;
        Ok(ChainStore {
            blocks: db.open_tree("blocks")?,
            index: db.open_tree("index")?,
            peers: db.open_tree("peers")?,
            explorer: db.open_tree("explorer")?,
            indexer: Default::default(),
            state: std::sync::Arc::new(state),
            disconnects: Default::default(),
            tip_memo: Default::default(),
            db,
        })
    }

    /// A store in sled's temporary mode: in memory (spilling to a file
    /// removed on drop), with a small cache and no background flusher, its
    /// chain-state cache flushed after every write, for tests and the
    /// simulator.
    ///
    /// Errors: [`StoreError::Db`].
    pub fn temporary() -> Result<ChainStore, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(1 << 20)
            .flush_every_ms(None)
            .open()?;
        Self::from_db(db, None, true)
    }

    fn open_db(path: &Path, cache_bytes: u64, flusher: bool) -> Result<sled::Db, StoreError> {
        sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(flusher.then_some(500))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    StoreError::Locked(path.display().to_string())
                }
                sled::Error::Corruption { .. } => {
                    StoreError::Damaged(format!("sled reports {}: {e}", path.display()))
                }
                other => StoreError::Db(other),
            })
    }

    /// Checks the chain state against the best-block record (`record.rs`):
    /// its tip must have the recorded flushed (or pending) block at that
    /// height on its best chain. Passing, the record is set to the tip; a
    /// store without a record (none written yet) gets one.
    ///
    /// Errors: [`StoreError::Damaged`] naming both tips, or for a record
    /// with no chain state at all; [`StoreError::Record`].
    pub fn check_best_record(&self) -> Result<(), StoreError> {
        let Some(record) = self.state.record() else {
            return Ok(());
        };
        let recorded = record.read()?;
        let tip = self.tip_opt()?;
        match (recorded, tip) {
            (None, None) => Ok(()),
            (None, Some(t)) => record.commit((t.hash, t.height)),
            (Some(r), None) => Err(StoreError::Damaged(format!(
                "it holds no chain, but {} records a flush at height {} (block {})",
                record.path().display(),
                r.flushed.1,
                r.flushed.0
            ))),
            (Some(r), Some(t)) => {
                let holds = |(hash, height): record::Mark| -> Result<bool, StoreError> {
                    Ok(height <= t.height && self.hash_at(height)? == Some(hash))
                };
                let ok = holds(r.flushed)? || r.pending.map(holds).transpose()?.unwrap_or(false);
                if !ok && self.replay_can_reach(r.flushed)? {
                    // The chain state is behind, but the recorded block and
                    // its branch are stored: opening the chain replays them
                    // (`Chain::open`), which then checks it got there
                    // ([`ChainStore::check_replayed`]).
                    return Ok(());
                }
                if !ok {
                    return Err(StoreError::Damaged(format!(
                        "its chain state is at height {} (block {}), but {} records a flush at height {} (block {})",
                        t.height,
                        t.hash,
                        record.path().display(),
                        r.flushed.1,
                        r.flushed.0
                    )));
                }
                if r.flushed != (t.hash, t.height) || r.pending.is_some() {
                    record.commit((t.hash, t.height))?;
                }
                Ok(())
            }
        }
    }

    /// True when block `mark` and every block below it down to the best
    /// chain are stored, not known invalid: replaying them brings the chain
    /// state back to it.
    fn replay_can_reach(&self, (hash, height): record::Mark) -> Result<bool, StoreError> {
        let mut cursor = hash;
        loop {
            if self.is_on_best_chain(&cursor)? {
                return Ok(true);
            }
            let Some(meta) = self.block_meta(&cursor)? else {
                return Ok(false);
            };
            if meta.status == BlockStatus::Invalid
                || !self.blocks.contains_key(cursor.as_bytes())?
                || (cursor == hash && meta.height != height)
            {
                return Ok(false);
            }
            cursor = meta.prev;
        }
    }

    /// After the chain was opened and its stored blocks replayed: the tip
    /// must have at least the work of the block the best-block record says
    /// was flushed.
    ///
    /// Errors: [`StoreError::Damaged`] naming both, when replay fell short
    /// (a stored block no longer valid, or unreadable).
    pub fn check_replayed(&self) -> Result<(), StoreError> {
        let (Some(r), Some(tip)) = (self.best_record()?, self.tip_opt()?) else {
            return Ok(());
        };
        let work = self.block_meta(&r.flushed.0)?.map_or(0, |m| m.chain_work);
        if tip.chain_work >= work {
            return Ok(());
        }
        Err(StoreError::Damaged(format!(
            "replaying its stored blocks reached height {} (block {}), short of the flushed height {} (block {})",
            tip.height, tip.hash, r.flushed.1, r.flushed.0
        )))
    }

    /// What the best-block record holds now (`None`: no record, or none
    /// written yet), for `checkchain`.
    ///
    /// Errors: as [`BestRecord::read`].
    pub fn best_record(&self) -> Result<Option<Recorded>, StoreError> {
        match self.state.record() {
            Some(r) => r.read(),
            None => Ok(None),
        }
    }

    /// Records the current tip as flushed in the best-block record, after
    /// a repair (`reindexutxo`) accepted the chain state as it is. A
    /// record that holds that tip already, flushed with nothing pending,
    /// is not written again.
    ///
    /// Errors: [`StoreError::Record`], reading the tip.
    pub fn record_tip(&self) -> Result<(), StoreError> {
        self.flush()?;
        if let (Some(record), Some(t)) = (self.state.record(), self.tip_opt()?) {
            let mark = (t.hash, t.height);
            let same =
                matches!(record.read(), Ok(Some(r)) if r.flushed == mark && r.pending.is_none());
            if !same {
                record.commit(mark)?;
            }
        }
        Ok(())
    }

    /// Sets the chain-state cache's budget (`startnode --dbcache`, in
    /// bytes): past it, the cache is flushed after the next write.
    pub fn set_dbcache(&self, bytes: u64) {
        self.state.set_budget(bytes);
    }

    /// Bytes the chain-state cache holds now (approximate).
    pub fn cached_bytes(&self) -> usize {
        self.state.cached_bytes()
    }

    /// Number of chain-state flushes since the store was opened.
    pub fn state_flushes(&self) -> u64 {
        self.state.flushes()
    }

    /// Writes the chain-state cache to sled in one atomic step with its
    /// tip and records it (`cache.rs`). Returns false when the cache
    /// was empty.
    ///
    /// Errors: [`StoreError::Db`], [`StoreError::Record`].
    pub fn flush_state(&self) -> Result<bool, StoreError> {
        self.state.flush()
    }

    /// Number of blocks [`ChainStore::disconnect_tip`] has disconnected
    /// through this store (any clone of it) since it was opened: how many
    /// blocks reorgs took off the best chain, for logs and tests.
    pub fn disconnects(&self) -> u64 {
        self.disconnects.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Flushes everything to disk ([`ChainStore::flush`]) and lets go of
    /// the store without tearing down sled's page cache: for a command
    /// that exits right after (`reindexutxo`), which would otherwise spend
    /// a few milliseconds freeing every cached tree node. What was written
    /// is durable when this returns Ok; the process's exit releases the
    /// database's lock. Other clones of this store stay usable. sled's
    /// `Drop` calls `fsync` (besides its periodic flusher, which
    /// `reindexutxo`'s store does not run), and it is skipped here, so the
    /// log file is fsynced explicitly (`BestRecord::sync_db`).
    ///
    /// Errors: as [`ChainStore::flush`], and [`StoreError::Record`] when
    /// the fsync fails (the store is then dropped as usual, which flushes
    /// again).
    pub fn close_for_exit(self) -> Result<(), StoreError> {
        self.flush()?;
        if let Some(record) = self.state.record() {
            record.sync_db()?;
        }
        std::mem::forget(self);
        Ok(())
    }

    /// Flushes the chain-state cache ([`ChainStore::flush_state`]) and
    /// writes everything to disk. Returns bytes flushed.
    ///
    /// Errors: [`StoreError::Db`], [`StoreError::Record`].
    pub fn flush(&self) -> Result<usize, StoreError> {
        self.state.flush()?;
        Ok(self.db.flush()?)
    }
}

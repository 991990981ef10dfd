//! The sled chain store.
//!
//! One sled database per node, at `DATADIR/PORT/chain`, with these trees
//! (keys and values, byte layouts; integers in keys are big-endian so keys
//! sort numerically, values are bincode as [`crate::core::encode`] defines):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `blocks` | block hash (32) | [`Block`] |
//! | `index` | block hash (32) | [`BlockMeta`]: height, parent, cumulative work, status |
//! | `heights` | height (u64 BE) | block hash (32), best chain only |
//! | `meta` | `b"tip"`, `b"genesis"`, `b"difficulty"` | hash (32), hash (32), u32 BE |
//! | `utxo` | outpoint: txid (32) ‖ vout (u32 BE) | [`TxOut`] |
//! | `addr_utxo` | pubkey hash (20) ‖ outpoint (36) | value (u64 BE) |
//! | `undo` | block hash (32) | the outputs the block spent, in input order |
//! | `peers` | `host:port` (UTF-8) | [`PeerRecord`] |
//!
//! `addr_utxo` makes balance and coin selection proportional to one
//! address's own outputs (a prefix scan), not to the whole UTXO set.
//!
//! Connecting or disconnecting a block is one sled transaction across
//! `blocks`, `index`, `heights`, `meta`, `utxo`, `addr_utxo` and `undo`:
//! it commits whole or not at all, so a crash leaves the UTXO set in step
//! with the tip.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::core::block::{Block, block_work};
use crate::core::encode::{decode, encode};
use crate::core::hash::{BlockHash, Hash256};
use crate::core::params::{ChainParams, MAX_BLOCK_SIZE};
use crate::core::tx::{OutPoint, TxOut};
use crate::core::view::UtxoSource;

/// Errors from the chain store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or internal error.
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// The database is locked by another process (a running node).
    #[error("database {0} is in use by another process (is a node running on this port?)")]
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
    /// Sum of [`block_work`] from genesis to this block, inclusive.
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
    heights: sled::Tree,
    meta: sled::Tree,
    utxo: sled::Tree,
    addr_utxo: sled::Tree,
    undo: sled::Tree,
    peers: sled::Tree,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn hash_from(bytes: &[u8]) -> Result<BlockHash, StoreError> {
    let a: [u8; 32] = bytes
        .try_into()
        .map_err(|_| corrupt("stored hash is not 32 bytes"))?;
    Ok(BlockHash(Hash256(a)))
}

fn addr_key(pkh: &[u8; 20], op: &OutPoint) -> [u8; 56] {
    let mut k = [0u8; 56];
    k[..20].copy_from_slice(pkh);
    k[20..].copy_from_slice(&op.to_key()[..]);
    k
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Db(e),
    }
}

impl ChainStore {
    /// Opens (creating if needed) the store at `path` with a page cache of
    /// `cache_bytes`.
    ///
    /// Errors: [`StoreError::Locked`] when another process holds it,
    /// [`StoreError::Db`] otherwise.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<ChainStore, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Db(e.into()))?;
        }
        // A process that just closed the database (a CLI command, a node
        // that is exiting) may hold its lock for a moment: retry briefly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let db = loop {
            match Self::open_db(path, cache_bytes) {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        Ok(ChainStore {
            blocks: db.open_tree("blocks")?,
            index: db.open_tree("index")?,
            heights: db.open_tree("heights")?,
            meta: db.open_tree("meta")?,
            utxo: db.open_tree("utxo")?,
            addr_utxo: db.open_tree("addr_utxo")?,
            undo: db.open_tree("undo")?,
            peers: db.open_tree("peers")?,
            db,
        })
    }

    fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
        sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    StoreError::Locked(path.display().to_string())
                }
                other => StoreError::Db(other),
            })
    }

    /// The trees a connect touches, for one transaction across all of them.
    #[allow(clippy::type_complexity)]
    fn chain_trees(
        &self,
    ) -> (
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
        &sled::Tree,
    ) {
        (
            &self.blocks,
            &self.index,
            &self.heights,
            &self.meta,
            &self.utxo,
            &self.addr_utxo,
            &self.undo,
        )
    }

    /// Writes everything to disk. Returns bytes flushed.
    pub fn flush(&self) -> Result<usize, StoreError> {
        Ok(self.db.flush()?)
    }

    // ---- chain metadata ----

    /// Hash of the genesis block, `None` before a chain exists.
    pub fn genesis_hash(&self) -> Result<Option<BlockHash>, StoreError> {
        self.meta.get(GENESIS)?.map(|v| hash_from(&v)).transpose()
    }

    /// Chain parameters read from genesis. Errors: [`StoreError::NoChain`].
    pub fn params(&self) -> Result<ChainParams, StoreError> {
        let v = self.meta.get(DIFFICULTY)?.ok_or(StoreError::NoChain)?;
        let a: [u8; 4] = v.as_ref().try_into().map_err(|_| corrupt("difficulty"))?;
        Ok(ChainParams {
            difficulty: u32::from_be_bytes(a),
        })
    }

    /// The best chain's tip. Errors: [`StoreError::NoChain`].
    pub fn tip(&self) -> Result<Tip, StoreError> {
        let hash = self.meta.get(TIP)?.ok_or(StoreError::NoChain)?;
        let hash = hash_from(&hash)?;
        let meta = self
            .block_meta(&hash)?
            .ok_or_else(|| corrupt(format!("tip {hash} has no index entry")))?;
        Ok(Tip {
            hash,
            height: meta.height,
            chain_work: meta.chain_work,
        })
    }

    /// The tip, or `None` before a chain exists.
    pub fn tip_opt(&self) -> Result<Option<Tip>, StoreError> {
        match self.tip() {
            Ok(t) => Ok(Some(t)),
            Err(StoreError::NoChain) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- blocks and index ----

    /// The block with `hash`, if stored.
    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        self.blocks
            .get(hash.as_bytes())?
            .map(|v| decode::<Block>(&v, VALUE_LIMIT).map_err(corrupt))
            .transpose()
    }

    /// True if a block with `hash` is stored (any status).
    pub fn has_block(&self, hash: &BlockHash) -> Result<bool, StoreError> {
        Ok(self.index.contains_key(hash.as_bytes())?)
    }

    /// Index entry of `hash`, if known.
    pub fn block_meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, StoreError> {
        self.index
            .get(hash.as_bytes())?
            .map(|v| decode::<BlockMeta>(&v, 1024).map_err(corrupt))
            .transpose()
    }

    /// Best-chain block hash at `height`.
    pub fn hash_at(&self, height: u64) -> Result<Option<BlockHash>, StoreError> {
        self.heights
            .get(height.to_be_bytes())?
            .map(|v| hash_from(&v))
            .transpose()
    }

    /// True if `hash` is on the best chain.
    pub fn is_on_best_chain(&self, hash: &BlockHash) -> Result<bool, StoreError> {
        let Some(meta) = self.block_meta(hash)? else {
            return Ok(false);
        };
        Ok(self.hash_at(meta.height)? == Some(*hash))
    }

    /// Stores a block (already sanity-checked) that is not connected, with
    /// status [`BlockStatus::Stored`]; its parent must be indexed. Returns the
    /// new index entry. Storing a known block again changes nothing.
    ///
    /// Errors: [`StoreError::MissingBlock`] when the parent is unknown.
    pub fn store_block(&self, block: &Block) -> Result<BlockMeta, StoreError> {
        let hash = block.hash();
        if let Some(m) = self.block_meta(&hash)? {
            return Ok(m);
        }
        let parent = self
            .block_meta(&block.header.prev_block_hash)?
            .ok_or(StoreError::MissingBlock(block.header.prev_block_hash))?;
        let meta = BlockMeta {
            height: block.height,
            prev: block.header.prev_block_hash,
            chain_work: parent
                .chain_work
                .saturating_add(block_work(block.header.bits)),
            status: BlockStatus::Stored,
        };
        let bytes = encode(block);
        let m = encode(&meta);
        (&self.blocks, &self.index)
            .transaction(|(b, i)| {
                b.insert(hash.as_bytes(), bytes.as_slice())?;
                i.insert(hash.as_bytes(), m.as_slice())?;
                Ok(())
            })
            .map_err(tx_err)?;
        Ok(meta)
    }

    /// The stored block with the most cumulative work that is not known to
    /// be invalid (a scan of the index).
    pub fn heaviest_block(&self) -> Result<Option<(BlockHash, BlockMeta)>, StoreError> {
        let mut best: Option<(BlockHash, BlockMeta)> = None;
        for kv in self.index.iter() {
            let (k, v) = kv?;
            let meta: BlockMeta = decode(&v, 1024).map_err(corrupt)?;
            if meta.status != BlockStatus::Invalid
                && best.is_none_or(|(_, b)| meta.chain_work > b.chain_work)
            {
                best = Some((hash_from(&k)?, meta));
            }
        }
        Ok(best)
    }

    /// Marks `hash` invalid so it is never connected or fetched again.
    pub fn mark_invalid(&self, hash: &BlockHash) -> Result<(), StoreError> {
        if let Some(mut m) = self.block_meta(hash)? {
            m.status = BlockStatus::Invalid;
            self.index.insert(hash.as_bytes(), encode(&m))?;
        }
        Ok(())
    }

    /// Creates the chain from its genesis block: stores it, indexes it, makes
    /// it the tip, records the difficulty (its `bits`) and adds its outputs
    /// to the UTXO set, all in one transaction.
    ///
    /// Errors: [`StoreError::ChainExists`].
    pub fn init_genesis(&self, genesis: &Block) -> Result<(), StoreError> {
        if self.genesis_hash()?.is_some() {
            return Err(StoreError::ChainExists);
        }
        let hash = genesis.hash();
        let meta = BlockMeta {
            height: 0,
            prev: BlockHash::ZERO,
            chain_work: block_work(genesis.header.bits),
            status: BlockStatus::Valid,
        };
        let bytes = encode(genesis);
        let m = encode(&meta);
        let bits = genesis.header.bits.to_be_bytes();
        let delta = UtxoDelta::of(genesis, &[])?;
        self.chain_trees()
            .transaction(|(b, i, h, meta_t, u, a, un)| {
                if meta_t.get(GENESIS)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(StoreError::ChainExists));
                }
                b.insert(hash.as_bytes(), bytes.as_slice())?;
                i.insert(hash.as_bytes(), m.as_slice())?;
                h.insert(&0u64.to_be_bytes()[..], hash.as_bytes())?;
                meta_t.insert(GENESIS, hash.as_bytes())?;
                meta_t.insert(DIFFICULTY, &bits[..])?;
                meta_t.insert(TIP, hash.as_bytes())?;
                delta.apply(true, u, a)?;
                un.insert(hash.as_bytes(), encode(&Vec::<TxOut>::new()))?;
                Ok(())
            })
            .map_err(tx_err)
    }

    /// Connects `block`, which extends the tip and was fully validated, in
    /// one transaction: stores the block, indexes it as valid, records its
    /// height, moves the tip, spends its inputs, adds its outputs and stores
    /// `spent` (the outputs its inputs spent, in input order) as undo data.
    ///
    /// Errors: [`StoreError::NotOnTip`] if the tip moved, [`StoreError::Db`].
    pub fn connect_block(&self, block: &Block, spent: &[TxOut]) -> Result<Tip, StoreError> {
        let hash = block.hash();
        let tip = self.tip()?;
        if block.header.prev_block_hash != tip.hash {
            return Err(StoreError::NotOnTip {
                block: hash,
                tip: tip.hash,
            });
        }
        let meta = BlockMeta {
            height: block.height,
            prev: tip.hash,
            chain_work: tip.chain_work.saturating_add(block_work(block.header.bits)),
            status: BlockStatus::Valid,
        };
        let bytes = if self.blocks.contains_key(hash.as_bytes())? {
            None
        } else {
            Some(encode(block))
        };
        let m = encode(&meta);
        let undo = encode(spent);
        let delta = UtxoDelta::of(block, spent)?;
        let prev_tip = tip.hash;
        self.chain_trees()
            .transaction(|(b, i, h, meta_t, u, a, un)| {
                let current = meta_t.get(TIP)?;
                if current.as_deref() != Some(prev_tip.as_bytes().as_slice()) {
                    return Err(ConflictableTransactionError::Abort(StoreError::NotOnTip {
                        block: hash,
                        tip: prev_tip,
                    }));
                }
                if let Some(bytes) = &bytes {
                    b.insert(hash.as_bytes(), bytes.as_slice())?;
                }
                i.insert(hash.as_bytes(), m.as_slice())?;
                h.insert(&block.height.to_be_bytes()[..], hash.as_bytes())?;
                meta_t.insert(TIP, hash.as_bytes())?;
                delta.apply(true, u, a)?;
                un.insert(hash.as_bytes(), undo.as_slice())?;
                Ok(())
            })
            .map_err(tx_err)?;
        Ok(Tip {
            hash,
            height: block.height,
            chain_work: meta.chain_work,
        })
    }

    /// Disconnects the tip block in one transaction, restoring exactly the
    /// UTXO set before it from its undo data; the block stays stored. Returns
    /// the disconnected block.
    ///
    /// Errors: [`StoreError::Corrupt`] when the tip is genesis or its undo
    /// data is missing.
    pub fn disconnect_tip(&self) -> Result<Block, StoreError> {
        let tip = self.tip()?;
        if tip.height == 0 {
            return Err(corrupt("cannot disconnect genesis"));
        }
        let block = self
            .block(&tip.hash)?
            .ok_or(StoreError::MissingBlock(tip.hash))?;
        let spent: Vec<TxOut> = self
            .undo(&tip.hash)?
            .ok_or_else(|| corrupt(format!("no undo data for {}", tip.hash)))?;
        let delta = UtxoDelta::of(&block, &spent)?;
        let prev = block.header.prev_block_hash;
        let height = block.height;
        (
            &self.heights,
            &self.meta,
            &self.utxo,
            &self.addr_utxo,
            &self.undo,
        )
            .transaction(|(h, meta_t, u, a, un)| {
                delta.apply(false, u, a)?;
                h.remove(&height.to_be_bytes()[..])?;
                meta_t.insert(TIP, prev.as_bytes())?;
                un.remove(tip.hash.as_bytes())?;
                Ok(())
            })
            .map_err(tx_err)?;
        Ok(block)
    }

    /// Walks the best chain from the tip back to genesis by
    /// `prev_block_hash`. Yields `Err` (and then stops) on a missing or
    /// undecodable block, never panics.
    pub fn iter(&self) -> BlockIter<'_> {
        let next = match self.meta.get(TIP) {
            Ok(Some(v)) => hash_from(&v).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(StoreError::Db(e)),
        };
        BlockIter {
            store: self,
            next: Some(next),
        }
    }

    /// Undo data of a best-chain block: the outputs its inputs spent, in
    /// input order (coinbase excluded). `None` for a block not connected.
    pub fn undo(&self, hash: &BlockHash) -> Result<Option<Vec<TxOut>>, StoreError> {
        self.undo
            .get(hash.as_bytes())?
            .map(|v| decode(&v, VALUE_LIMIT).map_err(corrupt))
            .transpose()
    }

    // ---- UTXO set ----

    /// The unspent output at `op`, if any.
    pub fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, StoreError> {
        self.utxo
            .get(op.to_key())?
            .map(|v| decode::<TxOut>(&v, 64).map_err(corrupt))
            .transpose()
    }

    /// Unspent outputs owned by `pubkey_hash`, as (outpoint, value), by a
    /// prefix scan of `addr_utxo`.
    pub fn utxos_of(&self, pubkey_hash: &[u8; 20]) -> Result<Vec<(OutPoint, u64)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.addr_utxo.scan_prefix(pubkey_hash) {
            let (k, v) = kv?;
            let op = k
                .get(20..)
                .and_then(OutPoint::from_key)
                .ok_or_else(|| corrupt("addr_utxo key"))?;
            let a: [u8; 8] = v
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("addr_utxo value"))?;
            out.push((op, u64::from_be_bytes(a)));
        }
        Ok(out)
    }

    /// Sum of `pubkey_hash`'s unspent outputs, in whole coins.
    pub fn balance(&self, pubkey_hash: &[u8; 20]) -> Result<u64, StoreError> {
        Ok(self
            .utxos_of(pubkey_hash)?
            .iter()
            .fold(0u64, |acc, (_, v)| acc.saturating_add(*v)))
    }

    /// The whole UTXO set, sorted by outpoint (for checks and tests).
    pub fn utxo_snapshot(&self) -> Result<BTreeMap<OutPoint, TxOut>, StoreError> {
        let mut m = BTreeMap::new();
        for kv in self.utxo.iter() {
            let (k, v) = kv?;
            let op = OutPoint::from_key(&k).ok_or_else(|| corrupt("utxo key"))?;
            m.insert(op, decode::<TxOut>(&v, 64).map_err(corrupt)?);
        }
        Ok(m)
    }

    /// Number of unspent outputs.
    pub fn utxo_count(&self) -> usize {
        self.utxo.len()
    }

    /// Computes the UTXO set from the best chain's blocks alone, genesis to
    /// tip, without touching the stored set.
    pub fn compute_utxo_set(&self) -> Result<BTreeMap<OutPoint, TxOut>, StoreError> {
        let tip = self.tip()?;
        let mut set = std::collections::HashMap::new();
        for height in 0..=tip.height {
            let hash = self
                .hash_at(height)?
                .ok_or_else(|| corrupt(format!("no block at height {height}")))?;
            let block = self.block(&hash)?.ok_or(StoreError::MissingBlock(hash))?;
            for tx in &block.transactions {
                tx.apply_to(&mut set).map_err(|op| {
                    corrupt(format!(
                        "block {hash} at height {height} spends missing {op}"
                    ))
                })?;
            }
        }
        Ok(set.into_iter().collect())
    }

    /// Rebuilds the UTXO set and address index from the blocks alone
    /// (`reindexutxo`). Returns (transactions with unspent outputs, outputs).
    ///
    /// The stored set is brought to the rebuilt one in a single transaction
    /// across `utxo` and `addr_utxo` (removing what should not be there,
    /// writing what should), so a crash leaves either the old set or the new.
    pub fn reindex_utxo(&self) -> Result<(usize, usize), StoreError> {
        let set = self.compute_utxo_set()?;
        let stale: Vec<(OutPoint, TxOut)> = self
            .utxo_snapshot()?
            .into_iter()
            .filter(|(op, out)| set.get(op) != Some(out))
            .collect();
        let fresh: Vec<(OutPoint, Vec<u8>, [u8; 20], u64)> = set
            .iter()
            .map(|(op, o)| (*op, encode(o), o.pubkey_hash, o.value))
            .collect();
        // Index entries whose key does not belong to the rebuilt set.
        let mut stale_index = Vec::new();
        for kv in self.addr_utxo.iter() {
            let (k, _) = kv?;
            let keep = k
                .get(20..)
                .and_then(OutPoint::from_key)
                .and_then(|op| set.get(&op))
                .is_some_and(|o| k.get(..20) == Some(o.pubkey_hash.as_slice()));
            if !keep {
                stale_index.push(k);
            }
        }
        (&self.utxo, &self.addr_utxo)
            .transaction(|(u, a)| {
                for (op, _) in &stale {
                    u.remove(&op.to_key()[..])?;
                }
                for k in &stale_index {
                    a.remove(k)?;
                }
                for (op, bytes, pkh, value) in &fresh {
                    u.insert(&op.to_key()[..], bytes.as_slice())?;
                    a.insert(&addr_key(pkh, op)[..], &value.to_be_bytes()[..])?;
                }
                Ok(())
            })
            .map_err(tx_err)?;
        self.db.flush()?;
        let txs: std::collections::HashSet<_> = set.keys().map(|op| op.txid).collect();
        Ok((txs.len(), set.len()))
    }

    // ---- peers ----

    /// Known peers and what is remembered of each.
    pub fn peers(&self) -> Result<Vec<(String, PeerRecord)>, StoreError> {
        let mut v = Vec::new();
        for kv in self.peers.iter() {
            let (k, val) = kv?;
            let addr = String::from_utf8_lossy(&k).into_owned();
            v.push((addr, decode(&val, 64).map_err(corrupt)?));
        }
        Ok(v)
    }

    /// Saves what is known of peer `addr`.
    pub fn put_peer(&self, addr: &str, rec: &PeerRecord) -> Result<(), StoreError> {
        self.peers.insert(addr.as_bytes(), encode(rec))?;
        Ok(())
    }

    /// What is known of peer `addr`.
    pub fn peer(&self, addr: &str) -> Result<Option<PeerRecord>, StoreError> {
        self.peers
            .get(addr.as_bytes())?
            .map(|v| decode(&v, 64).map_err(corrupt))
            .transpose()
    }
}

/// Validation reads the UTXO set through a [`UtxoView`](crate::core::view::UtxoView)
/// filled from the store: [`ChainStore::utxo`].
impl UtxoSource for ChainStore {
    type Error = StoreError;

    fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, StoreError> {
        ChainStore::utxo(self, op)
    }
}

/// What a block changes in the UTXO set: the outputs it spends that existed
/// before it, and the outputs it creates that are still unspent after it
/// (an output created and spent inside the block is in neither). Connecting
/// removes `spent` and adds `created`; disconnecting does the reverse.
struct UtxoDelta {
    spent: Vec<(OutPoint, TxOut)>,
    created: Vec<(OutPoint, TxOut)>,
}

impl UtxoDelta {
    /// Pairs the block's non-coinbase inputs, in order, with `undo` (the
    /// outputs they spent). Errors: [`StoreError::Corrupt`] when the undo
    /// data does not have one entry per input.
    fn of(block: &Block, undo: &[TxOut]) -> Result<UtxoDelta, StoreError> {
        let inputs: Vec<OutPoint> = block
            .transactions
            .iter()
            .filter(|t| !t.is_coinbase())
            .flat_map(|t| t.inputs.iter().map(|i| i.prev_out))
            .collect();
        if inputs.len() != undo.len() {
            return Err(corrupt(format!(
                "block {} has {} inputs but {} undo entries",
                block.hash(),
                inputs.len(),
                undo.len()
            )));
        }
        let mut created: Vec<(OutPoint, TxOut)> = block
            .transactions
            .iter()
            .flat_map(|t| t.created_outputs(t.txid()).collect::<Vec<_>>())
            .collect();
        let created_here: std::collections::HashSet<OutPoint> =
            created.iter().map(|(op, _)| *op).collect();
        let spent_here: std::collections::HashSet<OutPoint> = inputs.iter().copied().collect();
        created.retain(|(op, _)| !spent_here.contains(op));
        let spent = inputs
            .into_iter()
            .zip(undo.iter().copied())
            .filter(|(op, _)| !created_here.contains(op))
            .collect();
        Ok(UtxoDelta { spent, created })
    }

    /// Applies the delta forward (connect) or backward (disconnect) to the
    /// `utxo` and `addr_utxo` trees inside a transaction.
    fn apply(&self, forward: bool, u: &TransactionalTree, a: &TransactionalTree) -> TxResult<()> {
        let (remove, insert) = if forward {
            (&self.spent, &self.created)
        } else {
            (&self.created, &self.spent)
        };
        for (op, out) in remove {
            u.remove(&op.to_key()[..])?;
            a.remove(&addr_key(&out.pubkey_hash, op)[..])?;
        }
        for (op, out) in insert {
            u.insert(&op.to_key()[..], encode(out))?;
            a.insert(
                &addr_key(&out.pubkey_hash, op)[..],
                &out.value.to_be_bytes()[..],
            )?;
        }
        Ok(())
    }
}

/// Iterator over the best chain from tip to genesis ([`ChainStore::iter`]).
pub struct BlockIter<'a> {
    store: &'a ChainStore,
    next: Option<Result<Option<BlockHash>, StoreError>>,
}

impl Iterator for BlockIter<'_> {
    type Item = Result<Block, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next.take()? {
            Err(e) => Some(Err(e)),
            Ok(None) => None,
            Ok(Some(hash)) => match self.store.block(&hash) {
                Ok(Some(block)) => {
                    if block.height > 0 {
                        self.next = Some(Ok(Some(block.header.prev_block_hash)));
                    }
                    Some(Ok(block))
                }
                Ok(None) => Some(Err(StoreError::MissingBlock(hash))),
                Err(e) => Some(Err(e)),
            },
        }
    }
}

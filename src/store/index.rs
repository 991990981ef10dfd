//! Blocks, the block index, best-chain heights, the tip and the chain
//! metadata (genesis, difficulty): trees `blocks`, `index`, `heights`, `meta`.

use sled::Transactional;

use super::utxo::UtxoDelta;
use super::{
    BlockMeta, BlockStatus, ChainStore, DIFFICULTY, GENESIS, Space, StoreError, TIP, Tip,
    VALUE_LIMIT, corrupt, hash_from, tx_err,
};
use crate::core::block::{Block, BlockHeader, HEADER_LEN, block_work};
use crate::core::encode::{decode, encode};
use crate::core::hash::BlockHash;
use crate::core::params::ChainParams;
use crate::core::tx::TxOut;

impl ChainStore {
    /// Hash of the genesis block, `None` before a chain exists.
    pub fn genesis_hash(&self) -> Result<Option<BlockHash>, StoreError> {
        self.state
            .get(Space::Meta, GENESIS)?
            .map(|v| hash_from(&v))
            .transpose()
    }

    /// Chain parameters read from genesis. Errors: [`StoreError::NoChain`].
    pub fn params(&self) -> Result<ChainParams, StoreError> {
        let v = self
            .state
            .get(Space::Meta, DIFFICULTY)?
            .ok_or(StoreError::NoChain)?;
        let a: [u8; 4] = v.as_ref().try_into().map_err(|_| corrupt("difficulty"))?;
        Ok(ChainParams {
            difficulty: u32::from_be_bytes(a),
        })
    }

    /// The best chain's tip. Errors: [`StoreError::NoChain`].
    pub fn tip(&self) -> Result<Tip, StoreError> {
        let hash = self
            .state
            .get(Space::Meta, TIP)?
            .ok_or(StoreError::NoChain)?;
        self.tip_of(hash_from(&hash)?)
    }

    /// The [`Tip`] of block `hash` (its height and cumulative work from
    /// its index entry), remembered for the next call with the same hash
    /// (`tip_memo`).
    ///
    /// Errors: [`StoreError::Corrupt`] when `hash` has no index entry.
    pub(super) fn tip_of(&self, hash: BlockHash) -> Result<Tip, StoreError> {
        let cached = *self.tip_memo.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cached.filter(|t| t.hash == hash) {
            return Ok(t);
        }
        let meta = self
            .block_meta(&hash)?
            .ok_or_else(|| corrupt(format!("tip {hash} has no index entry")))?;
        let tip = Tip {
            hash,
            height: meta.height,
            chain_work: meta.chain_work,
        };
        *self.tip_memo.lock().unwrap_or_else(|p| p.into_inner()) = Some(tip);
        Ok(tip)
    }

    /// The tip, or `None` before a chain exists.
    pub fn tip_opt(&self) -> Result<Option<Tip>, StoreError> {
        match self.tip() {
            Ok(t) => Ok(Some(t)),
            Err(StoreError::NoChain) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The block with `hash`, if stored.
    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        self.blocks
            .get(hash.as_bytes())?
            .map(|v| decode::<Block>(&v, VALUE_LIMIT).map_err(corrupt))
            .transpose()
    }

    /// The header of the stored block `hash`, if stored: the first 80
    /// bytes of its stored encoding, without decoding its transactions.
    pub fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, StoreError> {
        let Some(v) = self.blocks.get(hash.as_bytes())? else {
            return Ok(None);
        };
        let bytes = v
            .get(..HEADER_LEN)
            .ok_or_else(|| corrupt(format!("block {hash} shorter than its header")))?;
        decode::<BlockHeader>(bytes, HEADER_LEN as u64)
            .map(Some)
            .map_err(corrupt)
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
        self.state
            .get(Space::Heights, &height.to_be_bytes())?
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
    /// Written outside the chain-state cache, the block's bytes and its
    /// index entry in one sled transaction: a crash keeps both or neither.
    /// Like every sled write it reaches the file at sled's next flush (every
    /// 500 ms, and with every chain-state flush), so a kill -9 may lose the
    /// blocks stored in the last moments: no flushed chain state refers to
    /// them, and they are fetched from peers again.
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
        let (bytes, m) = (encode(block), encode(&meta));
        // One transaction, so the index never names a block whose bytes
        // a crash lost. sled 0.34 seals its log buffer before and after a
        // transaction (each sealed buffer is written out, not fsynced), so
        // the connect path, which stores most blocks, uses plain inserts
        // in order instead (`utxo.rs`, `connect_in`).
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
    /// be invalid, and among those with equal work the one with the lowest
    /// hash (the order the best-chain rule of `chain/state.rs` ranks tips
    /// in), by a scan of the index.
    pub fn heaviest_block(&self) -> Result<Option<(BlockHash, BlockMeta)>, StoreError> {
        let mut best: Option<(BlockHash, BlockMeta)> = None;
        for kv in self.index.iter() {
            let (k, v) = kv?;
            let meta: BlockMeta = decode(&v, 1024).map_err(corrupt)?;
            if meta.status == BlockStatus::Invalid {
                continue;
            }
            let hash = hash_from(&k)?;
            if best.is_none_or(|(h, b)| {
                meta.chain_work > b.chain_work || (meta.chain_work == b.chain_work && hash < h)
            }) {
                best = Some((hash, meta));
            }
        }
        Ok(best)
    }

    /// Every entry of the block index (any status), by a scan: for the
    /// chain tips report.
    pub fn block_index(&self) -> Result<Vec<(BlockHash, BlockMeta)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.index.iter() {
            let (k, v) = kv?;
            out.push((hash_from(&k)?, decode(&v, 1024).map_err(corrupt)?));
        }
        Ok(out)
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
    /// to the UTXO set. The block, its index entry and the chain state are
    /// written to sled at once in one transaction, ahead of every block
    /// stored after them, but made durable (and recorded in `chain.best`)
    /// by the next flush; a crash before it may lose the genesis with the
    /// rest, and the node then starts with no chain and fetches the genesis
    /// again (`StateDb::write_out`).
    ///
    /// Errors: [`StoreError::ChainExists`], [`StoreError::Db`].
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
        let bits = genesis.header.bits.to_be_bytes();
        let delta = UtxoDelta::of(genesis, &[])?;
        let (bytes, m) = (encode(genesis), encode(&meta));
        let key = hash.as_bytes();
        self.state.write_out(
            |w| {
                if w.get(Space::Meta, GENESIS)?.is_some() {
                    return Err(StoreError::ChainExists);
                }
                w.create(Space::Heights, &0u64.to_be_bytes(), hash.as_bytes());
                w.set(Space::Meta, GENESIS, hash.as_bytes());
                w.set(Space::Meta, DIFFICULTY, &bits);
                w.set(Space::Meta, TIP, hash.as_bytes());
                delta.apply(true, w);
                w.create(Space::Undo, hash.as_bytes(), &encode(&Vec::<TxOut>::new()));
                Ok(())
            },
            [
                (&self.blocks, key, bytes.as_slice()),
                (&self.index, key, m.as_slice()),
            ],
        )
    }

    /// Walks the best chain from the tip back to genesis by
    /// `prev_block_hash`. Yields `Err` (and then stops) on a missing or
    /// undecodable block, never panics.
    pub fn iter(&self) -> BlockIter<'_> {
        let next = match self.state.get(Space::Meta, TIP) {
            Ok(Some(v)) => hash_from(&v).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        BlockIter {
            store: self,
            next: Some(next),
        }
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

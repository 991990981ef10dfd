//! The UTXO set and its address index, undo data, and connecting and
//! disconnecting blocks: trees `utxo`, `addr_utxo`, `undo`, read and
//! written through the chain-state cache (`cache.rs`); a connect writes the
//! block and its index entry at once and everything else to the cache. The
//! explorer indexes follow beside the chain (`indexer.rs`), not here.
//! Rebuilding the set from the blocks is in `reindex.rs`.

use std::collections::{BTreeMap, HashSet};

use super::cache::Writer;
use super::{
    BlockMeta, BlockStatus, ChainStore, Space, StoreError, TIP, Tip, VALUE_LIMIT, corrupt,
};
use crate::core::block::{Block, block_work};
use crate::core::encode::{decode, encode};
use crate::core::hash::BlockHash;
use crate::core::tx::{OutPoint, TxOut};
use crate::core::view::UtxoSource;

/// `addr_utxo` key: pubkey hash (20) ‖ outpoint (36).
pub(super) fn addr_key(pkh: &[u8; 20], op: &OutPoint) -> [u8; 56] {
    let mut k = [0u8; 56];
    k[..20].copy_from_slice(pkh);
    k[20..].copy_from_slice(&op.to_key()[..]);
    k
}

/// One block's writes in [`ChainStore::connect_blocks`], encoded before the
/// cache is locked.
struct ConnectWrite {
    hash: BlockHash,
    height: u64,
    /// The encoded block, `None` when it is stored already.
    bytes: Option<Vec<u8>>,
    meta: Vec<u8>,
    undo: Vec<u8>,
    delta: UtxoDelta,
}

impl ChainStore {
    /// The unspent output at `op`, if any.
    pub fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, StoreError> {
        self.state
            .get(Space::Utxo, &op.to_key())?
            .map(|v| decode::<TxOut>(&v, 64).map_err(corrupt))
            .transpose()
    }

    /// Unspent outputs owned by `pubkey_hash`, as (outpoint, value), by a
    /// prefix scan of `addr_utxo`.
    pub fn utxos_of(&self, pubkey_hash: &[u8; 20]) -> Result<Vec<(OutPoint, u64)>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.state.scan_prefix(Space::AddrUtxo, pubkey_hash)? {
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
        for (k, v) in self.state.scan_prefix(Space::Utxo, &[])? {
            let op = OutPoint::from_key(&k).ok_or_else(|| corrupt("utxo key"))?;
            m.insert(op, decode::<TxOut>(&v, 64).map_err(corrupt)?);
        }
        Ok(m)
    }

    /// Number of unspent outputs.
    pub fn utxo_count(&self) -> usize {
        self.state.len(Space::Utxo)
    }

    /// Undo data of a best-chain block: the outputs its inputs spent, in
    /// input order (coinbase excluded). `None` for a block not connected.
    pub fn undo(&self, hash: &BlockHash) -> Result<Option<Vec<TxOut>>, StoreError> {
        self.state
            .get(Space::Undo, hash.as_bytes())?
            .map(|v| decode(&v, VALUE_LIMIT).map_err(corrupt))
            .transpose()
    }

    /// Connects `block`, which extends the tip and was fully validated, in
    /// one transaction: stores the block, indexes it as valid, records its
    /// height, moves the tip, spends its inputs, adds its outputs and stores
    /// `spent` (the outputs its inputs spent, in input order) as undo data.
    ///
    /// Errors: [`StoreError::NotOnTip`] if the tip moved, [`StoreError::Db`].
    pub fn connect_block(&self, block: &Block, spent: &[TxOut]) -> Result<Tip, StoreError> {
        self.connect_blocks(&[(block, spent)])
    }

    /// Connects `blocks`, a run of fully validated blocks each the child of
    /// the one before and the first extending the tip, as
    /// [`ChainStore::connect_block`] would one by one (each with its `spent`
    /// undo data): the blocks not stored yet, then every index entry (now
    /// valid), are written to sled in that order (sled recovers a prefix of
    /// what was written, so no entry outlives its block); the chain-state changes
    /// go to the cache in one step, so readers see the whole run or none of
    /// it, and reach sled with the next flush (`cache.rs`). Returns the new
    /// tip (the old one for an empty run).
    ///
    /// Errors: [`StoreError::NotOnTip`] if the first block does not extend
    /// the tip, or a block is not the child of the one before (nothing is
    /// written); [`StoreError::Db`].
    pub fn connect_blocks(&self, blocks: &[(&Block, &[TxOut])]) -> Result<Tip, StoreError> {
        if blocks.is_empty() {
            return self.tip();
        }
        self.state.write(|w| self.connect_in(w, blocks))
    }

    /// The tip as the cache holds it, inside a write step.
    fn tip_in(&self, w: &Writer<'_>) -> Result<Tip, StoreError> {
        let hash = w.get(Space::Meta, TIP)?.ok_or(StoreError::NoChain)?;
        self.tip_of(super::hash_from(&hash)?)
    }

    /// [`ChainStore::connect_blocks`] inside a write step of the cache.
    fn connect_in(
        &self,
        w: &mut Writer<'_>,
        blocks: &[(&Block, &[TxOut])],
    ) -> Result<Tip, StoreError> {
        let mut tip = self.tip_in(w)?;
        let mut writes = Vec::with_capacity(blocks.len());
        for (block, spent) in blocks {
            let hash = block.hash();
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
                Some(encode(*block))
            };
            writes.push(ConnectWrite {
                hash,
                height: block.height,
                bytes,
                meta: encode(&meta),
                undo: encode(spent),
                delta: UtxoDelta::of(block, spent)?,
            });
            tip = Tip {
                hash,
                height: block.height,
                chain_work: meta.chain_work,
            };
        }
        // Plain inserts, the blocks' bytes before any index entry: sled
        // recovers a prefix of its log, so a crash never keeps an entry
        // whose block it lost. A `sled::Batch` (or transaction) would pin
        // the log, sealing and writing out sled's I/O buffer before and
        // after it (a pwrite and a sync_file_range each, on sled's I/O
        // threads): four writes per run of blocks during a sync.
        for cw in &writes {
            if let Some(b) = &cw.bytes {
                self.blocks.insert(cw.hash.as_bytes(), b.as_slice())?;
            }
        }
        for cw in &writes {
            self.index.insert(cw.hash.as_bytes(), cw.meta.as_slice())?;
        }
        for cw in &writes {
            w.create(Space::Heights, &cw.height.to_be_bytes(), cw.hash.as_bytes());
            cw.delta.apply(true, w);
            w.create(Space::Undo, cw.hash.as_bytes(), &cw.undo);
        }
        w.set(Space::Meta, TIP, tip.hash.as_bytes());
        Ok(tip)
    }

    /// Disconnects the tip block in one step of the cache, restoring exactly
    /// the UTXO set before it from its undo data; the block stays stored.
    /// Returns the disconnected block.
    ///
    /// Errors: [`StoreError::Corrupt`] when the tip is genesis or its undo
    /// data is missing.
    pub fn disconnect_tip(&self) -> Result<Block, StoreError> {
        let block = self.state.write(|w| self.disconnect_in(w))?;
        self.disconnects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(block)
    }

    /// [`ChainStore::disconnect_tip`] inside a write step of the cache.
    fn disconnect_in(&self, w: &mut Writer<'_>) -> Result<Block, StoreError> {
        let tip = self.tip_in(w)?;
        if tip.height == 0 {
            return Err(corrupt("cannot disconnect genesis"));
        }
        let block = self
            .block(&tip.hash)?
            .ok_or(StoreError::MissingBlock(tip.hash))?;
        let spent: Vec<TxOut> = w
            .get(Space::Undo, tip.hash.as_bytes())?
            .map(|v| decode(&v, VALUE_LIMIT).map_err(corrupt))
            .transpose()?
            .ok_or_else(|| corrupt(format!("no undo data for {}", tip.hash)))?;
        let delta = UtxoDelta::of(&block, &spent)?;
        delta.apply(false, w);
        w.remove(Space::Heights, &block.height.to_be_bytes());
        w.set(Space::Meta, TIP, block.header.prev_block_hash.as_bytes());
        w.remove(Space::Undo, tip.hash.as_bytes());
        Ok(block)
    }

    /// A reorg in ONE step of the cache: disconnects best-chain blocks down
    /// to `fork`, then connects `blocks` (validated, each with its undo
    /// data, the first a child of `fork`), so a reader sees the chain before
    /// or after, never in between. Returns the blocks disconnected (tip
    /// first) and the new tip.
    ///
    /// Errors: as [`ChainStore::disconnect_tip`] and
    /// [`ChainStore::connect_blocks`] (nothing is changed then, unless the
    /// store failed mid-way; `fork` must be on the best chain).
    pub fn reorganize(
        &self,
        fork: &BlockHash,
        blocks: &[(&Block, &[TxOut])],
    ) -> Result<(Vec<Block>, Tip), StoreError> {
        if !self.is_on_best_chain(fork)? {
            return Err(corrupt(format!(
                "fork point {fork} is not on the best chain"
            )));
        }
        let (disconnected, tip) = self.state.write(|w| {
            let mut disconnected = Vec::new();
            while self.tip_in(w)?.hash != *fork {
                disconnected.push(self.disconnect_in(w)?);
            }
            let tip = if blocks.is_empty() {
                self.tip_in(w)?
            } else {
                self.connect_in(w, blocks)?
            };
            Ok((disconnected, tip))
        })?;
        self.disconnects.fetch_add(
            disconnected.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok((disconnected, tip))
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
pub(super) struct UtxoDelta {
    spent: Vec<(OutPoint, TxOut)>,
    created: Vec<(OutPoint, TxOut)>,
}

impl UtxoDelta {
    /// Pairs the block's non-coinbase inputs, in order, with `undo` (the
    /// outputs they spent). Errors: [`StoreError::Corrupt`] when the undo
    /// data does not have one entry per input.
    pub(super) fn of(block: &Block, undo: &[TxOut]) -> Result<UtxoDelta, StoreError> {
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
        let created_here: HashSet<OutPoint> = created.iter().map(|(op, _)| *op).collect();
        let spent_here: HashSet<OutPoint> = inputs.iter().copied().collect();
        created.retain(|(op, _)| !spent_here.contains(op));
        let spent = inputs
            .into_iter()
            .zip(undo.iter().copied())
            .filter(|(op, _)| !created_here.contains(op))
            .collect();
        Ok(UtxoDelta { spent, created })
    }

    /// Applies the delta forward (connect) or backward (disconnect) to the
    /// `utxo` and `addr_utxo` spaces of the cache.
    pub(super) fn apply(&self, forward: bool, w: &mut Writer<'_>) {
        let (remove, insert) = if forward {
            (&self.spent, &self.created)
        } else {
            (&self.created, &self.spent)
        };
        for (op, out) in remove {
            w.remove(Space::Utxo, &op.to_key());
            w.remove(Space::AddrUtxo, &addr_key(&out.pubkey_hash, op));
        }
        for (op, out) in insert {
            w.create(Space::Utxo, &op.to_key(), &encode(out));
            w.create(
                Space::AddrUtxo,
                &addr_key(&out.pubkey_hash, op),
                &out.value.to_be_bytes(),
            );
        }
    }
}

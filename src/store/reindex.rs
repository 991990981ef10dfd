//! Rebuilding the UTXO set from the blocks alone (`reindexutxo`, and the
//! set `checkchain` and the tests compare with).
//!
//! The best chain's hashes come from one ordered scan of `heights`; blocks
//! are then read, decoded and hashed (txids) in parallel batches of
//! [`READ_BATCH`] and applied to an in-memory set in height order, while the
//! stored `utxo` and `addr_utxo` trees are scanned on another thread. Only
//! the difference between the stored trees and the rebuild is written, in
//! one sled transaction across both trees, so a crash leaves either the old
//! set or the new one, and a set that is already right costs no write.
//! `reindexutxo` checks and repairs the explorer indexes in the same pass
//! (`index_rebuild.rs`): each batch of blocks, once read and decoded, is
//! handed to the index rebuild too, with the txids and the outputs each
//! block spent as the rebuild found them (what its undo data holds), so no
//! block is read twice, no hash computed twice and no undo value decoded;
//! the `undo` tree's keys are scanned to check that every best-chain block
//! above genesis has undo data (reported as corrupt otherwise, before any
//! write). The stored trees (`utxo`, `addr_utxo`, `undo`, and `explorer`
//! in parts cut by key) are read as parallel tasks beside the blocks; once
//! both are done, the UTXO difference and the explorer comparison run on
//! the two cores.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use sled::{IVec, Transactional};

use super::index_rebuild::{IndexRebuild, SORTED_BUDGET};
use super::utxo::addr_key;
use super::{ChainStore, Space, StoreError, corrupt, hash_from, tx_err};
use crate::core::block::Block;
use crate::core::encode::encode;
use crate::core::hash::{BlockHash, Txid};
use crate::core::tx::{OutPoint, TxOut};

/// Blocks read and hashed in parallel before being applied in order: bounds
/// the memory a rebuild holds at once (a block is at most 1 MB). The
/// explorer-index rebuild's chunk, as those blocks are handed to it.
const READ_BATCH: usize = super::index_rebuild::CHUNK;

/// Raw (key, value) pairs of one tree.
type Raw = Vec<(IVec, IVec)>;

/// What a reindex writes: keys to remove and entries to insert, per tree.
#[derive(Default)]
struct Diff {
    utxo_remove: Vec<IVec>,
    utxo_insert: Vec<([u8; 36], Vec<u8>)>,
    addr_remove: Vec<IVec>,
    addr_insert: Vec<([u8; 56], [u8; 8])>,
}

impl ChainStore {
    /// Computes the UTXO set from the best chain's blocks alone, genesis to
    /// tip, without touching the stored set.
    ///
    /// Errors: [`StoreError::Corrupt`] when a height has no block hash or a
    /// block spends an output that is not unspent at that point,
    /// [`StoreError::MissingBlock`], [`StoreError::Db`].
    pub fn compute_utxo_set(&self) -> Result<BTreeMap<OutPoint, TxOut>, StoreError> {
        Ok(self.rebuild_utxo_map(None)?.0.into_iter().collect())
    }

    /// Rebuilds the UTXO set and address index from the blocks alone
    /// (`reindexutxo`), and the explorer indexes in the same pass over the
    /// blocks (as [`ChainStore::rebuild_indexes`] does). Returns
    /// (transactions with unspent outputs, outputs).
    ///
    /// The stored trees are brought to the rebuilt set in a single
    /// transaction across `utxo` and `addr_utxo` (removing what should not
    /// be there, writing what is missing or differs, including undecodable
    /// entries), so a crash leaves either the old set or the new.
    ///
    /// Errors: as [`ChainStore::compute_utxo_set`].
    pub fn reindex_utxo(&self) -> Result<(usize, usize), StoreError> {
        self.state.flush()?;
        let _one = self.indexer.lock().unwrap_or_else(|p| p.into_inner());
        let mut index = self.index_rebuild_begin()?;
        let (utxo_tree, addr_tree, undo_tree) = (
            self.state.tree(Space::Utxo),
            self.state.tree(Space::AddrUtxo),
            self.state.tree(Space::Undo),
        );
        // The stored trees are read on the other core while the blocks
        // are: the explorer tree too, while the chain's index entries fit
        // the rebuild's budget (the chunks then write nothing, so what was
        // read is what the ordered comparison needs).
        let want_explorer = index.is_some();
        let (rebuilt, (((utxo, addr), undo), explorer)) = rayon::join(
            || self.rebuild_utxo_map(index.as_mut()),
            || {
                rayon::join(
                    || {
                        rayon::join(
                            || rayon::join(|| scan(utxo_tree), || scan(addr_tree)),
                            || undo_keys(undo_tree),
                        )
                    },
                    || {
                        want_explorer
                            .then(|| self.explorer_snapshot(SORTED_BUDGET))
                            .transpose()
                            .map(Option::flatten)
                    },
                )
            },
        );
        let (set, hashes) = rebuilt?;
        let (explorer, utxo, addr) = (explorer?, utxo?, addr?);
        // The explorer entries came from the outputs the rebuild found
        // spent, not from the undo data; that every best-chain block
        // above genesis has undo data (which disconnecting it needs) is
        // checked here, before anything is written.
        let undo = undo?;
        if let Some(h) = hashes
            .iter()
            .skip(1)
            .find(|h| undo.binary_search(h.as_bytes()).is_err())
        {
            return Err(corrupt(format!("no undo data for {h}")));
        }
        // The UTXO difference and the explorer comparison (which writes
        // its own repair) on the two cores.
        let (diff, indexed) = rayon::join(
            || Diff::between(&set, &utxo, &addr),
            || {
                index
                    .map(|index| self.index_rebuild_finish(index, &hashes, explorer))
                    .transpose()
            },
        );
        indexed?;
        if !diff.is_empty() {
            diff.write(self)?;
            self.db.flush()?;
        }
        self.record_tip()?;
        let txs: HashSet<Txid> = set.keys().map(|op| op.txid).collect();
        let counts = (txs.len(), set.len());
        // Freed on the pool, off the caller's path.
        rayon::spawn(move || drop((set, hashes, utxo, addr, diff, txs)));
        Ok(counts)
    }

    /// The best chain's block hashes, genesis first, from one scan of
    /// `heights`. Errors: [`StoreError::Corrupt`] on a gap.
    pub(super) fn best_chain_hashes(&self) -> Result<Vec<BlockHash>, StoreError> {
        let tip = self.tip()?;
        let mut out = Vec::new();
        let top = tip.height.to_be_bytes();
        let heights = self.state.range(
            Space::Heights,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Included(top.as_slice()),
            false,
            usize::MAX,
        )?;
        for (k, v) in heights {
            let height = out.len() as u64;
            if k.as_ref() != height.to_be_bytes() {
                return Err(corrupt(format!("no block at height {height}")));
            }
            out.push(hash_from(&v)?);
        }
        if out.len() as u64 != tip.height.saturating_add(1) {
            return Err(corrupt(format!("no block at height {}", out.len())));
        }
        Ok(out)
    }

    /// The block `hash` with its transactions' txids.
    fn block_with_txids(&self, hash: &BlockHash) -> Result<(Block, Vec<Txid>), StoreError> {
        let block = self.block(hash)?.ok_or(StoreError::MissingBlock(*hash))?;
        let txids = block.transactions.iter().map(|t| t.txid()).collect();
        Ok((block, txids))
    }

    /// The rebuilt set and the best chain's hashes: batches read in
    /// parallel, applied in height order. With `index`, each batch's
    /// blocks are handed to the explorer-index rebuild as well
    /// ([`ChainStore::index_rebuild_chunk`]), so `reindexutxo` reads and
    /// decodes each block once.
    fn rebuild_utxo_map(
        &self,
        mut index: Option<&mut IndexRebuild>,
    ) -> Result<(HashMap<OutPoint, TxOut>, Vec<BlockHash>), StoreError> {
        let hashes = self.best_chain_hashes()?;
        let mut set = HashMap::new();
        for (n, chunk) in hashes.chunks(READ_BATCH).enumerate() {
            let (blocks, txids): (Vec<Block>, Vec<Vec<Txid>>) = chunk
                .par_iter()
                .map(|h| self.block_with_txids(h))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .unzip();
            let mut spent = Vec::with_capacity(blocks.len());
            for (i, ((block, txids), hash)) in blocks.iter().zip(&txids).zip(chunk).enumerate() {
                let mut undo = Vec::new();
                apply(&mut set, block, txids, &mut undo).map_err(|op| {
                    let height = n * READ_BATCH + i;
                    corrupt(format!(
                        "block {hash} at height {height} spends missing {op}"
                    ))
                })?;
                spent.push(undo);
            }
            if let Some(index) = index.as_deref_mut() {
                self.index_rebuild_known(index, chunk, &blocks, &txids, &spent)?;
            }
        }
        Ok((set, hashes))
    }
}

/// The keys of the `undo` tree (block hashes), in order; keys of another
/// length are left out (no block has them).
fn undo_keys(tree: &sled::Tree) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut out = Vec::new();
    for kv in tree.iter() {
        let (k, _) = kv?;
        if let Ok(k) = <[u8; 32]>::try_from(k.as_ref()) {
            out.push(k);
        }
    }
    Ok(out)
}

/// Every (key, value) of `tree`, in key order.
fn scan(tree: &sled::Tree) -> Result<Raw, StoreError> {
    tree.iter().map(|kv| kv.map_err(StoreError::Db)).collect()
}

/// Applies `block`'s transactions (with their `txids`) to `set`, pushing
/// the outputs its inputs spend onto `spent` in input order (what its undo
/// data holds). Errors: the first spent outpoint not in the set.
fn apply(
    set: &mut HashMap<OutPoint, TxOut>,
    block: &Block,
    txids: &[Txid],
    spent: &mut Vec<TxOut>,
) -> Result<(), OutPoint> {
    for (tx, txid) in block.transactions.iter().zip(txids) {
        if !tx.is_coinbase() {
            for i in &tx.inputs {
                spent.push(set.remove(&i.prev_out).ok_or(i.prev_out)?);
            }
        }
        set.extend(tx.created_outputs(*txid));
    }
    Ok(())
}

impl Diff {
    /// The writes that turn the stored trees (`utxo`, `addr`) into `set`.
    fn between(set: &HashMap<OutPoint, TxOut>, utxo: &Raw, addr: &Raw) -> Diff {
        let mut d = Diff::default();
        let mut utxo_ok = HashSet::with_capacity(set.len());
        for (k, v) in utxo {
            let right = OutPoint::from_key(k)
                .and_then(|op| set.get(&op).map(|o| (op, o)))
                .filter(|(_, o)| encode(*o) == v.as_ref());
            match right {
                Some((op, _)) => _ = utxo_ok.insert(op),
                None => d.utxo_remove.push(k.clone()),
            }
        }
        let mut addr_ok = HashSet::with_capacity(set.len());
        for (k, v) in addr {
            let right = k
                .get(20..)
                .and_then(OutPoint::from_key)
                .and_then(|op| set.get(&op).map(|o| (op, o)))
                .filter(|(_, o)| {
                    k.get(..20) == Some(o.pubkey_hash.as_slice())
                        && v.as_ref() == o.value.to_be_bytes()
                });
            match right {
                Some((op, _)) => _ = addr_ok.insert(op),
                None => d.addr_remove.push(k.clone()),
            }
        }
        for (op, o) in set {
            if !utxo_ok.contains(op) {
                d.utxo_insert.push((op.to_key(), encode(o)));
            }
            if !addr_ok.contains(op) {
                d.addr_insert
                    .push((addr_key(&o.pubkey_hash, op), o.value.to_be_bytes()));
            }
        }
        d
    }

    fn is_empty(&self) -> bool {
        self.utxo_remove.is_empty()
            && self.utxo_insert.is_empty()
            && self.addr_remove.is_empty()
            && self.addr_insert.is_empty()
    }

    /// Writes the difference in one transaction across `utxo` and `addr_utxo`.
    fn write(&self, store: &ChainStore) -> Result<(), StoreError> {
        (
            store.state.tree(Space::Utxo),
            store.state.tree(Space::AddrUtxo),
        )
            .transaction(|(u, a)| {
                for k in &self.utxo_remove {
                    u.remove(k)?;
                }
                for k in &self.addr_remove {
                    a.remove(k)?;
                }
                for (k, v) in &self.utxo_insert {
                    u.insert(&k[..], v.as_slice())?;
                }
                for (k, v) in &self.addr_insert {
                    a.insert(&k[..], &v[..])?;
                }
                Ok(())
            })
            .map_err(tx_err)
    }
}

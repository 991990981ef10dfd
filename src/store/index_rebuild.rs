//! The explorer indexes (`tx_index`, `addr_history`, `spent_by`, see
//! `txindex.rs`) rebuilt from the best chain's blocks and undo data: at
//! open when a store lacks them, and by `reindexutxo`.
//!
//! Blocks and their undo data are read and turned into index entries in
//! parallel batches of [`CHUNK`] blocks; each entry is compared with the
//! stored one (parallel reads), and only the entries missing or different
//! are written, one `sled::Batch` per tree and batch of blocks. Once every
//! block is checked, each tree must hold exactly as many entries as the
//! chain gives it; a tree with more (entries of blocks no longer on the
//! best chain, or undecodable ones) is cleared and written again whole.
//! Indexes that are already right therefore cost reads only, no write.
//!
//! `meta` key `b"indexed"` is removed before the first write and put back
//! after the last, so a rebuild cut short by a crash is done again at the
//! next open.

use rayon::prelude::*;

use super::txindex::{INDEXED, IndexDelta};
use super::{ChainStore, Space, StoreError, corrupt};
use crate::core::hash::BlockHash;

/// Blocks read, indexed and compared in parallel at once: bounds the
/// memory a rebuild holds (a block is at most 1 MB).
const CHUNK: usize = 256;

/// An index entry to write: tree (0 `tx_index`, 1 `addr_history`, 2
/// `spent_by`), key, value.
type Entry = (usize, Vec<u8>, Vec<u8>);

impl ChainStore {
    /// Brings `tx_index`, `addr_history` and `spent_by` to what the best
    /// chain's blocks and undo data give, genesis to tip (module docs), then
    /// marks them complete. Returns the number of blocks indexed (0 with no
    /// chain, the trees then emptied and not marked).
    ///
    /// Errors: [`StoreError::Corrupt`] when a best-chain block's undo data
    /// is missing or a height has no block, [`StoreError::MissingBlock`],
    /// [`StoreError::Db`].
    pub fn rebuild_indexes(&self) -> Result<u64, StoreError> {
        // Runs on the trees themselves: the cache is written out first.
        self.state.flush()?;
        let meta = self.state.tree(Space::Meta);
        if self.tip_opt()?.is_none() {
            meta.remove(INDEXED)?;
            for t in self.index_trees() {
                t.clear()?;
            }
            return Ok(0);
        }
        let hashes = self.best_chain_hashes()?;
        let mut marked = self.indexes_complete()?;
        let mut expected = [0usize; 3];
        let mut wrote = false;
        for (n, chunk) in hashes.chunks(CHUNK).enumerate() {
            let deltas = self.chunk_deltas(n * CHUNK, chunk)?;
            for d in &deltas {
                for (count, entries) in expected.iter_mut().zip(&d.trees) {
                    *count += entries.len();
                }
            }
            let stale = self.stale_entries(&deltas)?;
            if !stale.is_empty() {
                self.unmark(&mut marked)?;
                self.write_entries(stale)?;
                wrote = true;
            }
        }
        for (tree, count) in self.index_trees().into_iter().zip(expected) {
            if tree.len() != count {
                self.unmark(&mut marked)?;
                self.rewrite_tree(tree, &hashes)?;
                wrote = true;
            }
        }
        if !marked {
            meta.insert(INDEXED, &[1u8][..])?;
            wrote = true;
        }
        if wrote {
            self.db.flush()?;
        }
        Ok(hashes.len() as u64)
    }

    /// Builds the indexes when a chain exists but they are not complete (a
    /// store written before they existed, or a rebuild cut short).
    ///
    /// Errors: as [`ChainStore::rebuild_indexes`].
    pub(super) fn ensure_indexes(&self) -> Result<(), StoreError> {
        if self.genesis_hash()?.is_some() && !self.indexes_complete()? {
            let n = self.rebuild_indexes()?;
            tracing::info!("built the transaction and address indexes over {n} blocks");
        }
        Ok(())
    }

    /// The three index trees, in [`IndexDelta`] order.
    fn index_trees(&self) -> [&sled::Tree; 3] {
        [
            self.state.tree(Space::TxIndex),
            self.state.tree(Space::AddrHistory),
            self.state.tree(Space::SpentBy),
        ]
    }

    /// Removes the complete mark before a first write.
    fn unmark(&self, marked: &mut bool) -> Result<(), StoreError> {
        if *marked {
            self.state.tree(Space::Meta).remove(INDEXED)?;
            *marked = false;
        }
        Ok(())
    }

    /// The index entries of the best-chain blocks `chunk`, the first at
    /// height `first`, read and computed in parallel.
    fn chunk_deltas(
        &self,
        first: usize,
        chunk: &[BlockHash],
    ) -> Result<Vec<IndexDelta>, StoreError> {
        chunk
            .par_iter()
            .enumerate()
            .map(|(i, hash)| {
                let block = self.block(hash)?.ok_or(StoreError::MissingBlock(*hash))?;
                let undo = match self.undo(hash)? {
                    Some(u) => u,
                    None if first + i == 0 => Vec::new(),
                    None => return Err(corrupt(format!("no undo data for {hash}"))),
                };
                IndexDelta::of(&block, &undo)
            })
            .collect()
    }

    /// The entries of `deltas` that their tree lacks or holds with another
    /// value (parallel reads).
    fn stale_entries(&self, deltas: &[IndexDelta]) -> Result<Vec<Entry>, StoreError> {
        let trees = self.index_trees();
        let per_block: Vec<Vec<Entry>> = deltas
            .par_iter()
            .map(|d| {
                let mut out = Vec::new();
                for (t, (entries, tree)) in d.trees.iter().zip(trees).enumerate() {
                    for (k, v) in entries {
                        if tree.get(k)?.as_deref() != Some(v.as_slice()) {
                            out.push((t, k.clone(), v.clone()));
                        }
                    }
                }
                Ok(out)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(per_block.into_iter().flatten().collect())
    }

    /// Writes `entries`, one batch per tree.
    fn write_entries(&self, entries: Vec<Entry>) -> Result<(), StoreError> {
        let mut batches: [sled::Batch; 3] = Default::default();
        for (t, k, v) in entries {
            if let Some(b) = batches.get_mut(t) {
                b.insert(k, v);
            }
        }
        for (tree, batch) in self.index_trees().into_iter().zip(batches) {
            tree.apply_batch(batch)?;
        }
        Ok(())
    }

    /// Clears `tree` (one of [`ChainStore::index_trees`]) and writes all of
    /// its entries for the best chain `hashes` again, a batch per
    /// [`CHUNK`] blocks.
    fn rewrite_tree(&self, tree: &sled::Tree, hashes: &[BlockHash]) -> Result<(), StoreError> {
        let t = self
            .index_trees()
            .iter()
            .position(|x| std::ptr::eq(*x, tree))
            .ok_or_else(|| corrupt("not an index tree"))?;
        tree.clear()?;
        for (n, chunk) in hashes.chunks(CHUNK).enumerate() {
            let mut batch = sled::Batch::default();
            for d in self.chunk_deltas(n * CHUNK, chunk)? {
                for (k, v) in d.trees.into_iter().nth(t).unwrap_or_default() {
                    batch.insert(k, v);
                }
            }
            tree.apply_batch(batch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::Block;
    use crate::core::tx::{OutPoint, Transaction, TxIn, TxOut};

    const A: [u8; 20] = [1; 20];
    const B: [u8; 20] = [2; 20];

    /// A store with genesis and one block spending its coinbase.
    fn chain() -> (ChainStore, Block) {
        let store = ChainStore::temporary().expect("store");
        let genesis = Block::template(BlockHash::ZERO, 0, 1, 1, A, 50, vec![]);
        store.init_genesis(&genesis).expect("genesis");
        let pay = Transaction {
            version: 1,
            inputs: vec![TxIn::unsigned(OutPoint {
                txid: genesis.transactions[0].txid(),
                vout: 0,
            })],
            outputs: vec![TxOut {
                value: 50,
                pubkey_hash: B,
            }],
            coinbase_height: 0,
        };
        let b1 = Block::template(genesis.hash(), 1, 1, 2, B, 50, vec![pay]);
        let spent = [genesis.transactions[0].outputs[0]];
        store.connect_block(&b1, &spent).expect("connect");
        (store, b1)
    }

    /// Every entry of the three trees.
    fn dump(store: &ChainStore) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
        store
            .index_trees()
            .iter()
            .map(|t| {
                t.iter()
                    .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("read"))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn right_indexes_are_left_alone_and_stay_marked() {
        let (store, _) = chain();
        let before = dump(&store);
        assert_eq!(store.rebuild_indexes().unwrap(), 2);
        assert!(store.indexes_complete().unwrap());
        assert_eq!(dump(&store), before);
    }

    #[test]
    fn missing_wrong_and_extra_entries_are_repaired() {
        let (store, b1) = chain();
        let before = dump(&store);
        let txid = b1.transactions[1].txid();
        let [tx_index, addr_history, spent_by] = store.index_trees();
        tx_index.remove(txid.as_bytes()).unwrap();
        let (k, _) = addr_history.first().unwrap().unwrap();
        addr_history.insert(k, &[9u8; 3][..]).unwrap();
        spent_by.insert([7u8; 36], &[7u8; 36][..]).unwrap();
        tx_index.insert([8u8; 32], &[8u8; 36][..]).unwrap();
        assert_ne!(dump(&store), before);
        assert_eq!(store.rebuild_indexes().unwrap(), 2);
        assert_eq!(dump(&store), before);
        assert!(store.indexes_complete().unwrap());
        assert_eq!(store.tx_location(&txid).unwrap(), Some((b1.hash(), 1)));
    }

    #[test]
    fn an_unmarked_store_is_marked_after_a_rebuild() {
        let (store, _) = chain();
        store.state.tree(Space::Meta).remove(INDEXED).unwrap();
        store.ensure_indexes().unwrap();
        assert!(store.indexes_complete().unwrap());
    }

    #[test]
    fn a_store_without_chain_has_empty_unmarked_indexes() {
        let store = ChainStore::temporary().expect("store");
        let tx_index = store.state.tree(Space::TxIndex);
        tx_index.insert([8u8; 32], &[8u8; 36][..]).unwrap();
        assert_eq!(store.rebuild_indexes().unwrap(), 0);
        assert!(tx_index.is_empty());
        assert!(!store.indexes_complete().unwrap());
    }
}

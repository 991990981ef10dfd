//! The explorer indexes (`txindex.rs`) checked against the best chain's
//! blocks and undo data and repaired: by `reindexutxo`.
//!
//! Blocks and their undo data are read and turned into index entries in
//! parallel batches of [`CHUNK`] blocks; each entry is compared with the
//! stored one (parallel reads), and only the entries missing or different
//! are written, one `sled::Batch` per batch of blocks. Once every block is
//! checked, the `explorer` tree must hold exactly as many entries as the
//! chain gives it (plus the locator); a tree with more (entries of blocks
//! no longer on the best chain, or undecodable ones) is cleared and written
//! again whole. Indexes that are already right therefore cost reads only,
//! no write.
//!
//! The locator is removed before the first write and set to the tip after
//! the last, so a rebuild cut short by a crash leaves a tree without
//! locator, which the index builder clears and builds again from genesis
//! (`indexer.rs`).

use rayon::prelude::*;

use super::indexer::{IndexTip, LOCATOR, locator_bytes};
use super::txindex::IndexDelta;
use super::{ChainStore, StoreError, corrupt};
use crate::core::block::Block;
use crate::core::hash::BlockHash;

/// Blocks read, indexed and compared in parallel at once: bounds the
/// memory a rebuild holds (a block is at most 1 MB).
pub(super) const CHUNK: usize = 256;

/// An index entry to write: key, value.
type Entry = (Vec<u8>, Vec<u8>);

/// Where a rebuild stands between chunks.
pub(super) struct IndexRebuild {
    /// The locator it ends with (the tip).
    want: [u8; 40],
    /// Whether the tree holds that locator now.
    located: bool,
    /// Entries the chunks checked so far give.
    expected: usize,
    /// Whether anything was written.
    wrote: bool,
}

impl ChainStore {
    /// Brings the explorer indexes to what the best chain's blocks and undo
    /// data give, genesis to tip (module docs), their locator at the tip.
    /// Returns the number of blocks indexed (0 with no chain, the tree then
    /// emptied).
    ///
    /// Errors: [`StoreError::Corrupt`] when a best-chain block's undo data
    /// is missing or a height has no block, [`StoreError::MissingBlock`],
    /// [`StoreError::Db`].
    pub fn rebuild_indexes(&self) -> Result<u64, StoreError> {
        // Reads the chain state's trees: the cache is written out first.
        self.state.flush()?;
        let _one = self.indexer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut rebuild) = self.index_rebuild_begin()? else {
            return Ok(0);
        };
        let hashes = self.best_chain_hashes()?;
        for (n, chunk) in hashes.chunks(CHUNK).enumerate() {
            let blocks = chunk
                .par_iter()
                .map(|h| self.block(h)?.ok_or(StoreError::MissingBlock(*h)))
                .collect::<Result<Vec<_>, _>>()?;
            self.index_rebuild_chunk(&mut rebuild, n * CHUNK, chunk, &blocks)?;
        }
        self.index_rebuild_finish(rebuild, &hashes)
    }

    /// Starts a rebuild (the caller holds the builder's lock and flushed
    /// the chain state): `None` with no chain (the tree then emptied).
    pub(super) fn index_rebuild_begin(&self) -> Result<Option<IndexRebuild>, StoreError> {
        let Some(tip) = self.tip_opt()? else {
            self.explorer.clear()?;
            return Ok(None);
        };
        let want = locator_bytes(&IndexTip {
            hash: tip.hash,
            height: tip.height,
        });
        let mut rebuild = IndexRebuild {
            want,
            located: self.explorer.get(LOCATOR)?.as_deref() == Some(&want[..]),
            expected: 0,
            wrote: false,
        };
        if !rebuild.located {
            self.unlocate(&mut rebuild.located)?;
        }
        Ok(Some(rebuild))
    }

    /// Checks and repairs the entries of the best-chain blocks `chunk`
    /// (decoded in `blocks`, the first at height `first`): one step of a
    /// rebuild, chunks given in height order, each at most [`CHUNK`]
    /// blocks. `reindexutxo` hands over the blocks it read for the UTXO
    /// set, so each block is read and decoded once.
    pub(super) fn index_rebuild_chunk(
        &self,
        rebuild: &mut IndexRebuild,
        first: usize,
        chunk: &[BlockHash],
        blocks: &[Block],
    ) -> Result<(), StoreError> {
        let deltas = self.chunk_deltas(first, chunk, blocks)?;
        rebuild.expected += deltas.iter().map(|d| d.entries.len()).sum::<usize>();
        let stale = self.stale_entries(&deltas)?;
        if !stale.is_empty() {
            self.unlocate(&mut rebuild.located)?;
            let mut batch = sled::Batch::default();
            for (k, v) in stale {
                batch.insert(k, v);
            }
            self.explorer.apply_batch(batch)?;
            rebuild.wrote = true;
        }
        Ok(())
    }

    /// Ends a rebuild of the best chain `hashes` after every chunk was
    /// checked: a tree with entries beyond the chain's is written again
    /// whole, then the locator is set to the tip. Returns the blocks
    /// indexed.
    pub(super) fn index_rebuild_finish(
        &self,
        mut rebuild: IndexRebuild,
        hashes: &[BlockHash],
    ) -> Result<u64, StoreError> {
        if self.explorer.len() != rebuild.expected + usize::from(rebuild.located) {
            self.unlocate(&mut rebuild.located)?;
            self.rewrite_all(hashes)?;
            rebuild.wrote = true;
        }
        if !rebuild.located {
            self.explorer.insert(LOCATOR, &rebuild.want[..])?;
            rebuild.wrote = true;
        }
        if rebuild.wrote {
            self.db.flush()?;
        }
        Ok(hashes.len() as u64)
    }

    /// Removes the locator before a first write.
    fn unlocate(&self, located: &mut bool) -> Result<(), StoreError> {
        self.explorer.remove(LOCATOR)?;
        *located = false;
        Ok(())
    }

    /// The index entries of the best-chain blocks `chunk`, the first at
    /// height `first`, read and computed in parallel.
    fn chunk_deltas(
        &self,
        first: usize,
        chunk: &[BlockHash],
        blocks: &[Block],
    ) -> Result<Vec<IndexDelta>, StoreError> {
        chunk
            .par_iter()
            .zip(blocks)
            .enumerate()
            .map(|(i, (hash, block))| {
                let undo = match self.undo(hash)? {
                    Some(u) => u,
                    None if first + i == 0 => Vec::new(),
                    None => return Err(corrupt(format!("no undo data for {hash}"))),
                };
                IndexDelta::of(block, &undo)
            })
            .collect()
    }

    /// The entries of `deltas` that the tree lacks or holds with another
    /// value (parallel reads).
    fn stale_entries(&self, deltas: &[IndexDelta]) -> Result<Vec<Entry>, StoreError> {
        let per_block: Vec<Vec<Entry>> = deltas
            .par_iter()
            .map(|d| {
                let mut out = Vec::new();
                for (k, v) in &d.entries {
                    if self.explorer.get(k)?.as_deref() != Some(v.as_slice()) {
                        out.push((k.clone(), v.clone()));
                    }
                }
                Ok(out)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(per_block.into_iter().flatten().collect())
    }

    /// Clears the tree and writes every entry for the best chain `hashes`
    /// again, a batch per [`CHUNK`] blocks (the locator is written after).
    fn rewrite_all(&self, hashes: &[BlockHash]) -> Result<(), StoreError> {
        self.explorer.clear()?;
        for (n, chunk) in hashes.chunks(CHUNK).enumerate() {
            let blocks = chunk
                .par_iter()
                .map(|h| self.block(h)?.ok_or(StoreError::MissingBlock(*h)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut batch = sled::Batch::default();
            for d in self.chunk_deltas(n * CHUNK, chunk, &blocks)? {
                d.apply(true, &mut batch);
            }
            self.explorer.apply_batch(batch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// Every entry of the `explorer` tree, after the builder caught up.
    fn dump(store: &ChainStore) -> Vec<(Vec<u8>, Vec<u8>)> {
        store.sync_indexes().unwrap();
        store
            .explorer
            .iter()
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("read"))
            .collect()
    }

    #[test]
    fn right_indexes_are_left_alone() {
        let (store, _) = chain();
        let before = dump(&store);
        assert_eq!(store.rebuild_indexes().unwrap(), 2);
        assert_eq!(dump(&store), before);
    }

    #[test]
    fn missing_wrong_and_extra_entries_are_repaired() {
        let (store, b1) = chain();
        let before = dump(&store);
        let txid = b1.transactions[1].txid();
        let t = &store.explorer;
        t.remove(super::super::txindex::key(b'T', txid.as_bytes()))
            .unwrap();
        let (k, _) = t.scan_prefix(b"A").next().unwrap().unwrap();
        t.insert(k, &[9u8; 3][..]).unwrap();
        t.insert(b"S\x07\x07", &[7u8; 36][..]).unwrap();
        t.insert(b"T\x08", &[8u8; 36][..]).unwrap();
        assert_ne!(
            t.iter()
                .map(|kv| kv.unwrap().0.to_vec())
                .collect::<Vec<_>>(),
            before.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
        );
        assert_eq!(store.rebuild_indexes().unwrap(), 2);
        assert_eq!(dump(&store), before);
        assert_eq!(store.tx_location(&txid).unwrap(), Some((b1.hash(), 1)));
    }

    #[test]
    fn a_tree_without_locator_is_built_again_from_genesis() {
        let (store, b1) = chain();
        let before = dump(&store);
        store.explorer.remove(LOCATOR).unwrap();
        store.explorer.insert(b"T\x08", &[8u8; 36][..]).unwrap();
        assert_eq!(dump(&store), before);
        let pay = b1.transactions[1].txid();
        assert_eq!(store.tx_location(&pay).unwrap(), Some((b1.hash(), 1)));
    }

    #[test]
    fn a_store_without_chain_has_empty_indexes() {
        let store = ChainStore::temporary().expect("store");
        store.explorer.insert([8u8; 32], &[8u8; 36][..]).unwrap();
        assert_eq!(store.rebuild_indexes().unwrap(), 0);
        assert!(store.explorer.is_empty());
    }
}

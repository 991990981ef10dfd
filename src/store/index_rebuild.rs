//! The explorer indexes (`txindex.rs`) checked against the best chain's
//! blocks and undo data and repaired: by `reindexutxo`.
//!
//! Blocks and their undo data are read and turned into index entries in
//! parallel batches of [`CHUNK`] blocks (`reindexutxo` hands over the
//! blocks, txids and spent outputs its UTXO rebuild has, so it reads no
//! undo data). While the entries the chain gives fit in [`SORTED_BUDGET`]
//! bytes they are only gathered (by key when the tree's locator is at the
//! tip already); at the end such a tree (read whole, by `reindexutxo` on
//! the other core while the blocks are read) is checked against them by
//! one lookup per tree entry, in parallel, and when it holds exactly them
//! nothing else is done. Otherwise they are
//! sorted and compared with the tree in one ordered scan (a merge), and
//! what differs (entries missing or with another value, entries the chain
//! does not give) is written in one `sled::Batch` that also sets the
//! locator, so the repair is atomic. A chain whose
//! entries pass the budget is compared entry by entry instead (parallel
//! reads, only the entries missing or different written, one `sled::Batch`
//! per batch of blocks), and once every block is checked the `explorer`
//! tree must hold exactly as many entries as the chain gives it (plus the
//! locator); a tree with more (entries of blocks no longer on the best
//! chain, or undecodable ones) is cleared and written again whole. Indexes
//! that are already right therefore cost reads only, no write.
//!
//! On the entry-by-entry path the locator is removed before the first
//! write and set to the tip after the last, so a rebuild cut short by a
//! crash leaves a tree without locator, which the index builder clears and
//! builds again from genesis (`indexer.rs`).

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::Ordering;

use rayon::prelude::*;
use sled::IVec;

use super::indexer::{IndexTip, LOCATOR, locator_bytes};
use super::txindex::{ADDR, IndexDelta, SPENT, TX};
use super::{ChainStore, StoreError, corrupt};
use crate::core::block::Block;
use crate::core::hash::{BlockHash, Txid};
use crate::core::tx::TxOut;

/// Blocks read, indexed and compared in parallel at once: bounds the
/// memory a rebuild holds (a block is at most 1 MB).
pub(super) const CHUNK: usize = 256;

/// An index entry to write: key, value.
type Entry = (Vec<u8>, Vec<u8>);

/// Index entries gathered for the comparison at the end: by key when the
/// tree's locator is at the tip already (the tree is then likely right, and
/// a lookup per tree entry shows it without a sort), else in chain order
/// (the tree is then repaired by the ordered merge, which sorts them).
enum Gathered {
    /// By key, a key given twice holding the later value.
    ByKey(HashMap<Vec<u8>, Vec<u8>>),
    /// In chain order, a key possibly given more than once.
    InOrder(Vec<Entry>),
}

impl Gathered {
    fn extend(&mut self, entries: impl Iterator<Item = Entry>) {
        match self {
            Gathered::ByKey(m) => m.extend(entries),
            Gathered::InOrder(v) => v.extend(entries),
        }
    }

    /// The entries sorted by key, a key given twice with its later value.
    fn sorted(self) -> Vec<Entry> {
        match self {
            Gathered::ByKey(m) => {
                let mut all: Vec<Entry> = m.into_iter().collect();
                all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                all
            }
            Gathered::InOrder(mut all) => {
                // A stable sort keeps a key's entries in chain order; the
                // last one is what an entry-by-entry build leaves.
                all.sort_by(|a, b| a.0.cmp(&b.0));
                all.dedup_by(|later, earlier| {
                    let same = later.0 == earlier.0;
                    if same {
                        std::mem::swap(later, earlier);
                    }
                    same
                });
                all
            }
        }
    }

    /// The entries in no particular order.
    fn into_vec(self) -> Vec<Entry> {
        match self {
            Gathered::ByKey(m) => m.into_iter().collect(),
            Gathered::InOrder(v) => v,
        }
    }
}

/// Bytes of index entries (keys, values and their allocations) a rebuild
/// gathers to compare with the tree in one ordered scan; past it, the rest
/// of the chain is compared entry by entry. 64 MiB holds the entries of
/// about 64,000 1-payment blocks (six entries each); `reindexutxo` holds
/// a copy of the tree of the same size at most beside them.
pub(super) const SORTED_BUDGET: usize = 64 << 20;

/// Bytes counted per gathered entry besides its key and value (two `Vec`s,
/// their allocations and a hash-map slot, roughly).
const ENTRY_OVERHEAD: usize = 96;

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
    /// The entries gathered for the comparison at the end, with
    /// their size; `None` once they passed `budget` (the chunks are then
    /// compared entry by entry).
    gathered: Option<(Gathered, usize)>,
    /// Bytes of entries gathered at most ([`SORTED_BUDGET`]).
    budget: usize,
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
        self.rebuild_indexes_within(SORTED_BUDGET)
    }

    /// [`ChainStore::rebuild_indexes`] gathering at most `budget` bytes of
    /// entries for the ordered comparison (module docs).
    fn rebuild_indexes_within(&self, budget: usize) -> Result<u64, StoreError> {
        // Reads the chain state's trees: the cache is written out first.
        self.state.flush()?;
        let _one = self.indexer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut rebuild) = self.index_rebuild_begin()? else {
            return Ok(0);
        };
        rebuild.budget = budget;
        let hashes = self.best_chain_hashes()?;
        for (n, chunk) in hashes.chunks(CHUNK).enumerate() {
            let blocks = chunk
                .par_iter()
                .map(|h| self.block(h)?.ok_or(StoreError::MissingBlock(*h)))
                .collect::<Result<Vec<_>, _>>()?;
            self.index_rebuild_chunk(&mut rebuild, n * CHUNK, chunk, &blocks)?;
        }
        self.index_rebuild_finish(rebuild, &hashes, None)
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
            gathered: None,
            budget: SORTED_BUDGET,
        };
        rebuild.gathered = Some((
            if rebuild.located {
                Gathered::ByKey(HashMap::new())
            } else {
                Gathered::InOrder(Vec::new())
            },
            0,
        ));
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
        self.index_rebuild_deltas(rebuild, deltas)
    }

    /// [`ChainStore::index_rebuild_chunk`] for blocks whose txids and
    /// spent outputs the caller has (`reindexutxo`, which computed them
    /// rebuilding the UTXO set: `spent[i]` is what `blocks[i]`'s inputs
    /// spent, in input order, as its undo data holds), so neither the undo
    /// data is read nor a hash computed again.
    ///
    /// Errors: as [`ChainStore::index_rebuild_chunk`].
    pub(super) fn index_rebuild_known(
        &self,
        rebuild: &mut IndexRebuild,
        chunk: &[BlockHash],
        blocks: &[Block],
        txids: &[Vec<Txid>],
        spent: &[Vec<TxOut>],
    ) -> Result<(), StoreError> {
        let deltas = chunk
            .par_iter()
            .zip(blocks)
            .zip(txids)
            .zip(spent)
            .map(|(((hash, block), txids), spent)| IndexDelta::of_known(block, hash, txids, spent))
            .collect::<Result<Vec<_>, _>>()?;
        self.index_rebuild_deltas(rebuild, deltas)
    }

    /// One step of a rebuild given the chunk's entries (module docs).
    fn index_rebuild_deltas(
        &self,
        rebuild: &mut IndexRebuild,
        deltas: Vec<IndexDelta>,
    ) -> Result<(), StoreError> {
        rebuild.expected += deltas.iter().map(|d| d.entries.len()).sum::<usize>();
        if let Some((all, bytes)) = rebuild.gathered.as_mut() {
            *bytes += deltas
                .iter()
                .flat_map(|d| &d.entries)
                .map(|(k, v)| k.len() + v.len() + ENTRY_OVERHEAD)
                .sum::<usize>();
            all.extend(deltas.into_iter().flat_map(|d| d.entries));
            if *bytes <= rebuild.budget {
                return Ok(());
            }
            // Past the budget: what was gathered is compared entry by
            // entry, as the chunks that follow are.
            let all = rebuild
                .gathered
                .take()
                .map(|(all, _)| all.into_vec())
                .unwrap_or_default();
            return self.repair_entries(rebuild, &all);
        }
        let entries: Vec<Entry> = deltas.into_iter().flat_map(|d| d.entries).collect();
        self.repair_entries(rebuild, &entries)
    }

    /// Compares `entries` with the tree by a lookup each and
    /// writes those missing or different (the entry-by-entry path).
    fn repair_entries(
        &self,
        rebuild: &mut IndexRebuild,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        let stale = self.stale_entries(entries)?;
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
    /// checked: the gathered entries compared with the tree in one ordered
    /// scan and what differs written with the locator in one batch; or,
    /// on the entry-by-entry path, a tree with entries beyond the chain's
    /// written again whole, then the locator set to the tip. Returns the
    /// blocks indexed.
    ///
    /// `scanned`: the whole tree as [`ChainStore::explorer_snapshot`] read
    /// it after [`ChainStore::index_rebuild_begin`], taken instead of a
    /// scan of its own when the chunks wrote nothing (the entries fit the
    /// budget).
    pub(super) fn index_rebuild_finish(
        &self,
        mut rebuild: IndexRebuild,
        hashes: &[BlockHash],
        scanned: Option<Vec<(IVec, IVec)>>,
    ) -> Result<u64, StoreError> {
        if let Some((all, _)) = rebuild.gathered.take() {
            self.repair_sorted(&mut rebuild, all, scanned)?;
        } else if self.explorer.len() != rebuild.expected + usize::from(rebuild.located) {
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

    /// Compares the whole tree with `expected` (every entry the best
    /// chain gives) in one ordered scan, and writes what differs (entries
    /// missing or with another value inserted, entries the chain does not
    /// give removed) with the locator at the tip, in one batch.
    fn repair_sorted(
        &self,
        rebuild: &mut IndexRebuild,
        expected: Gathered,
        scanned: Option<Vec<(IVec, IVec)>>,
    ) -> Result<(), StoreError> {
        let scanned = match (scanned, &expected) {
            (Some(all), Gathered::ByKey(want)) if rebuild.located && holds_exactly(&all, want) => {
                // Freed on the pool, off the caller's path.
                rayon::spawn(move || drop((all, expected)));
                return Ok(());
            }
            (other, _) => other,
        };
        let expected = expected.sorted();
        let mut batch = sled::Batch::default();
        let mut dirty = false;
        let mut want = expected.into_iter().peekable();
        let tree: Box<dyn Iterator<Item = sled::Result<(IVec, IVec)>>> = match scanned {
            Some(all) => Box::new(all.into_iter().map(Ok)),
            None => Box::new(self.explorer.iter()),
        };
        for kv in tree {
            let (k, v) = kv?;
            while let Some((ek, ev)) = want.next_if(|(ek, _)| ek.as_slice() < k.as_ref()) {
                batch.insert(ek, ev);
                dirty = true;
            }
            match want.next_if(|(ek, _)| ek.as_slice() == k.as_ref()) {
                Some((_, ev)) if ev.as_slice() == v.as_ref() => {}
                Some((ek, ev)) => {
                    batch.insert(ek, ev);
                    dirty = true;
                }
                None if k.as_ref() == LOCATOR => {}
                None => {
                    batch.remove(k);
                    dirty = true;
                }
            }
        }
        for (ek, ev) in want {
            batch.insert(ek, ev);
            dirty = true;
        }
        if dirty || !rebuild.located {
            batch.insert(LOCATOR, &rebuild.want[..]);
            self.explorer.apply_batch(batch)?;
            rebuild.located = true;
            rebuild.wrote = true;
        }
        Ok(())
    }

    /// Every entry of the `explorer` tree in key order, read while the
    /// blocks are (`reindexutxo`, on the other core); `None` when they pass
    /// `budget` bytes (the ordered comparison then scans the tree itself,
    /// if it runs at all).
    ///
    /// Errors: [`StoreError::Db`].
    pub(super) fn explorer_snapshot(
        &self,
        budget: usize,
    ) -> Result<Option<Vec<(IVec, IVec)>>, StoreError> {
        // The key space cut at the index prefixes, the parts read in
        // parallel (each part's share of the budget counted as it is read,
        // all parts together against it).
        let bytes = std::sync::atomic::AtomicUsize::new(0);
        // Address-history and transaction keys are cut again at their
        // middle (they start with a hash), so the parts are about even.
        let cuts: [&[u8]; 4] = [&[ADDR, 0x80], &[SPENT], &[TX], &[TX, 0x80]];
        let parts = [
            (Bound::Unbounded, Bound::Excluded(cuts[0])),
            (Bound::Included(cuts[0]), Bound::Excluded(cuts[1])),
            (Bound::Included(cuts[1]), Bound::Excluded(cuts[2])),
            (Bound::Included(cuts[2]), Bound::Excluded(cuts[3])),
            (Bound::Included(cuts[3]), Bound::Unbounded),
        ];
        let read: Vec<Option<Vec<(IVec, IVec)>>> = parts
            .into_par_iter()
            .map(|range| {
                let mut part = Vec::new();
                for kv in self.explorer.range::<&[u8], _>(range) {
                    let (k, v) = kv?;
                    let size = k.len() + v.len() + ENTRY_OVERHEAD;
                    if bytes.fetch_add(size, Ordering::Relaxed) + size > budget {
                        return Ok(None);
                    }
                    part.push((k, v));
                }
                Ok(Some(part))
            })
            .collect::<Result<_, StoreError>>()?;
        let mut all = Vec::new();
        for part in read {
            let Some(part) = part else { return Ok(None) };
            all.extend(part);
        }
        Ok(Some(all))
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

    /// The `entries` that the tree lacks or holds with another value
    /// (parallel reads).
    fn stale_entries(&self, entries: &[Entry]) -> Result<Vec<Entry>, StoreError> {
        let per_part: Vec<Vec<Entry>> = entries
            .par_chunks(256)
            .map(|part| {
                let mut out = Vec::new();
                for (k, v) in part {
                    if self.explorer.get(k)?.as_deref() != Some(v.as_slice()) {
                        out.push((k.clone(), v.clone()));
                    }
                }
                Ok(out)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(per_part.into_iter().flatten().collect())
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

/// True when `tree` (every entry of the `explorer` tree, the locator
/// included) holds exactly the entries `expected` gives (the last value
/// of a key given more than once), nothing more: then nothing needs
/// writing and the ordered comparison is not needed. One hash-map pass,
/// no sort; the tree's entries looked up in parallel.
fn holds_exactly(tree: &[(IVec, IVec)], want: &HashMap<Vec<u8>, Vec<u8>>) -> bool {
    let matched: Option<usize> = tree
        .par_chunks(2048)
        .map(|part| {
            let mut n = 0;
            for (k, v) in part {
                if k.as_ref() == LOCATOR {
                    continue;
                }
                match want.get(k.as_ref()) {
                    Some(ev) if ev.as_slice() == v.as_ref() => n += 1,
                    _ => return None,
                }
            }
            Some(n)
        })
        .sum();
    matched == Some(want.len())
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
        for budget in [SORTED_BUDGET, 0] {
            let (store, _) = chain();
            let before = dump(&store);
            assert_eq!(store.rebuild_indexes_within(budget).unwrap(), 2);
            assert_eq!(dump(&store), before);
        }
    }

    #[test]
    fn missing_wrong_and_extra_entries_are_repaired() {
        missing_wrong_and_extra_entries_are_repaired_within(SORTED_BUDGET);
    }

    /// The same, past the budget at once: compared entry by entry, the
    /// extra entries found by the count and the tree written again.
    #[test]
    fn missing_wrong_and_extra_entries_are_repaired_entry_by_entry() {
        missing_wrong_and_extra_entries_are_repaired_within(0);
    }

    fn missing_wrong_and_extra_entries_are_repaired_within(budget: usize) {
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
        assert_eq!(store.rebuild_indexes_within(budget).unwrap(), 2);
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

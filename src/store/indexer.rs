//! The index builder: the explorer indexes (`txindex.rs`) built beside the
//! chain, as Bitcoin Core's `BaseIndex` (`src/index/base.cpp`) builds its
//! indexes.
//!
//! - **Its own best block.** The `explorer` tree holds, under key `L`, the
//!   locator of the last block indexed (hash ‖ height). Every step writes its
//!   entries and the new locator in one `sled::Batch` on that tree, so after
//!   a crash the indexes are those of the locator's block, whole. It is not
//!   part of the chain-state flush: connecting a block never waits for it.
//! - **Catching up.** A step ([`ChainStore::index_step`]) indexes the next
//!   best-chain blocks after the locator (their bytes from `blocks`, the
//!   outputs they spent from their undo data), at most [`STEP_BLOCKS`]
//!   blocks or about [`STEP_ENTRIES`] entries, so one step's batch stays
//!   small for sled.
//! - **Reorgs.** When the locator is not on the best chain (a reorg took
//!   its block off, or a crash left the chain state below it), a step rolls
//!   the indexes back block by block towards the fork, removing each block's
//!   entries. A disconnected block's undo data is gone from the chain state,
//!   so the outputs it spent are found again through the index itself: the
//!   transaction index names the block of each spent output, and blocks are
//!   stored once and kept.
//! - **Following.** [`IndexThread`] runs steps on a thread of its own and,
//!   once caught up, sleeps until the chain state changes (each write step
//!   of the cache wakes it, `cache.rs`) or a second passes. The node's
//!   builder ([`IndexThread::spawn_yielding`]) yields to the chain: while
//!   write steps come closer together than 50 ms (a sync connecting runs of
//!   blocks) it waits, up to 10,000 blocks behind, so the indexes of a sync
//!   are built once the blocks are in, not on the cores connecting them.
//!   Readers of the
//!   indexes catch up themselves first ([`ChainStore::follow_indexes`]), so
//!   a read after a block connected sees it; outside a sync the builder
//!   thread keeps what is left for them small (during one, the index
//!   routes answer 503 past `INDEX_MAX_LAG`).
//!
//! At start the builder resumes from its locator; one that is not on the
//! best chain is rewound to the fork first.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::txindex::{IndexDelta, TX, key, location};
use super::{ChainStore, StoreError, corrupt};
use crate::core::block::Block;
use crate::core::hash::BlockHash;
use crate::core::tx::TxOut;

/// Key of the locator in the `explorer` tree.
pub(super) const LOCATOR: &[u8] = b"L";

/// Most blocks one step indexes or rolls back.
pub const STEP_BLOCKS: usize = 256;

/// A step ends once it holds this many index entries (after the block that
/// passed it): bounds the tree nodes sled keeps alive for one batch.
pub const STEP_ENTRIES: usize = 1024;

/// Blocks a rollback keeps decoded while it looks up the outputs a block
/// spent.
const ROLLBACK_BLOCKS: usize = 64;

/// Where the explorer indexes stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexTip {
    /// The last block indexed (the locator).
    pub hash: BlockHash,
    /// Its height.
    pub height: u64,
}

/// Locator bytes: hash (32) ‖ height (u64 big-endian).
pub(super) fn locator_bytes(t: &IndexTip) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[..32].copy_from_slice(t.hash.as_bytes());
    b[32..].copy_from_slice(&t.height.to_be_bytes());
    b
}

impl ChainStore {
    /// The explorer indexes' locator: the last block indexed, `None` before
    /// genesis is. It may be a block a reorg took off the best chain, until
    /// the builder rolls it back ([`ChainStore::indexed_height`] is the
    /// height the indexes answer for).
    ///
    /// Errors: [`StoreError::Corrupt`] for a malformed locator, [`StoreError::Db`].
    pub fn index_tip(&self) -> Result<Option<IndexTip>, StoreError> {
        let Some(v) = self.explorer.get(LOCATOR)? else {
            return Ok(None);
        };
        let hash = super::hash_from(v.get(..32).ok_or_else(|| corrupt("index locator"))?)?;
        let height = v
            .get(32..40)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| corrupt("index locator"))?;
        Ok(Some(IndexTip { hash, height }))
    }

    /// Height up to which the explorer indexes answer for the best chain:
    /// the locator's height when its block is on the best chain, else the
    /// height of its fork with the best chain (the blocks above are being
    /// rolled back); `None` before genesis is indexed.
    ///
    /// Errors: [`StoreError`] reading the block index.
    pub fn indexed_height(&self) -> Result<Option<u64>, StoreError> {
        let Some(t) = self.index_tip()? else {
            return Ok(None);
        };
        let mut cursor = t.hash;
        loop {
            if self.is_on_best_chain(&cursor)? {
                return Ok(self.block_meta(&cursor)?.map(|m| m.height));
            }
            match self.block_meta(&cursor)? {
                Some(m) if m.height > 0 => cursor = m.prev,
                _ => return Ok(None),
            }
        }
    }

    /// Blocks the explorer indexes are behind the tip (0 when caught up or
    /// with no chain).
    ///
    /// Errors: as [`ChainStore::indexed_height`].
    pub fn index_lag(&self) -> Result<u64, StoreError> {
        let Some(tip) = self.tip_opt()? else {
            return Ok(0);
        };
        Ok(match self.indexed_height()? {
            Some(h) => tip.height.saturating_sub(h),
            None => tip.height.saturating_add(1),
        })
    }

    /// Ok when the explorer indexes are at most `max_lag` blocks behind the
    /// tip (a reader then catches them up itself, cheaply).
    ///
    /// Errors: [`StoreError::IndexBehind`] when further behind;
    /// [`StoreError`] reading.
    pub fn check_indexes(&self, max_lag: u64) -> Result<(), StoreError> {
        let lag = self.index_lag()?;
        if lag <= max_lag {
            return Ok(());
        }
        Err(StoreError::IndexBehind {
            indexed: self.indexed_height()?,
            tip: self.tip()?.height,
        })
    }

    /// Brings the explorer indexes to the tip this call sees first (rolling
    /// back blocks a reorg took off): nothing to do when the locator is the
    /// tip. Every reader of the indexes calls it.
    ///
    /// Errors: as [`ChainStore::index_step`].
    pub fn follow_indexes(&self) -> Result<(), StoreError> {
        let Some(tip) = self.tip_opt()? else {
            return Ok(());
        };
        if self.index_tip()?.map(|t| t.hash) == Some(tip.hash) {
            return Ok(());
        }
        while self.index_step()? {
            if self.index_tip()?.map(|t| t.hash) == Some(tip.hash) {
                break;
            }
        }
        Ok(())
    }

    /// Runs index steps until the indexes are at the tip (the tip may move
    /// meanwhile: it stops when a step finds nothing to do). Returns the
    /// indexed height.
    ///
    /// Errors: as [`ChainStore::index_step`].
    pub fn sync_indexes(&self) -> Result<Option<u64>, StoreError> {
        while self.index_step()? {}
        self.indexed_height()
    }

    /// One step of the builder (module docs): rolls back towards the best
    /// chain when the locator is off it, else indexes the next best-chain
    /// blocks; each in one batch with the new locator. Returns false when
    /// there was nothing to do (caught up, or no chain).
    ///
    /// Errors: [`StoreError::MissingBlock`] for a block the chain or the
    /// index names but the store lacks, [`StoreError::Corrupt`] for a
    /// best-chain block without undo data or an index entry that does not
    /// decode, [`StoreError::Db`].
    pub fn index_step(&self) -> Result<bool, StoreError> {
        let _one = self.indexer.lock().unwrap_or_else(|p| p.into_inner());
        let loc = self.index_tip()?;
        if let Some(l) = loc
            && self.hash_at(l.height)? != Some(l.hash)
        {
            self.rewind_step(l)?;
            return Ok(true);
        }
        let Some(tip) = self.tip_opt()? else {
            return Ok(false);
        };
        if loc.is_none() && self.explorer.first()?.is_some() {
            // Entries without a locator: a rebuild cut short. Start over.
            self.explorer.clear()?;
        }
        let (mut prev, start) = match loc {
            Some(l) => (l.hash, l.height + 1),
            None => (BlockHash::ZERO, 0),
        };
        let mut batch = sled::Batch::default();
        let (mut blocks, mut entries, mut last) = (0, 0, None);
        for height in start..=tip.height {
            if blocks >= STEP_BLOCKS || entries >= STEP_ENTRIES {
                break;
            }
            let Some(hash) = self.hash_at(height)? else {
                break; // a reorg shortened the chain meanwhile
            };
            let block = self.block(&hash)?.ok_or(StoreError::MissingBlock(hash))?;
            if block.header.prev_block_hash != prev {
                break; // a reorg meanwhile: the next step rewinds
            }
            let undo = if height == 0 {
                Vec::new()
            } else {
                match self.undo(&hash)? {
                    Some(u) => u,
                    None if self.hash_at(height)? != Some(hash) => break,
                    None => return Err(corrupt(format!("no undo data for {hash}"))),
                }
            };
            let d = IndexDelta::of(&block, &undo)?;
            d.apply(true, &mut batch);
            entries += d.entries.len();
            blocks += 1;
            prev = hash;
            last = Some(IndexTip { hash, height });
        }
        let Some(last) = last else {
            return Ok(false);
        };
        batch.insert(LOCATOR, &locator_bytes(&last)[..]);
        self.explorer.apply_batch(batch)?;
        Ok(true)
    }

    /// Rolls the indexes back from `from` (not on the best chain) towards
    /// the fork: block by block, at most [`STEP_BLOCKS`] or about
    /// [`STEP_ENTRIES`] entries, in one batch with the new locator.
    fn rewind_step(&self, from: IndexTip) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut blocks_seen: HashMap<BlockHash, Block> = HashMap::new();
        let (mut cursor, mut blocks, mut entries) = (Some(from), 0, 0);
        while let Some(at) = cursor {
            let block = self
                .block(&at.hash)?
                .ok_or(StoreError::MissingBlock(at.hash))?;
            let undo = self.spent_by_indexed(&block, &mut blocks_seen)?;
            let d = IndexDelta::of(&block, &undo)?;
            d.apply(false, &mut batch);
            entries += d.entries.len();
            blocks += 1;
            cursor = (at.height > 0).then(|| IndexTip {
                hash: block.header.prev_block_hash,
                height: at.height - 1,
            });
            let stop = match cursor {
                Some(c) => self.hash_at(c.height)? == Some(c.hash),
                None => true,
            };
            if stop || blocks >= STEP_BLOCKS || entries >= STEP_ENTRIES {
                break;
            }
        }
        match cursor {
            Some(c) => batch.insert(LOCATOR, &locator_bytes(&c)[..]),
            None => batch.remove(LOCATOR),
        }
        self.explorer.apply_batch(batch)?;
        Ok(())
    }

    /// The outputs an indexed `block`'s inputs spent, in input order: its
    /// undo data while the chain state still holds it, else each spent
    /// output read from the block the transaction index places it in.
    ///
    /// Errors: [`StoreError::Corrupt`] when a spent transaction is not
    /// indexed or has no such output, [`StoreError::MissingBlock`].
    fn spent_by_indexed(
        &self,
        block: &Block,
        seen: &mut HashMap<BlockHash, Block>,
    ) -> Result<Vec<TxOut>, StoreError> {
        if let Some(u) = self.undo(&block.hash())? {
            return Ok(u);
        }
        let mut out = Vec::new();
        for tx in block.transactions.iter().filter(|t| !t.is_coinbase()) {
            for input in &tx.inputs {
                let op = input.prev_out;
                let v = self
                    .explorer
                    .get(key(TX, op.txid.as_bytes()))?
                    .ok_or_else(|| corrupt(format!("spent transaction {} not indexed", op.txid)))?;
                let (hash, pos) = location(&v)?;
                if !seen.contains_key(&hash) {
                    if seen.len() >= ROLLBACK_BLOCKS {
                        seen.clear();
                    }
                    let b = self.block(&hash)?.ok_or(StoreError::MissingBlock(hash))?;
                    seen.insert(hash, b);
                }
                let spent = seen
                    .get(&hash)
                    .and_then(|b| b.transactions.get(pos as usize))
                    .and_then(|t| t.outputs.get(op.vout as usize))
                    .ok_or_else(|| {
                        corrupt(format!("indexed output {}:{} missing", op.txid, op.vout))
                    })?;
                out.push(*spent);
            }
        }
        Ok(out)
    }
}

/// The index builder's thread (module docs): spawned where the node
/// starts, stopped (and joined) when it stops or when dropped.
pub struct IndexThread {
    stop: Arc<AtomicBool>,
    store: ChainStore,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// How long the builder sleeps when caught up and nothing wakes it.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// How long the builder waits after an error before it tries again.
const ERROR_WAIT: Duration = Duration::from_secs(5);

impl IndexThread {
    /// Starts the builder on `store`: it catches up from its locator, then
    /// follows the chain, stepping as soon as the chain state moved.
    ///
    /// Errors: the thread cannot be spawned.
    pub fn spawn(store: ChainStore) -> std::io::Result<IndexThread> {
        IndexThread::start(store, false)
    }

    /// As [`IndexThread::spawn`], but yielding to the chain (what the node
    /// runs): after the chain state moved, the builder waits until no write
    /// step came for 50 ms, or the indexes trail the tip by 10,000 blocks,
    /// so during a sync the explorer indexes are built once the blocks are
    /// in rather than on the cores connecting them.
    ///
    /// Errors: the thread cannot be spawned.
    pub fn spawn_yielding(store: ChainStore) -> std::io::Result<IndexThread> {
        IndexThread::start(store, true)
    }

    fn start(store: ChainStore, yielding: bool) -> std::io::Result<IndexThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (store.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("index".into())
            .spawn(move || run(&s, &st, yielding))?;
        Ok(IndexThread {
            stop,
            store,
            handle: Some(handle),
        })
    }

    /// Stops the builder after its current step and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.store.state.wake_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for IndexThread {
    fn drop(&mut self) {
        self.halt();
    }
}

/// While the chain state takes write steps closer together than this (a
/// sync connecting runs of blocks), the builder waits instead of indexing.
const QUIET: Duration = Duration::from_millis(50);

/// The builder stops waiting for a quiet chain once the indexes trail the
/// tip by this many blocks, so a long sync indexes in large strides.
const YIELD_MAX_LAG: u64 = 10_000;

/// The builder's loop: steps while there is work, else waits for a write
/// step of the chain state. `yielding`, it yields to the chain: after the
/// chain state moved, it waits until no write step came for [`QUIET`] (or
/// the indexes trail by [`YIELD_MAX_LAG`] blocks), so during a sync the
/// explorer indexes are built after the blocks are connected, not on the
/// cores connecting them. Readers catch the indexes up themselves
/// meanwhile.
fn run(store: &ChainStore, stop: &AtomicBool, yielding: bool) {
    let mut seen = store.state.steps();
    let mut caught_up_logged = false;
    let mut settled = seen;
    while !stop.load(Ordering::SeqCst) {
        if yielding && store.state.steps() != settled {
            settled = settle(store, stop);
        }
        match store.index_step() {
            Ok(true) => caught_up_logged = false,
            Ok(false) => {
                if !caught_up_logged {
                    if let Ok(Some(h)) = store.indexed_height() {
                        tracing::debug!("explorer indexes at height {h}");
                    }
                    caught_up_logged = true;
                }
                seen = store.state.wait_step(seen, IDLE_WAIT);
            }
            Err(e) => {
                tracing::error!("explorer index builder: {e}");
                seen = store.state.wait_step(seen, ERROR_WAIT);
            }
        }
    }
}

/// Waits until the chain state took no write step for [`QUIET`], the
/// indexes trail the tip by [`YIELD_MAX_LAG`] blocks or the builder is
/// stopped; returns the step count then. It sleeps [`QUIET`] at a time,
/// not woken by each step: a sync's runs of blocks (hundreds a second)
/// neither wake this thread nor make the chain worker signal it.
fn settle(store: &ChainStore, stop: &AtomicBool) -> u64 {
    let mut n = store.state.steps();
    while !stop.load(Ordering::SeqCst) {
        let m = store.state.pause(QUIET, stop);
        // A lag that cannot be read ends the wait: the step that follows
        // meets the same error and reports it, rather than wait on.
        if m == n || store.index_lag().unwrap_or(u64::MAX) >= YIELD_MAX_LAG {
            return m;
        }
        n = m;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tx::{OutPoint, Transaction, TxIn};

    const A: [u8; 20] = [1; 20];
    const B: [u8; 20] = [2; 20];

    /// Waits (10 s at most) until the locator is `want`, without reading
    /// the indexes (a read would catch them up itself).
    fn wait_locator(store: &ChainStore, want: BlockHash) {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while store.index_tip().unwrap().map(|t| t.hash) != Some(want) {
            assert!(
                std::time::Instant::now() < end,
                "the builder never reached {want}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_thread_follows_connects_and_rolls_back_a_reorg() {
        let store = ChainStore::temporary().expect("store");
        let genesis = Block::template(BlockHash::ZERO, 0, 1, 1, A, 50, vec![]);
        store.init_genesis(&genesis).expect("genesis");
        let thread = IndexThread::spawn(store.clone()).expect("thread");
        wait_locator(&store, genesis.hash());
        // Block 1 pays B from genesis's coinbase; block 2 on it.
        let coin = OutPoint {
            txid: genesis.transactions[0].txid(),
            vout: 0,
        };
        let pay = Transaction {
            version: 1,
            inputs: vec![TxIn::unsigned(coin)],
            outputs: vec![TxOut {
                value: 50,
                pubkey_hash: B,
            }],
            coinbase_height: 0,
        };
        let b1 = Block::template(genesis.hash(), 1, 1, 2, A, 50, vec![pay.clone()]);
        store
            .connect_block(&b1, &[genesis.transactions[0].outputs[0]])
            .expect("connect");
        let b2 = Block::template(b1.hash(), 2, 1, 3, A, 50, vec![]);
        store.connect_block(&b2, &[]).expect("connect");
        wait_locator(&store, b2.hash());
        assert_eq!(store.indexed_height().unwrap(), Some(2));
        // A reorg from genesis to a longer branch without the payment: the
        // thread rolls blocks 2 and 1 back (their undo data already gone
        // from the chain state), then indexes the branch.
        let c1 = Block::template(genesis.hash(), 1, 1, 12, B, 50, vec![]);
        let c2 = Block::template(c1.hash(), 2, 1, 13, B, 50, vec![]);
        let c3 = Block::template(c2.hash(), 3, 1, 14, B, 50, vec![]);
        store
            .reorganize(
                &genesis.hash(),
                &[(&c1, &[][..]), (&c2, &[][..]), (&c3, &[][..])],
            )
            .expect("reorg");
        wait_locator(&store, c3.hash());
        thread.stop();
        assert_eq!(store.indexed_height().unwrap(), Some(3));
        assert_eq!(store.tx_location(&pay.txid()).unwrap(), None);
        assert_eq!(store.spender(&coin).unwrap(), None);
        assert_eq!(store.address_history_all(&A).unwrap().len(), 1);
        assert_eq!(store.address_history_all(&B).unwrap().len(), 3);
        // What the thread left is what a rebuild writes.
        let dump = |s: &ChainStore| -> Vec<(sled::IVec, sled::IVec)> {
            s.explorer.iter().map(|kv| kv.unwrap()).collect()
        };
        let before = dump(&store);
        store.rebuild_indexes().unwrap();
        assert_eq!(dump(&store), before);
    }

    #[test]
    fn a_yielding_thread_indexes_once_the_chain_is_quiet() {
        let store = ChainStore::temporary().expect("store");
        let genesis = Block::template(BlockHash::ZERO, 0, 1, 1, A, 50, vec![]);
        store.init_genesis(&genesis).expect("genesis");
        let thread = IndexThread::spawn_yielding(store.clone()).expect("thread");
        let mut parent = genesis.hash();
        for h in 1..=20 {
            let b = Block::template(parent, h, 1, 1 + h as u32, A, 50, vec![]);
            store.connect_block(&b, &[]).expect("connect");
            parent = b.hash();
        }
        // Connects stopped: the builder catches up to the tip by itself.
        wait_locator(&store, parent);
        assert_eq!(store.indexed_height().unwrap(), Some(20));
        thread.stop();
    }
}

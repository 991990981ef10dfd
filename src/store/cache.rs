//! The chain-state cache (Bitcoin Core's `CCoinsViewCache`, `src/coins.h`):
//! every write to the chain state (the best-chain heights, the tip and the
//! chain metadata, the UTXO set and its address index, undo data) goes to an in-memory overlay of the sled trees,
//! and reads go through it. [`StateDb::flush`] writes the overlay to sled
//! atomically, together with the tip it is valid for (Core's
//! `DB_BEST_BLOCK`): sled then holds the chain state as of one block, whole,
//! or the state of the flush before. A small flush is one sled transaction
//! across those trees. A large one goes through a journal, because sled
//! keeps every tree node one atomic step supersedes alive until the step
//! ends (one transaction of a 32 MiB cache took a syncing node from 47 MB to
//! 520 MB resident): the cache is first written to the `state_journal` tree
//! in 1 MiB chunks and a commit mark made durable, then applied to the trees
//! in batches of [`PIECE_ENTRIES`] entries, then the journal is removed. A
//! crash before the mark leaves the state of the flush before (the open
//! drops the chunks); after it, the open applies the journal again: every
//! entry holds its key's final value, so applying it twice is harmless.
//!
//! An entry is *fresh* (Core's `FRESH`) when sled does not hold its key: a
//! key created since the last flush. Removing a fresh entry drops it from
//! the overlay, so an output created and spent between two flushes never
//! touches disk. Every other removal is kept as a tombstone until the flush.
//!
//! When the cache flushes: when its size passes the budget
//! (`startnode --dbcache`, [`DEFAULT_DBCACHE_MB`]), when it has held changes
//! for [`FLUSH_INTERVAL`], when the chain worker finds its queue empty (the
//! end of an initial sync; `net/worker.rs`), at shutdown, when the last
//! handle on the store is dropped, and after every write for a temporary
//! store (tests and the simulator).
//!
//! Block bytes and block index entries are not cached: they are written
//! once, when a block is stored (`index.rs`), so blocks connected after the
//! last flush are replayed from the store after a crash
//! ([`crate::chain::ChainState::activate_best_chain`]).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::{IVec, Transactional};

use super::record::BestRecord;
use super::{StoreError, TIP, corrupt, hash_from, tx_err};

/// Default size of the chain-state cache, in MiB (`startnode --dbcache`).
/// Sized so a node syncing stays well under 100 MB resident on a small
/// machine; a larger cache flushes less often during a long sync.
pub const DEFAULT_DBCACHE_MB: u64 = 32;

/// Longest time the cache holds changes before it is flushed, whatever its
/// size: bounds what a crash leaves to replay.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(60);

/// Bytes counted per cached entry besides its key and value (map node and
/// allocation overhead, measured roughly).
const ENTRY_OVERHEAD: usize = 80;

/// The key spaces of the chain state, one sled tree each (layouts in the
/// module docs of `store/mod.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Space {
    /// `heights`.
    Heights = 0,
    /// `meta`.
    Meta = 1,
    /// `utxo`.
    Utxo = 2,
    /// `addr_utxo`.
    AddrUtxo = 3,
    /// `undo`.
    Undo = 4,
}

/// Number of [`Space`]s.
pub(super) const SPACES: usize = 5;

/// Spaces 5 to 7 of journals written before the explorer indexes left the
/// chain state (`tx_index`, `addr_history`, `spent_by`): skipped when such
/// a journal is applied at open, the index builder (`indexer.rs`) rebuilds
/// them.
const OLD_SPACES: usize = 8;

/// The sled tree name of each [`Space`], in order.
pub(super) const SPACE_TREES: [&str; SPACES] = ["heights", "meta", "utxo", "addr_utxo", "undo"];

/// Write steps counted by [`StateDb::stepped`], and how many threads wait
/// for the next one ([`StateDb::wait_step`]).
#[derive(Default)]
struct Steps {
    n: u64,
    listening: usize,
}

/// One cached key: its value (`None`: removed) and whether sled lacks it.
struct Entry {
    value: Option<IVec>,
    fresh: bool,
}

/// The changes since the last flush (module docs).
#[derive(Default)]
pub(super) struct Overlay {
    maps: [BTreeMap<Vec<u8>, Entry>; SPACES],
    bytes: usize,
    dirty_since: Option<Instant>,
}

fn entry_size(k: &[u8], v: &Option<IVec>) -> usize {
    k.len() + v.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD
}

impl Overlay {
    /// The cached state of `k`: `Some(None)` removed, `None` not cached.
    pub(super) fn get(&self, s: Space, k: &[u8]) -> Option<Option<&IVec>> {
        self.maps[s as usize].get(k).map(|e| e.value.as_ref())
    }

    fn put(&mut self, s: Space, k: &[u8], value: Option<IVec>, fresh_if_new: bool) {
        self.dirty_since.get_or_insert_with(Instant::now);
        let add = entry_size(k, &value);
        let map = &mut self.maps[s as usize];
        match map.get_mut(k) {
            Some(e) => {
                let old = entry_size(k, &e.value);
                if value.is_none() && e.fresh {
                    map.remove(k);
                    self.bytes = self.bytes.saturating_sub(old);
                    return;
                }
                e.value = value;
                self.bytes = self.bytes.saturating_sub(old).saturating_add(add);
            }
            None => {
                map.insert(
                    k.to_vec(),
                    Entry {
                        value,
                        fresh: fresh_if_new,
                    },
                );
                self.bytes = self.bytes.saturating_add(add);
            }
        }
    }

    /// Writes `k` = `v` where the current state lacks `k` (an output,
    /// height, undo record or index entry a connect creates, an output a
    /// disconnect restores): the entry is fresh unless a tombstone of an
    /// older state is cached, so removing it again before a flush costs
    /// nothing.
    pub(super) fn create(&mut self, s: Space, k: &[u8], v: &[u8]) {
        self.put(s, k, Some(IVec::from(v)), true);
    }

    /// Writes `k` = `v` where `k` may exist (the tip, metadata).
    pub(super) fn set(&mut self, s: Space, k: &[u8], v: &[u8]) {
        self.put(s, k, Some(IVec::from(v)), false);
    }

    /// Removes `k`: a fresh entry is dropped, anything else becomes a
    /// tombstone written at the flush.
    pub(super) fn remove(&mut self, s: Space, k: &[u8]) {
        self.put(s, k, None, false);
    }

    /// The cached entries of `s` with keys in (`lo`, `hi`), in key order.
    fn range(&self, s: Space, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Vec<(IVec, Option<IVec>)> {
        self.maps[s as usize]
            .range::<[u8], _>((lo, hi))
            .map(|(k, e)| (IVec::from(k.as_slice()), e.value.clone()))
            .collect()
    }

    /// Approximate bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of cached entries.
    fn entries(&self) -> usize {
        self.maps.iter().map(BTreeMap::len).sum()
    }

    /// True when nothing is cached.
    pub(super) fn is_empty(&self) -> bool {
        self.maps.iter().all(|m| m.is_empty())
    }

    /// Change in the number of keys of `s` that a flush would make.
    fn count_delta(&self, s: Space) -> i64 {
        self.maps[s as usize]
            .values()
            .map(|e| match (&e.value, e.fresh) {
                (Some(_), true) => 1,
                (None, false) => -1,
                _ => 0,
            })
            .sum()
    }
}

/// The chain-state trees, the cache over them and the best-block record
/// (shared by every clone of a [`super::ChainStore`]; flushed when the last
/// one is dropped).
pub(super) struct StateDb {
    db: sled::Db,
    trees: [sled::Tree; SPACES],
    journal: sled::Tree,
    overlay: RwLock<Overlay>,
    budget: AtomicU64,
    every_write: bool,
    record: Option<BestRecord>,
    flush_lock: Mutex<()>,
    flushes: AtomicU64,
    /// Write steps since opened, and the condition variable told of each
    /// while someone listens: the index builder (`indexer.rs`) waits on it
    /// for new blocks.
    steps: (Mutex<Steps>, Condvar),
    /// Tests: a journaled flush stops (as a crash would) once its mark is
    /// durable.
    #[cfg(test)]
    stop_after_mark: std::sync::atomic::AtomicBool,
}

/// Ordered merge of a sled scan with cached entries of the same range
/// (`cached` in ascending key order), cached entries winning; newest-first
/// when `rev`; at most `limit` entries.
fn merge(
    mut disk: impl Iterator<Item = sled::Result<(IVec, IVec)>>,
    cached: Vec<(IVec, Option<IVec>)>,
    rev: bool,
    limit: usize,
) -> Result<Vec<(IVec, IVec)>, StoreError> {
    let mut cached: Box<dyn Iterator<Item = (IVec, Option<IVec>)>> = if rev {
        Box::new(cached.into_iter().rev())
    } else {
        Box::new(cached.into_iter())
    };
    let mut out = Vec::new();
    let mut d = disk.next().transpose()?;
    let mut c = cached.next();
    while out.len() < limit {
        let take_cached = match (&d, &c) {
            (None, None) => break,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some((dk, _)), Some((ck, _))) => {
                if dk == ck {
                    d = disk.next().transpose()?;
                    true
                } else {
                    (ck < dk) != rev
                }
            }
        };
        if take_cached {
            if let Some((k, Some(v))) = c.take() {
                out.push((k, v));
            }
            c = cached.next();
        } else if let Some(kv) = d.take() {
            out.push(kv);
            d = disk.next().transpose()?;
        }
    }
    Ok(out)
}

impl StateDb {
    /// Opens the chain-state trees of `db`.
    pub(super) fn open(
        db: &sled::Db,
        every_write: bool,
        record: Option<BestRecord>,
    ) -> Result<StateDb, StoreError> {
        let mut trees = Vec::with_capacity(SPACES);
        for name in SPACE_TREES {
            trees.push(db.open_tree(name)?);
        }
        let trees: [sled::Tree; SPACES] =
            trees.try_into().map_err(|_| corrupt("chain-state trees"))?;
        let journal = db.open_tree(JOURNAL_TREE)?;
        recover_journal(&journal, &trees)?;
        Ok(StateDb {
            db: db.clone(),
            trees,
            journal,
            overlay: RwLock::new(Overlay::default()),
            budget: AtomicU64::new(DEFAULT_DBCACHE_MB << 20),
            every_write,
            record,
            flush_lock: Mutex::new(()),
            flushes: AtomicU64::new(0),
            steps: (Mutex::new(Steps::default()), Condvar::new()),
            #[cfg(test)]
            stop_after_mark: Default::default(),
        })
    }

    /// The sled tree of `s` (for rebuilds that run on a flushed cache).
    pub(super) fn tree(&self, s: Space) -> &sled::Tree {
        &self.trees[s as usize]
    }

    /// The best-block record, if this store keeps one.
    pub(super) fn record(&self) -> Option<&BestRecord> {
        self.record.as_ref()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Overlay> {
        self.overlay.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, Overlay> {
        self.overlay.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of `k` in `s` through the cache.
    pub(super) fn get(&self, s: Space, k: &[u8]) -> Result<Option<IVec>, StoreError> {
        let ov = self.read();
        if let Some(v) = ov.get(s, k) {
            return Ok(v.cloned());
        }
        Ok(self.trees[s as usize].get(k)?)
    }

    /// Entries of `s` with keys in (`lo`, `hi`) through the cache, in key
    /// order (newest first when `rev`), at most `limit`.
    pub(super) fn range(
        &self,
        s: Space,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        rev: bool,
        limit: usize,
    ) -> Result<Vec<(IVec, IVec)>, StoreError> {
        let ov = self.read();
        let cached = ov.range(s, lo, hi);
        let own = |b: Bound<&[u8]>| match b {
            Bound::Included(k) => Bound::Included(IVec::from(k)),
            Bound::Excluded(k) => Bound::Excluded(IVec::from(k)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let disk = self.trees[s as usize].range::<IVec, _>((own(lo), own(hi)));
        if rev {
            merge(disk.rev(), cached, true, limit)
        } else {
            merge(disk, cached, false, limit)
        }
    }

    /// Entries of `s` whose key starts with `prefix`, through the cache.
    pub(super) fn scan_prefix(
        &self,
        s: Space,
        prefix: &[u8],
    ) -> Result<Vec<(IVec, IVec)>, StoreError> {
        let end = prefix_end(prefix);
        let hi = match &end {
            Some(e) => Bound::Excluded(e.as_slice()),
            None => Bound::Unbounded,
        };
        self.range(s, Bound::Included(prefix), hi, false, usize::MAX)
    }

    /// Number of keys in `s` through the cache.
    pub(super) fn len(&self, s: Space) -> usize {
        let ov = self.read();
        let n = self.trees[s as usize].len() as i64 + ov.count_delta(s);
        n.max(0) as usize
    }

    /// Runs `f` on the cache under its write lock (readers see all of its
    /// changes or none), then flushes when the policy says so.
    ///
    /// Errors: `f`'s, or the flush's.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (out, due) = {
            let mut ov = self.write_lock();
            let mut w = Writer {
                ov: &mut ov,
                trees: &self.trees,
            };
            let out = f(&mut w)?;
            let due = self.every_write
                || ov.bytes() as u64 > self.budget.load(Ordering::Relaxed)
                || ov
                    .dirty_since
                    .is_some_and(|t| t.elapsed() >= FLUSH_INTERVAL);
            (out, due)
        };
        self.stepped();
        if due {
            self.flush()?;
        }
        Ok(out)
    }

    /// Counts a write step and wakes whoever waits for one
    /// ([`StateDb::wait_step`]); with no one waiting (the index builder
    /// pausing through a sync, [`StateDb::pause`]) it wakes no thread.
    pub(super) fn stepped(&self) {
        let (s, cv) = &self.steps;
        let mut g = s.lock().unwrap_or_else(|p| p.into_inner());
        g.n += 1;
        let listening = g.listening > 0;
        drop(g);
        if listening {
            cv.notify_all();
        }
    }

    /// Counts a step and wakes every waiter, [`StateDb::pause`] included
    /// (to stop the index builder).
    pub(super) fn wake_all(&self) {
        let (s, cv) = &self.steps;
        s.lock().unwrap_or_else(|p| p.into_inner()).n += 1;
        cv.notify_all();
    }

    /// Write steps so far ([`StateDb::wait_step`] compares with it).
    pub(super) fn steps(&self) -> u64 {
        self.steps.0.lock().unwrap_or_else(|p| p.into_inner()).n
    }

    /// Waits until a write step after `seen` ([`StateDb::steps`]) happened,
    /// or `timeout` passed, or [`StateDb::wake_all`] was called. Returns
    /// the step count then.
    pub(super) fn wait_step(&self, seen: u64, timeout: Duration) -> u64 {
        let (s, cv) = &self.steps;
        let mut g = s.lock().unwrap_or_else(|p| p.into_inner());
        g.listening += 1;
        let (mut g, _) = cv
            .wait_timeout_while(g, timeout, |s| s.n == seen)
            .unwrap_or_else(|p| p.into_inner());
        g.listening -= 1;
        g.n
    }

    /// Sleeps for `d`, not woken by write steps, only by
    /// [`StateDb::wake_all`] once `stop` is set. Returns the step count
    /// then.
    pub(super) fn pause(&self, d: Duration, stop: &AtomicBool) -> u64 {
        let (s, cv) = &self.steps;
        let g = s.lock().unwrap_or_else(|p| p.into_inner());
        let (g, _) = cv
            .wait_timeout_while(g, d, |_| !stop.load(Ordering::SeqCst))
            .unwrap_or_else(|p| p.into_inner());
        g.n
    }

    /// Sets the cache's size budget in bytes.
    pub(super) fn set_budget(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::Relaxed);
    }

    /// Bytes the cache holds now.
    pub(super) fn cached_bytes(&self) -> usize {
        self.read().bytes()
    }

    /// Flushes done since the store was opened.
    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Writes the cache to sled atomically (one transaction, or through the
    /// journal when it holds more than [`PIECE_ENTRIES`] entries; module
    /// docs), makes it durable, and records the new tip in the
    /// best-block record (first as pending, then as flushed, so a crash at
    /// any point leaves a record the store passes at open). Returns false
    /// when there was nothing to write.
    ///
    /// Errors: [`StoreError::Db`], [`StoreError::Corrupt`] for a cached tip
    /// that is not a hash, [`StoreError::Record`] writing the record.
    pub(super) fn flush(&self) -> Result<bool, StoreError> {
        let _one = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        let best = {
            let ov = self.read();
            if ov.is_empty() {
                return Ok(false);
            }
            ov.get(Space::Meta, TIP).flatten().cloned()
        };
        let best = best.map(|v| hash_from(&v)).transpose()?;
        let best = match best {
            Some(hash) => Some((hash, self.height_of(&hash)?)),
            None => None,
        };
        if let (Some(record), Some(best)) = (&self.record, best) {
            record.begin(best)?;
        }
        self.write_overlay()?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        if let (Some(record), Some(best)) = (&self.record, best) {
            self.db.flush()?;
            record.sync_db()?;
            record.commit(best)?;
        }
        Ok(true)
    }

    /// Runs `f` on the cache (empty: a new chain's genesis,
    /// [`super::ChainStore::init_genesis`]) and writes what it cached to
    /// sled in one transaction together with `block` (tree, key and value
    /// of each of the block's own entries: its bytes and its index entry),
    /// all under the cache's write lock, so no reader sees the new tip
    /// before its block is indexed. Neither made durable nor recorded in the
    /// best-block record: after a crash the store holds all of it or none
    /// of it, never a stored genesis without a chain state (which the node
    /// would not fetch again); and sled recovers a prefix of its log, so
    /// every block stored after it lands behind a chain state that replay
    /// at open builds on. A fresh node's first block waits for no fsync;
    /// the first flush makes it durable and writes the record (a store
    /// without one gets one at open).
    ///
    /// Errors: `f`'s, [`StoreError::Db`].
    pub(super) fn write_out<T>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, StoreError>,
        block: [(&sled::Tree, &[u8], &[u8]); 2],
    ) -> Result<T, StoreError> {
        let _one = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut ov = self.write_lock();
        let out = f(&mut Writer {
            ov: &mut ov,
            trees: &self.trees,
        })?;
        let maps = &ov.maps;
        let t = &self.trees;
        let [(bt, bk, bv), (it, ik, iv)] = block;
        let written = (&t[0], &t[1], &t[2], &t[3], &t[4], bt, it)
            .transaction(|(a, b, c, d, e, bt, it)| {
                let trees: [&TransactionalTree; SPACES] = [a, b, c, d, e];
                write_maps(maps, trees)?;
                bt.insert(bk, bv)?;
                it.insert(ik, iv)?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx_err);
        // Written or not, nothing of it stays cached: a failed write
        // leaves no chain, in sled and in the cache alike.
        *ov = Overlay::default();
        drop(ov);
        self.stepped();
        written.map(|()| out)
    }

    /// Writes the cache to the trees atomically (one transaction, or
    /// through the journal) and empties it; the caller holds `flush_lock`.
    fn write_overlay(&self) -> Result<(), StoreError> {
        let mut ov = self.write_lock();
        if ov.entries() <= PIECE_ENTRIES {
            self.write_one_transaction(&ov)?;
        } else {
            self.write_journaled(&ov)?;
        }
        *ov = Overlay::default();
        Ok(())
    }

    /// Height of block `hash` from the block index.
    fn height_of(&self, hash: &super::BlockHash) -> Result<u64, StoreError> {
        let index = self.db.open_tree("index")?;
        let v = index
            .get(hash.as_bytes())?
            .ok_or_else(|| corrupt(format!("tip {hash} has no index entry")))?;
        let meta: super::BlockMeta = crate::core::encode::decode(&v, 1024).map_err(corrupt)?;
        Ok(meta.height)
    }
}

impl StateDb {
    /// A small flush: the cache in one sled transaction across the
    /// chain-state trees.
    fn write_one_transaction(&self, ov: &Overlay) -> Result<(), StoreError> {
        let maps = &ov.maps;
        let t = &self.trees;
        (&t[0], &t[1], &t[2], &t[3], &t[4])
            .transaction(|(a, b, c, d, e)| {
                let trees: [&TransactionalTree; SPACES] = [a, b, c, d, e];
                write_maps(maps, trees)?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx_err)?;
        Ok(())
    }

    /// A large flush, atomic through a journal (module docs): the cache
    /// written to the `state_journal` tree in chunks of [`CHUNK_BYTES`],
    /// then its commit mark, made durable; then applied to the trees in
    /// batches of [`PIECE_ENTRIES`] entries; then the journal removed. A
    /// crash before the mark is durable leaves the previous state (the
    /// chunks are dropped at open); after it, the open applies the journal
    /// again ([`recover_journal`]). sled holds one batch's worth of
    /// superseded tree nodes at a time, where one transaction of the whole
    /// cache held them all until it ended.
    fn write_journaled(&self, ov: &Overlay) -> Result<(), StoreError> {
        self.journal.clear()?;
        let mut chunks = 0u32;
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 1024);
        for (s, map) in ov.maps.iter().enumerate() {
            for (k, e) in map {
                encode_entry(&mut chunk, s as u8, k, e.value.as_deref());
                if chunk.len() >= CHUNK_BYTES {
                    self.journal.insert(chunk_key(chunks), chunk.as_slice())?;
                    chunks += 1;
                    chunk.clear();
                }
            }
        }
        if !chunk.is_empty() {
            self.journal.insert(chunk_key(chunks), chunk.as_slice())?;
            chunks += 1;
        }
        drop(chunk);
        self.journal.insert(JOURNAL_MARK, &chunks.to_be_bytes())?;
        self.db.flush()?;
        #[cfg(test)]
        if self.stop_after_mark.load(Ordering::Relaxed) {
            return Err(corrupt("stopped after the journal mark (test)"));
        }
        for (s, map) in ov.maps.iter().enumerate() {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for (k, e) in map {
                match &e.value {
                    Some(v) => batch.insert(k.as_slice(), v.clone()),
                    None => batch.remove(k.as_slice()),
                }
                n += 1;
                if n == PIECE_ENTRIES {
                    self.trees[s].apply_batch(std::mem::take(&mut batch))?;
                    n = 0;
                }
            }
            if n > 0 {
                self.trees[s].apply_batch(batch)?;
            }
        }
        clear_journal(&self.journal, chunks)?;
        Ok(())
    }
}

/// The sled tree of the flush journal (module docs).
const JOURNAL_TREE: &str = "state_journal";

/// Key of the journal's commit mark: its value is the number of chunks
/// (u32 big-endian). Chunk keys are `c` + chunk number (u32 big-endian).
const JOURNAL_MARK: &[u8] = b"mark";

/// Bytes of cache entries per journal chunk.
const CHUNK_BYTES: usize = 1 << 20;

/// Most cache entries a flush writes to sled in one atomic step (one
/// transaction, or one batch of a journaled flush): bounds the tree nodes
/// sled keeps alive while it runs. Measured on a node syncing 10,000
/// 1-payment blocks with the default cache: peak RSS 92 MB at 256, 129 MB
/// at 1,024, 315 MB at 4,096, 520 MB for one step of the whole cache.
const PIECE_ENTRIES: usize = 256;

fn chunk_key(n: u32) -> [u8; 5] {
    let b = n.to_be_bytes();
    [b'c', b[0], b[1], b[2], b[3]]
}

/// Appends one entry to a journal chunk: space (1 byte), key length (u32
/// big-endian), key, 0 (removed) or 1 followed by value length (u32
/// big-endian) and value.
fn encode_entry(out: &mut Vec<u8>, space: u8, k: &[u8], v: Option<&[u8]>) {
    out.push(space);
    out.extend_from_slice(&(k.len() as u32).to_be_bytes());
    out.extend_from_slice(k);
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v);
        }
    }
}

/// One journal entry: space, key, value (`None`: removed).
type JournalEntry<'a> = (usize, &'a [u8], Option<&'a [u8]>);

/// The entries of one journal chunk ([`encode_entry`]'s layout).
///
/// Errors: [`StoreError::Corrupt`] for a chunk that does not parse.
fn decode_chunk(mut c: &[u8]) -> Result<Vec<JournalEntry<'_>>, StoreError> {
    fn take<'a>(c: &mut &'a [u8], n: usize) -> Result<&'a [u8], StoreError> {
        if c.len() < n {
            return Err(corrupt("truncated chain-state journal chunk"));
        }
        let (a, b) = c.split_at(n);
        *c = b;
        Ok(a)
    }
    fn len(c: &mut &[u8]) -> Result<usize, StoreError> {
        let b = take(c, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let mut out = Vec::new();
    while !c.is_empty() {
        let space = take(&mut c, 1)?[0] as usize;
        if space >= OLD_SPACES {
            return Err(corrupt("chain-state journal names no tree"));
        }
        let n = len(&mut c)?;
        let k = take(&mut c, n)?;
        let v = match take(&mut c, 1)?[0] {
            0 => None,
            1 => {
                let n = len(&mut c)?;
                Some(take(&mut c, n)?)
            }
            _ => return Err(corrupt("bad chain-state journal entry")),
        };
        out.push((space, k, v));
    }
    Ok(out)
}

/// Removes the journal: its mark first, in the same batch as its chunks.
fn clear_journal(journal: &sled::Tree, chunks: u32) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    batch.remove(JOURNAL_MARK);
    for n in 0..chunks {
        batch.remove(&chunk_key(n)[..]);
    }
    journal.apply_batch(batch)?;
    Ok(())
}

/// At open: a journal with its commit mark is a flush that was durable but
/// maybe not wholly applied to the trees: it is applied again (every entry
/// is the final value of its key, so applying twice is harmless) and
/// removed. Chunks without a mark are a flush a crash cut short: dropped,
/// the trees hold the state of the flush before.
///
/// Errors: [`StoreError::Db`], [`StoreError::Corrupt`] for a journal that
/// does not parse.
fn recover_journal(journal: &sled::Tree, trees: &[sled::Tree; SPACES]) -> Result<(), StoreError> {
    let Some(mark) = journal.get(JOURNAL_MARK)? else {
        journal.clear()?;
        return Ok(());
    };
    let chunks = <[u8; 4]>::try_from(mark.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| corrupt("bad chain-state journal mark"))?;
    for n in 0..chunks {
        let chunk = journal
            .get(chunk_key(n))?
            .ok_or_else(|| corrupt(format!("chain-state journal lacks chunk {n}")))?;
        let mut batches: [sled::Batch; SPACES] = Default::default();
        for (s, k, v) in decode_chunk(&chunk)? {
            if s >= SPACES {
                continue; // an explorer index of an older layout
            }
            match v {
                Some(v) => batches[s].insert(k, v),
                None => batches[s].remove(k),
            }
        }
        for (tree, batch) in trees.iter().zip(batches) {
            tree.apply_batch(batch)?;
        }
    }
    clear_journal(journal, chunks)?;
    journal.flush()?;
    Ok(())
}

impl Drop for StateDb {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!("could not flush the chain state: {e}");
        }
    }
}

/// The first key after every key starting with `prefix`; `None` when there
/// is none (all 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Writes to the cache inside [`StateDb::write`], with reads through it.
pub(super) struct Writer<'a> {
    ov: &'a mut Overlay,
    trees: &'a [sled::Tree; SPACES],
}

impl Writer<'_> {
    /// The value of `k` in `s` through the cache.
    pub(super) fn get(&self, s: Space, k: &[u8]) -> Result<Option<IVec>, StoreError> {
        if let Some(v) = self.ov.get(s, k) {
            return Ok(v.cloned());
        }
        Ok(self.trees[s as usize].get(k)?)
    }

    /// [`Overlay::create`].
    pub(super) fn create(&mut self, s: Space, k: &[u8], v: &[u8]) {
        self.ov.create(s, k, v);
    }

    /// [`Overlay::set`].
    pub(super) fn set(&mut self, s: Space, k: &[u8], v: &[u8]) {
        self.ov.set(s, k, v);
    }

    /// [`Overlay::remove`].
    pub(super) fn remove(&mut self, s: Space, k: &[u8]) {
        self.ov.remove(s, k);
    }
}

/// Each space's cached entries written into its tree of a transaction
/// (a `None` value removes the key).
fn write_maps(
    maps: &[BTreeMap<Vec<u8>, Entry>; SPACES],
    trees: [&TransactionalTree; SPACES],
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    for (map, tree) in maps.iter().zip(trees) {
        for (k, e) in map {
            match &e.value {
                Some(v) => _ = tree.insert(k.as_slice(), v.clone())?,
                None => _ = tree.remove(k.as_slice())?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_created_and_removed_between_flushes_leaves_nothing() {
        let mut ov = Overlay::default();
        ov.create(Space::Utxo, b"a", b"1");
        assert!(ov.bytes() > 0);
        ov.remove(Space::Utxo, b"a");
        assert!(ov.is_empty());
        assert_eq!(ov.bytes(), 0);
        // A key sled holds leaves a tombstone.
        ov.remove(Space::Utxo, b"b");
        assert_eq!(ov.get(Space::Utxo, b"b"), Some(None));
        ov.create(Space::Utxo, b"b", b"2");
        ov.remove(Space::Utxo, b"b");
        assert_eq!(ov.get(Space::Utxo, b"b"), Some(None), "still a tombstone");
        assert_eq!(ov.count_delta(Space::Utxo), -1);
    }

    #[test]
    fn merged_ranges_prefer_the_cache_both_ways() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let s = StateDb::open(&db, false, None).unwrap();
        for k in [b"a1", b"a3", b"a5", b"b1"] {
            s.tree(Space::Utxo).insert(k, &b"disk"[..]).unwrap();
        }
        s.write(|w| {
            w.create(Space::Utxo, b"a2", b"new");
            w.remove(Space::Utxo, b"a3");
            w.set(Space::Utxo, b"a5", b"changed");
            Ok(())
        })
        .unwrap();
        let keys = |v: Vec<(IVec, IVec)>| -> Vec<(String, String)> {
            v.into_iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(&k).into(),
                        String::from_utf8_lossy(&v).into(),
                    )
                })
                .collect()
        };
        let up = keys(s.scan_prefix(Space::Utxo, b"a").unwrap());
        let want = [("a1", "disk"), ("a2", "new"), ("a5", "changed")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(up, want);
        let down = s
            .range(
                Space::Utxo,
                Bound::Included(b"a"),
                Bound::Excluded(b"b"),
                true,
                2,
            )
            .unwrap();
        assert_eq!(keys(down), vec![want[2].clone(), want[1].clone()]);
        assert_eq!(s.len(Space::Utxo), 4);
        assert!(s.flush().unwrap());
        assert_eq!(keys(s.scan_prefix(Space::Utxo, b"a").unwrap()), want);
        assert_eq!(s.tree(Space::Utxo).len(), 4);
    }

    /// A cache of more than [`PIECE_ENTRIES`] entries over a store at
    /// `dir`, every key `k<n>` = `v<n>` in `Utxo` and a tip in `Meta`.
    fn big_flush(s: &StateDb, tip: &[u8]) {
        s.write(|w| {
            for n in 0..(PIECE_ENTRIES * 3 + 7) {
                w.set(Space::Utxo, format!("k{n:05}").as_bytes(), tip);
            }
            w.set(Space::Meta, b"t", tip);
            Ok(())
        })
        .unwrap();
    }

    fn state_of(s: &StateDb) -> (usize, Option<IVec>, Option<IVec>) {
        (
            s.tree(Space::Utxo).len(),
            s.tree(Space::Utxo).get(b"k00700").unwrap(),
            s.tree(Space::Meta).get(b"t").unwrap(),
        )
    }

    #[test]
    fn a_journaled_flush_is_whole_after_a_crash_at_any_point() {
        let dir = tempfile::tempdir().unwrap();
        let open = || sled::Config::new().path(dir.path()).open().unwrap();
        let first = (
            PIECE_ENTRIES * 3 + 7,
            Some(IVec::from(b"one")),
            Some(IVec::from(b"one")),
        );
        {
            let db = open();
            let s = StateDb::open(&db, false, None).unwrap();
            big_flush(&s, b"one");
            assert!(s.flush().unwrap());
            assert_eq!(state_of(&s), first);
            assert!(s.journal.is_empty(), "journal removed after the flush");
        }
        // Cut short once its mark is durable, the trees half-written or not:
        // the open applies the journal.
        {
            let db = open();
            let s = StateDb::open(&db, false, None).unwrap();
            big_flush(&s, b"two");
            s.stop_after_mark.store(true, Ordering::Relaxed);
            assert!(s.flush().is_err());
            assert_eq!(state_of(&s), first, "trees not yet written");
            drop(s); // its flush on drop stops at the same point
            db.flush().unwrap();
        }
        {
            let db = open();
            let s = StateDb::open(&db, false, None).unwrap();
            let two = Some(IVec::from(b"two"));
            assert_eq!(state_of(&s), (first.0, two.clone(), two));
            assert!(s.journal.is_empty());
        }
        // Chunks without a mark (a crash while the journal was written) are
        // dropped: the state of the flush before stays.
        {
            let db = open();
            let j = db.open_tree(JOURNAL_TREE).unwrap();
            let mut chunk = Vec::new();
            encode_entry(&mut chunk, Space::Meta as u8, b"t", Some(b"three"));
            j.insert(chunk_key(0), chunk).unwrap();
            db.flush().unwrap();
        }
        let db = open();
        let s = StateDb::open(&db, false, None).unwrap();
        assert_eq!(state_of(&s).2, Some(IVec::from(b"two")));
        assert!(s.journal.is_empty());
    }
}

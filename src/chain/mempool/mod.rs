//! The mempool: valid transactions waiting for a block.
//!
//! A transaction enters when its inputs resolve against the UTXO set or the
//! outputs of transactions already in the mempool (so a wallet can spend its
//! own unconfirmed change), no other mempool transaction spends the same
//! outpoint, its signatures verify, and it meets the [`policy`]: at most
//! [`MAX_STANDARD_TX_SIZE`] bytes, at most [`MAX_ANCESTORS`] unconfirmed
//! ancestors and [`MAX_DESCENDANTS`] descendants for any of them.
//!
//! The mempool holds at most [`MempoolLimits::max_bytes`] bytes of encoded
//! transactions. When a newcomer does not fit, the packages (a transaction
//! with its descendants) with the lowest fee rate leave to make room, but
//! only if each has a lower rate than the newcomer's own; otherwise the
//! newcomer is refused ([`MempoolError::Full`]). Zero-fee transactions are
//! accepted while there is room. Entries expire
//! [`MempoolLimits::expiry_secs`] after they entered, with their
//! descendants. Arrival order (`seq`) is a valid block order: a parent is
//! always in the mempool before its child. Every choice that depends on
//! order uses `(fee rate, seq)`, never a hash map's iteration order.

mod coins;
mod evict;
pub mod policy;
mod select;

pub use coins::spendable_coins;

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::core::encode::encoded_len;
use crate::core::hash::Txid;
use crate::core::tx::{OutPoint, Transaction, TxOut};
use crate::core::validation::{SigCache, check_transaction};
use crate::core::view::{UtxoSource, UtxoView};
use crate::store::{ChainStore, StoreError};

pub use policy::{
    FeeRate, MAX_ANCESTOR_SIZE, MAX_ANCESTORS, MAX_DESCENDANT_SIZE, MAX_DESCENDANTS,
    MAX_STANDARD_TX_SIZE, MempoolError, MempoolLimits,
};

/// The outputs a mempool transaction may spend: those of transactions
/// already in the mempool first, then the store's UTXO set.
struct MempoolSource<'a> {
    mempool: &'a Mempool,
    store: &'a ChainStore,
}

impl UtxoSource for MempoolSource<'_> {
    type Error = StoreError;

    fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, StoreError> {
        match self.mempool.output(op) {
            Some(out) => Ok(Some(out)),
            None => self.store.utxo(op),
        }
    }
}

struct Entry {
    tx: Arc<Transaction>,
    fee: u64,
    size: u64,
    seq: u64,
    /// Seconds since the Unix epoch when it entered.
    time: u64,
    /// Itself and its mempool descendants: count, total fee, total bytes.
    desc: (usize, u64, u64),
}

impl Entry {
    fn desc_key(&self) -> (FeeRate, Reverse<u64>) {
        (FeeRate::new(self.desc.1, self.desc.2), Reverse(self.seq))
    }
}

/// A transaction [`Mempool::accept`] took in.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The stored transaction.
    pub tx: Arc<Transaction>,
    /// Its fee in whole coins.
    pub fee: u64,
    /// Transactions evicted to make room for it (lower fee-rate packages).
    pub evicted: Vec<Txid>,
}

/// The mempool (module docs).
#[derive(Default)]
pub struct Mempool {
    entries: HashMap<Txid, Entry>,
    spent_by: HashMap<OutPoint, Txid>,
    by_seq: BTreeMap<u64, Txid>,
    /// Packages by descendant fee rate, lowest first; equal rates newest
    /// first (the order of eviction).
    by_desc_rate: BTreeMap<(FeeRate, Reverse<u64>), Txid>,
    bytes: u64,
    next_seq: u64,
    last_time: u64,
    limits: MempoolLimits,
}

impl Mempool {
    /// An empty mempool with the default [`MempoolLimits`].
    pub fn new() -> Mempool {
        Mempool::default()
    }

    /// An empty mempool bounded by `limits`.
    pub fn with_limits(limits: MempoolLimits) -> Mempool {
        let mut m = Mempool::default();
        m.set_limits(limits);
        m
    }

    /// Changes the bounds; `max_bytes` is raised to at least
    /// [`MAX_ANCESTOR_SIZE`] so a transaction with its ancestors always
    /// fits. Held transactions stay until the next eviction or expiry.
    pub fn set_limits(&mut self, limits: MempoolLimits) {
        self.limits = MempoolLimits {
            max_bytes: limits.max_bytes.max(MAX_ANCESTOR_SIZE),
            ..limits
        };
    }

    /// The bounds in force.
    pub fn limits(&self) -> MempoolLimits {
        self.limits
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True if `txid` is in the mempool.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// The transaction with `txid`.
    pub fn get(&self, txid: &Txid) -> Option<&Arc<Transaction>> {
        self.entries.get(txid).map(|e| &e.tx)
    }

    /// The fee (whole coins) of mempool transaction `txid`.
    pub fn fee(&self, txid: &Txid) -> Option<u64> {
        self.entries.get(txid).map(|e| e.fee)
    }

    /// True if a mempool transaction spends `op`.
    pub fn is_spent(&self, op: &OutPoint) -> bool {
        self.spent_by.contains_key(op)
    }

    /// The mempool transaction spending `op`, if any.
    pub fn spender(&self, op: &OutPoint) -> Option<Txid> {
        self.spent_by.get(op).copied()
    }

    /// The output at `op` if a mempool transaction created it.
    pub fn output(&self, op: &OutPoint) -> Option<TxOut> {
        self.entries
            .get(&op.txid)
            .and_then(|e| e.tx.outputs.get(op.vout as usize).copied())
    }

    /// Validates `tx` against `store`'s UTXO set and the mempool, applies
    /// the [`policy`], makes room by evicting lower fee-rate packages if the
    /// mempool is full, and adds it with entry time `now` (seconds since the
    /// Unix epoch). Returns what was accepted and evicted.
    ///
    /// Errors: [`MempoolError::AlreadyKnown`],
    /// [`MempoolError::NonStandardSize`], [`MempoolError::Conflict`],
    /// [`MempoolError::TooManyAncestors`],
    /// [`MempoolError::TooManyDescendants`], [`MempoolError::Invalid`],
    /// [`MempoolError::Full`] (its fee rate does not beat the lowest
    /// package), [`MempoolError::Store`] when the UTXO set cannot be read.
    /// On error the mempool is unchanged.
    pub fn accept(
        &mut self,
        tx: Transaction,
        store: &ChainStore,
        cache: &SigCache,
        now: u64,
    ) -> Result<Accepted, MempoolError> {
        let txid = tx.txid();
        if self.entries.contains_key(&txid) {
            return Err(MempoolError::AlreadyKnown(txid));
        }
        let size = encoded_len(&tx);
        if size > MAX_STANDARD_TX_SIZE {
            return Err(MempoolError::NonStandardSize(size));
        }
        for i in &tx.inputs {
            if let Some(other) = self.spent_by.get(&i.prev_out) {
                return Err(MempoolError::Conflict {
                    outpoint: i.prev_out,
                    other: *other,
                });
            }
        }
        let ancestors = self.check_ancestry(&tx, size)?;
        let source = MempoolSource {
            mempool: self,
            store,
        };
        let view = UtxoView::for_tx(&tx, &source)?;
        let fee = check_transaction(&tx, &view, Some(cache))
            .map_err(|error| MempoolError::Invalid { txid, error })?
            .fee;
        let over = (self.bytes + size).saturating_sub(self.limits.max_bytes);
        let evicted = if over > 0 {
            let plan = self.plan_eviction(over, FeeRate::new(fee, size), &ancestors)?;
            self.remove_in_order(&plan);
            plan
        } else {
            Vec::new()
        };
        let tx = Arc::new(tx);
        self.insert(txid, tx.clone(), (fee, size), &ancestors, now);
        Ok(Accepted { tx, fee, evicted })
    }

    fn insert(
        &mut self,
        txid: Txid,
        tx: Arc<Transaction>,
        (fee, size): (u64, u64),
        ancestors: &HashSet<Txid>,
        now: u64,
    ) {
        for a in sorted(ancestors) {
            self.update_desc(&a, |d| (d.0 + 1, d.1.saturating_add(fee), d.2 + size));
        }
        for i in &tx.inputs {
            self.spent_by.insert(i.prev_out, txid);
        }
        // Entry times never go back, so arrival order is expiry order.
        self.last_time = self.last_time.max(now);
        let entry = Entry {
            tx,
            fee,
            size,
            seq: self.next_seq,
            time: self.last_time,
            desc: (1, fee, size),
        };
        self.by_seq.insert(entry.seq, txid);
        self.by_desc_rate.insert(entry.desc_key(), txid);
        self.entries.insert(txid, entry);
        self.bytes += size;
        self.next_seq += 1;
    }

    /// Applies `f` to `txid`'s descendant totals, keeping the eviction
    /// index in step.
    fn update_desc(&mut self, txid: &Txid, f: impl Fn((usize, u64, u64)) -> (usize, u64, u64)) {
        let Some(e) = self.entries.get_mut(txid) else {
            return;
        };
        self.by_desc_rate.remove(&e.desc_key());
        e.desc = f(e.desc);
        self.by_desc_rate.insert(e.desc_key(), *txid);
    }

    /// The mempool transactions `tx` spends outputs of, directly.
    fn parents(&self, tx: &Transaction) -> Vec<Txid> {
        let mut v: Vec<Txid> = tx
            .inputs
            .iter()
            .map(|i| i.prev_out.txid)
            .filter(|t| self.entries.contains_key(t))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every mempool ancestor of `tx` (not itself), stopping early once
    /// more than `cap` are found.
    fn ancestors(&self, tx: &Transaction, cap: usize) -> HashSet<Txid> {
        let mut found = HashSet::new();
        let mut stack = self.parents(tx);
        while let Some(t) = stack.pop() {
            if found.len() > cap {
                break;
            }
            if found.insert(t)
                && let Some(e) = self.entries.get(&t)
            {
                stack.extend(self.parents(&e.tx));
            }
        }
        found
    }

    /// `txid` and every mempool transaction spending its outputs,
    /// recursively.
    fn descendants(&self, txid: &Txid) -> Vec<Txid> {
        let mut found = vec![*txid];
        let mut seen: HashSet<Txid> = found.iter().copied().collect();
        let mut i = 0;
        while let Some(t) = found.get(i).copied() {
            i += 1;
            let Some(e) = self.entries.get(&t) else {
                continue;
            };
            for vout in 0..e.tx.outputs.len() as u32 {
                if let Some(c) = self.spent_by.get(&OutPoint { txid: t, vout })
                    && seen.insert(*c)
                {
                    found.push(*c);
                }
            }
        }
        found
    }

    /// The ancestor and descendant limits for a newcomer of `size` bytes;
    /// returns its mempool ancestors.
    fn check_ancestry(&self, tx: &Transaction, size: u64) -> Result<HashSet<Txid>, MempoolError> {
        let ancestors = self.ancestors(tx, MAX_ANCESTORS);
        let anc_size = ancestors
            .iter()
            .filter_map(|a| self.entries.get(a))
            .fold(size, |s, e| s + e.size);
        if ancestors.len() + 1 > MAX_ANCESTORS || anc_size > MAX_ANCESTOR_SIZE {
            return Err(MempoolError::TooManyAncestors {
                count: ancestors.len() + 1,
                size: anc_size,
            });
        }
        for a in sorted(&ancestors) {
            if let Some(e) = self.entries.get(&a)
                && (e.desc.0 + 1 > MAX_DESCENDANTS || e.desc.2 + size > MAX_DESCENDANT_SIZE)
            {
                return Err(MempoolError::TooManyDescendants { ancestor: a });
            }
        }
        Ok(ancestors)
    }

    /// Takes every transaction out, in arrival order (to re-validate after a
    /// reorg).
    pub fn drain(&mut self) -> Vec<Transaction> {
        let order: Vec<Txid> = self.by_seq.values().copied().collect();
        let mut entries = std::mem::take(&mut self.entries);
        self.spent_by.clear();
        self.by_seq.clear();
        self.by_desc_rate.clear();
        self.bytes = 0;
        order
            .iter()
            .filter_map(|t| entries.remove(t))
            .map(|e| Arc::unwrap_or_clone(e.tx))
            .collect()
    }

    /// Total encoded size of the transactions held, in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// All txids, in arrival order.
    pub fn txids(&self) -> Vec<Txid> {
        self.by_seq.values().copied().collect()
    }
}

/// `set` in txid order (a deterministic order for updates).
fn sorted(set: &HashSet<Txid>) -> Vec<Txid> {
    let mut v: Vec<Txid> = set.iter().copied().collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests;

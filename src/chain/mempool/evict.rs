//! Leaving the mempool: eviction of the lowest fee-rate packages when
//! full, expiry, and removal of mined and conflicting transactions. Every
//! removal keeps the ancestors' descendant totals (the eviction index) in
//! step.

use std::cmp::Reverse;
use std::collections::HashSet;

use crate::core::block::Block;
use crate::core::hash::Txid;

use super::{FeeRate, Mempool, MempoolError, sorted};

impl Mempool {
    /// The transactions to evict to free `need` bytes for a newcomer of
    /// fee rate `rate` with mempool ancestors `keep` (never evicted):
    /// whole packages, lowest descendant fee rate first, each strictly
    /// below `rate`. Returned in removal order (children first).
    pub(super) fn plan_eviction(
        &self,
        need: u64,
        rate: FeeRate,
        keep: &HashSet<Txid>,
    ) -> Result<Vec<Txid>, MempoolError> {
        let mut chosen: HashSet<Txid> = HashSet::new();
        let mut plan: Vec<(u64, Txid)> = Vec::new();
        let mut freed = 0;
        for ((package_rate, _), root) in &self.by_desc_rate {
            if freed >= need {
                break;
            }
            if keep.contains(root) || chosen.contains(root) {
                continue;
            }
            if *package_rate >= rate {
                return Err(MempoolError::Full {
                    needed: *package_rate,
                });
            }
            for d in self.descendants(root) {
                if let Some(e) = self.entries.get(&d)
                    && chosen.insert(d)
                {
                    freed += e.size;
                    plan.push((e.seq, d));
                }
            }
        }
        if freed < need {
            return Err(MempoolError::Full { needed: rate });
        }
        plan.sort_by_key(|p| Reverse(p.0));
        Ok(plan.into_iter().map(|p| p.1).collect())
    }

    /// Removes one transaction, updating its ancestors' descendant totals.
    /// Its descendants stay (callers remove them first, or they were
    /// mined with it).
    fn remove_one(&mut self, txid: &Txid) -> bool {
        let Some(e) = self.entries.get(txid) else {
            return false;
        };
        let (fee, size) = (e.fee, e.size);
        let tx = e.tx.clone();
        for a in sorted(&self.ancestors(&tx, usize::MAX)) {
            self.update_desc(&a, |d| {
                (
                    d.0.saturating_sub(1),
                    d.1.saturating_sub(fee),
                    d.2.saturating_sub(size),
                )
            });
        }
        let Some(e) = self.entries.remove(txid) else {
            return false;
        };
        for i in &e.tx.inputs {
            if self.spent_by.get(&i.prev_out) == Some(txid) {
                self.spent_by.remove(&i.prev_out);
            }
        }
        self.by_seq.remove(&e.seq);
        self.by_desc_rate.remove(&e.desc_key());
        self.bytes = self.bytes.saturating_sub(e.size);
        true
    }

    pub(super) fn remove_in_order(&mut self, txids: &[Txid]) {
        for t in txids {
            self.remove_one(t);
        }
    }

    /// Removes each of `roots` with its descendants, children first; the
    /// txids that left.
    fn remove_packages(&mut self, roots: &[Txid]) -> Vec<Txid> {
        let mut all: Vec<(u64, Txid)> = Vec::new();
        let mut seen = HashSet::new();
        for r in roots {
            for d in self.descendants(r) {
                if let Some(e) = self.entries.get(&d)
                    && seen.insert(d)
                {
                    all.push((e.seq, d));
                }
            }
        }
        all.sort_by_key(|p| Reverse(p.0));
        let removed: Vec<Txid> = all.into_iter().map(|p| p.1).collect();
        self.remove_in_order(&removed);
        removed
    }

    /// Removes the transactions that entered at least
    /// [`super::MempoolLimits::expiry_secs`] before `now` (seconds since the Unix
    /// epoch), with their descendants. Returns the txids that left.
    pub fn expire(&mut self, now: u64) -> Vec<Txid> {
        let cutoff = now.saturating_sub(self.limits.expiry_secs);
        if now < self.limits.expiry_secs {
            return Vec::new();
        }
        let roots: Vec<Txid> = self
            .by_seq
            .values()
            .map_while(|t| self.entries.get(t).filter(|e| e.time <= cutoff).map(|_| *t))
            .collect();
        self.remove_packages(&roots)
    }

    /// After `block` connects: removes its transactions and every mempool
    /// transaction that conflicts with it (spends an outpoint it spends),
    /// with their descendants. Returns the txids that left.
    pub fn remove_for_block(&mut self, block: &Block) -> Vec<Txid> {
        let mut removed = Vec::new();
        for tx in &block.transactions {
            let txid = tx.txid();
            if self.remove_one(&txid) {
                removed.push(txid);
            }
            if tx.is_coinbase() {
                continue;
            }
            for i in &tx.inputs {
                if let Some(other) = self.spent_by.get(&i.prev_out).copied() {
                    removed.extend(self.remove_packages(&[other]));
                }
            }
        }
        removed
    }
}

//! Block selection: the best fee-rate packages that fit, by ancestor fee
//! rate (Bitcoin Core's `BlockAssembler::addPackageTxs`, simplified).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::core::hash::Txid;
use crate::core::params::MAX_BLOCK_SIZE;
use crate::core::tx::Transaction;

use super::{FeeRate, Mempool};

/// A candidate: its ancestor package's fee and size when pushed, and its
/// arrival order (ties go to the earlier).
type Candidate = (FeeRate, Reverse<u64>, Txid);

impl Mempool {
    /// Transactions for a block fitting in `max_bytes` (capped at
    /// `MAX_BLOCK_SIZE`) of transaction data, with their total fee (whole
    /// coins). Repeatedly takes the transaction whose package (itself and
    /// its not yet selected mempool ancestors) has the highest fee rate,
    /// ties to the earlier arrival, and appends the package in arrival
    /// order, so parents always come before their children. A package
    /// that does not fit in the room left is skipped.
    pub fn select(&self, max_bytes: u64) -> (Vec<Transaction>, u64) {
        let max_bytes = max_bytes.min(MAX_BLOCK_SIZE);
        let mut package: HashMap<Txid, (u64, u64)> = HashMap::with_capacity(self.entries.len());
        let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(self.entries.len());
        for (seq, txid) in &self.by_seq {
            let Some(e) = self.entries.get(txid) else {
                continue;
            };
            let (fee, size) = self
                .ancestors(&e.tx, usize::MAX)
                .iter()
                .filter_map(|a| self.entries.get(a))
                .fold((e.fee, e.size), |(f, s), a| {
                    (f.saturating_add(a.fee), s + a.size)
                });
            package.insert(*txid, (fee, size));
            heap.push((FeeRate::new(fee, size), Reverse(*seq), *txid));
        }
        let mut selected: HashSet<Txid> = HashSet::new();
        let mut out = Vec::new();
        let (mut used, mut fees) = (0u64, 0u64);
        while let Some((rate, _, txid)) = heap.pop() {
            let current = package.get(&txid).copied();
            if selected.contains(&txid) || current != Some((rate.fee, rate.size)) {
                continue; // selected already, or a stale candidate
            }
            if used + rate.size > max_bytes {
                continue;
            }
            for t in self.unselected_package(&txid, &selected) {
                let Some(e) = self.entries.get(&t) else {
                    continue;
                };
                selected.insert(t);
                used += e.size;
                fees = fees.saturating_add(e.fee);
                out.push(Transaction::clone(&e.tx));
                for d in self.descendants(&t).into_iter().skip(1) {
                    if selected.contains(&d) {
                        continue;
                    }
                    if let (Some(p), Some(ds)) = (package.get_mut(&d), self.entries.get(&d)) {
                        *p = (p.0.saturating_sub(e.fee), p.1.saturating_sub(e.size));
                        heap.push((FeeRate::new(p.0, p.1), Reverse(ds.seq), d));
                    }
                }
            }
        }
        (out, fees)
    }

    /// `txid` and its mempool ancestors not in `selected`, in arrival order.
    fn unselected_package(&self, txid: &Txid, selected: &HashSet<Txid>) -> Vec<Txid> {
        let Some(e) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut v: Vec<(u64, Txid)> = self
            .ancestors(&e.tx, usize::MAX)
            .into_iter()
            .chain([*txid])
            .filter(|t| !selected.contains(t))
            .filter_map(|t| self.entries.get(&t).map(|x| (x.seq, t)))
            .collect();
        v.sort();
        v.into_iter().map(|p| p.1).collect()
    }
}

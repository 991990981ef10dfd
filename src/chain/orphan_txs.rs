//! Orphan transactions: relayed transactions whose inputs are not known
//! yet (their parent is still on its way, often from another peer), kept
//! until the parent enters the mempool (Bitcoin Core's `TxOrphanage`),
//! bounded in count and time.

use std::collections::BTreeMap;

use crate::core::hash::Txid;
use crate::core::tx::Transaction;

use super::PeerId;

/// Most orphan transactions kept.
pub const MAX_ORPHAN_TXS: usize = 100;
/// Seconds an orphan transaction is kept.
pub const ORPHAN_TX_EXPIRY: u64 = 20 * 60;

/// The orphan transactions (module docs).
#[derive(Default)]
pub struct OrphanTxs {
    txs: BTreeMap<Txid, (Transaction, Option<PeerId>, u64)>,
}

impl OrphanTxs {
    /// Number held.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Keeps `tx` from `from` at `now` (seconds since the Unix epoch):
    /// expired entries go first, then the one with the lowest txid while
    /// full (a deterministic choice).
    pub fn insert(&mut self, tx: Transaction, from: Option<PeerId>, now: u64) {
        self.txs
            .retain(|_, (_, _, at)| now.saturating_sub(*at) < ORPHAN_TX_EXPIRY);
        while self.txs.len() >= MAX_ORPHAN_TXS {
            self.txs.pop_first();
        }
        self.txs.insert(tx.txid(), (tx, from, now));
    }

    /// Takes out the orphans that spend an output of `parent`, in txid
    /// order, with their senders.
    pub fn take_children(&mut self, parent: &Txid) -> Vec<(Transaction, Option<PeerId>)> {
        let ids: Vec<Txid> = self
            .txs
            .iter()
            .filter(|(_, (tx, _, _))| tx.inputs.iter().any(|i| i.prev_out.txid == *parent))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.txs.remove(&id))
            .map(|(tx, from, _)| (tx, from))
            .collect()
    }
}

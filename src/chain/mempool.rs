//! The mempool: valid transactions waiting for a block.
//!
//! A transaction enters when its inputs resolve against the UTXO set or the
//! outputs of transactions already in the mempool (so a wallet can spend its
//! own unconfirmed change), no other mempool transaction spends the same
//! outpoint, and its signatures verify. Entries keep arrival order, which is
//! also a valid block order (a parent always arrives before its child).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::core::block::Block;
use crate::core::encode::encoded_len;
use crate::core::hash::Txid;
use crate::core::params::MAX_BLOCK_SIZE;
use crate::core::tx::{OutPoint, Transaction, TxOut};
use crate::core::validation::{SigCache, TxError, check_transaction};
use crate::core::view::{UtxoSource, UtxoView};
use crate::store::{ChainStore, StoreError};

/// Most transactions the mempool holds.
pub const MAX_MEMPOOL_TXS: usize = 50_000;

/// Why a transaction was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    /// Already in the mempool.
    #[error("transaction {0} is already in the mempool")]
    AlreadyKnown(Txid),
    /// Spends an outpoint another mempool transaction spends.
    #[error("input {outpoint} is already spent by mempool transaction {other}")]
    Conflict {
        /// The contested outpoint.
        outpoint: OutPoint,
        /// The mempool transaction spending it.
        other: Txid,
    },
    /// No chain yet: nothing can be validated.
    #[error("no chain yet: transactions wait until the node has a genesis block")]
    NoChain,
    /// The mempool is full.
    #[error("mempool is full ({MAX_MEMPOOL_TXS} transactions)")]
    Full,
    /// Breaks a consensus rule.
    #[error("invalid transaction {txid}: {error}")]
    Invalid {
        /// Its txid.
        txid: Txid,
        /// The rule.
        error: TxError,
    },
    /// The UTXO set could not be read; says nothing about the transaction.
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
    seq: u64,
    size: u64,
}

/// The mempool (module docs).
#[derive(Default)]
pub struct Mempool {
    entries: HashMap<Txid, Entry>,
    spent_by: HashMap<OutPoint, Txid>,
    next_seq: u64,
}

impl Mempool {
    /// An empty mempool.
    pub fn new() -> Mempool {
        Mempool::default()
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

    /// True if a mempool transaction spends `op`.
    pub fn is_spent(&self, op: &OutPoint) -> bool {
        self.spent_by.contains_key(op)
    }

    /// The output at `op` if a mempool transaction created it.
    pub fn output(&self, op: &OutPoint) -> Option<TxOut> {
        self.entries
            .get(&op.txid)
            .and_then(|e| e.tx.outputs.get(op.vout as usize).copied())
    }

    /// Validates `tx` against `store`'s UTXO set and the mempool and adds it.
    /// Returns the stored transaction and its fee (whole coins).
    ///
    /// Errors: [`MempoolError::AlreadyKnown`], [`MempoolError::Conflict`],
    /// [`MempoolError::Full`], [`MempoolError::Invalid`],
    /// [`MempoolError::Store`] when the UTXO set cannot be read.
    pub fn accept(
        &mut self,
        tx: Transaction,
        store: &ChainStore,
        cache: &SigCache,
    ) -> Result<(Arc<Transaction>, u64), MempoolError> {
        let txid = tx.txid();
        if self.entries.contains_key(&txid) {
            return Err(MempoolError::AlreadyKnown(txid));
        }
        if self.entries.len() >= MAX_MEMPOOL_TXS {
            return Err(MempoolError::Full);
        }
        for i in &tx.inputs {
            if let Some(other) = self.spent_by.get(&i.prev_out) {
                return Err(MempoolError::Conflict {
                    outpoint: i.prev_out,
                    other: *other,
                });
            }
        }
        let source = MempoolSource {
            mempool: self,
            store,
        };
        let view = UtxoView::for_tx(&tx, &source)?;
        let checked = check_transaction(&tx, &view, Some(cache))
            .map_err(|error| MempoolError::Invalid { txid, error })?;
        for i in &tx.inputs {
            self.spent_by.insert(i.prev_out, txid);
        }
        let size = encoded_len(&tx);
        let tx = Arc::new(tx);
        self.entries.insert(
            txid,
            Entry {
                tx: tx.clone(),
                fee: checked.fee,
                seq: self.next_seq,
                size,
            },
        );
        self.next_seq += 1;
        Ok((tx, checked.fee))
    }

    /// Transactions for a block, in arrival order (parents before children),
    /// fitting in `max_bytes` of transaction data; with their total fee.
    pub fn select(&self, max_bytes: u64) -> (Vec<Transaction>, u64) {
        let mut v: Vec<&Entry> = self.entries.values().collect();
        v.sort_by_key(|e| e.seq);
        let mut out = Vec::new();
        let mut fees: u64 = 0;
        let mut size: u64 = 0;
        let mut taken: HashSet<Txid> = HashSet::new();
        for e in v {
            if size.saturating_add(e.size) > max_bytes.min(MAX_BLOCK_SIZE) {
                continue;
            }
            // A child whose mempool parent was skipped must be skipped too.
            let parents_ok = e.tx.inputs.iter().all(|i| {
                !self.entries.contains_key(&i.prev_out.txid) || taken.contains(&i.prev_out.txid)
            });
            if !parents_ok {
                continue;
            }
            size += e.size;
            fees = fees.saturating_add(e.fee);
            taken.insert(e.tx.txid());
            out.push(Transaction::clone(&e.tx));
        }
        (out, fees)
    }

    /// Removes `txid` and every mempool transaction that spends its outputs,
    /// recursively, adding their txids to `removed`.
    fn remove_with_descendants(&mut self, txid: &Txid, removed: &mut Vec<Txid>) {
        let mut stack = vec![*txid];
        while let Some(t) = stack.pop() {
            let Some(e) = self.entries.remove(&t) else {
                continue;
            };
            removed.push(t);
            for i in &e.tx.inputs {
                if self.spent_by.get(&i.prev_out) == Some(&t) {
                    self.spent_by.remove(&i.prev_out);
                }
            }
            for vout in 0..e.tx.outputs.len() as u32 {
                if let Some(child) = self.spent_by.get(&OutPoint { txid: t, vout }) {
                    stack.push(*child);
                }
            }
        }
    }

    /// After `block` connects: removes its transactions and every mempool
    /// transaction that conflicts with it (spends an outpoint it spends),
    /// with their descendants. Returns the txids that left.
    pub fn remove_for_block(&mut self, block: &Block) -> Vec<Txid> {
        let mut removed = Vec::new();
        for tx in &block.transactions {
            let txid = tx.txid();
            if let Some(e) = self.entries.remove(&txid) {
                removed.push(txid);
                for i in &e.tx.inputs {
                    self.spent_by.remove(&i.prev_out);
                }
            }
            if tx.is_coinbase() {
                continue;
            }
            for i in &tx.inputs {
                if let Some(other) = self.spent_by.get(&i.prev_out).copied() {
                    self.remove_with_descendants(&other, &mut removed);
                }
            }
        }
        removed
    }

    /// Takes every transaction out, in arrival order (to re-validate after a
    /// reorg).
    pub fn drain(&mut self) -> Vec<Transaction> {
        let mut v: Vec<Entry> = self.entries.drain().map(|(_, e)| e).collect();
        self.spent_by.clear();
        v.sort_by_key(|e| e.seq);
        v.into_iter().map(|e| Arc::unwrap_or_clone(e.tx)).collect()
    }

    /// Total encoded size of the transactions held, in bytes.
    pub fn bytes(&self) -> u64 {
        self.entries.values().map(|e| e.size).sum()
    }

    /// All txids, in arrival order.
    pub fn txids(&self) -> Vec<Txid> {
        let mut v: Vec<(&Txid, u64)> = self.entries.iter().map(|(k, e)| (k, e.seq)).collect();
        v.sort_by_key(|x| x.1);
        v.into_iter().map(|x| *x.0).collect()
    }
}

/// Coins `owner` (a pubkey hash) can spend now, as the wallet sees them: confirmed outputs no mempool transaction
/// spends, plus unspent outputs of mempool transactions paying `owner`
/// (change), as (outpoint, output).
pub fn spendable_coins(
    store: &ChainStore,
    mempool: &Mempool,
    owner: &[u8; 20],
) -> Result<Vec<(OutPoint, TxOut)>, StoreError> {
    let mut coins: Vec<(OutPoint, TxOut)> = store
        .utxos_of(owner)?
        .into_iter()
        .filter(|(op, _)| !mempool.is_spent(op))
        .map(|(op, value)| {
            (
                op,
                TxOut {
                    value,
                    pubkey_hash: *owner,
                },
            )
        })
        .collect();
    for txid in mempool.txids() {
        if let Some(tx) = mempool.get(&txid) {
            for (vout, out) in tx.outputs.iter().enumerate() {
                let op = OutPoint {
                    txid,
                    vout: vout as u32,
                };
                if out.pubkey_hash == *owner && !mempool.is_spent(&op) {
                    coins.push((op, *out));
                }
            }
        }
    }
    Ok(coins)
}

//! The UTXO set as of a fork point, in memory (btcd's `utxoviewpoint`):
//! a reorg validates the branch that would win against it before the best
//! chain is touched.
//!
//! Built from the store's UTXO set (as of the tip) by undoing the
//! best-chain blocks above the fork, tip first, from their undo data (their
//! spent outputs come back, their created outputs go away), then moved
//! forward block by block as each branch block validates. Only the changes
//! are held; every other outpoint is read from the store.

use std::collections::HashMap;

use crate::core::block::Block;
use crate::core::hash::BlockHash;
use crate::core::tx::{OutPoint, TxOut};
use crate::core::view::UtxoSource;
use crate::store::{ChainStore, StoreError};

/// The store's UTXO set with in-memory changes on top (module docs).
pub(super) struct ForkView<'a> {
    store: &'a ChainStore,
    /// Outpoint -> its state in the view: `Some` unspent, `None` spent or
    /// never created. Outpoints absent here are read from the store.
    changes: HashMap<OutPoint, Option<TxOut>>,
}

impl<'a> ForkView<'a> {
    /// The UTXO set as of the store's tip (no changes yet).
    pub(super) fn new(store: &'a ChainStore) -> ForkView<'a> {
        ForkView {
            store,
            changes: HashMap::new(),
        }
    }

    /// The UTXO set as of `fork`, a best-chain block: the store's set with
    /// the best-chain blocks above `fork` undone in memory, tip first.
    ///
    /// Errors: [`StoreError::MissingBlock`], or [`StoreError::Corrupt`] when
    /// a block's undo data is missing or does not match it.
    pub(super) fn at(store: &'a ChainStore, fork: BlockHash) -> Result<ForkView<'a>, StoreError> {
        let mut view = ForkView::new(store);
        let mut cursor = store.tip()?.hash;
        while cursor != fork {
            let block = store
                .block(&cursor)?
                .ok_or(StoreError::MissingBlock(cursor))?;
            let spent = store
                .undo(&cursor)?
                .ok_or_else(|| StoreError::Corrupt(format!("no undo data for {cursor}")))?;
            view.disconnect(&block, &spent)?;
            cursor = block.header.prev_block_hash;
        }
        Ok(view)
    }

    /// Undoes `block`, the top block of the view, given `spent` (its undo
    /// data: the outputs its non-coinbase inputs spent, in input order).
    /// Transactions are undone last first, so an output created and spent
    /// inside the block ends absent.
    ///
    /// Errors: [`StoreError::Corrupt`] when `spent` does not have one entry
    /// per non-coinbase input.
    pub(super) fn disconnect(&mut self, block: &Block, spent: &[TxOut]) -> Result<(), StoreError> {
        let inputs: usize = block
            .transactions
            .iter()
            .filter(|t| !t.is_coinbase())
            .map(|t| t.inputs.len())
            .sum();
        if inputs != spent.len() {
            return Err(StoreError::Corrupt(format!(
                "block {} has {inputs} inputs but {} undo entries",
                block.hash(),
                spent.len()
            )));
        }
        let mut end = spent.len();
        for tx in block.transactions.iter().rev() {
            for (op, _) in tx.created_outputs(tx.txid()) {
                self.changes.insert(op, None);
            }
            if tx.is_coinbase() {
                continue;
            }
            let start = end.saturating_sub(tx.inputs.len());
            for (input, out) in tx.inputs.iter().zip(spent.get(start..end).unwrap_or(&[])) {
                self.changes.insert(input.prev_out, Some(*out));
            }
            end = start;
        }
        Ok(())
    }

    /// Applies `block` (validated against this view) on top: its inputs
    /// are spent, its outputs created, in transaction order.
    pub(super) fn connect(&mut self, block: &Block) {
        for tx in &block.transactions {
            if !tx.is_coinbase() {
                for input in &tx.inputs {
                    self.changes.insert(input.prev_out, None);
                }
            }
            for (op, out) in tx.created_outputs(tx.txid()) {
                self.changes.insert(op, Some(out));
            }
        }
    }
}

/// Reads the view's state of an outpoint, falling back to the store.
impl UtxoSource for ForkView<'_> {
    type Error = StoreError;

    fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, StoreError> {
        match self.changes.get(op) {
            Some(state) => Ok(*state),
            None => self.store.utxo(op),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tx::{Transaction, TxIn};

    fn out(value: u64) -> TxOut {
        TxOut {
            value,
            pubkey_hash: [1; 20],
        }
    }

    fn spending(ops: &[OutPoint], value: u64) -> Transaction {
        Transaction {
            version: 1,
            inputs: ops.iter().map(|o| TxIn::unsigned(*o)).collect(),
            outputs: vec![out(value)],
            coinbase_height: 0,
        }
    }

    fn first(tx: &Transaction) -> OutPoint {
        OutPoint {
            txid: tx.txid(),
            vout: 0,
        }
    }

    #[test]
    fn disconnect_then_connect_is_the_identity_on_touched_outpoints() {
        let store = ChainStore::temporary().expect("store");
        let genesis = Block::template(BlockHash::ZERO, 0, 1, 0, [1; 20], 50, vec![]);
        let g = first(&genesis.transactions[0]);
        let t1 = spending(&[g], 30);
        let t2 = spending(&[first(&t1)], 20);
        let block = Block::template(genesis.hash(), 1, 1, 0, [2; 20], 50, vec![t1, t2.clone()]);
        let cb = first(&block.transactions[0]);
        let mut view = ForkView::new(&store);
        view.connect(&genesis);
        view.connect(&block);
        assert_eq!(view.utxo(&g).ok(), Some(None));
        assert_eq!(view.utxo(&first(&t2)).ok(), Some(Some(out(20))));
        // Undo data: genesis's output (for t1), then t1's (for t2).
        view.disconnect(&block, &[out(50), out(30)]).expect("undo");
        assert_eq!(view.utxo(&g).ok(), Some(Some(out(50))));
        assert_eq!(view.utxo(&first(&t2)).ok(), Some(None));
        assert_eq!(view.utxo(&cb).ok(), Some(None));
        let t1_out = block.transactions.get(1).map(first);
        assert_eq!(t1_out.map(|o| view.utxo(&o).ok()), Some(Some(None)));
        assert!(view.disconnect(&block, &[out(50)]).is_err());
    }
}

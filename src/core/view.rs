//! The UTXO view validation runs against (btcd's `UtxoViewpoint`).
//!
//! Validation is pure: it never reads the store. Before a block or a
//! transaction is checked, the outputs its inputs spend are fetched from a
//! [`UtxoSource`] (the store's UTXO set, a mempool over it, a map in tests)
//! into a [`UtxoView`], and the rules read only that view. Reading the source
//! can fail (a disk error); such a failure is the caller's, never a
//! consensus error of the block or transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;

use super::block::Block;
use super::tx::{OutPoint, Transaction, TxOut};

/// Where a [`UtxoView`] is filled from (the store's UTXO set, a mempool on
/// top of it, a test map).
pub trait UtxoSource {
    /// Why a read failed (e.g. the store's I/O error; [`Infallible`] for maps).
    type Error;

    /// The unspent output at `op`; `Ok(None)` when it is missing or spent.
    ///
    /// Errors: `Self::Error` when the source cannot be read.
    fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, Self::Error>;
}

impl UtxoSource for HashMap<OutPoint, TxOut> {
    type Error = Infallible;

    fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, Infallible> {
        Ok(self.get(op).copied())
    }
}

impl UtxoSource for BTreeMap<OutPoint, TxOut> {
    type Error = Infallible;

    fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, Infallible> {
        Ok(self.get(op).copied())
    }
}

/// The outputs a block or transaction spends, fetched before validation
/// runs: outpoint -> unspent output. An outpoint absent from the view is
/// missing or spent as far as validation is concerned.
#[derive(Debug, Clone, Default)]
pub struct UtxoView {
    outputs: HashMap<OutPoint, TxOut>,
}

impl UtxoView {
    /// An empty view.
    pub fn new() -> Self {
        UtxoView::default()
    }

    /// Adds (or replaces) the unspent output at `op`.
    pub fn insert(&mut self, op: OutPoint, out: TxOut) {
        self.outputs.insert(op, out);
    }

    /// The unspent output at `op`, if the view holds it.
    pub fn get(&self, op: &OutPoint) -> Option<&TxOut> {
        self.outputs.get(op)
    }

    /// Number of outputs held.
    pub fn len(&self) -> usize {
        self.outputs.len()
    }

    /// True when the view holds no output.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    /// Fetches from `source` every outpoint the block's non-coinbase inputs
    /// spend that is not created earlier in the same block (those are
    /// resolved by validation itself, each output once: a second spend of it
    /// is looked up here like any other outpoint). Missing outpoints are
    /// simply absent (validation then reports `MissingInput`).
    ///
    /// Errors: the source's error on the first failed read.
    pub fn for_block<S: UtxoSource>(block: &Block, source: &S) -> Result<UtxoView, S::Error> {
        let mut view = UtxoView::new();
        // Outputs created so far in the block and not yet spent in it, the
        // same set `check_block_context` resolves intra-block spends from.
        let mut created: HashSet<OutPoint> = HashSet::new();
        for (index, tx) in block.transactions.iter().enumerate() {
            if index > 0 {
                for input in &tx.inputs {
                    if !created.remove(&input.prev_out) {
                        view.fetch(input.prev_out, source)?;
                    }
                }
            }
            let txid = tx.txid();
            created.extend((0..tx.outputs.len() as u32).map(|vout| OutPoint { txid, vout }));
        }
        Ok(view)
    }

    /// Fetches from `source` every outpoint `tx`'s inputs spend (none for a
    /// coinbase). Missing outpoints are simply absent.
    ///
    /// Errors: the source's error on the first failed read.
    pub fn for_tx<S: UtxoSource>(tx: &Transaction, source: &S) -> Result<UtxoView, S::Error> {
        let mut view = UtxoView::new();
        if !tx.is_coinbase() {
            for input in &tx.inputs {
                view.fetch(input.prev_out, source)?;
            }
        }
        Ok(view)
    }

    /// Reads `op` from `source` into the view unless it is there already.
    fn fetch<S: UtxoSource>(&mut self, op: OutPoint, source: &S) -> Result<(), S::Error> {
        if !self.outputs.contains_key(&op)
            && let Some(out) = source.utxo(&op)?
        {
            self.outputs.insert(op, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hash::{BlockHash, Txid, sha256d};
    use crate::core::tx::TxIn;

    fn op(seed: &[u8], vout: u32) -> OutPoint {
        OutPoint {
            txid: Txid(sha256d(seed)),
            vout,
        }
    }

    fn out(value: u64) -> TxOut {
        TxOut {
            value,
            pubkey_hash: [7; 20],
        }
    }

    fn spending(ops: &[OutPoint]) -> Transaction {
        Transaction {
            version: 1,
            inputs: ops.iter().map(|o| TxIn::unsigned(*o)).collect(),
            outputs: vec![out(1)],
            coinbase_height: 0,
        }
    }

    /// Counts reads, to show what a view fetches.
    struct Counting<'a>(&'a HashMap<OutPoint, TxOut>, std::cell::Cell<usize>);

    impl UtxoSource for Counting<'_> {
        type Error = &'static str;
        fn utxo(&self, op: &OutPoint) -> Result<Option<TxOut>, &'static str> {
            self.1.set(self.1.get() + 1);
            Ok(self.0.get(op).copied())
        }
    }

    #[test]
    fn tx_view_holds_present_outputs_only() {
        let (a, b) = (op(b"a", 0), op(b"b", 1));
        let set: BTreeMap<_, _> = [(a, out(5))].into_iter().collect();
        let view = UtxoView::for_tx(&spending(&[a, b]), &set).unwrap_or_else(|e| match e {});
        assert_eq!(view.len(), 1);
        assert_eq!(view.get(&a), Some(&out(5)));
        assert_eq!(view.get(&b), None);
        let cb = Transaction::coinbase(1, [0; 20], 20);
        assert!(UtxoView::for_tx(&cb, &set).is_ok_and(|v| v.is_empty()));
    }

    #[test]
    fn block_view_skips_outputs_created_earlier_in_the_block() {
        let a = op(b"a", 0);
        let set: HashMap<_, _> = [(a, out(5))].into_iter().collect();
        let t1 = spending(&[a]);
        let child = OutPoint {
            txid: t1.txid(),
            vout: 0,
        };
        let t2 = spending(&[child]);
        let block = Block::template(BlockHash::ZERO, 1, 0, 0, [0; 20], 20, vec![t1, t2]);
        let src = Counting(&set, std::cell::Cell::new(0));
        let view = UtxoView::for_block(&block, &src).unwrap_or_default();
        assert_eq!(
            src.1.get(),
            1,
            "only the outpoint from the UTXO set is read"
        );
        assert_eq!(view.get(&a), Some(&out(5)));
        assert_eq!(view.get(&child), None);
    }

    #[test]
    fn a_failed_read_is_the_sources_error() {
        struct Broken;
        impl UtxoSource for Broken {
            type Error = &'static str;
            fn utxo(&self, _: &OutPoint) -> Result<Option<TxOut>, &'static str> {
                Err("disk")
            }
        }
        let tx = spending(&[op(b"a", 0)]);
        assert_eq!(UtxoView::for_tx(&tx, &Broken).err(), Some("disk"));
    }
}

//! The explorer indexes of the best chain: trees `tx_index` (where each
//! transaction is), `addr_history` (which transactions touch each address)
//! and `spent_by` (which input spends each output). They change in the same
//! step of the chain-state cache as the UTXO set (see [`IndexDelta`] and
//! `cache.rs`), and are rebuilt
//! from the blocks and undo data by [`ChainStore::rebuild_indexes`]
//! (`index_rebuild.rs`): at open
//! when a store written before they existed lacks them, and by
//! `reindexutxo`.
//!
//! Byte layouts (integers big-endian):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `tx_index` | txid (32) | block hash (32) ‖ position in block (u32) |
//! | `addr_history` | pubkey hash (20) ‖ height (u64) ‖ position (u32) | [`HistoryEntry`]: txid (32) ‖ received (u64) ‖ outputs (u32) ‖ sent (u64) ‖ inputs (u32) |
//! | `spent_by` | outpoint: txid (32) ‖ vout (u32) | spending txid (32) ‖ input index (u32) |
//!
//! `meta` key `b"indexed"` (value `[1]`) says the three trees are complete.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::cache::Writer;
use super::{ChainStore, Space, StoreError, corrupt, hash_from};
use crate::core::block::Block;
use crate::core::hash::{BlockHash, Hash256, Txid};
use crate::core::tx::{OutPoint, TxOut};

/// `meta` key marking the indexes complete.
pub(super) const INDEXED: &[u8] = b"indexed";

/// One transaction in an address's history, as `addr_history` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Height of the block holding it.
    pub height: u64,
    /// Its position in that block (0 = coinbase).
    pub position: u32,
    /// The transaction.
    pub txid: Txid,
    /// Whole coins its outputs pay the address.
    pub received: u64,
    /// How many of its outputs pay the address.
    pub outputs: u32,
    /// Whole coins its inputs take from the address.
    pub sent: u64,
    /// How many of its inputs spend the address's outputs.
    pub inputs: u32,
}

/// The three trees' changes for one block: pairs of key and value, inserted
/// on connect and removed on disconnect.
pub(super) struct IndexDelta {
    /// `tx_index`, `addr_history`, `spent_by` entries, in that order.
    pub(super) trees: [Vec<(Vec<u8>, Vec<u8>)>; 3],
}

/// Per address touched by one transaction: (received, outputs, sent, inputs).
type Touch = (u64, u32, u64, u32);

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn hash_at(b: &[u8], at: usize) -> Option<Hash256> {
    Some(Hash256(b.get(at..at + 32)?.try_into().ok()?))
}

impl IndexDelta {
    /// The entries of `block` at its height, given `undo` (the outputs its
    /// non-coinbase inputs spent, in input order).
    ///
    /// Errors: [`StoreError::Corrupt`] when `undo` has fewer entries than
    /// the block has inputs.
    pub(super) fn of(block: &Block, undo: &[TxOut]) -> Result<IndexDelta, StoreError> {
        let hash = block.hash();
        let mut trees: [Vec<(Vec<u8>, Vec<u8>)>; 3] = Default::default();
        let mut spent = undo.iter();
        for (pos, tx) in block.transactions.iter().enumerate() {
            let pos = u32::try_from(pos).map_err(|_| corrupt("block too large"))?;
            let txid = tx.txid();
            let mut loc = hash.as_bytes().to_vec();
            loc.extend_from_slice(&pos.to_be_bytes());
            trees[0].push((txid.as_bytes().to_vec(), loc));
            let mut touched: BTreeMap<[u8; 20], Touch> = BTreeMap::new();
            for out in &tx.outputs {
                let t = touched.entry(out.pubkey_hash).or_default();
                t.0 = t.0.saturating_add(out.value);
                t.1 = t.1.saturating_add(1);
            }
            if !tx.is_coinbase() {
                for (vin, input) in tx.inputs.iter().enumerate() {
                    let prev = spent
                        .next()
                        .ok_or_else(|| corrupt(format!("block {hash}: undo data too short")))?;
                    let t = touched.entry(prev.pubkey_hash).or_default();
                    t.2 = t.2.saturating_add(prev.value);
                    t.3 = t.3.saturating_add(1);
                    let mut by = txid.as_bytes().to_vec();
                    by.extend_from_slice(&(vin as u32).to_be_bytes());
                    trees[2].push((input.prev_out.to_key().to_vec(), by));
                }
            }
            for (pkh, (recv, outs, sent, ins)) in touched {
                let mut k = pkh.to_vec();
                k.extend_from_slice(&block.height.to_be_bytes());
                k.extend_from_slice(&pos.to_be_bytes());
                let mut v = txid.as_bytes().to_vec();
                v.extend_from_slice(&recv.to_be_bytes());
                v.extend_from_slice(&outs.to_be_bytes());
                v.extend_from_slice(&sent.to_be_bytes());
                v.extend_from_slice(&ins.to_be_bytes());
                trees[1].push((k, v));
            }
        }
        Ok(IndexDelta { trees })
    }

    /// Inserts (`forward`, connect) or removes (disconnect) the entries in
    /// the `tx_index`, `addr_history` and `spent_by` spaces of the cache.
    pub(super) fn apply(&self, forward: bool, w: &mut Writer<'_>) {
        let spaces = [Space::TxIndex, Space::AddrHistory, Space::SpentBy];
        for (entries, space) in self.trees.iter().zip(spaces) {
            for (k, v) in entries {
                if forward {
                    w.create(space, k, v);
                } else {
                    w.remove(space, k);
                }
            }
        }
    }

    /// Marks the indexes complete with the genesis block.
    pub(super) fn mark_indexed(w: &mut Writer<'_>) {
        w.set(Space::Meta, INDEXED, &[1u8]);
    }
}

impl ChainStore {
    /// The best-chain block holding `txid` and its position in it.
    ///
    /// Errors: [`StoreError::Corrupt`] for a malformed entry, [`StoreError::Db`].
    pub fn tx_location(&self, txid: &Txid) -> Result<Option<(BlockHash, u32)>, StoreError> {
        let Some(v) = self.state.get(Space::TxIndex, txid.as_bytes())? else {
            return Ok(None);
        };
        let hash = hash_from(v.get(..32).ok_or_else(|| corrupt("tx_index value"))?)?;
        let pos = u32_at(&v, 32).ok_or_else(|| corrupt("tx_index value"))?;
        Ok(Some((hash, pos)))
    }

    /// The best-chain transaction whose input spends `op`, and that input's
    /// index.
    ///
    /// Errors: [`StoreError::Corrupt`] for a malformed entry, [`StoreError::Db`].
    pub fn spender(&self, op: &OutPoint) -> Result<Option<(Txid, u32)>, StoreError> {
        let Some(v) = self.state.get(Space::SpentBy, &op.to_key())? else {
            return Ok(None);
        };
        let txid = hash_at(&v, 0).ok_or_else(|| corrupt("spent_by value"))?;
        let vin = u32_at(&v, 32).ok_or_else(|| corrupt("spent_by value"))?;
        Ok(Some((Txid(txid), vin)))
    }

    /// Up to `limit` best-chain transactions touching `pubkey_hash`, newest
    /// first, strictly older than `before` (height, position) when given: a
    /// reverse prefix scan of `addr_history`.
    ///
    /// Errors: [`StoreError::Corrupt`] for a malformed entry, [`StoreError::Db`].
    pub fn address_history(
        &self,
        pubkey_hash: &[u8; 20],
        before: Option<(u64, u32)>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut end = pubkey_hash.to_vec();
        match before {
            Some((h, p)) => {
                end.extend_from_slice(&h.to_be_bytes());
                end.extend_from_slice(&p.to_be_bytes());
            }
            None => end.extend_from_slice(&[0xff; 12]),
        }
        let start = pubkey_hash.to_vec();
        let mut out = Vec::new();
        let entries = self.state.range(
            Space::AddrHistory,
            Bound::Included(start.as_slice()),
            Bound::Excluded(end.as_slice()),
            true,
            limit,
        )?;
        for (k, v) in entries {
            out.push(history_entry(&k, &v).ok_or_else(|| corrupt("addr_history entry"))?);
        }
        Ok(out)
    }

    /// Every best-chain transaction touching `pubkey_hash`, oldest first.
    ///
    /// Errors: as [`ChainStore::address_history`].
    pub fn address_history_all(
        &self,
        pubkey_hash: &[u8; 20],
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.state.scan_prefix(Space::AddrHistory, pubkey_hash)? {
            out.push(history_entry(&k, &v).ok_or_else(|| corrupt("addr_history entry"))?);
        }
        Ok(out)
    }

    /// Height up to which the explorer indexes (`tx_index`, `addr_history`,
    /// `spent_by`) answer for the best chain: `None` while they are not
    /// complete (being built at open), else the tip's height. They change
    /// in the same step of the chain-state cache as the UTXO set, so once
    /// complete they are never behind the tip.
    ///
    /// Errors: [`StoreError`] reading the tip or the mark.
    pub fn indexed_height(&self) -> Result<Option<u64>, StoreError> {
        if !self.indexes_complete()? {
            return Ok(None);
        }
        Ok(self.tip_opt()?.map(|t| t.height))
    }

    /// True when the indexes are complete (`meta` `b"indexed"`).
    pub fn indexes_complete(&self) -> Result<bool, StoreError> {
        Ok(self.state.get(Space::Meta, INDEXED)?.is_some())
    }
}

fn history_entry(k: &[u8], v: &[u8]) -> Option<HistoryEntry> {
    Some(HistoryEntry {
        height: u64_at(k, 20)?,
        position: u32_at(k, 28)?,
        txid: Txid(hash_at(v, 0)?),
        received: u64_at(v, 32)?,
        outputs: u32_at(v, 40)?,
        sent: u64_at(v, 44)?,
        inputs: u32_at(v, 52)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tx::{Transaction, TxIn};

    const A: [u8; 20] = [1; 20];
    const B: [u8; 20] = [2; 20];

    fn chain() -> (ChainStore, Block, Block) {
        let store = ChainStore::temporary().expect("store");
        let genesis = Block::template(BlockHash::ZERO, 0, 1, 1, A, 50, vec![]);
        store.init_genesis(&genesis).expect("genesis");
        let coin = OutPoint {
            txid: genesis.transactions[0].txid(),
            vout: 0,
        };
        let pay = Transaction {
            version: 1,
            inputs: vec![TxIn::unsigned(coin)],
            outputs: vec![
                TxOut {
                    value: 30,
                    pubkey_hash: B,
                },
                TxOut {
                    value: 20,
                    pubkey_hash: A,
                },
            ],
            coinbase_height: 0,
        };
        let b1 = Block::template(genesis.hash(), 1, 1, 2, B, 50, vec![pay]);
        let spent = [genesis.transactions[0].outputs[0]];
        store.connect_block(&b1, &spent).expect("connect");
        (store, genesis, b1)
    }

    #[test]
    fn connect_indexes_and_disconnect_removes() {
        let (store, genesis, b1) = chain();
        let pay = b1.transactions[1].txid();
        assert_eq!(store.tx_location(&pay).unwrap(), Some((b1.hash(), 1)));
        let coin = OutPoint {
            txid: genesis.transactions[0].txid(),
            vout: 0,
        };
        assert_eq!(store.spender(&coin).unwrap(), Some((pay, 0)));
        let a = store.address_history(&A, None, 10).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].txid, a[0].received, a[0].sent), (pay, 20, 50));
        assert_eq!((a[1].height, a[1].received), (0, 50));
        let older = store.address_history(&A, Some((1, 1)), 10).unwrap();
        assert_eq!(older.len(), 1);
        assert_eq!(store.address_history_all(&B).unwrap().len(), 2);
        store.disconnect_tip().expect("disconnect");
        assert_eq!(store.tx_location(&pay).unwrap(), None);
        assert_eq!(store.spender(&coin).unwrap(), None);
        assert_eq!(store.address_history_all(&A).unwrap().len(), 1);
        assert!(store.address_history_all(&B).unwrap().is_empty());
    }

    #[test]
    fn rebuild_gives_the_same_indexes() {
        let (store, _, b1) = chain();
        let before = store.address_history_all(&A).unwrap();
        store.state.tree(Space::Meta).remove(INDEXED).unwrap();
        store.state.tree(Space::TxIndex).clear().unwrap();
        store.ensure_indexes().unwrap();
        assert!(store.indexes_complete().unwrap());
        assert_eq!(store.address_history_all(&A).unwrap(), before);
        let pay = b1.transactions[1].txid();
        assert_eq!(store.tx_location(&pay).unwrap(), Some((b1.hash(), 1)));
        assert_eq!(store.rebuild_indexes().unwrap(), 2);
    }
}

//! The explorer indexes of the best chain, kept in the sled tree `explorer`
//! under one key prefix each: where each transaction is, which
//! transactions touch each address, and which input spends each output.
//! They are not part of the chain state: the index builder (`indexer.rs`,
//! Bitcoin Core's `BaseIndex`) writes them beside the chain, each step in
//! one `sled::Batch` with its own best-block locator, and rolls them back
//! on a reorg. `reindexutxo` checks and repairs them (`index_rebuild.rs`).
//!
//! Byte layouts of the `explorer` tree (integers big-endian):
//!
//! | key | value |
//! |---|---|
//! | `T` ‖ txid (32) | block hash (32) ‖ position in block (u32) |
//! | `A` ‖ pubkey hash (20) ‖ height (u64) ‖ position (u32) | [`HistoryEntry`]: txid (32) ‖ received (u64) ‖ outputs (u32) ‖ sent (u64) ‖ inputs (u32) |
//! | `S` ‖ outpoint: txid (32) ‖ vout (u32) | spending txid (32) ‖ input index (u32) |
//! | `L` | the locator: block hash (32) ‖ height (u64) of the last block indexed |
//!
//! The readers here ([`ChainStore::tx_location`], [`ChainStore::spender`],
//! [`ChainStore::address_history`], [`ChainStore::address_history_all`])
//! first bring the indexes up to the tip they see
//! ([`ChainStore::follow_indexes`]), so what one reads after a block
//! connected includes it; the HTTP API refuses to wait when the indexes are
//! far behind (`api/`, [`ChainStore::check_indexes`]).

use std::collections::BTreeMap;
use std::ops::Bound;

use sled::IVec;

use super::{ChainStore, StoreError, corrupt, hash_from};
use crate::core::block::Block;
use crate::core::hash::{BlockHash, Hash256, Txid};
use crate::core::tx::{OutPoint, TxOut};

/// Key prefix of the transaction index.
pub(super) const TX: u8 = b'T';
/// Key prefix of the address history.
pub(super) const ADDR: u8 = b'A';
/// Key prefix of the spent-by index.
pub(super) const SPENT: u8 = b'S';

/// One transaction in an address's history, as the index stores it.
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

/// One block's index entries (keys with their prefix, and values): inserted
/// when the block is indexed, removed when it is rolled back.
pub(super) struct IndexDelta {
    /// The entries, transaction index first, then address history and
    /// spent-by entries in block order.
    pub(super) entries: Vec<(Vec<u8>, Vec<u8>)>,
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

/// `prefix` ‖ `rest`.
pub(super) fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

/// A transaction-index value: (block hash, position).
///
/// Errors: [`StoreError::Corrupt`].
pub(super) fn location(v: &[u8]) -> Result<(BlockHash, u32), StoreError> {
    let hash = hash_from(v.get(..32).ok_or_else(|| corrupt("tx index value"))?)?;
    let pos = u32_at(v, 32).ok_or_else(|| corrupt("tx index value"))?;
    Ok((hash, pos))
}

impl IndexDelta {
    /// The entries of `block` at its height, given `undo` (the outputs its
    /// non-coinbase inputs spent, in input order).
    ///
    /// Errors: [`StoreError::Corrupt`] when `undo` has fewer entries than
    /// the block has inputs.
    pub(super) fn of(block: &Block, undo: &[TxOut]) -> Result<IndexDelta, StoreError> {
        let txids: Vec<Txid> = block.transactions.iter().map(|t| t.txid()).collect();
        Self::of_known(block, &block.hash(), &txids, undo)
    }

    /// [`IndexDelta::of`] given the block's `hash` and its transactions'
    /// `txids` (in block order), already computed by the caller
    /// (`reindexutxo`).
    ///
    /// Errors: as [`IndexDelta::of`].
    pub(super) fn of_known(
        block: &Block,
        hash: &BlockHash,
        txids: &[Txid],
        undo: &[TxOut],
    ) -> Result<IndexDelta, StoreError> {
        let mut entries = Vec::new();
        let mut spent = undo.iter();
        for ((pos, tx), txid) in block.transactions.iter().enumerate().zip(txids) {
            let pos = u32::try_from(pos).map_err(|_| corrupt("block too large"))?;
            let txid = *txid;
            let mut loc = hash.as_bytes().to_vec();
            loc.extend_from_slice(&pos.to_be_bytes());
            entries.push((key(TX, txid.as_bytes()), loc));
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
                    entries.push((key(SPENT, &input.prev_out.to_key()), by));
                }
            }
            for (pkh, (recv, outs, sent, ins)) in touched {
                let mut k = key(ADDR, &pkh);
                k.extend_from_slice(&block.height.to_be_bytes());
                k.extend_from_slice(&pos.to_be_bytes());
                let mut v = txid.as_bytes().to_vec();
                v.extend_from_slice(&recv.to_be_bytes());
                v.extend_from_slice(&outs.to_be_bytes());
                v.extend_from_slice(&sent.to_be_bytes());
                v.extend_from_slice(&ins.to_be_bytes());
                entries.push((k, v));
            }
        }
        Ok(IndexDelta { entries })
    }

    /// Adds the entries to `batch`: inserted (`forward`, the block indexed)
    /// or removed (rolled back).
    pub(super) fn apply(&self, forward: bool, batch: &mut sled::Batch) {
        for (k, v) in &self.entries {
            if forward {
                batch.insert(k.as_slice(), v.as_slice());
            } else {
                batch.remove(k.as_slice());
            }
        }
    }
}

impl ChainStore {
    /// The best-chain block holding `txid` and its position in it, from
    /// the transaction index (brought up to the tip first).
    ///
    /// Errors: [`StoreError::Corrupt`] for a malformed entry, [`StoreError::Db`].
    pub fn tx_location(&self, txid: &Txid) -> Result<Option<(BlockHash, u32)>, StoreError> {
        self.follow_indexes()?;
        self.explorer
            .get(key(TX, txid.as_bytes()))?
            .map(|v| location(&v))
            .transpose()
    }

    /// The best-chain transaction whose input spends `op`, and that input's
    /// index, from the spent-by index (brought up to the tip first).
    ///
    /// Errors: [`StoreError::Corrupt`] for a malformed entry, [`StoreError::Db`].
    pub fn spender(&self, op: &OutPoint) -> Result<Option<(Txid, u32)>, StoreError> {
        self.follow_indexes()?;
        let Some(v) = self.explorer.get(key(SPENT, &op.to_key()))? else {
            return Ok(None);
        };
        let txid = hash_at(&v, 0).ok_or_else(|| corrupt("spent-by value"))?;
        let vin = u32_at(&v, 32).ok_or_else(|| corrupt("spent-by value"))?;
        Ok(Some((Txid(txid), vin)))
    }

    /// Up to `limit` best-chain transactions touching `pubkey_hash`, newest
    /// first, strictly older than `before` (height, position) when given: a
    /// reverse prefix scan of the address history (brought up to the tip
    /// first).
    ///
    /// Errors: [`StoreError::Corrupt`] for a malformed entry, [`StoreError::Db`].
    pub fn address_history(
        &self,
        pubkey_hash: &[u8; 20],
        before: Option<(u64, u32)>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.follow_indexes()?;
        let start = key(ADDR, pubkey_hash);
        let mut end = start.clone();
        match before {
            Some((h, p)) => {
                end.extend_from_slice(&h.to_be_bytes());
                end.extend_from_slice(&p.to_be_bytes());
            }
            None => end.extend_from_slice(&[0xff; 12]),
        }
        let range = self.explorer.range::<&[u8], _>((
            Bound::Included(start.as_slice()),
            Bound::Excluded(end.as_slice()),
        ));
        let mut out = Vec::new();
        for kv in range.rev().take(limit) {
            let (k, v) = kv?;
            out.push(history_entry(&k, &v)?);
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
        self.follow_indexes()?;
        let mut out = Vec::new();
        for kv in self.explorer.scan_prefix(key(ADDR, pubkey_hash)) {
            let (k, v) = kv?;
            out.push(history_entry(&k, &v)?);
        }
        Ok(out)
    }
}

/// An address-history entry from its key and value.
///
/// Errors: [`StoreError::Corrupt`].
fn history_entry(k: &IVec, v: &IVec) -> Result<HistoryEntry, StoreError> {
    let k = k.get(1..).unwrap_or_default();
    let e = || -> Option<HistoryEntry> {
        Some(HistoryEntry {
            height: u64_at(k, 20)?,
            position: u32_at(k, 28)?,
            txid: Txid(hash_at(v, 0)?),
            received: u64_at(v, 32)?,
            outputs: u32_at(v, 40)?,
            sent: u64_at(v, 44)?,
            inputs: u32_at(v, 52)?,
        })
    };
    e().ok_or_else(|| corrupt("address history entry"))
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
        store.explorer.clear().unwrap();
        assert_eq!(store.rebuild_indexes().unwrap(), 2);
        assert_eq!(store.address_history_all(&A).unwrap(), before);
        let pay = b1.transactions[1].txid();
        assert_eq!(store.tx_location(&pay).unwrap(), Some((b1.hash(), 1)));
        assert_eq!(store.indexed_height().unwrap(), Some(1));
    }
}

//! Fixtures shared by the benchmarks: a store holding a genesis block whose
//! coinbase pays many outputs to one key, and a block of 2-in-2-out
//! transactions spending them.

#![allow(dead_code)]

use std::sync::atomic::AtomicBool;

use p256::ecdsa::SigningKey;
use sledchain::core::block::{Block, solve_header};
use sledchain::core::hash::BlockHash;
use sledchain::core::tx::{OutPoint, Transaction, TxIn, TxOut, pubkey_bytes, pubkey_hash};
use sledchain::store::ChainStore;

/// Difficulty of the fixture chain: low so solving is instant.
pub const BITS: u32 = 4;

/// A deterministic signing key.
pub fn key(seed: u8) -> SigningKey {
    let mut b = [7u8; 32];
    b[0] = seed.max(1);
    SigningKey::from_slice(&b).expect("valid scalar")
}

/// Owner hash of `key`.
pub fn owner(key: &SigningKey) -> [u8; 20] {
    pubkey_hash(&pubkey_bytes(key.verifying_key()))
}

/// Genesis whose coinbase pays `outputs` outputs to `to`: the first 20 of
/// one coin each (the subsidy), the rest of value 0.
pub fn genesis(to: [u8; 20], outputs: usize) -> Block {
    let mut g = Block::template(BlockHash::ZERO, 0, BITS, 1_700_000_000, to, 20, vec![]);
    let cb = &mut g.transactions[0];
    cb.outputs = (0..outputs)
        .map(|i| TxOut {
            value: u64::from(i < 20),
            pubkey_hash: to,
        })
        .collect();
    g.header.merkle_root = g.compute_merkle_root();
    solve_header(&mut g.header, 1, &AtomicBool::new(false));
    g
}

/// A block on `genesis` with `ntx` signed 2-in-2-out transactions spending
/// the genesis coinbase outputs pairwise (needs `2 * ntx` outputs).
pub fn spending_block(genesis: &Block, key: &SigningKey, ntx: usize) -> Block {
    let cb = &genesis.transactions[0];
    let cbid = cb.txid();
    let me = owner(key);
    let mut txs = Vec::with_capacity(ntx);
    for t in 0..ntx {
        let ins = [2 * t as u32, 2 * t as u32 + 1];
        let spent: Vec<TxOut> = ins.iter().map(|v| cb.outputs[*v as usize]).collect();
        let total: u64 = spent.iter().map(|o| o.value).sum();
        let mut tx = Transaction {
            version: 1,
            inputs: ins
                .iter()
                .map(|v| {
                    TxIn::unsigned(OutPoint {
                        txid: cbid,
                        vout: *v,
                    })
                })
                .collect(),
            outputs: vec![
                TxOut {
                    value: total / 2,
                    pubkey_hash: me,
                },
                TxOut {
                    value: total - total / 2,
                    pubkey_hash: me,
                },
            ],
            coinbase_height: 0,
        };
        for (i, s) in spent.iter().enumerate() {
            tx.sign_input(i, s, key).expect("sign");
        }
        txs.push(tx);
    }
    let mut b = Block::template(genesis.hash(), 1, BITS, 1_700_000_001, me, 20, txs);
    solve_header(&mut b.header, 1, &AtomicBool::new(false));
    b
}

/// A fresh store in `dir` holding `genesis`.
pub fn store_with(dir: &std::path::Path, genesis: &Block) -> ChainStore {
    let s = ChainStore::open(&dir.join("chain"), 64 << 20).expect("open store");
    s.init_genesis(genesis).expect("genesis");
    s
}

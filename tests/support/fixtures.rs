//! Fixtures that need no process: deterministic keys, an in-memory UTXO
//! set, signed transactions and blocks mined at low difficulty (the rule
//! and store tests, the hostile peers' chains, the benchmarks' blocks).

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use p256::ecdsa::SigningKey;
use sledchain::core::block::{Block, solve_header};
use sledchain::core::hash::{BlockHash, Txid, hash160, sha256d};
use sledchain::core::params::{TX_VERSION, now_secs};
use sledchain::core::tx::{OutPoint, Transaction, TxIn, TxOut, pubkey_bytes};
use sledchain::core::validation::ParentInfo;
use sledchain::core::view::UtxoView;
use sledchain::store::ChainStore;

/// Difficulty used by every test block, in leading zero bits (1 in 16 hashes).
pub const BITS: u32 = 4;

/// A fixed key from a non-zero seed byte.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).expect("seed gives a valid scalar")
}

/// The pubkey hash (address payload) of `key`.
pub fn owner(key: &SigningKey) -> [u8; 20] {
    hash160(&pubkey_bytes(key.verifying_key()))
}

/// An output of `value` coins to `key`.
pub fn pay(key: &SigningKey, value: u64) -> TxOut {
    TxOut {
        value,
        pubkey_hash: owner(key),
    }
}

/// The in-test UTXO set.
#[derive(Default, Clone)]
pub struct Utxos {
    pub map: HashMap<OutPoint, TxOut>,
    next: u64,
}

impl Utxos {
    /// Adds an output of `value` owned by `key` under a fresh outpoint.
    pub fn fund(&mut self, key: &SigningKey, value: u64) -> OutPoint {
        self.fund_out(pay(key, value))
    }

    /// Adds `out` under a fresh outpoint.
    pub fn fund_out(&mut self, out: TxOut) -> OutPoint {
        self.next += 1;
        let op = OutPoint {
            txid: Txid(sha256d(&self.next.to_le_bytes())),
            vout: 0,
        };
        self.map.insert(op, out);
        op
    }

    /// The view `check_transaction` and `check_tx_inputs` take for `tx`.
    pub fn view(&self, tx: &Transaction) -> UtxoView {
        UtxoView::for_tx(tx, &self.map).unwrap_or_else(|e| match e {})
    }

    /// The view `check_block_context` takes for `block`.
    pub fn block_view(&self, block: &Block) -> UtxoView {
        UtxoView::for_block(block, &self.map).unwrap_or_else(|e| match e {})
    }

    /// Applies a valid block: removes spent outputs, adds created ones.
    pub fn connect(&mut self, block: &Block) {
        for tx in &block.transactions {
            if !tx.is_coinbase() {
                for i in &tx.inputs {
                    self.map.remove(&i.prev_out);
                }
            }
            add_outputs(&mut self.map, tx);
        }
    }
}

/// Inserts every output of `tx` into `map`.
pub fn add_outputs(map: &mut HashMap<OutPoint, TxOut>, tx: &Transaction) {
    let txid = tx.txid();
    for (vout, out) in tx.outputs.iter().enumerate() {
        map.insert(
            OutPoint {
                txid,
                vout: vout as u32,
            },
            *out,
        );
    }
}

/// An unsigned transaction spending `inputs` into `outputs`.
pub fn unsigned(inputs: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: TX_VERSION,
        inputs: inputs.iter().copied().map(TxIn::unsigned).collect(),
        outputs,
        coinbase_height: 0,
    }
}

/// A transaction spending each `(outpoint, spent output, key)` and signed by
/// that key.
pub fn signed(inputs: &[(OutPoint, TxOut, &SigningKey)], outputs: Vec<TxOut>) -> Transaction {
    let ops: Vec<OutPoint> = inputs.iter().map(|(op, _, _)| *op).collect();
    let mut tx = unsigned(&ops, outputs);
    for (i, (_, spent, k)) in inputs.iter().enumerate() {
        tx.sign_input(i, spent, k).expect("input exists");
    }
    tx
}

/// A transaction spending `op` (looked up in `utxos`, owned by `key`).
pub fn spend(utxos: &Utxos, op: OutPoint, key: &SigningKey, outputs: Vec<TxOut>) -> Transaction {
    let spent = utxos.map[&op];
    signed(&[(op, spent, key)], outputs)
}

/// The outpoint of output `vout` of `tx`.
pub fn out(tx: &Transaction, vout: u32) -> OutPoint {
    OutPoint {
        txid: tx.txid(),
        vout,
    }
}

/// The parent every test block builds on: height 0.
pub fn parent() -> ParentInfo {
    ParentInfo {
        hash: BlockHash(sha256d(b"parent")),
        height: 0,
    }
}

/// Current time as a header timestamp.
pub fn now32() -> u32 {
    u32::try_from(now_secs()).expect("clock fits u32")
}

/// Sets the nonce so the header meets its target.
pub fn solve(block: &mut Block) {
    assert!(solve_header(&mut block.header, 1, &AtomicBool::new(false)));
    assert!(block.header.meets_target());
}

/// Recomputes the merkle root from the transactions and solves again.
pub fn remerkle(block: &mut Block) {
    block.header.merkle_root = block.compute_merkle_root();
    solve(block);
}

/// A mined block at height 1 on [`parent`]: a coinbase paying `reward` to
/// key 100, then `txs`.
pub fn mine(reward: u64, txs: Vec<Transaction>) -> Block {
    let p = parent();
    let mut b = Block::template(
        p.hash,
        p.height + 1,
        BITS,
        now32(),
        owner(&key(100)),
        reward,
        txs,
    );
    solve(&mut b);
    b
}

/// Genesis whose coinbase pays `outputs` outputs to `to`: the first 20 of
/// one coin each (the subsidy), the rest of value 0.
pub fn genesis_paying(to: [u8; 20], outputs: usize) -> Block {
    let mut g = Block::template(BlockHash::ZERO, 0, BITS, 1_700_000_000, to, 20, vec![]);
    let cb = &mut g.transactions[0];
    cb.outputs = (0..outputs)
        .map(|i| TxOut {
            value: u64::from(i < 20),
            pubkey_hash: to,
        })
        .collect();
    remerkle(&mut g);
    g
}

/// A block on `genesis` with `ntx` signed 2-in-2-out transactions spending
/// the genesis coinbase outputs pairwise (needs `2 * ntx` outputs).
pub fn spending_block(genesis: &Block, key: &SigningKey, ntx: usize) -> Block {
    let cb = &genesis.transactions[0];
    let me = owner(key);
    let txs = (0..ntx as u32)
        .map(|t| {
            let ins = [out(cb, 2 * t), out(cb, 2 * t + 1)];
            let spent = [cb.outputs[2 * t as usize], cb.outputs[2 * t as usize + 1]];
            let total: u64 = spent.iter().map(|o| o.value).sum();
            let outputs = vec![
                TxOut {
                    value: total / 2,
                    pubkey_hash: me,
                },
                TxOut {
                    value: total - total / 2,
                    pubkey_hash: me,
                },
            ];
            signed(&[(ins[0], spent[0], key), (ins[1], spent[1], key)], outputs)
        })
        .collect();
    let mut b = Block::template(genesis.hash(), 1, BITS, 1_700_000_001, me, 20, txs);
    solve(&mut b);
    b
}

/// A fresh store in `DIR/chain` (64 MiB cache) holding `genesis`.
pub fn store_with(dir: &std::path::Path, genesis: &Block) -> ChainStore {
    let s = ChainStore::open(&dir.join("chain"), 64 << 20).expect("open store");
    s.init_genesis(genesis).expect("genesis");
    s
}

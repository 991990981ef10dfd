//! Mempool policy: standard size, ancestor and descendant limits, the byte
//! bound with fee-rate eviction, expiry, and block selection.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use p256::ecdsa::SigningKey;

use super::*;
use crate::chain::miner::{self, TEMPLATE_RESERVE};
use crate::chain::{Chain, ChainEvent, ChainState};
use crate::core::block::{Block, solve_header};
use crate::core::hash::{BlockHash, hash160};
use crate::core::params::{MAX_BLOCK_SIZE, SUBSIDY};
use crate::core::tx::{TxIn, pubkey_bytes};

const T0: u64 = 1_700_000_000;

struct Fx {
    store: ChainStore,
    state: ChainState,
    cache: Arc<SigCache>,
    key: SigningKey,
    me: [u8; 20],
    /// Confirmed coins of 1 coin each.
    coins: Vec<(OutPoint, TxOut)>,
}

fn solved(mut b: Block) -> Block {
    solve_header(&mut b.header, 1, &AtomicBool::new(false));
    b
}

/// Signs a transaction spending `inputs` into `outputs`.
fn spend(key: &SigningKey, inputs: &[(OutPoint, TxOut)], outputs: Vec<TxOut>) -> Transaction {
    let mut tx = Transaction {
        version: 1,
        inputs: inputs.iter().map(|(op, _)| TxIn::unsigned(*op)).collect(),
        outputs,
        coinbase_height: 0,
    };
    for (i, (_, out)) in inputs.iter().enumerate() {
        tx.sign_input(i, out, key).expect("input exists");
    }
    tx
}

/// A store with a genesis block and a block splitting its coinbase into
/// 20 coins of 1.
fn fixture() -> Fx {
    let key = SigningKey::from_slice(&[7u8; 32]).expect("valid scalar");
    let me = hash160(&pubkey_bytes(key.verifying_key()));
    let g = solved(Block::template(
        BlockHash::ZERO,
        0,
        1,
        T0 as u32,
        me,
        SUBSIDY,
        vec![],
    ));
    let store = ChainStore::temporary().expect("temporary store");
    store.init_genesis(&g).expect("genesis");
    let cache = Arc::new(SigCache::new(10_000));
    let state = ChainState::new(store.clone(), cache.clone()).expect("state");
    let cb = (
        OutPoint {
            txid: g.transactions[0].txid(),
            vout: 0,
        },
        TxOut {
            value: SUBSIDY,
            pubkey_hash: me,
        },
    );
    let split = spend(
        &key,
        &[cb],
        vec![
            TxOut {
                value: 1,
                pubkey_hash: me
            };
            20
        ],
    );
    let coins = split.created_outputs(split.txid()).collect();
    let b1 = solved(Block::template(
        g.hash(),
        1,
        1,
        T0 as u32 + 1,
        me,
        SUBSIDY,
        vec![split],
    ));
    state.accept_block(&b1, T0 + 1).expect("block 1 connects");
    Fx {
        store,
        state,
        cache,
        key,
        me,
        coins,
    }
}

impl Fx {
    /// Spends `coin` paying `fee`, padded with zero-value outputs to at
    /// most `size` bytes (at least one output).
    fn padded(&self, coin: (OutPoint, TxOut), fee: u64, size: u64) -> Transaction {
        let n = (size.saturating_sub(193) / 28).max(1) as usize;
        let mut outputs = vec![
            TxOut {
                value: 0,
                pubkey_hash: self.me
            };
            n
        ];
        outputs[0].value = coin.1.value - fee;
        spend(&self.key, &[coin], outputs)
    }

    fn accept(
        &self,
        m: &mut Mempool,
        tx: &Transaction,
        now: u64,
    ) -> Result<Accepted, MempoolError> {
        m.accept(tx.clone(), &self.store, &self.cache, now)
    }
}

/// Output `vout` of `tx` as a coin.
fn out(tx: &Transaction, vout: u32) -> (OutPoint, TxOut) {
    (
        OutPoint {
            txid: tx.txid(),
            vout,
        },
        tx.outputs[vout as usize],
    )
}

fn small_pool() -> Mempool {
    Mempool::with_limits(MempoolLimits {
        max_bytes: 0,
        expiry_secs: 3600,
    })
}

#[test]
fn padding_gives_the_size_asked() {
    let fx = fixture();
    assert_eq!(
        encoded_len(&fx.padded(fx.coins[0], 0, 193 + 28 * 10)),
        193 + 28 * 10
    );
}

#[test]
fn a_transaction_over_the_standard_size_is_refused() {
    let fx = fixture();
    let mut m = Mempool::new();
    let big = fx.padded(fx.coins[0], 0, MAX_STANDARD_TX_SIZE + 28);
    assert!(matches!(
        fx.accept(&mut m, &big, T0),
        Err(MempoolError::NonStandardSize(_))
    ));
    let max = fx.padded(fx.coins[0], 0, MAX_STANDARD_TX_SIZE);
    assert!(fx.accept(&mut m, &max, T0).is_ok());
}

#[test]
fn a_maximal_standard_transaction_and_its_coinbase_fit_a_block() {
    let fx = fixture();
    let mut m = Mempool::new();
    let max = fx.padded(fx.coins[0], 1, MAX_STANDARD_TX_SIZE);
    assert!(MAX_STANDARD_TX_SIZE - encoded_len(&max) < 28);
    fx.accept(&mut m, &max, T0).expect("accepted");
    let block = solved(miner::template(&fx.state, &m, fx.me, T0 as u32 + 2).expect("template"));
    assert_eq!(block.transactions.len(), 2);
    assert!(block.encoded_size() <= MAX_BLOCK_SIZE);
    fx.state
        .accept_block(&block, T0 + 2)
        .expect("the block is valid");
    // Nine more maximal transactions still fit in one template.
    let mut m = Mempool::new();
    for c in &fx.coins[1..11] {
        fx.accept(&mut m, &fx.padded(*c, 0, MAX_STANDARD_TX_SIZE), T0)
            .expect("accepted");
    }
    let (txs, _) = m.select(MAX_BLOCK_SIZE - TEMPLATE_RESERVE);
    assert_eq!(txs.len(), 9);
}

#[test]
fn a_full_mempool_evicts_the_lowest_fee_rate_package() {
    let fx = fixture();
    let mut m = small_pool();
    let paying = fx.padded(fx.coins[0], 1, 40_000);
    let zero = fx.padded(fx.coins[1], 0, 30_000);
    let zero_child = fx.padded(out(&zero, 0), 0, 10_000);
    for t in [&paying, &zero, &zero_child] {
        assert!(fx.accept(&mut m, t, T0).expect("room").evicted.is_empty());
    }
    // 1 coin over 35 kB needs 14 kB: both zero-fee transactions leave
    // (newest first among equal rates), the 1-coin-over-40-kB one stays.
    let better = fx.padded(fx.coins[2], 1, 35_000);
    let a = fx.accept(&mut m, &better, T0).expect("evicts");
    assert_eq!(a.evicted, vec![zero_child.txid(), zero.txid()]);
    assert!(m.contains(&paying.txid()) && m.contains(&better.txid()));
    assert!(m.bytes() <= m.limits().max_bytes);
    assert_eq!(m.bytes(), encoded_len(&paying) + encoded_len(&better));
}

#[test]
fn a_newcomer_that_does_not_beat_the_lowest_rate_is_refused() {
    let fx = fixture();
    let mut m = small_pool();
    let first = fx.padded(fx.coins[0], 1, 50_000);
    fx.accept(&mut m, &first, T0).expect("room");
    fx.accept(&mut m, &fx.padded(fx.coins[1], 1, 50_000), T0)
        .expect("room");
    let lowest = FeeRate::new(1, encoded_len(&first));
    let before = (m.len(), m.bytes(), m.txids());
    for (fee, size) in [(0, 10_000), (1, 60_000), (1, 50_000)] {
        let tx = fx.padded(fx.coins[2], fee, size);
        match fx.accept(&mut m, &tx, T0) {
            Err(MempoolError::Full { needed }) => assert_eq!(needed, lowest),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!((m.len(), m.bytes(), m.txids()), before);
    }
    // Zero-fee payments are fine while there is room.
    let mut roomy = Mempool::new();
    assert!(
        fx.accept(&mut roomy, &fx.padded(fx.coins[2], 0, 300), T0)
            .is_ok()
    );
}

#[test]
fn eviction_never_takes_the_newcomers_ancestors() {
    let fx = fixture();
    let mut m = small_pool();
    let parent = fx.padded(fx.coins[0], 0, 50_000);
    let other = fx.padded(fx.coins[1], 0, 50_000);
    fx.accept(&mut m, &parent, T0).expect("room");
    fx.accept(&mut m, &other, T0).expect("room");
    let child = fx.padded(out(&parent, 0), 1, 2_000);
    let a = fx
        .accept(&mut m, &child, T0)
        .expect("evicts the other package");
    assert_eq!(a.evicted, vec![other.txid()]);
    assert!(m.contains(&parent.txid()));
}

#[test]
fn unconfirmed_chains_are_limited_in_ancestors() {
    let fx = fixture();
    let mut m = Mempool::new();
    let mut coin = fx.coins[0];
    for _ in 0..MAX_ANCESTORS {
        let tx = fx.padded(coin, 0, 300);
        fx.accept(&mut m, &tx, T0).expect("within the limit");
        coin = out(&tx, 0);
    }
    let tx = fx.padded(coin, 0, 300);
    match fx.accept(&mut m, &tx, T0) {
        Err(MempoolError::TooManyAncestors { count, .. }) => assert_eq!(count, MAX_ANCESTORS + 1),
        other => panic!("expected TooManyAncestors, got {other:?}"),
    }
    // And in ancestor bytes: 60 kB + 50 kB > 101 kB.
    let big = fx.padded(fx.coins[1], 0, 60_000);
    fx.accept(&mut m, &big, T0).expect("accepted");
    let child = fx.padded(out(&big, 0), 0, 50_000);
    assert!(matches!(
        fx.accept(&mut m, &child, T0),
        Err(MempoolError::TooManyAncestors { count: 2, .. })
    ));
}

#[test]
fn unconfirmed_chains_are_limited_in_descendants() {
    let fx = fixture();
    let mut m = Mempool::new();
    let parent = fx.padded(fx.coins[0], 0, 193 + 28 * 30);
    fx.accept(&mut m, &parent, T0).expect("accepted");
    for vout in 1..MAX_DESCENDANTS as u32 {
        fx.accept(&mut m, &fx.padded(out(&parent, vout), 0, 300), T0)
            .expect("within");
    }
    let one_more = fx.padded(out(&parent, MAX_DESCENDANTS as u32), 0, 300);
    match fx.accept(&mut m, &one_more, T0) {
        Err(MempoolError::TooManyDescendants { ancestor }) => assert_eq!(ancestor, parent.txid()),
        other => panic!("expected TooManyDescendants, got {other:?}"),
    }
}

#[test]
fn entries_expire_with_their_descendants_and_the_chain_reports_it() {
    let fx = fixture();
    let (mut chain, _) = Chain::open(fx.store.clone(), fx.cache.clone()).expect("open");
    let expiry = chain.mempool().limits().expiry_secs;
    let old = fx.padded(fx.coins[0], 0, 300);
    let child = fx.padded(out(&old, 0), 0, 300);
    let young = fx.padded(fx.coins[1], 0, 300);
    chain.accept_tx(old.clone(), None, T0);
    chain.accept_tx(child.clone(), None, T0 + 100);
    chain.accept_tx(young.clone(), None, T0 + 200);
    assert_eq!(chain.mempool().len(), 3);
    assert!(chain.expire_mempool(T0 + expiry - 1).is_empty());
    // The sweep runs before each new transaction.
    let late = fx.padded(fx.coins[2], 0, 300);
    let events = chain.accept_tx(late.clone(), None, T0 + expiry);
    let removed: Vec<Txid> = events
        .iter()
        .filter_map(|e| match e {
            ChainEvent::TxRemoved { txid } => Some(*txid),
            _ => None,
        })
        .collect();
    assert_eq!(removed, vec![child.txid(), old.txid()]);
    assert!(matches!(events.last(), Some(ChainEvent::TxAccepted { .. })));
    assert_eq!(chain.mempool().txids(), vec![young.txid(), late.txid()]);
}

#[test]
fn selection_takes_the_best_packages_parents_first() {
    let fx = fixture();
    let mut m = Mempool::new();
    let zero = fx.padded(fx.coins[0], 0, 300);
    let low = fx.padded(fx.coins[1], 1, 5_000);
    let parent = fx.padded(fx.coins[2], 0, 400);
    let child = fx.padded(out(&parent, 0), 1, 400); // the child pays for both
    let best = fx.padded(fx.coins[3], 1, 300);
    for t in [&zero, &low, &parent, &child, &best] {
        fx.accept(&mut m, t, T0).expect("accepted");
    }
    let ids = |txs: Vec<Transaction>| txs.iter().map(Transaction::txid).collect::<Vec<_>>();
    let (txs, fees) = m.select(MAX_BLOCK_SIZE);
    assert_eq!(fees, 3);
    assert_eq!(
        ids(txs),
        vec![
            best.txid(),
            parent.txid(),
            child.txid(),
            low.txid(),
            zero.txid()
        ]
    );
    // With room for 1,400 bytes, the 5 kB transaction is skipped.
    let (txs, _) = m.select(1_400);
    assert_eq!(
        ids(txs),
        vec![best.txid(), parent.txid(), child.txid(), zero.txid()]
    );
}

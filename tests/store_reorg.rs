//! Reorgs on a real sled store: a branch that would win is validated
//! against the UTXO set as of the fork point before the best chain is
//! touched, equal-work tips go to the lower hash, and a restart after a
//! reorg cut short onto an invalid branch ends on the most-work valid chain.

mod support;

use std::path::Path;
use std::sync::Arc;

use p256::ecdsa::SigningKey;
use sledchain::app::query::checkchain_text;
use sledchain::chain::{BlockOutcome, Chain, ChainError, ChainEvent, ChainState};
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Txid, sha256d};
use sledchain::core::params::{SUBSIDY, now_secs};
use sledchain::core::tx::{OutPoint, Transaction};
use sledchain::core::validation::SigCache;
use sledchain::store::{BlockStatus, ChainStore};
use support::{BITS, key, owner, pay, signed, solve};
use tempfile::TempDir;

const T0: u32 = 1_700_000_000;

/// A solved block on `prev` at `height` paying `reward` to `miner`, at
/// timestamp `T0 + height + 1000 * dt`.
fn block_at(
    prev: BlockHash,
    height: u64,
    miner: &SigningKey,
    reward: u64,
    txs: Vec<Transaction>,
    dt: u32,
) -> Block {
    let t = T0 + height as u32 + 1000 * dt;
    let mut b = Block::template(prev, height, BITS, t, owner(miner), reward, txs);
    solve(&mut b);
    b
}

fn block(prev: BlockHash, height: u64, miner: &SigningKey, txs: Vec<Transaction>) -> Block {
    block_at(prev, height, miner, SUBSIDY, txs, 0)
}

/// Like [`block`], at later timestamps until its hash is above `than`: it
/// loses a tie of equal work with `than`.
fn block_losing_tie(
    prev: BlockHash,
    height: u64,
    miner: &SigningKey,
    txs: Vec<Transaction>,
    than: BlockHash,
) -> Block {
    (0u32..)
        .map(|dt| block_at(prev, height, miner, SUBSIDY, txs.clone(), dt))
        .find(|b| b.hash() > than)
        .expect("some timestamp gives a higher hash")
}

/// The genesis coinbase's output.
fn coin(genesis: &Block) -> OutPoint {
    OutPoint {
        txid: genesis.transactions[0].txid(),
        vout: 0,
    }
}

/// A transaction spending an output that never existed.
fn ghost_spend() -> Transaction {
    let ghost = OutPoint {
        txid: Txid(sha256d(b"ghost")),
        vout: 0,
    };
    signed(
        &[(ghost, pay(&key(3), 50), &key(3))],
        vec![pay(&key(3), 50)],
    )
}

/// Genesis (paying key 1) in a store at `dir/chain`.
fn new_store(dir: &Path) -> (ChainStore, Block) {
    let store = ChainStore::open(&dir.join("chain"), 8 << 20).expect("open store");
    let genesis = block(BlockHash::ZERO, 0, &key(1), vec![]);
    store.init_genesis(&genesis).expect("genesis");
    (store, genesis)
}

fn state(store: &ChainStore) -> ChainState {
    ChainState::new(store.clone(), Arc::new(SigCache::new(10_000))).expect("state")
}

fn accept(chain: &ChainState, b: &Block) -> Result<BlockOutcome, ChainError> {
    chain.accept_block(b, now_secs())
}

fn status(store: &ChainStore, b: &Block) -> BlockStatus {
    store
        .block_meta(&b.hash())
        .expect("read")
        .expect("indexed")
        .status
}

/// Branch A on genesis: a1 spends the genesis coin to key 2, then `len - 1`
/// empty blocks.
fn branch_a(genesis: &Block, len: u64) -> Vec<Block> {
    let g = coin(genesis);
    let spend = signed(
        &[(g, genesis.transactions[0].outputs[0], &key(1))],
        vec![pay(&key(2), 20)],
    );
    let mut a = vec![block(genesis.hash(), 1, &key(2), vec![spend])];
    for h in 2..=len {
        a.push(block(a[a.len() - 1].hash(), h, &key(2), vec![]));
    }
    a
}

/// b1 on genesis spends the genesis coin to key 3 (valid only against the
/// UTXO set as of genesis: branch A spent that coin).
fn b1_on(genesis: &Block) -> Block {
    let g = coin(genesis);
    let spend = signed(
        &[(g, genesis.transactions[0].outputs[0], &key(1))],
        vec![pay(&key(3), 19)],
    );
    block_at(genesis.hash(), 1, &key(3), SUBSIDY + 1, vec![spend], 0)
}

#[test]
fn an_invalid_block_on_a_heavier_side_branch_never_disconnects_the_best_chain() {
    let dir = TempDir::new().expect("tempdir");
    let (store, genesis) = new_store(dir.path());
    let chain = state(&store);
    let a = branch_a(&genesis, 3);
    for b in &a {
        assert!(matches!(accept(&chain, b), Ok(BlockOutcome::Connected(_))));
    }
    let tip = store.tip().expect("tip");
    let utxos = store.utxo_snapshot().expect("utxos");
    // B: b1 (valid), b2, b3 invalid (ties the tip and loses), b4, b5.
    let b1 = b1_on(&genesis);
    let b2 = block(b1.hash(), 2, &key(3), vec![]);
    let b3 = block_losing_tie(b2.hash(), 3, &key(3), vec![ghost_spend()], a[2].hash());
    let b4 = block(b3.hash(), 4, &key(3), vec![]);
    let b5 = block(b4.hash(), 5, &key(3), vec![]);
    for b in [&b1, &b2, &b3] {
        assert!(matches!(accept(&chain, b), Ok(BlockOutcome::SideBranch)));
    }
    match accept(&chain, &b4) {
        Err(ChainError::Invalid { hash, .. }) => assert_eq!(hash, b3.hash()),
        other => panic!("expected b3 found invalid, got {other:?}"),
    }
    assert_eq!(store.disconnects(), 0, "the best chain was disconnected");
    assert_eq!(store.tip().expect("tip"), tip);
    for (h, b) in a.iter().enumerate() {
        assert_eq!(store.hash_at(h as u64 + 1).expect("read"), Some(b.hash()));
    }
    assert_eq!(store.utxo_snapshot().expect("utxos"), utxos);
    assert_eq!(status(&store, &b1), BlockStatus::Stored);
    assert_eq!(status(&store, &b2), BlockStatus::Stored);
    assert_eq!(status(&store, &b3), BlockStatus::Invalid);
    assert_eq!(status(&store, &b4), BlockStatus::Invalid);
    assert!(matches!(
        accept(&chain, &b5),
        Err(ChainError::InvalidParent { parent, .. }) if parent == b4.hash()
    ));
    assert_eq!(store.disconnects(), 0);
    assert_eq!(checkchain_text(&store).expect("checkchain"), "OK");
}

#[test]
fn a_valid_heavier_branch_is_validated_from_the_fork_point_then_switched_to() {
    let dir = TempDir::new().expect("tempdir");
    let (store, genesis) = new_store(dir.path());
    let chain = state(&store);
    let a = branch_a(&genesis, 2);
    for b in &a {
        accept(&chain, b).expect("connect");
    }
    let b1 = b1_on(&genesis);
    let b2 = block_losing_tie(b1.hash(), 2, &key(3), vec![], a[1].hash());
    let b3 = block(b2.hash(), 3, &key(3), vec![]);
    assert!(matches!(accept(&chain, &b1), Ok(BlockOutcome::SideBranch)));
    assert!(matches!(accept(&chain, &b2), Ok(BlockOutcome::SideBranch)));
    match accept(&chain, &b3) {
        Ok(BlockOutcome::Reorged {
            disconnected,
            connected,
            tip,
        }) => {
            assert_eq!(disconnected.len(), 2);
            assert_eq!(connected.len(), 3);
            assert_eq!(tip.hash, b3.hash());
        }
        other => panic!("expected a reorg, got {other:?}"),
    }
    assert_eq!(store.disconnects(), 2);
    assert_eq!(
        store.utxo_snapshot().expect("utxos"),
        store.compute_utxo_set().expect("computed")
    );
    assert_eq!(store.balance(&owner(&key(2))).expect("balance"), 0);
    for b in [&b1, &b2, &b3] {
        assert_eq!(status(&store, b), BlockStatus::Valid);
    }
    assert_eq!(checkchain_text(&store).expect("checkchain"), "OK");
}

#[test]
fn equal_work_goes_to_the_lower_tip_hash_whatever_the_order_of_arrival() {
    let dir = TempDir::new().expect("tempdir");
    let (x, genesis) = new_store(&dir.path().join("x"));
    let (y, _) = new_store(&dir.path().join("y"));
    let a1 = branch_a(&genesis, 1).remove(0);
    let b1 = b1_on(&genesis);
    let (low, high) = if a1.hash() < b1.hash() {
        (&a1, &b1)
    } else {
        (&b1, &a1)
    };
    // X sees the higher hash first: the lower one, equal work, wins at once.
    let cx = state(&x);
    assert!(matches!(accept(&cx, high), Ok(BlockOutcome::Connected(_))));
    match accept(&cx, low) {
        Ok(BlockOutcome::Reorged { tip, .. }) => assert_eq!(tip.hash, low.hash()),
        other => panic!("expected a reorg to the lower hash, got {other:?}"),
    }
    // Y sees the lower hash first and keeps it.
    let cy = state(&y);
    assert!(matches!(accept(&cy, low), Ok(BlockOutcome::Connected(_))));
    assert!(matches!(accept(&cy, high), Ok(BlockOutcome::SideBranch)));
    assert_eq!(x.tip().expect("tip"), y.tip().expect("tip"));
    assert_eq!(
        x.utxo_snapshot().expect("utxos"),
        y.utxo_snapshot().expect("utxos")
    );
    // An equal-work tie two blocks deep resolves the same way.
    let a2 = block(a1.hash(), 2, &key(2), vec![]);
    let b2 = block(b1.hash(), 2, &key(3), vec![]);
    for (chain, first, second) in [(&cx, &a2, &b2), (&cy, &b2, &a2)] {
        accept(chain, first).expect("accept");
        accept(chain, second).expect("accept");
    }
    let want = a2.hash().min(b2.hash());
    assert_eq!(x.tip().expect("tip").hash, want);
    assert_eq!(y.tip().expect("tip").hash, want);
    assert_eq!(checkchain_text(&x).expect("checkchain"), "OK");
    assert_eq!(checkchain_text(&y).expect("checkchain"), "OK");
}

/// Reopens the store at `dir` as a restarted node does.
fn restart(dir: &Path) -> (ChainStore, Vec<ChainEvent>) {
    let store = ChainStore::open(&dir.join("chain"), 8 << 20).expect("reopen");
    let (chain, events) =
        Chain::open(store.clone(), Arc::new(SigCache::new(10_000))).expect("open");
    drop(chain);
    (store, events)
}

fn invalid_reported(events: &[ChainEvent], hash: BlockHash) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ChainEvent::InvalidBlock { hash: h, from: None, .. } if *h == hash))
}

#[test]
fn a_restart_after_a_reorg_cut_short_onto_an_invalid_branch_returns_to_the_valid_chain() {
    // The store as a kill in the middle of an unchecked reorg leaves it:
    // A (a1, a2) disconnected back to genesis, b1 connected, the heavier
    // branch b2 (invalid), b3 stored but not connected.
    let dir = TempDir::new().expect("tempdir");
    let (store, genesis) = new_store(dir.path());
    let a = branch_a(&genesis, 2);
    let chain = state(&store);
    for b in &a {
        accept(&chain, b).expect("connect");
    }
    let b1 = block(genesis.hash(), 1, &key(3), vec![]);
    let b2 = block(b1.hash(), 2, &key(3), vec![ghost_spend()]);
    let b3 = block(b2.hash(), 3, &key(3), vec![]);
    for b in [&b1, &b2, &b3] {
        store.store_block(b).expect("store");
    }
    store.disconnect_tip().expect("disconnect a2");
    store.disconnect_tip().expect("disconnect a1");
    store.connect_block(&b1, &[]).expect("connect b1");
    store.flush().expect("flush");
    drop(chain);
    drop(store);
    let (store, events) = restart(dir.path());
    assert_eq!(store.tip().expect("tip").hash, a[1].hash());
    assert_eq!(status(&store, &b2), BlockStatus::Invalid);
    assert_eq!(status(&store, &b3), BlockStatus::Invalid);
    assert!(invalid_reported(&events, b2.hash()), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, ChainEvent::Reorg { .. })));
    assert_eq!(checkchain_text(&store).expect("checkchain"), "OK");
    // Opened again, nothing moves.
    drop(store);
    let (store, events) = restart(dir.path());
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(store.tip().expect("tip").hash, a[1].hash());
}

#[test]
fn a_restart_ends_on_the_valid_prefix_of_an_invalid_branch_when_it_has_the_most_work() {
    // A: a1. B: b1, b2 valid, b3 invalid, b4. Cut short at genesis.
    let dir = TempDir::new().expect("tempdir");
    let (store, genesis) = new_store(dir.path());
    let a = branch_a(&genesis, 1);
    let chain = state(&store);
    accept(&chain, &a[0]).expect("connect");
    let b1 = b1_on(&genesis);
    let b2 = block(b1.hash(), 2, &key(3), vec![]);
    let b3 = block(b2.hash(), 3, &key(3), vec![ghost_spend()]);
    let b4 = block(b3.hash(), 4, &key(3), vec![]);
    for b in [&b1, &b2, &b3, &b4] {
        store.store_block(b).expect("store");
    }
    store.disconnect_tip().expect("disconnect a1");
    store.flush().expect("flush");
    drop(chain);
    drop(store);
    let (store, events) = restart(dir.path());
    assert_eq!(store.tip().expect("tip").hash, b2.hash());
    assert_eq!(status(&store, &b3), BlockStatus::Invalid);
    assert_eq!(status(&store, &b4), BlockStatus::Invalid);
    assert!(invalid_reported(&events, b3.hash()), "{events:?}");
    assert_eq!(
        store.utxo_snapshot().expect("utxos"),
        store.compute_utxo_set().expect("computed")
    );
    assert_eq!(checkchain_text(&store).expect("checkchain"), "OK");
}

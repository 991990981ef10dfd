//! Runs of blocks connected in one pass, on real sled stores:
//! `ChainStore::connect_blocks` writes a run exactly as `connect_block` one
//! block at a time would, or nothing at all; `Chain::process_blocks` ends
//! where `Chain::process_block` on each block in turn ends, with the same
//! events (one `TipChanged` per run instead of one per block), and a run
//! that breaks a rule is blamed block by block as before. Long runs connect
//! through the verify/write pipeline (signatures verified in units of a
//! few blocks while the verified prefix is written) and end the same way,
//! whichever block breaks a rule.

mod support;

use std::path::Path;
use std::sync::Arc;

use p256::ecdsa::SigningKey;
use sledchain::app::query::checkchain_text;
use sledchain::chain::{Chain, ChainEvent, PeerId};
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Txid, sha256d};
use sledchain::core::params::{SUBSIDY, now_secs};
use sledchain::core::tx::{OutPoint, Transaction, TxOut, sighash};
use sledchain::core::validation::{ParentInfo, SigCache, SigCheck, check_block_context};
use sledchain::store::{BlockStatus, ChainStore, StoreError, Tip};
use support::{BITS, Utxos, add_outputs, genesis_paying, key, out, owner, pay, signed, solve};
use tempfile::TempDir;

const T0: u32 = 1_700_000_000;

/// A solved block on `prev` at `height` whose coinbase pays the subsidy to
/// `miner`, then `txs`.
fn block(prev: BlockHash, height: u64, miner: &SigningKey, txs: Vec<Transaction>) -> Block {
    let t = T0 + height as u32;
    let mut b = Block::template(prev, height, BITS, t, owner(miner), SUBSIDY, txs);
    solve(&mut b);
    b
}

/// Genesis paying key 1 six outputs of one coin.
fn genesis() -> Block {
    genesis_paying(owner(&key(1)), 6)
}

/// The genesis coinbase's output `vout` (one coin to key 1).
fn g(genesis: &Block, vout: u32) -> (OutPoint, TxOut) {
    let cb = &genesis.transactions[0];
    (out(cb, vout), cb.outputs[vout as usize])
}

/// A chain of five blocks on `genesis` in which later blocks spend outputs
/// of earlier ones:
/// - b1 (miner 5): g0 → key 2;
/// - b2 (miner 5): b1's payment → key 3 (an output created earlier in the run);
/// - b3 (miner 6): g1 + g2 → key 4 and key 2 (two outputs spent at once), a
///   payment spending that output of key 4 in the same block, and a payment
///   spending b1's coinbase and b2's payment (two keys, two earlier blocks);
/// - b4 (miner 5): g3 → key 7; b5 (miner 5): empty.
fn run_chain(genesis: &Block) -> Vec<Block> {
    let (k1, k2, k3, k4, k5) = (key(1), key(2), key(3), key(4), key(5));
    let (g0, o0) = g(genesis, 0);
    let tx1 = signed(&[(g0, o0, &k1)], vec![pay(&k2, 1)]);
    let b1 = block(genesis.hash(), 1, &k5, vec![tx1.clone()]);
    let tx2 = signed(&[(out(&tx1, 0), pay(&k2, 1), &k2)], vec![pay(&k3, 1)]);
    let b2 = block(b1.hash(), 2, &k5, vec![tx2.clone()]);
    let ((g1, o1), (g2, o2)) = (g(genesis, 1), g(genesis, 2));
    let tx3 = signed(
        &[(g1, o1, &k1), (g2, o2, &k1)],
        vec![pay(&k4, 1), pay(&k2, 1)],
    );
    let tx4 = signed(&[(out(&tx3, 0), pay(&k4, 1), &k4)], vec![pay(&k3, 1)]);
    let cb1 = b1.transactions[0].clone();
    let tx5 = signed(
        &[
            (out(&cb1, 0), cb1.outputs[0], &k5),
            (out(&tx2, 0), pay(&k3, 1), &k3),
        ],
        vec![pay(&key(6), SUBSIDY), pay(&k1, 1)],
    );
    let b3 = block(b2.hash(), 3, &key(6), vec![tx3, tx4, tx5]);
    let (g3, o3) = g(genesis, 3);
    let tx6 = signed(&[(g3, o3, &k1)], vec![pay(&key(7), 1)]);
    let b4 = block(b3.hash(), 4, &k5, vec![tx6]);
    let b5 = block(b4.hash(), 5, &k5, vec![]);
    vec![b1, b2, b3, b4, b5]
}

/// Each block of `blocks` (a chain on `genesis`) validated in memory, with
/// its undo data: the outputs its inputs spend, in input order.
fn with_undo(genesis: &Block, blocks: &[Block]) -> Vec<(Block, Vec<TxOut>)> {
    let mut utxos = Utxos::default();
    add_outputs(&mut utxos.map, &genesis.transactions[0]);
    let mut parent = ParentInfo {
        hash: genesis.hash(),
        height: 0,
    };
    blocks
        .iter()
        .map(|b| {
            let undo = check_block_context(b, &parent, BITS, &utxos.block_view(b), None)
                .unwrap_or_else(|e| panic!("block {} is valid: {e}", b.height));
            utxos.connect(b);
            parent = ParentInfo {
                hash: b.hash(),
                height: b.height,
            };
            (b.clone(), undo.spent)
        })
        .collect()
}

/// One block of a run handed to `connect_blocks`, with its undo data.
type Write<'a> = (&'a Block, &'a [TxOut]);

/// A fresh store in `dir/name/chain` holding `genesis`.
fn store_in(dir: &Path, name: &str, genesis: &Block) -> ChainStore {
    support::store_with(&dir.join(name), genesis)
}

/// Every key the fixtures pay.
fn keys() -> Vec<SigningKey> {
    (1..=9).map(key).collect()
}

/// Asserts that `a` and `b` hold the same chain, UTXO set, undo data and
/// API indexes for `blocks` (and that `a`'s UTXO set is the one rebuilt from
/// its blocks).
fn assert_same_state(a: &ChainStore, b: &ChainStore, blocks: &[&Block]) {
    let tip = a.tip().expect("tip");
    assert_eq!(tip, b.tip().expect("tip"), "tips differ");
    for h in 0..=tip.height + 1 {
        assert_eq!(a.hash_at(h).expect("read"), b.hash_at(h).expect("read"));
    }
    for block in blocks {
        let hash = block.hash();
        assert_eq!(
            a.block_meta(&hash).expect("read"),
            b.block_meta(&hash).expect("read")
        );
        assert_eq!(
            a.has_block(&hash).expect("read"),
            b.has_block(&hash).expect("read")
        );
        assert_eq!(a.undo(&hash).expect("read"), b.undo(&hash).expect("read"));
        for tx in &block.transactions {
            let txid = tx.txid();
            assert_eq!(
                a.tx_location(&txid).expect("read"),
                b.tx_location(&txid).expect("read")
            );
            for i in tx.inputs.iter().filter(|_| !tx.is_coinbase()) {
                let op = i.prev_out;
                assert_eq!(a.spender(&op).expect("read"), b.spender(&op).expect("read"));
            }
        }
    }
    let snapshot = a.utxo_snapshot().expect("utxos");
    assert_eq!(
        snapshot,
        b.utxo_snapshot().expect("utxos"),
        "UTXO sets differ"
    );
    assert_eq!(
        snapshot,
        a.compute_utxo_set().expect("rebuilt from the blocks")
    );
    for k in keys() {
        let pkh = owner(&k);
        assert_eq!(
            a.balance(&pkh).expect("read"),
            b.balance(&pkh).expect("read")
        );
        let (mut ua, mut ub) = (
            a.utxos_of(&pkh).expect("read"),
            b.utxos_of(&pkh).expect("read"),
        );
        ua.sort();
        ub.sort();
        assert_eq!(ua, ub);
        assert_eq!(
            a.address_history_all(&pkh).expect("read"),
            b.address_history_all(&pkh).expect("read")
        );
        assert_eq!(
            a.address_history(&pkh, None, 3).expect("read"),
            b.address_history(&pkh, None, 3).expect("read")
        );
    }
}

#[test]
fn a_run_connected_in_one_transaction_equals_the_blocks_connected_one_by_one() {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = with_undo(&genesis, &run_chain(&genesis));
    let run = store_in(dir.path(), "run", &genesis);
    let one = store_in(dir.path(), "one", &genesis);
    let writes: Vec<(&Block, &[TxOut])> = blocks.iter().map(|(b, u)| (b, u.as_slice())).collect();
    let tip = run.connect_blocks(&writes).expect("connect the run");
    for (b, undo) in &blocks {
        one.connect_block(b, undo).expect("connect one block");
    }
    assert_eq!(tip, one.tip().expect("tip"));
    assert_eq!((tip.height, tip.hash), (5, blocks[4].0.hash()));
    let all: Vec<&Block> = std::iter::once(&genesis)
        .chain(blocks.iter().map(|(b, _)| b))
        .collect();
    assert_same_state(&run, &one, &all);

    // What the run must have done, spelled out.
    let (b1, b2, b3) = (&blocks[0].0, &blocks[1].0, &blocks[2].0);
    let (tx1, tx2, tx3) = (
        &b1.transactions[1],
        &b2.transactions[1],
        &b3.transactions[1],
    );
    for (b, _) in &blocks {
        let meta = run.block_meta(&b.hash()).expect("read").expect("indexed");
        assert_eq!(meta.status, BlockStatus::Valid);
        assert_eq!(run.hash_at(b.height).expect("read"), Some(b.hash()));
    }
    assert_eq!(
        run.undo(&b2.hash()).expect("read"),
        Some(vec![pay(&key(2), 1)])
    );
    assert_eq!(
        run.undo(&b3.hash()).expect("read").map(|u| u.len()),
        Some(5)
    );
    assert_eq!(
        run.tx_location(&tx2.txid()).expect("read"),
        Some((b2.hash(), 1))
    );
    assert_eq!(
        run.tx_location(&tx3.txid()).expect("read"),
        Some((b3.hash(), 1))
    );
    assert_eq!(
        run.spender(&out(tx1, 0)).expect("read"),
        Some((tx2.txid(), 0))
    );
    assert_eq!(run.utxo(&out(tx1, 0)).expect("read"), None);
    assert_eq!(run.utxo(&out(tx2, 0)).expect("read"), None);
    assert_eq!(run.balance(&owner(&key(1))).expect("read"), 3);
    assert_eq!(run.balance(&owner(&key(2))).expect("read"), 1);
    assert_eq!(run.balance(&owner(&key(3))).expect("read"), 1);
    assert_eq!(run.balance(&owner(&key(4))).expect("read"), 0);
    assert_eq!(run.balance(&owner(&key(6))).expect("read"), 2 * SUBSIDY);
    let k3 = run.address_history_all(&owner(&key(3))).expect("read");
    let k3: Vec<(u64, u32, u64, u64)> = k3
        .iter()
        .map(|e| (e.height, e.position, e.received, e.sent))
        .collect();
    assert_eq!(k3, vec![(2, 1, 1, 0), (3, 2, 1, 0), (3, 3, 0, 1)]);
    assert_eq!(checkchain_text(&run).expect("checkchain"), "OK");

    // Written for good: the same after a reopen.
    drop(run);
    let reopened =
        ChainStore::open(&dir.path().join("run").join("chain"), 8 << 20).expect("reopen");
    assert_same_state(&reopened, &one, &all);
}

#[test]
fn a_run_off_the_tip_or_with_a_gap_writes_nothing() {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = with_undo(&genesis, &run_chain(&genesis));
    let store = store_in(dir.path(), "s", &genesis);
    let w = |i: usize| (&blocks[i].0, blocks[i].1.as_slice());
    let tip = store.tip().expect("tip");
    let utxos = store.utxo_snapshot().expect("utxos");
    let history = store.address_history_all(&owner(&key(1))).expect("read");
    let cases: [(&str, Vec<Write>); 3] = [
        ("first block not on the tip", vec![w(1), w(2)]),
        ("a gap inside", vec![w(0), w(2), w(3)]),
        ("a gap at the end", vec![w(0), w(1), w(3)]),
    ];
    for (what, run) in cases {
        match store.connect_blocks(&run) {
            Err(StoreError::NotOnTip { .. }) => {}
            other => panic!("{what}: expected NotOnTip, got {other:?}"),
        }
        assert_eq!(store.tip().expect("tip"), tip, "{what}: the tip moved");
        assert_eq!(store.utxo_snapshot().expect("utxos"), utxos, "{what}");
        assert_eq!(
            store.address_history_all(&owner(&key(1))).expect("read"),
            history,
            "{what}"
        );
        for (b, _) in &blocks {
            let hash = b.hash();
            assert!(
                !store.has_block(&hash).expect("read"),
                "{what}: block stored"
            );
            assert_eq!(store.block_meta(&hash).expect("read"), None, "{what}");
            assert_eq!(store.undo(&hash).expect("read"), None, "{what}");
            assert_eq!(store.hash_at(b.height).expect("read"), None, "{what}");
            let txid = b.transactions[0].txid();
            assert_eq!(store.tx_location(&txid).expect("read"), None, "{what}");
        }
    }
    // The same store still takes the run that does extend its tip.
    let all: Vec<_> = (0..blocks.len()).map(w).collect();
    assert_eq!(
        store.connect_blocks(&all).expect("connect").hash,
        blocks[4].0.hash()
    );
    assert_eq!(checkchain_text(&store).expect("checkchain"), "OK");
}

// ---- Chain::process_blocks against Chain::process_block ----

/// A chain on a fresh store in `dir/name` holding `genesis`, with its own
/// signature cache.
fn open_chain(dir: &Path, name: &str, genesis: &Block) -> Chain {
    let store = store_in(dir, name, genesis);
    let (chain, events) = Chain::open(store, Arc::new(SigCache::new(10_000))).expect("open");
    assert!(events.is_empty(), "{events:?}");
    chain
}

/// Each block with its sender: block at height h comes from peer 100 + h.
fn sent(blocks: &[Block]) -> Vec<(Block, Option<PeerId>)> {
    blocks
        .iter()
        .map(|b| (b.clone(), Some(100 + b.height)))
        .collect()
}

/// The hashes of the `BlockConnected` events among `events`, in order.
fn connected_hashes(events: &[ChainEvent]) -> Vec<BlockHash> {
    events
        .iter()
        .filter_map(|e| match e {
            ChainEvent::BlockConnected { hash, .. } => Some(*hash),
            _ => None,
        })
        .collect()
}

/// The tips of the `TipChanged` events among `events`, in order.
fn tips_of(events: &[ChainEvent]) -> Vec<Tip> {
    events
        .iter()
        .filter_map(|e| match e {
            ChainEvent::TipChanged(t) => Some(*t),
            _ => None,
        })
        .collect()
}

/// `Chain::process_block` on each block in turn.
fn one_by_one(chain: &mut Chain, blocks: &[(Block, Option<PeerId>)], now: u64) -> Vec<ChainEvent> {
    blocks
        .iter()
        .flat_map(|(b, from)| chain.process_block(b.clone(), *from, now))
        .collect()
}

/// The events but `TipChanged`, as sorted text (a multiset), and how many
/// `TipChanged` there were.
fn multiset(events: &[ChainEvent]) -> (Vec<String>, usize) {
    let tips = events
        .iter()
        .filter(|e| matches!(e, ChainEvent::TipChanged(_)))
        .count();
    let mut rest: Vec<String> = events
        .iter()
        .filter(|e| !matches!(e, ChainEvent::TipChanged(_)))
        .map(|e| format!("{e:?}"))
        .collect();
    rest.sort();
    (rest, tips)
}

/// How many `BlockDone` name `hash` (with sender `from`).
fn done_count(events: &[ChainEvent], hash: BlockHash, from: Option<PeerId>) -> usize {
    events
        .iter()
        .filter(
            |e| matches!(e, ChainEvent::BlockDone { hash: h, from: f } if *h == hash && *f == from),
        )
        .count()
}

fn connected(events: &[ChainEvent], hash: BlockHash) -> Vec<Option<PeerId>> {
    events
        .iter()
        .filter_map(|e| match e {
            ChainEvent::BlockConnected { hash: h, from, .. } if *h == hash => Some(*from),
            _ => None,
        })
        .collect()
}

fn invalid_from(events: &[ChainEvent], hash: BlockHash) -> Vec<Option<PeerId>> {
    events
        .iter()
        .filter_map(|e| match e {
            ChainEvent::InvalidBlock { hash: h, from, .. } if *h == hash => Some(*from),
            _ => None,
        })
        .collect()
}

fn status(store: &ChainStore, b: &Block) -> Option<BlockStatus> {
    store.block_meta(&b.hash()).expect("read").map(|m| m.status)
}

fn all_blocks<'a>(genesis: &'a Block, blocks: &'a [Block]) -> Vec<&'a Block> {
    std::iter::once(genesis).chain(blocks).collect()
}

#[test]
fn a_valid_run_gives_the_events_of_one_block_at_a_time_with_one_tip_change() {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = run_chain(&genesis);
    let input = sent(&blocks);
    let now = now_secs();
    let mut batched = open_chain(dir.path(), "batched", &genesis);
    let mut single = open_chain(dir.path(), "single", &genesis);
    // The payments of b1 and b4 wait in both mempools: mined, they leave.
    for chain in [&mut batched, &mut single] {
        for tx in [&blocks[0].transactions[1], &blocks[3].transactions[1]] {
            let ev = chain.accept_tx(tx.clone(), None, now);
            assert!(
                matches!(ev.last(), Some(ChainEvent::TxAccepted { .. })),
                "{ev:?}"
            );
        }
    }
    let got = batched.process_blocks(input.clone(), now);
    let want = one_by_one(&mut single, &input, now);

    let connects: Vec<(BlockHash, usize, Option<PeerId>)> = got
        .iter()
        .filter_map(|e| match e {
            ChainEvent::BlockConnected {
                hash, txs, from, ..
            } => Some((*hash, *txs, *from)),
            _ => None,
        })
        .collect();
    let expected: Vec<_> = input
        .iter()
        .map(|(b, from)| (b.hash(), b.transactions.len(), *from))
        .collect();
    assert_eq!(connects, expected, "one BlockConnected per block, in order");
    for (b, from) in &input {
        assert_eq!(done_count(&got, b.hash(), *from), 1, "{got:?}");
    }
    let tips = tips_of(&got);
    assert_eq!(
        tips,
        vec![batched.store().tip().expect("tip")],
        "one TipChanged per run"
    );
    assert_eq!(tips[0].hash, blocks[4].hash());
    assert!(
        matches!(got.last(), Some(ChainEvent::BlockDone { .. })),
        "BlockDone comes last: {got:?}"
    );
    let (got_set, got_tips) = multiset(&got);
    let (want_set, want_tips) = multiset(&want);
    assert_eq!(got_set, want_set);
    assert_eq!((got_tips, want_tips), (1, 5));
    assert!(batched.mempool().is_empty() && single.mempool().is_empty());
    assert_same_state(
        batched.store(),
        single.store(),
        &all_blocks(&genesis, &blocks),
    );
}

/// b1, b2 valid; b3 carries `bad`; b4 valid on b3; b5 empty.
fn run_broken_at_3(genesis: &Block, bad: Transaction) -> Vec<Block> {
    let good = run_chain(genesis);
    let b3 = block(good[1].hash(), 3, &key(6), vec![bad]);
    let (g4, o4) = g(genesis, 4);
    let tx = signed(&[(g4, o4, &key(1))], vec![pay(&key(8), 1)]);
    let b4 = block(b3.hash(), 4, &key(5), vec![tx]);
    let b5 = block(b4.hash(), 5, &key(5), vec![]);
    vec![good[0].clone(), good[1].clone(), b3, b4, b5]
}

/// A payment of g1 whose signature does not verify.
fn bad_signature(genesis: &Block) -> Transaction {
    let (g1, o1) = g(genesis, 1);
    let mut tx = signed(&[(g1, o1, &key(1))], vec![pay(&key(4), 1)]);
    tx.inputs[0].signature[40] ^= 1;
    tx
}

/// A payment of an output that never existed.
fn missing_outpoint() -> Transaction {
    let ghost = OutPoint {
        txid: Txid(sha256d(b"ghost")),
        vout: 0,
    };
    signed(&[(ghost, pay(&key(3), 1), &key(3))], vec![pay(&key(3), 1)])
}

fn check_run_broken_at_3(bad: fn(&Block) -> Transaction, what: &str) {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = run_broken_at_3(&genesis, bad(&genesis));
    let input = sent(&blocks);
    let now = now_secs();
    let mut batched = open_chain(dir.path(), "batched", &genesis);
    let mut single = open_chain(dir.path(), "single", &genesis);
    let got = batched.process_blocks(input.clone(), now);
    let want = one_by_one(&mut single, &input, now);

    let store = batched.store();
    assert_eq!(
        store.tip().expect("tip").hash,
        blocks[1].hash(),
        "{what}: {got:?}"
    );
    for b in &blocks[..2] {
        assert_eq!(
            connected(&got, b.hash()),
            vec![Some(100 + b.height)],
            "{what}"
        );
        assert_eq!(status(store, b), Some(BlockStatus::Valid), "{what}");
    }
    let b3 = &blocks[2];
    assert_eq!(
        invalid_from(&got, b3.hash()),
        vec![Some(103)],
        "{what}: {got:?}"
    );
    assert_eq!(status(store, b3), Some(BlockStatus::Invalid), "{what}");
    for b in &blocks[2..] {
        assert!(connected(&got, b.hash()).is_empty(), "{what}: {got:?}");
        assert!(!store.is_on_best_chain(&b.hash()).expect("read"), "{what}");
    }
    assert_eq!(store.hash_at(3).expect("read"), None, "{what}");
    for (b, from) in &input {
        assert_eq!(done_count(&got, b.hash(), *from), 1, "{what}: {got:?}");
    }
    // Blamed and recorded exactly as one block at a time, event for event.
    let text = |ev: &[ChainEvent]| ev.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>();
    assert_eq!(text(&got), text(&want), "{what}");
    for b in &blocks {
        assert_eq!(status(store, b), status(single.store(), b), "{what}");
    }
    assert_eq!(batched.orphans().len(), single.orphans().len(), "{what}");
    assert_same_state(store, single.store(), &all_blocks(&genesis, &blocks[..2]));
    assert_eq!(checkchain_text(store).expect("checkchain"), "OK");
}

#[test]
fn a_run_with_a_bad_signature_in_its_third_block_is_blamed_block_by_block() {
    check_run_broken_at_3(bad_signature, "bad signature");
}

#[test]
fn a_run_spending_a_missing_outpoint_in_its_third_block_is_blamed_block_by_block() {
    check_run_broken_at_3(|_| missing_outpoint(), "missing outpoint");
}

/// Delivers `orphan` (from peer 9), then `blocks` in one call to each chain;
/// asserts the same end state and events (but TipChanged) as one block at a
/// time. Returns the batched chain's events for the run.
fn orphan_then_run(
    dir: &Path,
    genesis: &Block,
    blocks: &[Block],
    orphan: &Block,
) -> (Chain, Vec<ChainEvent>) {
    let now = now_secs();
    let mut batched = open_chain(dir, "batched", genesis);
    let mut single = open_chain(dir, "single", genesis);
    let first = vec![(orphan.clone(), Some(9))];
    let early = batched.process_blocks(first.clone(), now);
    assert!(
        early.iter().any(|e| matches!(e, ChainEvent::Orphan { hash, from: Some(9), .. } if *hash == orphan.hash())),
        "{early:?}"
    );
    let input = sent(blocks);
    let got = batched.process_blocks(input.clone(), now);
    let mut want = one_by_one(&mut single, &first, now);
    want.extend(one_by_one(&mut single, &input, now));
    let mut all = early.clone();
    all.extend(got.iter().cloned());
    let (got_set, _) = multiset(&all);
    let (want_set, _) = multiset(&want);
    assert_eq!(got_set, want_set, "batched {all:#?}\none by one {want:#?}");
    let mut every = all_blocks(genesis, blocks);
    every.push(orphan);
    assert_same_state(batched.store(), single.store(), &every);
    assert!(batched.orphans().is_empty());
    for (b, from) in &input {
        assert_eq!(done_count(&got, b.hash(), *from), 1, "{got:?}");
    }
    (batched, got)
}

#[test]
fn an_orphan_on_the_last_block_of_a_run_connects_right_after_it() {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = run_chain(&genesis);
    let orphan = block(blocks[4].hash(), 6, &key(9), vec![]);
    let (chain, got) = orphan_then_run(dir.path(), &genesis, &blocks, &orphan);
    assert_eq!(chain.store().tip().expect("tip").hash, orphan.hash());
    let order = connected_hashes(&got);
    let mut want: Vec<BlockHash> = blocks.iter().map(Block::hash).collect();
    want.push(orphan.hash());
    assert_eq!(order, want);
    assert_eq!(
        connected(&got, orphan.hash()),
        vec![Some(9)],
        "blamed on its own sender"
    );
}

#[test]
fn an_orphan_on_a_middle_block_of_a_run_is_processed_as_one_block_at_a_time_would() {
    // Its parent is b3: one block at a time, it connects right after b3,
    // then b4 and b5 take the tip back.
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = run_chain(&genesis);
    let orphan = block(blocks[2].hash(), 4, &key(9), vec![]);
    let (chain, got) = orphan_then_run(dir.path(), &genesis, &blocks, &orphan);
    assert_eq!(chain.store().tip().expect("tip").hash, blocks[4].hash());
    assert_eq!(connected(&got, orphan.hash()), vec![Some(9)], "{got:?}");
}

#[test]
fn an_invalid_orphan_on_a_middle_block_of_a_run_is_blamed_on_its_sender() {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = run_chain(&genesis);
    let orphan = block(blocks[2].hash(), 4, &key(9), vec![missing_outpoint()]);
    let (chain, got) = orphan_then_run(dir.path(), &genesis, &blocks, &orphan);
    assert_eq!(chain.store().tip().expect("tip").hash, blocks[4].hash());
    assert_eq!(invalid_from(&got, orphan.hash()), vec![Some(9)], "{got:?}");
    assert_eq!(status(chain.store(), &orphan), Some(BlockStatus::Invalid));
}

#[test]
fn signatures_verified_at_mempool_entry_are_not_verified_again_in_a_run() {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = run_chain(&genesis);
    let now = now_secs();
    let mut chain = open_chain(dir.path(), "c", &genesis);
    // b1 and b2's payments (a mempool chain) enter the mempool: their
    // signatures are verified and cached there.
    for b in &blocks[..2] {
        let ev = chain.accept_tx(b.transactions[1].clone(), None, now);
        assert!(
            matches!(ev.last(), Some(ChainEvent::TxAccepted { .. })),
            "{ev:?}"
        );
    }
    let cache = chain.sig_cache().clone();
    assert_eq!(cache.len(), 2);
    let got = chain.process_blocks(sent(&blocks[..2]), now);
    assert_eq!(chain.store().tip().expect("tip").hash, blocks[1].hash());
    assert!(chain.mempool().is_empty());
    // Every signature of the run was found in the cache: none added.
    assert_eq!(cache.len(), 2, "{got:?}");

    // A cached check is taken as passed, not verified again: a run whose
    // first block carries a bad signature whose check is in the cache
    // connects as one run (a single TipChanged).
    let (g1, o1) = g(&genesis, 1);
    let bad = bad_signature(&genesis);
    let check = SigCheck {
        tx_index: 1,
        input: 0,
        pubkey: bad.inputs[0].pubkey,
        sighash: sighash(&bad.txid(), 0, &o1),
        signature: bad.inputs[0].signature,
    };
    assert!(check.verify().is_err(), "the signature is bad");
    assert_eq!(bad.inputs[0].prev_out, g1);
    cache.insert(check.cache_key());
    let b3 = block(blocks[1].hash(), 3, &key(6), vec![bad]);
    let b4 = block(b3.hash(), 4, &key(6), vec![]);
    let got = chain.process_blocks(sent(&[b3.clone(), b4.clone()]), now);
    let tips = got
        .iter()
        .filter(|e| matches!(e, ChainEvent::TipChanged(_)))
        .count();
    assert_eq!(tips, 1, "{got:?}");
    assert_eq!(chain.store().tip().expect("tip").hash, b4.hash(), "{got:?}");
}

// ---- Long runs: connected through the verify/write pipeline ----

/// What [`long_chain`] puts in one block at `height` in place of its
/// payment.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The payment's signature does not verify.
    BadSignature,
    /// The payment spends an output that never existed.
    MissingOutpoint,
}

/// `n` blocks on `genesis` (block h from miner key 5; from height 2 on each
/// carries a payment of the coinbase of the block before it to key 2),
/// with `fault` at its height.
fn long_chain(genesis: &Block, n: u64, fault: Option<(u64, Fault)>) -> Vec<Block> {
    let k5 = key(5);
    let mut blocks: Vec<Block> = Vec::new();
    for h in 1..=n {
        let prev = blocks.last().map_or(genesis.hash(), Block::hash);
        let txs = match (blocks.last(), fault) {
            (_, Some((at, Fault::MissingOutpoint))) if at == h => vec![missing_outpoint()],
            (Some(before), fault) => {
                let cb = &before.transactions[0];
                let mut tx = signed(&[(out(cb, 0), cb.outputs[0], &k5)], vec![pay(&key(2), 1)]);
                if matches!(fault, Some((at, Fault::BadSignature)) if at == h) {
                    tx.inputs[0].signature[40] ^= 1;
                }
                vec![tx]
            }
            (None, _) => vec![],
        };
        blocks.push(block(prev, h, &k5, txs));
    }
    blocks
}

/// Hands the 40 blocks of [`long_chain`] (with `fault`) to one chain in
/// one `process_blocks` call (verification units of 8 blocks, writes of at
/// least 10 while units are out) and one block at a time to another;
/// asserts the same end state, statuses, blame and events (but the
/// `TipChanged` count). Returns the batched chain and its events.
fn long_run_against_one_by_one(
    fault: Option<(u64, Fault)>,
) -> (TempDir, Chain, Vec<Block>, Vec<ChainEvent>) {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = long_chain(&genesis, 40, fault);
    let input = sent(&blocks);
    let now = now_secs();
    let mut batched = open_chain(dir.path(), "batched", &genesis);
    let mut single = open_chain(dir.path(), "single", &genesis);
    let got = batched.process_blocks(input.clone(), now);
    let want = one_by_one(&mut single, &input, now);
    let what = format!("{fault:?}");
    let (got_set, _) = multiset(&got);
    let (want_set, _) = multiset(&want);
    assert_eq!(got_set, want_set, "{what}");
    for (b, from) in &input {
        assert_eq!(done_count(&got, b.hash(), *from), 1, "{what}");
        assert_eq!(
            status(batched.store(), b),
            status(single.store(), b),
            "{what}: block {}",
            b.height
        );
    }
    let tip = single.store().tip().expect("tip");
    let valid: Vec<&Block> = std::iter::once(&genesis)
        .chain(blocks.iter().take(tip.height as usize))
        .collect();
    assert_same_state(batched.store(), single.store(), &valid);
    assert_eq!(checkchain_text(batched.store()).expect("checkchain"), "OK");
    (dir, batched, blocks, got)
}

#[test]
fn a_long_valid_run_connects_through_the_pipeline_as_one_block_at_a_time_would() {
    let (_dir, chain, blocks, got) = long_run_against_one_by_one(None);
    assert_eq!(chain.store().tip().expect("tip").hash, blocks[39].hash());
    let order = connected_hashes(&got);
    assert_eq!(order, blocks.iter().map(Block::hash).collect::<Vec<_>>());
    let tips = got
        .iter()
        .filter(|e| matches!(e, ChainEvent::TipChanged(_)))
        .count();
    assert_eq!(tips, 1, "one TipChanged for the whole run");
}

/// A long run broken at `height` by `fault`: the blocks below connect,
/// the faulty one is invalid and blamed on its sender, those above are
/// refused, as one block at a time.
fn check_long_run_broken(height: u64, fault: Fault) {
    let (_dir, chain, blocks, got) = long_run_against_one_by_one(Some((height, fault)));
    let store = chain.store();
    let bad = &blocks[height as usize - 1];
    assert_eq!(
        store.tip().expect("tip").hash,
        blocks[height as usize - 2].hash(),
        "{fault:?} at {height}"
    );
    assert_eq!(invalid_from(&got, bad.hash()), vec![Some(100 + height)]);
    assert_eq!(status(store, bad), Some(BlockStatus::Invalid));
    for b in &blocks[height as usize - 1..] {
        assert!(
            connected(&got, b.hash()).is_empty(),
            "{fault:?} at {height}"
        );
        assert!(!store.is_on_best_chain(&b.hash()).expect("read"));
    }
    for b in &blocks[..height as usize - 1] {
        assert_eq!(connected(&got, b.hash()), vec![Some(100 + b.height)]);
    }
}

#[test]
fn a_bad_signature_in_a_later_unit_stops_the_run_there_and_is_blamed_on_its_sender() {
    // Units of 8 blocks: block 30 is in the fourth; the blocks before it
    // connect, some while it is verified.
    check_long_run_broken(30, Fault::BadSignature);
    // The first block of the run: nothing connects in the pipeline.
    check_long_run_broken(2, Fault::BadSignature);
    // The first block of the second unit, and the last block of the run
    // (the last unit, verified after every block is checked).
    check_long_run_broken(9, Fault::BadSignature);
    check_long_run_broken(40, Fault::BadSignature);
}

#[test]
fn a_missing_outpoint_found_while_the_blocks_before_are_verified_is_blamed_on_its_sender() {
    // Block 11's context fails while the units before it are verified;
    // they then connect alone.
    check_long_run_broken(11, Fault::MissingOutpoint);
    check_long_run_broken(38, Fault::MissingOutpoint);
}

/// The first `given` blocks of [`long_chain`] (with `fault`) handed to
/// `process_blocks_streaming`, the rest given one by one by its `more`
/// (as they would arrive during a sync; those it did not take then go to
/// `process_blocks`, as the next call would have them), against one block
/// at a time: the same end state, statuses, blame and events (but the
/// `TipChanged` count). Returns the chain, the blocks, every event
/// (emitted first), the groups emitted and how many blocks were not taken.
#[allow(clippy::type_complexity)]
fn streaming_against_one_by_one(
    given: usize,
    fault: Option<(u64, Fault)>,
) -> (
    TempDir,
    Chain,
    Vec<Block>,
    Vec<ChainEvent>,
    Vec<Vec<ChainEvent>>,
    usize,
) {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = long_chain(&genesis, 40, fault);
    let input = sent(&blocks);
    let now = now_secs();
    let mut streamed = open_chain(dir.path(), "streamed", &genesis);
    let mut single = open_chain(dir.path(), "single", &genesis);
    let mut arriving = input[given..].iter().cloned();
    let mut groups = Vec::new();
    let rest = streamed.process_blocks_streaming(
        input[..given].to_vec(),
        &mut || arriving.next(),
        &mut |events| groups.push(events),
        now,
    );
    let left: Vec<_> = arriving.collect();
    let not_taken = left.len();
    let rest: Vec<ChainEvent> = rest
        .into_iter()
        .chain(streamed.process_blocks(left, now))
        .collect();
    let got: Vec<ChainEvent> = groups.iter().flatten().cloned().chain(rest).collect();
    let want = one_by_one(&mut single, &input, now);
    let what = format!("{fault:?}");
    assert_eq!(multiset(&got).0, multiset(&want).0, "{what}");
    for (b, from) in &input {
        assert_eq!(done_count(&got, b.hash(), *from), 1, "{what}");
        assert_eq!(status(streamed.store(), b), status(single.store(), b));
    }
    let tip = single.store().tip().expect("tip");
    let valid: Vec<&Block> = std::iter::once(&genesis)
        .chain(blocks.iter().take(tip.height as usize))
        .collect();
    assert_same_state(streamed.store(), single.store(), &valid);
    assert_eq!(checkchain_text(streamed.store()).expect("checkchain"), "OK");
    (dir, streamed, blocks, got, groups, not_taken)
}

/// Each emitted group names as done exactly the blocks it connects, and
/// its tip is its last block: a block is reported only once written.
fn assert_groups_whole(groups: &[Vec<ChainEvent>]) {
    for g in groups {
        let connects = connected_hashes(g);
        let done: Vec<BlockHash> = g
            .iter()
            .filter_map(|e| match e {
                ChainEvent::BlockDone { hash, .. } => Some(*hash),
                _ => None,
            })
            .collect();
        assert_eq!(connects, done, "{g:?}");
        let tips: Vec<BlockHash> = tips_of(g).iter().map(|t| t.hash).collect();
        assert_eq!(
            tips,
            connects.last().copied().into_iter().collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_streaming_run_takes_the_blocks_that_arrive_and_reports_each_step_as_written() {
    let (_dir, chain, blocks, got, groups, not_taken) = streaming_against_one_by_one(20, None);
    assert_eq!(not_taken, 0, "every block that arrived was taken");
    assert_eq!(chain.store().tip().expect("tip").hash, blocks[39].hash());
    let order = connected_hashes(&got);
    assert_eq!(order, blocks.iter().map(Block::hash).collect::<Vec<_>>());
    // How many steps the run is written in depends on how fast the pool
    // verifies; that every block is reported in an emitted step does not.
    let emitted: Vec<BlockHash> = groups.iter().flat_map(|g| connected_hashes(g)).collect();
    assert_eq!(
        emitted, order,
        "every block reported as its step is written"
    );
    assert_groups_whole(&groups);
}

#[test]
fn a_bad_block_that_arrives_during_a_streaming_run_is_blamed_on_its_sender() {
    for (height, fault) in [(30, Fault::BadSignature), (25, Fault::MissingOutpoint)] {
        let (_dir, chain, blocks, got, groups, _) =
            streaming_against_one_by_one(20, Some((height, fault)));
        let bad = &blocks[height as usize - 1];
        assert_eq!(
            chain.store().tip().expect("tip").hash,
            blocks[height as usize - 2].hash()
        );
        assert_eq!(invalid_from(&got, bad.hash()), vec![Some(100 + height)]);
        assert_eq!(status(chain.store(), bad), Some(BlockStatus::Invalid));
        assert_groups_whole(&groups);
    }
}

#[test]
fn a_block_that_arrives_off_a_streaming_run_is_processed_after_it() {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = long_chain(&genesis, 40, None);
    let input = sent(&blocks);
    let mut chain = open_chain(dir.path(), "streamed", &genesis);
    // Blocks 21 to 24 extend the run; 26 does not (25 is missing): it
    // waits as an orphan once the run is done, and nothing after it is
    // taken.
    let mut arriving = input[20..24]
        .iter()
        .chain(&input[25..27])
        .cloned()
        .collect::<Vec<_>>()
        .into_iter();
    let mut groups = Vec::new();
    let rest = chain.process_blocks_streaming(
        input[..20].to_vec(),
        &mut || arriving.next(),
        &mut |events| groups.push(events),
        now_secs(),
    );
    assert_eq!(
        arriving.next().map(|(b, _)| b.height),
        Some(27),
        "nothing taken after the block off the run"
    );
    assert_eq!(chain.store().tip().expect("tip").hash, blocks[23].hash());
    let b26 = blocks[25].hash();
    assert!(
        rest.iter()
            .any(|e| matches!(e, ChainEvent::Orphan { hash, .. } if *hash == b26)),
        "{rest:?}"
    );
    let got: Vec<ChainEvent> = groups.iter().flatten().cloned().chain(rest).collect();
    assert_eq!(done_count(&got, b26, Some(126)), 1);
    for (b, from) in &input[..24] {
        assert_eq!(done_count(&got, b.hash(), *from), 1);
    }
    assert_groups_whole(&groups);
}

/// A node with no chain yet gets the genesis and the blocks after it in
/// one streaming call: the genesis is adopted on its own, then the rest
/// connect as a run whose steps are emitted at once. Everything reaches
/// the caller in the order it happened (emitted groups as they come, then
/// what is returned), so the last tip it hears of is the chain's tip, not
/// the genesis reported after the run.
#[test]
fn a_streaming_call_from_no_chain_reports_the_genesis_before_the_run() {
    let dir = TempDir::new().expect("tempdir");
    let genesis = genesis();
    let blocks = long_chain(&genesis, 20, None);
    let store = ChainStore::open(&dir.path().join("fresh"), 1 << 20).expect("open");
    let (mut chain, _) = Chain::open(store, Arc::new(SigCache::new(10_000))).expect("open");
    let mut input = vec![(genesis.clone(), Some(7))];
    input.extend(sent(&blocks));
    let mut heard = Vec::new();
    let rest = chain.process_blocks_streaming(
        input,
        &mut || None,
        &mut |events| heard.extend(events),
        now_secs(),
    );
    heard.extend(rest);
    let tips: Vec<u64> = tips_of(&heard).iter().map(|t| t.height).collect();
    assert!(
        tips.windows(2).all(|w| w[0] <= w[1]),
        "tips heard out of order: {tips:?}"
    );
    assert_eq!(tips.last(), Some(&20), "{tips:?}");
    let connected: Vec<u64> = heard
        .iter()
        .filter_map(|e| match e {
            ChainEvent::BlockConnected { height, .. } => Some(*height),
            _ => None,
        })
        .collect();
    assert_eq!(connected, (0..=20).collect::<Vec<_>>());
    assert_eq!(chain.store().tip().expect("tip").height, 20);
}

//! Chain store and chain state on a real sled database in a temporary
//! directory: atomic connect/disconnect with undo data, the address index,
//! reindexing, the tip-to-genesis iterator, reorgs and persistence.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use p256::ecdsa::SigningKey;
use sledchain::app::query::printchain_text;
use sledchain::chain::{BlockOutcome, ChainError, ChainState};
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Txid, sha256d};
use sledchain::core::params::SUBSIDY;
use sledchain::core::tx::{OutPoint, Transaction, TxOut};
use sledchain::core::validation::SigCache;
use sledchain::store::{BlockStatus, ChainStore, PeerRecord, StoreError};
use support::{BITS, key, owner, pay, signed, solve};
use tempfile::TempDir;

type Utxos = BTreeMap<OutPoint, TxOut>;

const T0: u32 = 1_700_000_000;

fn open(path: &Path) -> ChainStore {
    ChainStore::open(path, 8 << 20).expect("open store")
}

/// A solved block on `prev` at `height` whose coinbase pays `reward` to `miner`.
fn block(
    prev: BlockHash,
    height: u64,
    miner: &SigningKey,
    reward: u64,
    txs: Vec<Transaction>,
) -> Block {
    let mut b = Block::template(
        prev,
        height,
        BITS,
        T0 + height as u32,
        owner(miner),
        reward,
        txs,
    );
    solve(&mut b);
    b
}

/// Like [`block`], at later timestamps until its hash is above `than`: a
/// block that loses a tie of equal work with `than` (the lower tip hash
/// wins).
fn block_losing_tie(
    prev: BlockHash,
    height: u64,
    miner: &SigningKey,
    reward: u64,
    txs: Vec<Transaction>,
    than: BlockHash,
) -> Block {
    (0u32..)
        .map(|dt| {
            let t = T0 + height as u32 + 1000 * dt;
            let mut b = Block::template(prev, height, BITS, t, owner(miner), reward, txs.clone());
            solve(&mut b);
            b
        })
        .find(|b| b.hash() > than)
        .expect("some timestamp gives a higher hash")
}

fn cb_out(b: &Block) -> (OutPoint, TxOut) {
    let cb = &b.transactions[0];
    (
        OutPoint {
            txid: cb.txid(),
            vout: 0,
        },
        cb.outputs[0],
    )
}

fn op(tx: &Transaction, vout: u32) -> OutPoint {
    OutPoint {
        txid: tx.txid(),
        vout,
    }
}

/// The UTXO set the blocks leave, computed in memory (outputs spent in the
/// same block never enter it).
fn model(blocks: &[Block]) -> Utxos {
    let mut m = Utxos::new();
    for b in blocks {
        for tx in &b.transactions {
            if !tx.is_coinbase() {
                for i in &tx.inputs {
                    assert!(m.remove(&i.prev_out).is_some(), "model: missing input");
                }
            }
            for (vout, o) in tx.outputs.iter().enumerate() {
                m.insert(op(tx, vout as u32), *o);
            }
        }
    }
    m
}

/// The address index of `store` agrees with `set` for every key in `keys`:
/// `utxos_of` lists exactly that key's outputs and `balance` is their sum.
fn assert_addr_index(store: &ChainStore, keys: &[SigningKey], set: &Utxos) {
    for k in keys {
        let pkh = owner(k);
        let mut expected: Vec<(OutPoint, u64)> = set
            .iter()
            .filter(|(_, o)| o.pubkey_hash == pkh)
            .map(|(op, o)| (*op, o.value))
            .collect();
        expected.sort();
        let mut got = store.utxos_of(&pkh).unwrap();
        got.sort();
        assert_eq!(got, expected, "utxos_of differs");
        let sum: u64 = expected.iter().map(|(_, v)| v).sum();
        assert_eq!(store.balance(&pkh).unwrap(), sum, "balance differs");
    }
}

/// A fresh chain in a temp dir whose genesis pays key 1.
struct Fixture {
    dir: TempDir,
    chain: ChainState,
    genesis: Block,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = TempDir::new().unwrap();
        let store = open(&dir.path().join("chain"));
        let genesis = block(BlockHash::ZERO, 0, &key(1), SUBSIDY, vec![]);
        store.init_genesis(&genesis).unwrap();
        let chain = ChainState::new(store, Arc::new(SigCache::new(10_000))).unwrap();
        Fixture {
            dir,
            chain,
            genesis,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("chain")
    }

    fn store(&self) -> &ChainStore {
        self.chain.store()
    }
}

/// Builds valid blocks with spends, change, fees and intra-block spends,
/// tracking each key's coins like a wallet would.
struct Sim {
    keys: Vec<SigningKey>,
    coins: Vec<Vec<(OutPoint, TxOut)>>,
    blocks: Vec<Block>,
}

impl Sim {
    fn new(genesis: &Block) -> Sim {
        let keys: Vec<SigningKey> = (1..=6).map(key).collect();
        let mut coins = vec![Vec::new(); keys.len()];
        coins[0].push(cb_out(genesis));
        Sim {
            keys,
            coins,
            blocks: vec![genesis.clone()],
        }
    }

    fn next_block(&mut self, ntx: usize) -> Block {
        let prev = self.blocks.last().unwrap();
        let height = prev.height + 1;
        let mut txs = Vec::new();
        let mut fees = 0;
        for t in 0..ntx {
            // Coins created earlier in this block count: intra-block spends.
            let Some(k) = (0..self.keys.len()).find(|k| !self.coins[*k].is_empty()) else {
                break;
            };
            let n = self.coins[k].len().min(2);
            let spent: Vec<(OutPoint, TxOut)> = self.coins[k].drain(..n).collect();
            let total: u64 = spent.iter().map(|c| c.1.value).sum();
            let fee = u64::from(total >= 4 && t % 2 == 0);
            let to = (k + 1 + t) % self.keys.len();
            let amount = (total - fee).div_ceil(2);
            let change = total - fee - amount;
            let mut outputs = vec![pay(&self.keys[to], amount)];
            if change > 0 {
                outputs.push(pay(&self.keys[k], change));
            }
            let inputs: Vec<(OutPoint, TxOut, &SigningKey)> = spent
                .iter()
                .map(|(o, out)| (*o, *out, &self.keys[k]))
                .collect();
            let tx = signed(&inputs, outputs);
            self.coins[to].push((op(&tx, 0), tx.outputs[0]));
            if change > 0 {
                self.coins[k].push((op(&tx, 1), tx.outputs[1]));
            }
            fees += fee;
            txs.push(tx);
        }
        let miner = (height as usize) % self.keys.len();
        let b = block(prev.hash(), height, &self.keys[miner], SUBSIDY + fees, txs);
        self.coins[miner].push(cb_out(&b));
        self.blocks.push(b.clone());
        b
    }
}

fn accept(chain: &ChainState, b: &Block) -> BlockOutcome {
    chain
        .accept_block(b, sledchain::core::params::now_secs())
        .unwrap_or_else(|e| panic!("block {} refused: {e}", b.height))
}

#[test]
fn connect_then_disconnect_restores_utxo_set_and_address_index() {
    let f = Fixture::new();
    let store = f.store();
    let keys: Vec<SigningKey> = (1..=4).map(key).collect();
    let before = store.utxo_snapshot().unwrap();
    assert_eq!(before, model(std::slice::from_ref(&f.genesis)));
    let tip_before = store.tip().unwrap();

    let (g_op, g_out) = cb_out(&f.genesis);
    let tx = signed(
        &[(g_op, g_out, &keys[0])],
        vec![pay(&keys[1], 15), pay(&keys[0], 5)],
    );
    let b = block(f.genesis.hash(), 1, &keys[2], SUBSIDY, vec![tx.clone()]);
    assert!(matches!(accept(&f.chain, &b), BlockOutcome::Connected(_)));
    let after = store.utxo_snapshot().unwrap();
    assert_eq!(after, model(&[f.genesis.clone(), b.clone()]));
    assert!(!after.contains_key(&g_op));
    assert_eq!(store.balance(&owner(&keys[0])).unwrap(), 5);
    assert_eq!(store.balance(&owner(&keys[1])).unwrap(), 15);
    assert_eq!(store.balance(&owner(&keys[2])).unwrap(), SUBSIDY);
    assert_eq!(store.undo(&b.hash()).unwrap(), Some(vec![g_out]));
    assert_addr_index(store, &keys, &after);

    let gone = store.disconnect_tip().unwrap();
    assert_eq!(gone.hash(), b.hash());
    assert_eq!(store.utxo_snapshot().unwrap(), before);
    assert_eq!(store.tip().unwrap(), tip_before);
    assert_eq!(store.hash_at(1).unwrap(), None);
    assert_eq!(store.undo(&b.hash()).unwrap(), None);
    assert!(
        store.block(&b.hash()).unwrap().is_some(),
        "block stays stored"
    );
    assert_eq!(store.balance(&owner(&keys[0])).unwrap(), SUBSIDY);
    assert_eq!(store.balance(&owner(&keys[1])).unwrap(), 0);
    assert_eq!(store.balance(&owner(&keys[2])).unwrap(), 0);
    assert_addr_index(store, &keys, &before);
}

#[test]
fn intra_block_spends_round_trip() {
    let f = Fixture::new();
    let store = f.store();
    let keys: Vec<SigningKey> = (1..=4).map(key).collect();
    let before = store.utxo_snapshot().unwrap();
    let (g_op, g_out) = cb_out(&f.genesis);
    // tx1 pays key 2 and keeps change; tx2 spends tx1's payment in the same
    // block; tx3 spends tx2's output and tx1's change.
    let tx1 = signed(
        &[(g_op, g_out, &keys[0])],
        vec![pay(&keys[1], 12), pay(&keys[0], 8)],
    );
    let tx2 = signed(
        &[(op(&tx1, 0), tx1.outputs[0], &keys[1])],
        vec![pay(&keys[2], 10), pay(&keys[1], 1)],
    );
    let tx3 = signed(
        &[
            (op(&tx2, 0), tx2.outputs[0], &keys[2]),
            (op(&tx1, 1), tx1.outputs[1], &keys[0]),
        ],
        vec![pay(&keys[3], 17)],
    );
    // Fees: 1 (tx2) + 1 (tx3).
    let b = block(
        f.genesis.hash(),
        1,
        &keys[0],
        SUBSIDY + 2,
        vec![tx1.clone(), tx2.clone(), tx3.clone()],
    );
    assert!(matches!(accept(&f.chain, &b), BlockOutcome::Connected(_)));
    let after = store.utxo_snapshot().unwrap();
    assert_eq!(after, model(&[f.genesis.clone(), b.clone()]));
    assert_eq!(after, store.compute_utxo_set().unwrap());
    for spent_inside in [op(&tx1, 0), op(&tx1, 1), op(&tx2, 0)] {
        assert!(!after.contains_key(&spent_inside));
    }
    assert_eq!(after.len(), 3, "coinbase, tx2 change, tx3 output");
    assert_eq!(store.balance(&owner(&keys[0])).unwrap(), SUBSIDY + 2);
    assert_eq!(store.balance(&owner(&keys[1])).unwrap(), 1);
    assert_eq!(store.balance(&owner(&keys[2])).unwrap(), 0);
    assert_eq!(store.balance(&owner(&keys[3])).unwrap(), 17);
    assert_addr_index(store, &keys, &after);

    store.disconnect_tip().unwrap();
    assert_eq!(store.utxo_snapshot().unwrap(), before);
    assert_addr_index(store, &keys, &before);
    for created in [op(&tx1, 0), op(&tx1, 1), op(&tx2, 0), op(&tx2, 1)] {
        assert_eq!(store.utxo(&created).unwrap(), None);
    }

    // Connecting the same block again gives the same set.
    assert!(matches!(
        f.chain
            .accept_block(&b, sledchain::core::params::now_secs())
            .unwrap(),
        BlockOutcome::Duplicate
    ));
    let spent = store.undo(&b.hash()).unwrap();
    assert_eq!(spent, None);
    let undo = vec![g_out, tx1.outputs[0], tx2.outputs[0], tx1.outputs[1]];
    store.connect_block(&b, &undo).unwrap();
    assert_eq!(store.utxo_snapshot().unwrap(), after);
    assert_addr_index(store, &keys, &after);
}

#[test]
fn reindex_matches_incremental_updates_on_a_long_chain() {
    let f = Fixture::new();
    let store = f.store();
    let mut sim = Sim::new(&f.genesis);
    let mut snapshots = vec![store.utxo_snapshot().unwrap()];
    for _ in 0..300 {
        let b = sim.next_block(4);
        assert!(matches!(accept(&f.chain, &b), BlockOutcome::Connected(_)));
        snapshots.push(store.utxo_snapshot().unwrap());
    }
    assert_eq!(store.tip().unwrap().height, 300);
    let spends: usize = sim.blocks.iter().map(|b| b.transactions.len() - 1).sum();
    assert!(spends > 1000, "chain has {spends} spending transactions");
    let intra = sim.blocks.iter().any(|b| {
        let txids: Vec<Txid> = b.transactions.iter().map(|t| t.txid()).collect();
        b.transactions
            .iter()
            .flat_map(|t| &t.inputs)
            .any(|i| txids.contains(&i.prev_out.txid))
    });
    assert!(intra, "chain has intra-block spends");

    let incremental = store.utxo_snapshot().unwrap();
    assert_eq!(incremental, model(&sim.blocks));
    assert_addr_index(store, &sim.keys, &incremental);

    let (txs, outs) = store.reindex_utxo().unwrap();
    let rebuilt = store.utxo_snapshot().unwrap();
    assert_eq!(rebuilt, incremental);
    assert_eq!(outs, incremental.len());
    let distinct: std::collections::HashSet<Txid> = incremental.keys().map(|o| o.txid).collect();
    assert_eq!(txs, distinct.len());
    assert_addr_index(store, &sim.keys, &rebuilt);

    // Disconnect 120 blocks one by one: each step restores the set that
    // stood at that height, then a reindex there agrees too.
    for h in (180..300).rev() {
        store.disconnect_tip().unwrap();
        assert_eq!(store.tip().unwrap().height, h as u64);
        assert_eq!(store.utxo_snapshot().unwrap(), snapshots[h], "height {h}");
    }
    assert_addr_index(store, &sim.keys, &snapshots[180]);
    assert_eq!(store.compute_utxo_set().unwrap(), snapshots[180]);
    store.reindex_utxo().unwrap();
    assert_eq!(store.utxo_snapshot().unwrap(), snapshots[180]);
    assert_eq!(snapshots[180], model(&sim.blocks[..=180]));
    assert_addr_index(store, &sim.keys, &snapshots[180]);
    assert_eq!(sledchain::app::query::checkchain_text(store).unwrap(), "OK");
}

#[test]
fn iter_walks_tip_to_genesis_and_errs_on_a_missing_block() {
    let f = Fixture::new();
    let mut sim = Sim::new(&f.genesis);
    for _ in 0..5 {
        let b = sim.next_block(1);
        accept(&f.chain, &b);
    }
    let hashes: Vec<BlockHash> = f
        .store()
        .iter()
        .map(|b| b.expect("every block stored").hash())
        .collect();
    let expected: Vec<BlockHash> = sim.blocks.iter().rev().map(|b| b.hash()).collect();
    assert_eq!(hashes, expected);
    f.store().flush().unwrap();

    let path = f.path();
    let missing = sim.blocks[3].hash();
    let Fixture { dir, chain, .. } = f;
    drop(chain);
    {
        let db = support::open_raw(&path);
        let blocks = db.open_tree("blocks").unwrap();
        assert!(blocks.remove(missing.as_bytes()).unwrap().is_some());
        db.flush().unwrap();
    }
    let store = open(&path);
    let items: Vec<Result<Block, StoreError>> = store.iter().collect();
    assert_eq!(items.len(), 3, "tip, tip-1, then the error, then it stops");
    assert_eq!(items[0].as_ref().unwrap().height, 5);
    assert_eq!(items[1].as_ref().unwrap().height, 4);
    match &items[2] {
        Err(StoreError::MissingBlock(h)) => assert_eq!(*h, missing),
        other => panic!(
            "expected MissingBlock, got {:?}",
            other.as_ref().map(|b| b.height)
        ),
    }
    for (json, verify) in [(false, false), (true, false), (false, true), (true, true)] {
        assert!(printchain_text(&store, json, verify).is_err());
    }
    drop(dir);
}

#[test]
fn iter_on_an_empty_store_yields_nothing() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir.path().join("chain"));
    assert_eq!(store.iter().count(), 0);
}

#[test]
fn connect_block_not_on_tip_is_refused_and_changes_nothing() {
    let f = Fixture::new();
    let store = f.store();
    let a1 = block(f.genesis.hash(), 1, &key(2), SUBSIDY, vec![]);
    accept(&f.chain, &a1);
    let tip = store.tip().unwrap();
    let snap = store.utxo_snapshot().unwrap();

    // A sibling of the tip, and a block on an unknown parent.
    let b1 = block(f.genesis.hash(), 1, &key(3), SUBSIDY, vec![]);
    let stray = block(BlockHash(sha256d(b"nowhere")), 2, &key(3), SUBSIDY, vec![]);
    for b in [&b1, &stray] {
        match store.connect_block(b, &[]) {
            Err(StoreError::NotOnTip { block, tip: t }) => {
                assert_eq!(block, b.hash());
                assert_eq!(t, tip.hash);
            }
            other => panic!("expected NotOnTip, got {other:?}"),
        }
        assert_eq!(store.tip().unwrap(), tip);
        assert_eq!(store.utxo_snapshot().unwrap(), snap);
        assert!(!store.has_block(&b.hash()).unwrap());
        assert!(store.block(&b.hash()).unwrap().is_none());
        assert_eq!(store.hash_at(1).unwrap(), Some(a1.hash()));
        assert_eq!(store.hash_at(2).unwrap(), None);
    }
}

/// Genesis pays key 1; branch A spends it one way, branch B another; at
/// each height of A, the B block has the higher hash.
fn branches(f: &Fixture, b_len: u64) -> (Vec<Block>, Vec<Block>) {
    let (g_op, g_out) = cb_out(&f.genesis);
    let k1 = key(1);
    let spend_a = signed(&[(g_op, g_out, &k1)], vec![pay(&key(2), 20)]);
    let spend_b = signed(&[(g_op, g_out, &k1)], vec![pay(&key(3), 19)]);
    let a1 = block(f.genesis.hash(), 1, &key(2), SUBSIDY, vec![spend_a]);
    let a2 = block(a1.hash(), 2, &key(2), SUBSIDY, vec![]);
    // Each B block loses a tie with the A block at its height.
    let a_hashes = [a1.hash(), a2.hash()];
    let g = f.genesis.hash();
    let mut bs = vec![block_losing_tie(g, 1, &key(3), SUBSIDY, vec![], a1.hash())];
    for h in 2..=b_len {
        let txs = if h == 2 {
            vec![spend_b.clone()]
        } else {
            vec![]
        };
        let reward = if h == 2 { SUBSIDY + 1 } else { SUBSIDY };
        let prev = bs.last().unwrap().hash();
        let than = a_hashes
            .get(h as usize - 1)
            .copied()
            .unwrap_or(BlockHash::ZERO);
        bs.push(block_losing_tie(prev, h, &key(3), reward, txs, than));
    }
    (vec![a1, a2], bs)
}

#[test]
fn reorg_to_the_branch_with_more_work() {
    let f = Fixture::new();
    let store = f.store();
    let (a, b) = branches(&f, 3);
    for blk in &a {
        assert!(matches!(accept(&f.chain, blk), BlockOutcome::Connected(_)));
    }
    assert!(matches!(accept(&f.chain, &b[0]), BlockOutcome::SideBranch));
    // Equal work and a higher tip hash: the tip stays.
    assert!(matches!(accept(&f.chain, &b[1]), BlockOutcome::SideBranch));
    assert_eq!(store.tip().unwrap().hash, a[1].hash());
    match accept(&f.chain, &b[2]) {
        BlockOutcome::Reorged {
            disconnected,
            connected,
            tip,
        } => {
            let d: Vec<BlockHash> = disconnected.iter().map(|x| x.hash()).collect();
            let c: Vec<BlockHash> = connected.iter().map(|x| x.hash()).collect();
            assert_eq!(d, vec![a[1].hash(), a[0].hash()]);
            assert_eq!(c, b.iter().map(|x| x.hash()).collect::<Vec<_>>());
            assert_eq!(tip.hash, b[2].hash());
            assert_eq!(tip.height, 3);
        }
        other => panic!("expected a reorg, got {other:?}"),
    }
    let snap = store.utxo_snapshot().unwrap();
    assert_eq!(snap, store.compute_utxo_set().unwrap());
    let mut best = vec![f.genesis.clone()];
    best.extend(b.iter().cloned());
    assert_eq!(snap, model(&best));
    let keys: Vec<SigningKey> = (1..=3).map(key).collect();
    assert_addr_index(store, &keys, &snap);
    assert_eq!(store.balance(&owner(&key(2))).unwrap(), 0);
    assert_eq!(
        store.balance(&owner(&key(3))).unwrap(),
        3 * SUBSIDY + 1 + 19
    );
    for (h, blk) in best.iter().enumerate() {
        assert_eq!(store.hash_at(h as u64).unwrap(), Some(blk.hash()));
    }
    assert!(!store.is_on_best_chain(&a[0].hash()).unwrap());
    assert_eq!(
        store.block_meta(&a[1].hash()).unwrap().unwrap().status,
        BlockStatus::Valid
    );
    assert_eq!(sledchain::app::query::checkchain_text(store).unwrap(), "OK");
}

#[test]
fn a_tie_goes_to_the_lower_tip_hash() {
    let f = Fixture::new();
    let store = f.store();
    let (a, b) = branches(&f, 2);
    accept(&f.chain, &a[0]);
    let snap = store.utxo_snapshot().unwrap();
    assert!(matches!(accept(&f.chain, &b[0]), BlockOutcome::SideBranch));
    assert_eq!(store.tip().unwrap().hash, a[0].hash());
    assert_eq!(store.utxo_snapshot().unwrap(), snap);
    assert_eq!(
        store.block_meta(&b[0].hash()).unwrap().unwrap().status,
        BlockStatus::Stored
    );
    // Extending the side branch past the tip switches to it.
    assert!(matches!(
        accept(&f.chain, &b[1]),
        BlockOutcome::Reorged { .. }
    ));
    assert_eq!(store.tip().unwrap().hash, b[1].hash());
    // Extending the old branch to the same work with a lower tip hash
    // switches back to it at once.
    assert!(a[1].hash() < b[1].hash());
    assert!(matches!(
        accept(&f.chain, &a[1]),
        BlockOutcome::Reorged { .. }
    ));
    assert_eq!(store.tip().unwrap().hash, a[1].hash());
    assert_eq!(
        store.utxo_snapshot().unwrap(),
        store.compute_utxo_set().unwrap()
    );
}

#[test]
fn a_heavier_branch_with_an_invalid_block_is_refused() {
    let f = Fixture::new();
    let store = f.store();
    let (a, _) = branches(&f, 1);
    for blk in &a {
        accept(&f.chain, blk);
    }
    let tip = store.tip().unwrap();
    let snap = store.utxo_snapshot().unwrap();
    // Branch B: b1 valid, b2 spends an output that does not exist, b3 on top.
    let ghost = OutPoint {
        txid: Txid(sha256d(b"ghost")),
        vout: 0,
    };
    let bad_tx = signed(
        &[(ghost, pay(&key(3), 50), &key(3))],
        vec![pay(&key(3), 50)],
    );
    let b1 = block(f.genesis.hash(), 1, &key(3), SUBSIDY, vec![]);
    // b2 ties the tip and loses: only b3 makes the branch win.
    let b2 = block_losing_tie(b1.hash(), 2, &key(3), SUBSIDY, vec![bad_tx], a[1].hash());
    let b3 = block(b2.hash(), 3, &key(3), SUBSIDY, vec![]);
    assert!(matches!(accept(&f.chain, &b1), BlockOutcome::SideBranch));
    assert!(matches!(accept(&f.chain, &b2), BlockOutcome::SideBranch));
    match f
        .chain
        .accept_block(&b3, sledchain::core::params::now_secs())
    {
        Err(ChainError::Invalid { hash, .. }) => assert_eq!(hash, b2.hash()),
        other => panic!("expected the branch refused, got {other:?}"),
    }
    assert_eq!(store.tip().unwrap(), tip);
    assert_eq!(store.utxo_snapshot().unwrap(), snap);
    assert_eq!(snap, store.compute_utxo_set().unwrap());
    assert_eq!(store.hash_at(1).unwrap(), Some(a[0].hash()));
    assert_eq!(store.hash_at(2).unwrap(), Some(a[1].hash()));
    for h in [b2.hash(), b3.hash()] {
        assert_eq!(
            store.block_meta(&h).unwrap().unwrap().status,
            BlockStatus::Invalid
        );
    }
    // Remembered: offered again, or built upon, it is refused at once.
    assert!(matches!(
        f.chain.accept_block(&b2, sledchain::core::params::now_secs()),
        Err(ChainError::KnownInvalid(h)) if h == b2.hash()
    ));
    let b4 = block(b3.hash(), 4, &key(3), SUBSIDY, vec![]);
    assert!(matches!(
        f.chain.accept_block(&b4, sledchain::core::params::now_secs()),
        Err(ChainError::InvalidParent { hash, parent }) if hash == b4.hash() && parent == b3.hash()
    ));
    assert_eq!(store.tip().unwrap(), tip);
    assert_eq!(sledchain::app::query::checkchain_text(store).unwrap(), "OK");
}

#[test]
fn an_invalid_block_on_the_tip_is_refused_and_remembered() {
    let f = Fixture::new();
    let store = f.store();
    let snap = store.utxo_snapshot().unwrap();
    let (g_op, g_out) = cb_out(&f.genesis);
    // Signed by the wrong key.
    let theft = signed(&[(g_op, g_out, &key(9))], vec![pay(&key(9), 20)]);
    let b = block(f.genesis.hash(), 1, &key(9), SUBSIDY, vec![theft]);
    assert!(matches!(
        f.chain
            .accept_block(&b, sledchain::core::params::now_secs()),
        Err(ChainError::Invalid { .. })
    ));
    assert_eq!(store.tip().unwrap().hash, f.genesis.hash());
    assert_eq!(store.utxo_snapshot().unwrap(), snap);
    assert_eq!(
        store.block_meta(&b.hash()).unwrap().unwrap().status,
        BlockStatus::Invalid
    );
}

#[test]
fn reopen_keeps_tip_utxo_set_and_peers() {
    let f = Fixture::new();
    let mut sim = Sim::new(&f.genesis);
    for _ in 0..20 {
        let b = sim.next_block(3);
        accept(&f.chain, &b);
    }
    let rec = PeerRecord {
        last_seen: 1_700_000_123,
        failures: 2,
        banned_until: 0,
    };
    f.store().put_peer("127.0.0.1:3001", &rec).unwrap();
    f.store()
        .put_peer("10.0.0.2:3000", &PeerRecord::default())
        .unwrap();
    let tip = f.store().tip().unwrap();
    let snap = f.store().utxo_snapshot().unwrap();
    let peers = f.store().peers().unwrap();
    let path = f.path();
    let Fixture { dir, chain, .. } = f;
    drop(chain);

    let store = open(&path);
    assert_eq!(store.tip().unwrap(), tip);
    assert_eq!(store.genesis_hash().unwrap(), Some(sim.blocks[0].hash()));
    assert_eq!(store.params().unwrap().difficulty, BITS);
    assert_eq!(store.utxo_snapshot().unwrap(), snap);
    assert_addr_index(&store, &sim.keys, &snap);
    assert_eq!(store.peers().unwrap(), peers);
    assert_eq!(store.peers().unwrap().len(), 2);
    assert_eq!(store.peer("127.0.0.1:3001").unwrap(), Some(rec));
    assert_eq!(store.peer("127.0.0.1:9999").unwrap(), None);
    assert!(matches!(
        store.init_genesis(&sim.blocks[0]),
        Err(StoreError::ChainExists)
    ));
    // The chain keeps growing after the reopen.
    let chain = ChainState::new(store.clone(), Arc::new(SigCache::new(100))).unwrap();
    let b = sim.next_block(2);
    assert!(matches!(accept(&chain, &b), BlockOutcome::Connected(_)));
    assert_eq!(store.utxo_snapshot().unwrap(), model(&sim.blocks));
    drop(dir);
}

#[test]
fn init_genesis_twice_is_chain_exists() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir.path().join("chain"));
    assert!(matches!(store.tip(), Err(StoreError::NoChain)));
    assert_eq!(store.tip_opt().unwrap(), None);
    let g = block(BlockHash::ZERO, 0, &key(1), SUBSIDY, vec![]);
    store.init_genesis(&g).unwrap();
    let snap = store.utxo_snapshot().unwrap();
    let other = block(BlockHash::ZERO, 0, &key(2), SUBSIDY, vec![]);
    for again in [&g, &other] {
        assert!(matches!(
            store.init_genesis(again),
            Err(StoreError::ChainExists)
        ));
    }
    assert_eq!(store.tip().unwrap().hash, g.hash());
    assert_eq!(store.utxo_snapshot().unwrap(), snap);
    assert_eq!(store.balance(&owner(&key(2))).unwrap(), 0);
}

#[test]
fn balance_counts_only_the_addresses_own_outputs() {
    let f = Fixture::new();
    let store = f.store();
    let (k1, k2, k3, k4) = (key(1), key(2), key(3), key(4));
    let (g_op, g_out) = cb_out(&f.genesis);
    let tx = signed(
        &[(g_op, g_out, &k1)],
        vec![pay(&k2, 7), pay(&k3, 4), pay(&k2, 3), pay(&k1, 6)],
    );
    let b1 = block(f.genesis.hash(), 1, &k3, SUBSIDY, vec![tx.clone()]);
    accept(&f.chain, &b1);
    assert_eq!(store.balance(&owner(&k1)).unwrap(), 6);
    assert_eq!(store.balance(&owner(&k2)).unwrap(), 10);
    assert_eq!(store.balance(&owner(&k3)).unwrap(), 4 + SUBSIDY);
    assert_eq!(store.balance(&owner(&k4)).unwrap(), 0);
    assert!(store.utxos_of(&owner(&k4)).unwrap().is_empty());
    let mut k2_coins = store.utxos_of(&owner(&k2)).unwrap();
    k2_coins.sort();
    let mut expected = vec![(op(&tx, 0), 7), (op(&tx, 2), 3)];
    expected.sort();
    assert_eq!(k2_coins, expected);

    // k2 spends one coin to k4: only those two balances move.
    let tx2 = signed(&[(op(&tx, 0), tx.outputs[0], &k2)], vec![pay(&k4, 7)]);
    let b2 = block(b1.hash(), 2, &k3, SUBSIDY, vec![tx2]);
    accept(&f.chain, &b2);
    assert_eq!(store.balance(&owner(&k1)).unwrap(), 6);
    assert_eq!(store.balance(&owner(&k2)).unwrap(), 3);
    assert_eq!(store.balance(&owner(&k3)).unwrap(), 4 + 2 * SUBSIDY);
    assert_eq!(store.balance(&owner(&k4)).unwrap(), 7);
    // A pubkey hash sharing a prefix with k2's owns nothing.
    let mut near = owner(&k2);
    near[19] ^= 1;
    assert_eq!(store.balance(&near).unwrap(), 0);
    let snap = store.utxo_snapshot().unwrap();
    assert_addr_index(store, &[k1, k2, k3, k4], &snap);
    let total: u64 = snap.values().map(|o| o.value).sum();
    assert_eq!(total, 3 * SUBSIDY);
}

#[test]
fn store_is_locked_while_open() {
    let f = Fixture::new();
    match ChainStore::open(&f.path(), 1 << 20) {
        Err(StoreError::Locked(_)) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second open of a held store succeeded"),
    }
}

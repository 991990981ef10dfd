//! Equality of the flush and index schedules, a proptest over random
//! chains with forks (so reorgs disconnect and reconnect blocks with
//! payments): the same blocks processed with the chain-state cache flushed
//! after every block and the explorer indexes following every few blocks
//! (so they are rolled back across reorgs, from blocks whose undo data is
//! gone), and with one flush at the end and the indexes built once from
//! genesis, leave byte-identical chain-state trees (heights, tip and
//! metadata, UTXO set, address index, undo data) and explorer indexes with
//! their locator; `reindexutxo` on the second leaves them identical again.

mod support;

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use sledchain::chain::Chain;
use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::tx::{OutPoint, TxOut};
use sledchain::core::validation::SigCache;
use sledchain::store::ChainStore;
use support::Lcg;
use support::fixtures::{BITS, key, owner, signed, solve};

const TREES: [&str; 6] = ["heights", "meta", "utxo", "addr_utxo", "undo", "explorer"];

type Dump = Vec<Vec<(Vec<u8>, Vec<u8>)>>;

fn dump(path: &Path) -> Dump {
    let db = support::open_raw(path);
    TREES
        .iter()
        .map(|t| {
            db.open_tree(t)
                .expect("tree")
                .iter()
                .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("read"))
                .collect()
        })
        .collect()
}

fn open(path: &Path) -> (ChainStore, Chain) {
    let store = ChainStore::open(path, 1 << 20).expect("open");
    let (chain, _) = Chain::open(store.clone(), Arc::new(SigCache::new(10_000))).expect("chain");
    (store, chain)
}

/// A block on `parent` paying key 3, with a payment spending `coin` (to
/// keys 3 and 4) when given; `salt` varies the timestamp so siblings differ.
fn block_on(parent: &Block, coin: Option<(OutPoint, u64)>, salt: u32) -> Block {
    let k = key(3);
    let txs = coin
        .into_iter()
        .map(|(op, value)| {
            let spent = TxOut {
                value,
                pubkey_hash: owner(&k),
            };
            let outs = vec![
                TxOut {
                    value: value / 2,
                    pubkey_hash: owner(&key(4)),
                },
                TxOut {
                    value: value - value / 2,
                    pubkey_hash: owner(&k),
                },
            ];
            signed(&[(op, spent, &k)], outs)
        })
        .collect();
    let time = parent.header.timestamp + 1 + salt;
    let mut b = Block::template(
        parent.hash(),
        parent.height + 1,
        BITS,
        time,
        owner(&k),
        20,
        txs,
    );
    solve(&mut b);
    b
}

/// Processes a seeded random chain with forks on `store`/`chain`, calling
/// `after` with the number of blocks processed after each; returns the
/// blocks in the order processed.
fn generate(
    seed: u64,
    store: &ChainStore,
    chain: &mut Chain,
    mut after: impl FnMut(usize),
) -> Vec<Block> {
    let mut rng = Lcg(seed | 1);
    let now = sledchain::core::params::now_secs();
    let mut g = Block::template(
        BlockHash::ZERO,
        0,
        BITS,
        1_700_000_000,
        owner(&key(3)),
        20,
        vec![],
    );
    solve(&mut g);
    let mut order = vec![g.clone()];
    chain.process_block(g, None, now);
    for _ in 0..60 {
        let tip = store.tip().expect("tip");
        let tip_block = store.block(&tip.hash).expect("read").expect("tip");
        let blocks = if rng.range(0, 5) == 0 && tip.height > 3 {
            // A branch from a few blocks down, one block longer.
            let depth = rng.range(1, 3);
            let mut base = tip_block.clone();
            for _ in 0..depth {
                base = store
                    .block(&base.header.prev_block_hash)
                    .expect("read")
                    .expect("parent");
            }
            let mut out: Vec<Block> = Vec::new();
            for i in 0..=depth {
                let p = out.last().unwrap_or(&base).clone();
                out.push(block_on(&p, None, 1 + i as u32));
            }
            out
        } else {
            let coins = store.utxos_of(&owner(&key(3))).expect("utxos");
            let coin = coins
                .get(rng.range(0, coins.len() as u64 - 1) as usize)
                .copied()
                .filter(|(_, v)| *v >= 2);
            vec![block_on(&tip_block, coin, 0)]
        };
        for b in blocks {
            order.push(b.clone());
            chain.process_block(b, None, now);
            after(order.len());
        }
    }
    order
}

/// One case: the chain of `seed`, its indexes following every `follow`
/// blocks in the first run.
fn check(seed: u64, follow: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (every, once) = (dir.path().join("every"), dir.path().join("once"));
    let blocks = {
        let (store, mut chain) = open(&every);
        store.set_dbcache(0);
        let s = store.clone();
        let blocks = generate(seed, &store, &mut chain, |n| {
            if n % follow == 0 {
                s.sync_indexes().expect("index step");
            }
        });
        assert!(store.disconnects() > 0, "seed {seed}: no reorg happened");
        assert!(
            store.state_flushes() as usize >= blocks.len() / 2,
            "seed {seed}: flushed rarely"
        );
        store.sync_indexes().expect("index step");
        blocks
    };
    {
        let (store, mut chain) = open(&once);
        let now = sledchain::core::params::now_secs();
        for b in &blocks {
            chain.process_block(b.clone(), None, now);
        }
        assert_eq!(
            store.state_flushes(),
            0,
            "seed {seed}: nothing flushed before the store closes (the genesis is written, not flushed)"
        );
        assert_eq!(store.indexed_height().expect("read"), None);
        store.sync_indexes().expect("index step");
    }
    let reference = dump(&every);
    assert!(
        reference[2].len() > 10,
        "seed {seed}: a UTXO set to compare"
    );
    assert!(
        reference[5].len() > blocks.len(),
        "seed {seed}: indexes to compare"
    );
    assert!(
        dump(&once) == reference,
        "seed {seed}: flush at end differs from flush every block"
    );
    {
        let store = ChainStore::open(&once, 1 << 20).expect("open");
        store.reindex_utxo().expect("reindex");
    }
    assert!(dump(&once) == reference, "seed {seed}: reindexutxo differs");
    {
        // A rebuild from nothing gives the same indexes too.
        let db = support::open_raw(&once);
        db.open_tree("explorer")
            .expect("tree")
            .clear()
            .expect("clear");
        db.flush().expect("flush");
    }
    {
        let store = ChainStore::open(&once, 1 << 20).expect("open");
        store.reindex_utxo().expect("reindex");
    }
    assert!(
        dump(&once) == reference,
        "seed {seed}: second reindex differs"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn flush_every_block_flush_at_end_and_reindex_give_identical_state_and_indexes(
        seed in any::<u64>(),
        follow in 1usize..5,
    ) {
        check(seed, follow);
    }
}

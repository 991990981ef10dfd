//! Crash recovery replays, it never rebuilds (Bitcoin Core's
//! `ReplayBlocks`): a process writing a chain through [`Chain`] with a tiny
//! chain-state cache (so it flushes every few blocks) is killed with SIGKILL
//! at seeded random moments: while connecting, in a reorg, in the middle
//! of a flush. After each kill the store must open (the best-block record
//! accepts it), and opening the chain must replay the stored blocks up to
//! the best one: the tip is the most-work stored block, the UTXO set equals
//! a rebuild from the blocks and the explorer indexes equal a rebuild. The
//! next round continues the same chain, so kills land on every kind of
//! state the earlier rounds left.
//!
//! The writer also runs the index builder's thread ([`IndexThread`]),
//! started after a seeded delay, so kills also land while it catches up
//! (the blocks written before it started) and while it rolls back reorgs.
//! After each kill the builder resumes from its locator (rewinding to the
//! fork when its block is off the best chain) and the explorer tree must be
//! byte for byte what a rebuild from the blocks writes.
//!
//! A second test kills writers on fresh stores before their first flush
//! (the genesis written to sled but not flushed): each store must open at
//! the genesis and replay the blocks stored after it.
//!
//! The writer is this test binary itself, run again with `CRASH_WRITER`
//! set (see [`writer`]).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sledchain::chain::Chain;
use sledchain::core::block::Block;
use sledchain::core::params::now_secs;
use sledchain::core::tx::TxOut;
use sledchain::core::validation::SigCache;
use sledchain::store::{ChainStore, IndexThread};
use support::Lcg;
use support::fixtures::{BITS, key, owner, signed, solve};

/// Kill rounds (seeded; `CRASH_SEED` overrides the seed).
const ROUNDS: u64 = 12;

/// The writer's chain-state cache: a few blocks' worth.
const TINY_CACHE: u64 = 16 << 10;

fn chain_path(dir: &Path) -> PathBuf {
    dir.join("chain")
}

fn open_chain(dir: &Path) -> (ChainStore, Chain) {
    let store = ChainStore::open(&chain_path(dir), 1 << 20).unwrap_or_else(|e| panic!("open: {e}"));
    let (chain, _) =
        Chain::open(store.clone(), Arc::new(SigCache::new(10_000))).expect("chain opens");
    (store, chain)
}

/// The block on `parent` (at `height`) paying its coinbase to key 7 and,
/// when `coin` is given, a signed payment spending it back to key 7 in two
/// outputs.
fn block_on(
    parent: &Block,
    coin: Option<(sledchain::core::tx::OutPoint, u64)>,
    salt: u32,
) -> Block {
    let k = key(7);
    let me = owner(&k);
    let txs = coin
        .into_iter()
        .map(|(op, value)| {
            let spent = TxOut {
                value,
                pubkey_hash: me,
            };
            let outs = vec![
                TxOut {
                    value: value / 2,
                    pubkey_hash: me,
                },
                TxOut {
                    value: value - value / 2,
                    pubkey_hash: me,
                },
            ];
            signed(&[(op, spent, &k)], outs)
        })
        .collect();
    let time = parent.header.timestamp + 1 + salt;
    let mut b = Block::template(parent.hash(), parent.height + 1, BITS, time, me, 20, txs);
    solve(&mut b);
    b
}

/// The writer: opens (replaying what the last kill left) with a chain-state
/// cache of `cache` bytes, then extends the chain until killed; every 7th block it mines a two-block branch from
/// the tip's parent, a reorg.
fn writer(dir: &Path, seed: u64, cache: u64) {
    let (store, mut chain) = open_chain(dir);
    store.set_dbcache(cache);
    let mut rng = Lcg(seed | 1);
    let now = now_secs();
    if store.tip_opt().expect("tip").is_none() {
        let mut g = Block::template(
            sledchain::core::hash::BlockHash::ZERO,
            0,
            BITS,
            u32::try_from(now).expect("time") - 500_000,
            owner(&key(7)),
            20,
            vec![],
        );
        solve(&mut g);
        chain.process_block(g, None, now);
    }
    let me = owner(&key(7));
    let start_index = std::time::Instant::now() + Duration::from_millis(rng.range(0, 600));
    let mut indexer = None;
    loop {
        if indexer.is_none() && std::time::Instant::now() >= start_index {
            indexer = Some(IndexThread::spawn(store.clone()).expect("index thread"));
        }
        let tip = store.tip().expect("tip");
        let tip_block = store.block(&tip.hash).expect("read").expect("tip block");
        let coin = store
            .utxos_of(&me)
            .expect("utxos")
            .into_iter()
            .find(|(_, v)| *v >= 2);
        if rng.range(0, 7) == 0 && tip.height > 1 {
            let parent = store
                .block(&tip_block.header.prev_block_hash)
                .expect("read")
                .expect("parent");
            let a = block_on(&parent, None, 1);
            let b = block_on(&a, None, 0);
            chain.process_block(a, None, now);
            chain.process_block(b, None, now);
        } else {
            let b = block_on(&tip_block, coin, 0);
            chain.process_block(b, None, now);
        }
    }
}

#[test]
#[ignore = "the writer process of kill9_at_random_moments_replays_to_the_best_stored_block"]
fn crash_writer() {
    if let (Ok(dir), Ok(seed)) = (
        std::env::var("CRASH_WRITER"),
        std::env::var("CRASH_WRITER_SEED"),
    ) {
        let cache = std::env::var("CRASH_WRITER_CACHE")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(TINY_CACHE);
        writer(Path::new(&dir), seed.parse().expect("seed"), cache);
    }
}

/// Runs the writer on `dir` (its cache `cache` bytes, seeded by `seed`)
/// and kills it with SIGKILL after `ms` milliseconds.
fn run_and_kill(dir: &Path, seed: u64, cache: u64, ms: u64) {
    let me = std::env::current_exe().expect("test binary");
    let mut child = Command::new(&me)
        .args([
            "--exact",
            "crash_writer",
            "--ignored",
            "--test-threads",
            "1",
        ])
        .env("CRASH_WRITER", dir)
        .env("CRASH_WRITER_SEED", seed.to_string())
        .env("CRASH_WRITER_CACHE", cache.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer");
    std::thread::sleep(Duration::from_millis(ms));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

/// Every entry of the `explorer` tree (the store must be closed).
fn explorer_dump(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = support::open_raw(&chain_path(dir));
    db.open_tree("explorer")
        .expect("tree")
        .iter()
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("read"))
        .collect()
}

/// Checks a killed writer's store; returns its height after replay and how
/// many blocks the explorer indexes were behind the flushed tip (or ahead
/// of it, negative) when it was killed.
fn check(dir: &Path, round: u64) -> (u64, i64) {
    let store = ChainStore::open(&chain_path(dir), 1 << 20)
        .unwrap_or_else(|e| panic!("round {round}: the store is refused after a kill: {e}"));
    let flushed = store.tip().expect("tip");
    let recorded = store.best_record().expect("record").expect("a record");
    assert_eq!(
        recorded.flushed,
        (flushed.hash, flushed.height),
        "round {round}: record"
    );
    assert_eq!(recorded.pending, None);
    let index_at = store
        .index_tip()
        .expect("locator")
        .map_or(-1, |t| t.height as i64);
    let lag = flushed.height as i64 - index_at;
    drop(store);
    let (store, chain) = open_chain(dir);
    let tip = chain.tip().expect("tip").expect("a chain");
    let (best, meta) = store.heaviest_block().expect("index").expect("blocks");
    assert_eq!(
        (tip.hash, tip.height),
        (best, meta.height),
        "round {round}: the tip is not the most-work stored block"
    );
    assert!(
        tip.height >= flushed.height,
        "round {round}: below the flushed tip"
    );
    assert_eq!(
        store.utxo_snapshot().expect("utxos"),
        store.compute_utxo_set().expect("rebuild"),
        "round {round}: UTXO set differs from a rebuild"
    );
    // The builder resumes from its locator and reaches the tip.
    assert_eq!(store.sync_indexes().expect("index"), Some(tip.height));
    let located = store.index_tip().expect("locator").expect("indexed");
    assert_eq!((located.hash, located.height), (tip.hash, tip.height));
    let tip_block = store.block(&tip.hash).expect("read").expect("tip block");
    for (pos, tx) in tip_block.transactions.iter().enumerate() {
        assert_eq!(
            store.tx_location(&tx.txid()).expect("tx index"),
            Some((tip.hash, pos as u32)),
            "round {round}: tx index"
        );
    }
    drop((store, chain));
    let caught_up = explorer_dump(dir);
    {
        let store = ChainStore::open(&chain_path(dir), 1 << 20).expect("reopen");
        store.rebuild_indexes().expect("rebuild indexes");
        let recorded = store.best_record().expect("record").expect("a record");
        assert_eq!(
            recorded.flushed,
            (tip.hash, tip.height),
            "round {round}: record after flush"
        );
    }
    assert!(
        explorer_dump(dir) == caught_up,
        "round {round}: the explorer indexes differ from a rebuild"
    );
    (tip.height, lag)
}

#[test]
fn kill9_at_random_moments_replays_to_the_best_stored_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de);
    println!("crash replay seed {seed}");
    let mut rng = Lcg(seed);
    let mut heights = Vec::new();
    let mut lags = Vec::new();
    for round in 0..ROUNDS {
        let writer_seed = rng.next();
        run_and_kill(dir.path(), writer_seed, TINY_CACHE, rng.range(150, 900));
        let (height, lag) = check(dir.path(), round);
        heights.push(height);
        lags.push(lag);
    }
    println!("heights after each round: {heights:?}");
    println!("explorer indexes behind the flushed tip at each kill: {lags:?}");
    assert!(
        heights.last().is_some_and(|h| *h > 20),
        "the writer made too little progress to test anything: {heights:?}"
    );
    let (store, _) = open_chain(dir.path());
    assert_eq!(
        sledchain::app::query::checkchain_text(&store).expect("checkchain"),
        "OK"
    );
}

/// A new chain's genesis is written to sled at once but made durable only
/// by the first flush (`ChainStore::init_genesis`): a writer killed before
/// its first flush (its cache too large to fill) leaves no best-block
/// record, and its store must still open at the genesis and replay every
/// block stored after it, as after any other kill.
#[test]
fn kill9_before_the_first_flush_replays_from_the_genesis() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e4e_5150);
    let mut rng = Lcg(seed);
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        run_and_kill(dir.path(), rng.next(), 1 << 30, rng.range(150, 600));
        let record = chain_path(dir.path()).with_file_name("chain.best");
        assert!(
            !record.exists(),
            "round {round}: the writer flushed before it was killed"
        );
        let (height, _) = check(dir.path(), round);
        assert!(
            height > 0,
            "round {round}: no block after the genesis was replayed"
        );
    }
}

//! Readers see whole states: while a reorg of many blocks is written, a
//! reader polling the tip and the best chain's heights sees the chain
//! before it or after it, never a tip in between, and never a height whose
//! block disagrees with the tip's branch.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::store::ChainStore;
use support::fixtures::{BITS, solve};

/// `n` coinbase-only blocks on `parent`, paying `to`.
fn branch(parent: &Block, n: u64, to: u8) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for _ in 0..n {
        let p = out.last().unwrap_or(parent);
        let mut b = Block::template(
            p.hash(),
            p.height + 1,
            BITS,
            p.header.timestamp + 1,
            [to; 20],
            20,
            vec![],
        );
        solve(&mut b);
        out.push(b);
    }
    out
}

#[test]
fn a_reorg_is_never_visible_half_done() {
    let store = ChainStore::temporary().expect("store");
    let mut g = Block::template(BlockHash::ZERO, 0, BITS, 1_700_000_000, [1; 20], 20, vec![]);
    solve(&mut g);
    store.init_genesis(&g).expect("genesis");
    let a = branch(&g, 30, 2);
    for b in &a {
        store.connect_block(b, &[]).expect("connect");
    }
    let fork = &a[4];
    let b = branch(fork, 40, 3);
    for blk in &b {
        store.store_block(blk).expect("store");
    }
    let (a_tip, b_tip) = (a[29].hash(), b[39].hash());
    let done = Arc::new(AtomicBool::new(false));
    // Odd while a reorg is under way: a reader's two reads that saw the
    // same even value had no reorg between them. (Reading the tip again
    // cannot tell: back-and-forth reorgs bring the same tip back, A-B-A.)
    let reorgs = Arc::new(AtomicU64::new(0));
    let reader = {
        let (store, done, reorgs) = (store.clone(), done.clone(), reorgs.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let before = reorgs.load(Ordering::SeqCst);
                let tip = store.tip().expect("tip");
                seen.push(tip.hash);
                let at = store.hash_at(tip.height).expect("height");
                if before % 2 == 0 && reorgs.load(Ordering::SeqCst) == before {
                    assert_eq!(at, Some(tip.hash), "height {} torn", tip.height);
                }
            }
            seen
        })
    };
    let to_b: Vec<_> = b.iter().map(|blk| (blk, &[][..])).collect();
    let to_a: Vec<_> = a[5..].iter().map(|blk| (blk, &[][..])).collect();
    // Back and forth, so the reader meets the writes many times.
    for _ in 0..20 {
        reorgs.fetch_add(1, Ordering::SeqCst);
        let (gone, tip) = store.reorganize(&fork.hash(), &to_b).expect("reorg");
        reorgs.fetch_add(1, Ordering::SeqCst);
        assert_eq!((gone.len(), tip.hash), (25, b_tip));
        std::thread::yield_now();
        reorgs.fetch_add(1, Ordering::SeqCst);
        let (gone, tip) = store.reorganize(&fork.hash(), &to_a).expect("reorg back");
        reorgs.fetch_add(1, Ordering::SeqCst);
        assert_eq!((gone.len(), tip.hash), (40, a_tip));
        std::thread::yield_now();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().expect("reader");
    assert!(
        seen.contains(&a_tip) && seen.contains(&b_tip),
        "the reader ran across the reorg"
    );
    let torn: Vec<_> = seen
        .iter()
        .filter(|h| **h != a_tip && **h != b_tip)
        .collect();
    assert!(
        torn.is_empty(),
        "the reader saw {} intermediate tips",
        torn.len()
    );
}

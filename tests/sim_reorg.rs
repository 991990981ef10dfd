//! A quiet network converges (deterministic simulator): equal-work tips go
//! to the lower block hash on every node, so a race at the end of activity
//! or a healed partition ends on one tip with no further transaction, and
//! a payment only in the losing branch returns to the mempool.

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::sim::{Sim, SimConfig};

mod sans_io;
use sans_io::{PAYEE, heights, race_at_height_one, tip};

/// Node `i`'s best-chain block hash at `height`.
fn best_at(s: &Sim, i: usize, height: u64) -> Option<BlockHash> {
    s.chain(i).store().hash_at(height).ok().flatten()
}

fn block(s: &Sim, i: usize, hash: &BlockHash) -> Option<Block> {
    s.chain(i).store().block(hash).ok().flatten()
}

fn mempools_empty(s: &Sim) -> bool {
    (0..s.nodes.len()).all(|i| s.chain(i).mempool().is_empty())
}

#[test]
fn a_race_at_the_end_of_activity_converges_on_the_lower_hash_tip() {
    // The same two payments reach both minters at once: both mint at
    // height 1, and nothing follows.
    let mut s = race_at_height_one();
    let first_2 = best_at(&s, 2, 1).expect("minted");
    let first_6 = best_at(&s, 6, 1).expect("minted");
    assert_eq!(s.stats.minted, 2, "both minters mint");
    assert_ne!(first_2, first_6, "a fork at height 1");
    assert!(
        s.run_while_not(30_000, |s| s.converged()),
        "{:?}",
        heights(&s)
    );
    s.run_for(30_000);
    assert!(s.converged(), "still one tip later");
    assert_eq!(tip(&s, 0), Some(first_2.min(first_6)));
    assert_eq!(s.stats.minted, 2, "no further block");
    assert!(s.stats.reorgs > 0, "the higher hash's side reorganizes");
    assert!(mempools_empty(&s), "both blocks held the same payments");
}

#[test]
fn a_healed_partition_with_equal_branches_converges_without_new_transactions() {
    let mut s = Sim::new(SimConfig {
        nodes: 6,
        minters: vec![0, 3],
        genesis_everywhere: true,
        idle_timeout: 10_000,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start_all();
    s.run_for(3_000);
    s.partition(vec![0, 0, 0, 1, 1, 1]);
    mint_side(&mut s, 0, &[0, 1, 2], 1);
    mint_side(&mut s, 3, &[3, 4, 5], 1);
    let left = tip(&s, 0).expect("tip");
    let right = tip(&s, 3).expect("tip");
    assert_ne!(left, right);
    let minted = s.stats.minted;
    // Long enough for the links across to time out: the heal is seen as
    // new handshakes.
    s.run_for(15_000);
    s.heal();
    assert!(
        s.run_while_not(120_000, |s| s.converged()),
        "{:?}",
        heights(&s)
    );
    assert_eq!(tip(&s, 0), Some(left.min(right)));
    // Both sides paid from the same coins: the losing side's payments
    // conflict with the winner and leave; nothing is left to mint.
    s.run_for(30_000);
    assert!(s.converged(), "still one tip later");
    assert_eq!(s.stats.minted, minted, "no block after the heal");
    assert!(mempools_empty(&s));
}

/// One block on one side of a partition at `height`.
fn mint_side(s: &mut Sim, minter: usize, side: &[usize], height: u64) {
    s.pay(minter, PAYEE, 1).expect("pay");
    s.pay(minter, PAYEE, 1).expect("pay");
    let ok = s.run_while_not(30_000, |s| {
        side.iter().all(|i| s.height(*i) == Some(height))
    });
    assert!(ok, "{:?}", heights(s));
}

#[test]
fn a_payment_only_in_the_losing_branch_returns_to_every_mempool_and_is_mined() {
    let mut s = Sim::new(SimConfig {
        nodes: 6,
        minters: vec![0, 3],
        genesis_everywhere: true,
        idle_timeout: 10_000,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start_all();
    s.run_for(3_000);
    // Block 1, minted by node 0 alone: key 0 (genesis) keeps coins of 5
    // and 1; node 0's minter key gets the coinbase (20).
    s.stop(3);
    let me = s.wallet.pkh(0);
    s.pay(0, me, 5).expect("pay");
    s.pay(0, PAYEE, 14).expect("pay");
    assert!(s.run_while_not(30_000, |s| s.height(0) == Some(1)));
    s.start(3);
    assert!(s.run_while_not(60_000, |s| (0..6).all(|i| s.height(i) == Some(1))));
    s.partition(vec![0, 0, 0, 1, 1, 1]);
    // Left: key 0's coins of 5 and 1. Right: the coinbase, then key 0's
    // coin of 5 (largest first). Each side's block conflicts with the
    // other's in one payment only: the other payment of the loser stays
    // valid.
    let left = [
        s.pay(0, PAYEE, 5).expect("pay"),
        s.pay(0, PAYEE, 1).expect("pay"),
    ];
    assert!(s.run_while_not(30_000, |s| (0..3).all(|i| s.height(i) == Some(2))));
    let right = [
        s.pay(3, PAYEE, 7).expect("pay"),
        s.pay(3, PAYEE, 1).expect("pay"),
    ];
    assert!(s.run_while_not(30_000, |s| (3..6).all(|i| s.height(i) == Some(2))));
    let left_tip = tip(&s, 0).expect("tip");
    let right_tip = tip(&s, 3).expect("tip");
    let (winner, loser, losers) = if left_tip < right_tip {
        (left_tip, right_tip, right)
    } else {
        (right_tip, left_tip, left)
    };
    let won = block(&s, 0, &winner)
        .or_else(|| block(&s, 3, &winner))
        .expect("winning block");
    let lost = block(&s, 0, &loser)
        .or_else(|| block(&s, 3, &loser))
        .expect("losing block");
    let spent_by_winner: Vec<_> = won
        .transactions
        .iter()
        .flat_map(|t| t.inputs.iter().map(|i| i.prev_out))
        .collect();
    let still_valid: Vec<_> = lost
        .transactions
        .iter()
        .skip(1)
        .filter(|t| {
            t.inputs
                .iter()
                .all(|i| !spent_by_winner.contains(&i.prev_out))
        })
        .map(|t| t.txid())
        .collect();
    assert_eq!(still_valid.len(), 1, "one losing payment stays valid");
    let returned = still_valid[0];
    assert!(losers.contains(&returned));
    let minted = s.stats.minted;
    s.run_for(15_000);
    s.heal();
    assert!(
        s.run_while_not(120_000, |s| s.converged()
            && (0..6).all(|i| s.chain(i).mempool().contains(&returned))),
        "{:?}",
        heights(&s)
    );
    assert_eq!(tip(&s, 0), Some(winner));
    for i in 0..6 {
        let conflicting = losers.iter().find(|t| **t != returned).expect("two");
        assert!(!s.chain(i).mempool().contains(conflicting));
        assert_eq!(s.chain(i).mempool().len(), 1);
    }
    // One payment is below the mint threshold (2): it waits.
    s.run_for(30_000);
    assert_eq!(s.stats.minted, minted, "no block for a single payment");
    assert!(s.converged());
    // A second payment makes the threshold: both are mined everywhere.
    s.pay(0, PAYEE, 2).expect("pay");
    assert!(
        s.run_while_not(60_000, |s| s.converged()
            && (0..6).all(|i| mined(s, i, &returned))),
        "{:?}",
        heights(&s)
    );
    assert_eq!(s.height(0), Some(3));
}

/// True when `txid` is in a block of node `i`'s best chain.
fn mined(s: &Sim, i: usize, txid: &sledchain::core::hash::Txid) -> bool {
    let store = s.chain(i).store();
    let Ok(tip) = store.tip() else { return false };
    (1..=tip.height).any(|h| {
        best_at(s, i, h)
            .and_then(|hash| block(s, i, &hash))
            .is_some_and(|b| b.txids().contains(txid))
    })
}

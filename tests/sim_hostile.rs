//! A network with 10% hostile nodes, in the deterministic simulator: 27
//! honest nodes (two of them minting) and 3 hostile ones
//! ([`sledchain::sim::Hostile`]), each holding inbound connections into 8
//! honest nodes: claiming a huge height; every second announcing made-up
//! block hashes and txids and flooding `getdata` with one txid; announcing
//! every honest payment first and never delivering it; every ten seconds
//! pushing a side-branch block and a block below the chain's difficulty;
//! and dialling back from a fresh address whenever dropped or banned.
//!
//! The honest network must still converge on one tip with every honest
//! payment mined, no bad block on the best chain, and the run must be the
//! same twice for one seed. `make sim` runs the same attack at scale
//! (`SIM_HOSTILE`, examples/sim.rs).

use sledchain::core::hash::Txid;
use sledchain::sim::hostile::{EASY_PAYEE, SIDE_PAYEE};
use sledchain::sim::{Hostile, Rng, Sim, SimConfig};

const PAYEE: [u8; 20] = [7; 20];
/// Honest nodes (simulated in full).
const HONEST: usize = 27;
/// Hostile nodes: 10% of the 30.
const HOSTILE: usize = 3;
/// Honest nodes each hostile node connects into.
const LINKS: usize = 8;
/// Payment rounds (two payments each).
const ROUNDS: usize = 12;

/// True when every honest node's best chain holds `txid`.
fn mined_everywhere(s: &Sim, txid: &Txid) -> bool {
    (0..HONEST).all(|i| matches!(s.chain(i).store().tx_location(txid), Ok(Some(_))))
}

/// The whole run for `seed`: returns the sim and the honest payments.
fn run(seed: u64) -> (Sim, Vec<Txid>) {
    let mut s = Sim::new(SimConfig {
        seed,
        nodes: HONEST,
        genesis_everywhere: true,
        minters: vec![0, HONEST / 2],
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start_all();
    s.run_for(2_000);
    let mut hostile = Hostile::new(&mut s, HOSTILE, LINKS, seed);
    let mut rng = Rng::new(seed ^ 0xfee);
    let mut payments = Vec::new();
    for _ in 0..ROUNDS {
        let at = rng.below(HONEST as u64) as usize;
        for amount in [1, 2] {
            let txid = s.pay(at, PAYEE, amount).expect("the wallet cannot pay");
            hostile.announce_first(&mut s, txid);
            payments.push(txid);
        }
        for _ in 0..10 {
            hostile.attack(&mut s, payments.last().copied());
            s.run_for(1_000);
        }
    }
    // The attacks go on while the network settles.
    for _ in 0..120 {
        if s.converged() && payments.iter().all(|t| mined_everywhere(&s, t)) {
            break;
        }
        hostile.attack(&mut s, payments.last().copied());
        s.run_for(1_000);
    }
    (s, payments)
}

#[test]
fn ten_percent_hostile_nodes_cannot_stop_convergence_or_payments() {
    let (s, payments) = run(5);
    assert!(s.converged(), "the honest nodes hold different tips");
    let missing: Vec<_> = payments
        .iter()
        .filter(|t| !mined_everywhere(&s, t))
        .collect();
    assert!(missing.is_empty(), "payments not mined: {missing:?}");
    let height = s.height(0).expect("tip");
    assert!(height >= ROUNDS as u64, "only {height} blocks");
    // No block below the chain's difficulty made it onto the chain, and
    // no side-branch block above height 1 (one at height 1, pushed while
    // the chain was that short, is a valid competitor and may win).
    let store = s.chain(0).store();
    for h in 1..=height {
        let hash = store.hash_at(h).expect("read").expect("on the chain");
        let b = store.block(&hash).expect("read").expect("stored");
        let payee = b.transactions[0].outputs[0].pubkey_hash;
        assert_ne!(payee, EASY_PAYEE, "an easy block at height {h}");
        assert!(h == 1 || payee != SIDE_PAYEE, "a side block at height {h}");
    }
    // The attacks were answered with points.
    let banned = s
        .stats
        .disconnects
        .iter()
        .filter(|d| d.2.to_string().starts_with("misbehavior"))
        .count();
    assert!(banned > 0, "no hostile peer dropped for misbehaviour");
    // Same seed, same run.
    let (again, _) = run(5);
    assert_eq!(s.digest(), again.digest());
}

//! This machine's limits, measured in the same run as the scenarios: raw
//! sha256d, the minting loop's hash rate, and P-256 verifications (one
//! core, and all cores through `verify_sig_checks`).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sledchain::core::block::{Block, BlockHeader, search_nonce, solve_header};
use sledchain::core::hash::{BlockHash, sha256d};
use sledchain::core::validation::verify_sig_checks;
use sledchain::core::view::UtxoView;

use crate::harness::{Table, cores, median};
use crate::support;

/// The limits rows (and the mint row); returns (sha256d/s/core,
/// verifies/s/core).
pub fn run(t: &mut Table) -> (f64, f64) {
    let n = cores() as f64;
    eprintln!("limits ({n} cores)");
    let sha = sha256d_per_sec();
    let ver = verifies_per_sec();
    let pver = parallel_verifies_per_sec();
    t.row("limit: sha256d/s/core", sha, "H/s", None, "", String::new());
    let name = "limit: verify/s/core (ring)";
    t.row(name, ver, "v/s", None, "", String::new());
    let name = "verify_sig_checks (rayon)";
    t.row(name, pver, "v/s", Some(ver * n), "", String::new());
    eprintln!("mint");
    let mint = mint_hashes_per_sec();
    let name = "mint hash rate";
    t.row(name, mint, "H/s", Some(sha * n), ">= 80%", String::new());
    (sha, ver)
}

/// Raw sha256d of an 80-byte header per second on one core.
fn sha256d_per_sec() -> f64 {
    let h = bench_header().encode();
    let mut best = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut x = h;
        for _ in 0..200_000 {
            let d = sha256d(&x);
            x[0] = d.as_bytes()[0];
        }
        best.push(200_000.0 / t.elapsed().as_secs_f64());
    }
    median(&mut best)
}

fn bench_header() -> BlockHeader {
    BlockHeader {
        version: 1,
        prev_block_hash: BlockHash(sha256d(b"p")),
        merkle_root: sha256d(b"m"),
        timestamp: 1,
        bits: 200,
        nonce: 0,
    }
}

/// The minting loop's hash rate on all cores: the threads `solve_header`
/// starts, over a fixed nonce range at an unreachable difficulty.
fn mint_hashes_per_sec() -> f64 {
    let n = cores() as u32;
    let h = bench_header();
    let range = 2_000_000u32;
    let mut v = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for i in 0..n {
                s.spawn(move || search_nonce(&h, i, n, range, &|| false));
            }
        });
        v.push(f64::from(range) / t.elapsed().as_secs_f64());
    }
    // And check `solve_header` itself still solves a real target.
    let mut easy = h;
    easy.bits = 8;
    solve_header(&mut easy, n as usize, &AtomicBool::new(false));
    median(&mut v)
}

/// A view holding every output of `genesis`'s coinbase, which the bench
/// blocks spend.
fn coinbase_view(genesis: &Block) -> UtxoView {
    let mut view = UtxoView::new();
    if let Some(cb) = genesis.transactions.first() {
        for (op, out) in cb.created_outputs(cb.txid()) {
            view.insert(op, out);
        }
    }
    view
}

/// P-256 signature verifications per second on one core (the node's
/// backend, ring).
pub fn verifies_per_sec() -> f64 {
    let key = support::key(3);
    let g = support::genesis_paying(support::owner(&key), 2);
    let b = support::spending_block(&g, &key, 1);
    let view = coinbase_view(&g);
    let checks = sledchain::core::validation::check_tx_inputs(&b.transactions[1], 1, &view)
        .expect("inputs")
        .sig_checks;
    let mut v = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..300 {
            checks[0].verify().expect("valid");
        }
        v.push(300.0 / t.elapsed().as_secs_f64());
    }
    median(&mut v)
}

/// Verifications per second through `verify_sig_checks` (rayon, all cores).
fn parallel_verifies_per_sec() -> f64 {
    let key = support::key(4);
    let g = support::genesis_paying(support::owner(&key), 400);
    let b = support::spending_block(&g, &key, 200);
    let view = coinbase_view(&g);
    let checks: Vec<_> = b.transactions[1..]
        .iter()
        .enumerate()
        .flat_map(|(i, tx)| {
            sledchain::core::validation::check_tx_inputs(tx, i + 1, &view)
                .expect("inputs")
                .sig_checks
        })
        .collect();
    let mut v = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        verify_sig_checks(&checks, None).expect("valid");
        v.push(checks.len() as f64 / t.elapsed().as_secs_f64());
    }
    median(&mut v)
}

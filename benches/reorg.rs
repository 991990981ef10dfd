//! Reorg benchmark: `status` latency on a real release `node` while it
//! switches to a heavier branch of `BENCH_REORG_BLOCKS` [1000] blocks
//! (target: under 100 ms at every answer, since the reorg runs on the
//! chain worker thread, off the reactor that answers `status`).
//!
//! The node starts on branch A (genesis + N coinbase-only blocks, written
//! into its store); a raw headers-first (version 2) peer then offers branch
//! B (N + 1 blocks from genesis): its headers show B heavier, the node
//! fetches B's blocks, and the node validates B against the UTXO set as of
//! genesis, disconnects A and connects B. (A version-1 peer could not
//! deliver a reorg this deep: its low-work side blocks are held in memory,
//! at most 500 per peer, until their branch has the work.) A second thread asks `status`
//! over the control socket every 5 ms from the first B block until the tip
//! is B's, and the latencies are printed.
//!
//! Run: `cargo bench --bench reorg` (a figure, not a test: nothing is
//! asserted on time).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use p256::ecdsa::SigningKey;
use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::params::{SUBSIDY, now_secs};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{Node, RawPeer, free_port, init_node, mine_on, owner};

const BITS: u32 = 4;

fn blocks() -> u64 {
    std::env::var("BENCH_REORG_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// `len` coinbase-only blocks on `from`, paying `to`, timestamps from `t`.
fn branch(from: &Block, len: u64, t: u32, to: [u8; 20]) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for i in 1..=len {
        let prev = out.last().map_or(from.hash(), Block::hash);
        let h = from.height + i;
        out.push(mine_on(prev, h, BITS, t + h as u32, to, SUBSIDY, vec![]));
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

fn main() {
    let n = blocks();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port();
    let key = SigningKey::from_slice(&[5u8; 32]).expect("key");
    let t = now_secs() as u32 - 10 * n as u32 - 100;
    let g = mine_on(BlockHash::ZERO, 0, BITS, t, owner(&key), SUBSIDY, vec![]);
    let a = branch(&g, n, t, owner(&key));
    let b = branch(&g, n + 1, t + 1, owner(&key));
    let mut chain = vec![g.clone()];
    chain.extend(a);
    init_node(d, port, &chain);
    let b_tip = b.last().expect("branch B").hash().to_string();

    let dead = format!("127.0.0.1:{}", free_port());
    let mut node = Node::at(d, port);
    node.start(&["--seed", &dead]);
    let node = Arc::new(Mutex::new(node));
    let poller = {
        let (node, b_tip) = (node.clone(), b_tip.clone());
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(120) {
                let t0 = Instant::now();
                let s = node.lock().map(|n| n.status()).ok().flatten();
                lat.push(t0.elapsed().as_secs_f64() * 1e3);
                if s.is_some_and(|s| s.tip == b_tip) {
                    return (lat, start.elapsed());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            panic!("the node did not switch to branch B within 120 s");
        })
    };
    let mut peer = RawPeer::connect(port).headers_first();
    peer.hello(g.hash(), n + 1);
    // Announced and served on request, as an honest peer would.
    peer.serve_blocks(&b, Duration::from_secs(120));
    let (mut lat, took) = poller.join().expect("poller");
    lat.sort_by(|x, y| x.total_cmp(y));
    println!(
        "reorg of {n} blocks (B sent, stored, validated and switched to in {:.2} s): \
         status answered {} times, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target < 100 ms)",
        took.as_secs_f64(),
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0),
    );
    if let Ok(mut node) = node.lock() {
        node.stop();
    }
}

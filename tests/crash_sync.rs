//! Crash safety of initial sync, which stores each block once and keeps the
//! chain state in a cache flushed whole: a fresh node killed with SIGKILL
//! in the middle of a sync leaves a chain `node checkchain` accepts (the
//! chain state of its last flush) with the blocks it received stored above
//! it, and once restarted it replays those blocks, resumes the sync and
//! reaches the seed's tip.

mod support;

use std::time::Duration;

use support::*;

/// Blocks in the seed's chain (one payment each): long enough that a sync
/// is still running when its first blocks have connected.
const BLOCKS: u64 = 3_000;

/// Most kills tried before one leaves a partly synced chain on disk (the
/// last mark, `BLOCKS / 4 + 5 * BLOCKS / 8`, is below the tip).
const ATTEMPTS: u64 = 6;

/// Blocks stored in a stopped node's block index (any status).
fn stored_blocks(node: &Node) -> usize {
    sledchain::store::ChainStore::open(&node.chain_path(), 1 << 20)
        .and_then(|s| s.block_index())
        .map_or(0, |i| i.len())
}

/// The height of the chain state a stopped node left (`None`: no chain
/// yet), after `checkchain` accepted it.
fn checked_height(node: &Node) -> Option<u64> {
    let (ok, out, err) = checkchain(&node.datadir, node.port);
    if !ok && err.contains("no chain yet") {
        return None;
    }
    assert!(
        ok && out == "OK",
        "checkchain: stdout {out:?}, stderr {err:?}"
    );
    Some(node.height().expect("status of a checked chain"))
}

#[test]
fn a_node_killed_in_the_middle_of_a_sync_resumes_and_reaches_the_tip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut seed = Node::new(d, "seed");
    let (seed_tip, seed_height) = genchain(d, seed.port, BLOCKS, 1);
    assert_eq!(seed_height, BLOCKS);
    let seed_addr = seed.addr();
    seed.start(&["--seed", &seed_addr]);

    // Each attempt starts the node on what the last kill left and kills it
    // once it reports a height at or above a mark that rises each time
    // (blocks connected but not yet flushed by sled are lost to a kill).
    // A node that completed the sync starts over from an empty datadir.
    let mut node = Node::new(d, "node");
    let mut partial = None;
    for attempt in 0..ATTEMPTS {
        let mark = BLOCKS / 4 + attempt * BLOCKS / 8;
        node.start(&["--seed", &seed_addr]);
        wait_for(Duration::from_secs(60), "the node to pass the mark", || {
            node.assert_alive();
            node.height().is_some_and(|h| h >= mark)
        });
        node.kill();
        let left = checked_height(&node);
        let stored = stored_blocks(&node);
        println!(
            "attempt {attempt}: killed at or above {mark}, the chain state is at {left:?}, {stored} blocks stored"
        );
        match left {
            Some(h) if h == seed_height => {
                std::fs::remove_dir_all(node.dir()).expect("wipe datadir")
            }
            Some(_) if stored as u64 > 1 => {
                partial = Some(stored as u64 - 1);
                break;
            }
            _ => {}
        }
    }
    let partial = partial.expect("no kill left a partly synced chain");
    assert!(partial < seed_height);

    node.start(&["--seed", &seed_addr]);
    wait_for(
        Duration::from_secs(120),
        "the restarted node to reach the tip",
        || {
            node.assert_alive();
            node.height() == Some(seed_height)
        },
    );
    assert_eq!(node.status().expect("status").tip, seed_tip);
    node.stop();
    assert_eq!(checked_height(&node), Some(seed_height));
    seed.stop();
}

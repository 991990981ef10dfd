//! An invalid branch with more work, on real processes: a kill -9 in the
//! middle of a reorg onto it, at any moment, and the restarted node ends on
//! the most-work valid chain.

mod support;

use p256::ecdsa::SigningKey;
use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::params::{SUBSIDY, now_secs};
use sledchain::wire::message::Message;
use sledchain::wire::payload::BlockMsg;
use support::http::get_json;
use support::*;

const BITS: u32 = 4;

fn block_msg(block: &Block) -> Message {
    Message::Block(BlockMsg {
        addr_from: String::new(),
        block: block.clone(),
    })
}

/// `len` coinbase-only blocks on `from` (a block at `height`), paying `to`;
/// the block at `bad_height`, if any, pays itself more than the subsidy.
fn branch(from: &Block, len: u64, t: u32, to: [u8; 20], bad_height: Option<u64>) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for i in 1..=len {
        let height = from.height + i;
        let prev = out.last().map_or(from.hash(), Block::hash);
        let reward = if Some(height) == bad_height {
            SUBSIDY + 1_000
        } else {
            SUBSIDY
        };
        out.push(mine_on(
            prev,
            height,
            BITS,
            t + height as u32,
            to,
            reward,
            vec![],
        ));
    }
    out
}

/// True once the node reports a tip of `b` at or above its invalid block
/// (height 190) as invalid (`GET /api/node/chaintips`): it has checked B
/// and refused it.
fn b_refused(http: u16, b: &[Block]) -> bool {
    let tips = get_json(http, "/api/node/chaintips");
    let above: Vec<String> = b[189..].iter().map(|x| x.hash().to_string()).collect();
    tips.as_array()
        .expect("tips")
        .iter()
        .any(|t| t["status"] == "invalid" && above.iter().any(|h| t["hash"] == h.as_str()))
}

/// Announces `blocks` to the node and serves each one it asks for, in
/// chain order, as often as it asks, until `done` holds or the node drops
/// the connection (as it may once a block it fetched proves invalid).
/// Panics after 60 s without either.
fn offer_until(peer: &mut RawPeer, blocks: &[Block], done: impl Fn() -> bool) {
    use sledchain::wire::payload::{Inv, InvKind};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    peer.send(&Message::Inv(Inv {
        addr_from: String::new(),
        kind: InvKind::Block,
        items: blocks.iter().map(|x| x.hash().0).collect(),
    }));
    while !done() {
        assert!(std::time::Instant::now() < deadline, "blocks not fetched");
        match peer.recv_open(std::time::Duration::from_millis(500)) {
            Ok(Some(Message::GetData(g))) => {
                for x in blocks.iter().filter(|x| g.items.contains(&x.hash().0)) {
                    if !peer.try_send(&block_msg(x)) {
                        return;
                    }
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

#[test]
fn a_restart_after_a_reorg_cut_short_onto_an_invalid_branch_ends_on_the_valid_chain() {
    // The store as a kill in the middle of an unchecked reorg leaves it: A
    // disconnected back to genesis, b1 connected, the heavier branch B
    // (b2 overpays its coinbase) stored.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port();
    let key = SigningKey::from_slice(&[3u8; 32]).expect("key");
    let t = now_secs() as u32 - 1000;
    let g = mine_on(BlockHash::ZERO, 0, BITS, t, owner(&key), SUBSIDY, vec![]);
    let a = branch(&g, 2, t, owner(&key), None);
    let b = branch(&g, 3, t + 100, owner(&key), Some(2));
    let mut chain = vec![g.clone()];
    chain.extend(a.iter().cloned());
    init_node(d, port, &chain);
    {
        let store = open_store(d, port);
        for x in &b {
            store.store_block(x).expect("store");
        }
        store.disconnect_tip().expect("disconnect a2");
        store.disconnect_tip().expect("disconnect a1");
        store.connect_block(&b[0], &[]).expect("connect b1");
        store.flush().expect("flush");
    }
    let dead = format!("127.0.0.1:{}", free_port());
    let mut node = Node::at(d, port);
    node.start(&["--seed", &dead]);
    let a_tip = a[1].hash().to_string();
    assert!(
        wait_until(20, || node.status().is_some_and(|s| s.tip == a_tip)),
        "restarted node not on the valid chain: {:?}",
        node.status()
    );
    assert_eq!(node.status().expect("status").height, 2);
    node.stop();
    assert_eq!(checkchain(d, port).1, "OK");
}

#[test]
fn a_kill_during_a_reorg_onto_an_invalid_branch_leaves_the_node_on_the_valid_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port();
    let key = SigningKey::from_slice(&[5u8; 32]).expect("key");
    let t = now_secs() as u32 - 10_000;
    let g = mine_on(BlockHash::ZERO, 0, BITS, t, owner(&key), SUBSIDY, vec![]);
    let a = branch(&g, 200, t, owner(&key), None);
    // B has more work; its block 190 overpays its coinbase.
    let b = branch(&g, 202, t + 1, owner(&key), Some(190));
    let mut chain = vec![g.clone()];
    chain.extend(a.iter().cloned());
    init_node(d, port, &chain);
    let a_tip = a[199].hash().to_string();
    let dead = format!("127.0.0.1:{}", free_port());
    let http = free_port();
    let http_addr = format!("127.0.0.1:{http}");
    let args = ["--seed", &dead, "--http", &http_addr];
    let mut node = Node::at(d, port);
    node.start(&args);
    assert!(wait_until(20, || node.status().is_some()), "no start");
    let mut peer = RawPeer::connect(port);
    peer.hello(g.hash(), 0);
    // Announced and served on request, as an honest peer would (a node
    // takes only a few unrequested blocks of one peer at a time).
    peer.serve_blocks(&b, std::time::Duration::from_secs(30));
    // Killed once B is stored up to its invalid block: wherever the kill
    // lands (storing the rest, validating B, or done), the outcome is the
    // same.
    assert!(
        wait_until(30, || node
            .log_text()
            .contains("at height 190 stored on a side branch")),
        "branch B not stored: {}",
        node.tail(20)
    );
    node.kill();
    node.start(&args);
    assert!(
        wait_until(20, || node.status().is_some_and(|s| s.tip == a_tip)),
        "restarted node not on the valid chain: {:?}",
        node.status()
    );
    // A kill -9 loses the blocks stored since sled last wrote its buffers
    // out (up to its 500 ms flush interval; no flushed chain state refers
    // to them), so how much of B survived varies from run to run. Offered
    // again as an honest peer offers blocks (announced, served on request:
    // a node takes only a few unrequested blocks of one peer at a time),
    // B is fetched where it was lost, checked again and refused: its tip
    // is marked invalid (it or its invalid block is a chain tip reported
    // invalid) and the node stays on A.
    let mut peer = RawPeer::connect(port);
    peer.hello(g.hash(), 0);
    offer_until(&mut peer, &b, || b_refused(http, &b));
    assert!(
        wait_until(30, || b_refused(http, &b)),
        "branch B not refused: {}",
        node.tail(20)
    );
    assert_eq!(node.status().expect("status").tip, a_tip);
    node.stop();
    assert_eq!(checkchain(d, port).1, "OK");
}

//! Forks: competing minters converge on one tip, a reorg returns the
//! transactions of disconnected blocks to the mempool when they are still
//! valid, and blocks received before their parents are connected once the
//! parents arrive.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use p256::ecdsa::SigningKey;
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Txid};
use sledchain::core::params::{SUBSIDY, now_secs};
use sledchain::core::tx::OutPoint;
use sledchain::wallet::send::build_payment;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, GetData, Inv, InvKind};
use support::*;

const BITS: u32 = 4;

fn coinbase_coin(b: &Block) -> (OutPoint, sledchain::core::tx::TxOut) {
    let cb = &b.transactions[0];
    (
        OutPoint {
            txid: cb.txid(),
            vout: 0,
        },
        cb.outputs[0],
    )
}

fn block_msg(block: &Block) -> Message {
    Message::Block(BlockMsg {
        addr_from: String::new(),
        block: block.clone(),
    })
}

#[test]
fn reorg_returns_still_valid_transactions_to_the_mempool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port();
    let key = SigningKey::from_slice(&[7u8; 32]).expect("key");
    let other = SigningKey::from_slice(&[9u8; 32]).expect("key");
    let t = now_secs() as u32 - 1000;
    let g = mine_on(BlockHash::ZERO, 0, BITS, t, owner(&key), SUBSIDY, vec![]);
    let b1 = mine_on(g.hash(), 1, BITS, t + 1, owner(&key), SUBSIDY, vec![]);
    init_node(d, port, &[g.clone(), b1.clone()]);

    // Branch A: t_keep spends the genesis coin, t_conflict the block-1 coin.
    let (c0, c1) = (coinbase_coin(&g), coinbase_coin(&b1));
    let t_keep = build_payment(&key, &[c0], owner(&other), 5, 1).expect("payment");
    let t_conflict = build_payment(&key, &[c1], owner(&other), 6, 1).expect("payment");
    let a2 = mine_on(
        b1.hash(),
        2,
        BITS,
        t + 2,
        owner(&other),
        SUBSIDY + 2,
        vec![t_keep.clone(), t_conflict.clone()],
    );
    // Branch B (more work): spends the block-1 coin differently.
    let u = build_payment(&key, &[c1], owner(&key), 7, 1).expect("payment");
    let b2 = mine_on(b1.hash(), 2, BITS, t + 3, owner(&key), SUBSIDY + 1, vec![u]);
    let b3 = mine_on(b2.hash(), 3, BITS, t + 4, owner(&key), SUBSIDY, vec![]);

    let dead = format!("127.0.0.1:{}", free_port());
    let mut node = Node::at(d, port);
    node.start(&["--seed", &dead]);
    assert!(
        wait_until(20, || node.status().is_some()),
        "node did not start"
    );
    let mut peer = RawPeer::connect(port);
    peer.hello(g.hash(), 1);
    peer.send(&block_msg(&a2));
    assert!(
        wait_until(20, || node.status().is_some_and(|s| s.height == 2)),
        "branch A not connected: {:?}",
        node.status()
    );
    assert_eq!(node.status().expect("status").tip, a2.hash().to_string());
    peer.send(&block_msg(&b2));
    peer.send(&block_msg(&b3));
    assert!(
        wait_until(20, || node.status().is_some_and(|s| s.height == 3)),
        "no reorg to branch B: {:?}",
        node.status()
    );
    let s = node.status().expect("status");
    assert_eq!(s.tip, b3.hash().to_string());
    assert_eq!(s.mempool, 1, "only the still-valid transaction returns");
    assert!(node.log_text().contains("reorg:"));

    // Which one: ask the node for both transactions.
    peer.send(&Message::GetData(GetData {
        addr_from: String::new(),
        kind: InvKind::Tx,
        items: vec![t_keep.txid().0, t_conflict.txid().0],
    }));
    let (mut got, mut missing) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && got.len() + missing.len() < 2 {
        match peer.recv(Duration::from_millis(200)) {
            Some(Message::Tx(m)) => got.push(m.transaction.txid()),
            Some(Message::NotFound(n)) => missing.extend(n.items.into_iter().map(Txid)),
            _ => {}
        }
    }
    assert_eq!(
        got,
        vec![t_keep.txid()],
        "mempool should hold the kept payment"
    );
    assert_eq!(
        missing,
        vec![t_conflict.txid()],
        "the double spend must not return"
    );

    node.stop();
    assert_eq!(checkchain(d, port).1, "OK");
}

#[test]
fn orphans_are_connected_once_their_parents_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port();
    let key = SigningKey::from_slice(&[5u8; 32]).expect("key");
    let t = now_secs() as u32 - 1000;
    let g = mine_on(BlockHash::ZERO, 0, BITS, t, owner(&key), SUBSIDY, vec![]);
    let mut chain = vec![g.clone()];
    for h in 1..=5u64 {
        let prev = chain.last().expect("parent").hash();
        chain.push(mine_on(
            prev,
            h,
            BITS,
            t + h as u32,
            owner(&key),
            SUBSIDY,
            vec![],
        ));
    }
    init_node(d, port, &chain[..1]);
    let dead = format!("127.0.0.1:{}", free_port());
    let mut node = Node::at(d, port);
    node.start(&["--seed", &dead]);
    assert!(
        wait_until(20, || node.status().is_some()),
        "node did not start"
    );

    let mut peer = RawPeer::connect(port);
    peer.hello(g.hash(), 0);
    // Blocks 5, 4, 3 first: their parents are unknown.
    for b in chain[3..].iter().rev() {
        peer.send(&block_msg(b));
    }
    let by_hash: std::collections::HashMap<_, _> =
        chain.iter().map(|b| (b.hash().0, b.clone())).collect();
    let all: Vec<_> = chain[1..].iter().map(|b| b.hash().0).collect();
    let (mut asked_blocks, mut requested) = (0, HashSet::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut done = false;
    while Instant::now() < deadline && !done {
        match peer.recv(Duration::from_millis(200)) {
            Some(Message::GetBlocks(_)) => {
                asked_blocks += 1;
                peer.send(&Message::Inv(Inv {
                    addr_from: String::new(),
                    kind: InvKind::Block,
                    items: all.clone(),
                }));
            }
            Some(Message::GetData(g)) if g.kind == InvKind::Block => {
                for h in g.items {
                    requested.insert(h);
                    if let Some(b) = by_hash.get(&h) {
                        peer.send(&block_msg(b));
                    }
                }
            }
            Some(_) => {}
            None => done = node.status().is_some_and(|s| s.height == 5),
        }
    }
    let s = node.status().expect("status");
    assert_eq!(s.height, 5, "orphans not connected");
    assert_eq!(s.tip, chain[5].hash().to_string());
    assert!(
        asked_blocks > 0,
        "the node never asked for the missing parents"
    );
    let parents: HashSet<_> = [chain[1].hash().0, chain[2].hash().0].into();
    assert_eq!(
        requested, parents,
        "the node should fetch exactly the missing parents, not the orphans it holds"
    );
    node.stop();
    assert_eq!(checkchain(d, port).1, "OK");
}

#[test]
fn a_reorg_cut_short_by_a_crash_completes_on_restart() {
    // The store as a kill between a reorg's disconnect and its connects
    // leaves it: branch A disconnected back to genesis, the heavier branch B
    // stored but not connected.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port();
    let key = SigningKey::from_slice(&[3u8; 32]).expect("key");
    let t = now_secs() as u32 - 1000;
    let g = mine_on(BlockHash::ZERO, 0, BITS, t, owner(&key), SUBSIDY, vec![]);
    let a1 = mine_on(g.hash(), 1, BITS, t + 1, owner(&key), SUBSIDY, vec![]);
    let b1 = mine_on(g.hash(), 1, BITS, t + 2, owner(&key), SUBSIDY, vec![]);
    let b2 = mine_on(b1.hash(), 2, BITS, t + 3, owner(&key), SUBSIDY, vec![]);
    init_node(d, port, &[g.clone(), a1]);
    {
        let store = open_store(d, port);
        store.store_block(&b1).expect("store b1");
        store.store_block(&b2).expect("store b2");
        store.disconnect_tip().expect("disconnect a1");
        store.flush().expect("flush");
    }
    let dead = format!("127.0.0.1:{}", free_port());
    let mut node = Node::at(d, port);
    node.start(&["--seed", &dead]);
    assert!(
        wait_until(20, || node.status().is_some_and(|s| s.height == 2)),
        "restarted node stays off the branch with the most work: {:?}",
        node.status()
    );
    assert_eq!(node.status().expect("status").tip, b2.hash().to_string());
    node.stop();
    assert_eq!(checkchain(d, port).1, "OK");
}

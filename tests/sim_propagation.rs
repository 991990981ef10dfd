//! Block propagation by push (`protocol/announce.rs`) in the simulator: a
//! new tip goes whole to synced peers with no `getdata` on the way, a peer
//! that is behind still gets an `inv`, and unrequested blocks from one
//! peer are bounded.

use std::sync::atomic::AtomicBool;

use sledchain::chain::miner;
use sledchain::core::block::Block;
use sledchain::core::params::SUBSIDY;
use sledchain::protocol::announce::MAX_UNREQUESTED;
use sledchain::protocol::sync::mgr::MAX_UNCONNECTING_BLOCKS;
use sledchain::protocol::{Input, Misbehavior};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, InvKind, PROTOCOL_VERSION, Version};

mod sans_io;
use sans_io::mint_block;

/// Five nodes joined only as a line 0-1-2-3-4 (every other link cut),
/// node 0 minting, all at genesis and connected to their neighbours (a
/// pair may hold two connections, one dialled each way).
fn line() -> Sim {
    let mut s = Sim::new(SimConfig {
        nodes: 5,
        minters: vec![0],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("stores");
    for a in 0..5 {
        for b in a + 2..5 {
            s.cut(a, b);
        }
    }
    s.start_all();
    let linked = |s: &Sim| {
        (0..5).all(|i| {
            let want = if i == 0 || i == 4 { 1 } else { 2 };
            s.protocol(i)
                .peers()
                .values()
                .filter(|p| p.is_ready())
                .count()
                >= want
        })
    };
    assert!(s.run_while_not(60_000, linked), "the line did not form");
    s
}

#[test]
fn a_new_block_crosses_a_line_of_five_with_no_getdata() {
    let mut s = line();
    for h in 1..=3 {
        // Paid at the far end: the transactions cross the line first.
        mint_block(&mut s, 4, h);
    }
    assert_eq!(s.stats.block_getdata, 0, "a block was asked for");
    assert!(s.converged());
    // Each node got each block once: pushed by its upstream neighbour,
    // never back from downstream.
    for i in 0..5 {
        let peers = s.protocol(i).peers();
        assert!(peers.values().all(|p| p.score == 0), "node {i}: {peers:?}");
    }
}

#[test]
fn a_block_is_pushed_to_a_synced_peer_and_announced_to_one_behind() {
    let mut s = one_started_node();
    mint_block(&mut s, 0, 1);
    mint_block(&mut s, 0, 2);
    let behind = s.attach(0, "203.0.113.1:8333".parse().expect("addr"));
    let synced = s.attach(0, "203.0.113.2:8333".parse().expect("addr"));
    s.inject(0, version(&s, behind, 0));
    s.inject(0, version(&s, synced, 2));
    s.stats.to_attached.clear();
    mint_block(&mut s, 0, 3);
    let tip = s.tip(0).expect("tip").hash;
    let got = |peer: u64| -> Vec<&Message> {
        s.stats
            .to_attached
            .iter()
            .filter(|(_, p, _)| *p == peer)
            .map(|(_, _, m)| m)
            .collect()
    };
    let is_block = |m: &&Message| matches!(m, Message::Block(b) if b.block.hash() == tip);
    let is_inv = |m: &&Message| matches!(m, Message::Inv(i) if i.kind == InvKind::Block && i.items == vec![tip.0]);
    assert!(got(synced).iter().any(is_block), "{:?}", got(synced));
    assert!(!got(synced).iter().any(is_inv));
    assert!(got(behind).iter().any(is_inv), "{:?}", got(behind));
    assert!(!got(behind).iter().any(is_block));
}

#[test]
fn unrequested_blocks_from_one_peer_are_bounded_and_not_scored() {
    let (mut s, peer) = one_node_and_a_stranger();
    // Rival blocks at height 1, pushed back to back: the chain layer's
    // answers (scheduled) have not come back between them.
    let blocks: Vec<Block> = (0..3 * MAX_UNREQUESTED as u32)
        .map(|i| rival(&s, i))
        .collect();
    for b in &blocks {
        s.inject(0, block_msg(peer, b.clone()));
    }
    let stored = |s: &Sim| {
        blocks
            .iter()
            .filter(|b| s.chain(0).store().has_block(&b.hash()).unwrap_or(false))
            .count()
    };
    s.settle(0);
    assert_eq!(stored(&s), MAX_UNREQUESTED);
    // Once processed, the budget is back; a block we have is not taken
    // again, one we lack is.
    s.run_for(1_000);
    let before = s.stats.messages;
    for b in &blocks[..MAX_UNREQUESTED + 1] {
        s.inject(0, block_msg(peer, b.clone()));
    }
    s.settle(0);
    assert_eq!(stored(&s), MAX_UNREQUESTED + 1);
    s.run_for(1_000);
    let p = s.protocol(0).peers().get(&peer).expect("still connected");
    assert_eq!((p.score, s.protocol(0).sync().pending(peer)), (0, 0));
    // Nothing was announced again for the block re-sent.
    assert!(s.stats.messages - before <= 1, "re-announced");
}

/// A minter pushing its blocks to a node too busy to take them all (past
/// [`MAX_UNREQUESTED`] the node drops them) makes an orphan of each block
/// it pushes on a dropped one until that one is fetched: those orphans
/// are ours, not the minter's fault, and cost it nothing. It was charged
/// 10 points for each past [`MAX_UNCONNECTING_BLOCKS`] and disconnected
/// (seen in the relay bench: 1-2 times a run).
#[test]
fn orphans_built_on_a_push_we_dropped_cost_the_pusher_nothing() {
    let (mut s, peer) = one_node_and_a_stranger();
    let chain = chain_on_genesis(&s, 16);
    // Six pushed back to back: four taken, two dropped.
    for b in &chain[..6] {
        s.inject(0, block_msg(peer, b.clone()));
    }
    s.settle_all();
    assert_eq!(s.height(0), Some(MAX_UNREQUESTED as u64));
    // The minter goes on pushing, one at a time: each is an orphan.
    for b in &chain[6..] {
        s.inject(0, block_msg(peer, b.clone()));
        s.settle_all();
    }
    assert_eq!(s.height(0), Some(MAX_UNREQUESTED as u64));
    assert_eq!(score(&s, peer), Some(0), "charged for orphans we made");
    // The dropped blocks come (the answer to our getblocks): all connect.
    for b in &chain[4..6] {
        s.inject(0, block_msg(peer, b.clone()));
        s.settle_all();
    }
    assert_eq!(s.height(0), Some(16));
    assert_eq!(score(&s, peer), Some(0));
}

/// The guard of the test above: orphans pushed with no block of ours
/// dropped under them still cost [`MAX_UNCONNECTING_BLOCKS`] free, then
/// 10 points each ([`Misbehavior::UnconnectedBlock`]).
#[test]
fn orphans_pushed_on_a_block_never_sent_are_charged() {
    let (mut s, peer) = one_node_and_a_stranger();
    let chain = chain_on_genesis(&s, 8);
    // Block 1 never sent: 2..=8 are orphans.
    for b in &chain[1..] {
        s.inject(0, block_msg(peer, b.clone()));
        s.settle_all();
    }
    let charged = (chain.len() - 1) as u32 - MAX_UNCONNECTING_BLOCKS;
    let points = Misbehavior::UnconnectedBlock(chain[1].hash()).points();
    assert_eq!(score(&s, peer), Some(charged * points));
}

/// One node, started and run for a second: its chain is its genesis alone.
fn one_started_node() -> Sim {
    let mut s = Sim::new(SimConfig {
        nodes: 1,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start(0);
    s.run_for(1_000);
    s
}

/// One node with a chain of genesis alone, and a hand-driven stranger
/// that said `version` at height 0.
fn one_node_and_a_stranger() -> (Sim, u64) {
    let mut s = one_started_node();
    let peer = s.attach(0, "203.0.113.4:8333".parse().expect("addr"));
    s.inject(0, version(&s, peer, 0));
    s.run_for(100);
    (s, peer)
}

/// `len` solved blocks, each the child of the one before, on genesis.
fn chain_on_genesis(s: &Sim, len: u32) -> Vec<Block> {
    let g = &s.genesis;
    let mut prev = g.clone();
    (1..=len)
        .map(|h| {
            let time = g.header.timestamp + h;
            let mut b = Block::template(
                prev.hash(),
                u64::from(h),
                g.header.bits,
                time,
                [9; 20],
                SUBSIDY,
                vec![],
            );
            assert!(miner::solve(&mut b, 1, &AtomicBool::new(false)));
            prev = b.clone();
            b
        })
        .collect()
}

fn score(s: &Sim, peer: u64) -> Option<u32> {
    s.protocol(0).peers().get(&peer).map(|p| p.score)
}

fn version(s: &Sim, peer: u64, height: u64) -> Input {
    Input::Received {
        peer,
        message: Message::Version(Version {
            version: PROTOCOL_VERSION,
            best_height: height,
            addr_from: String::new(),
            genesis: Some(s.genesis.hash()),
            nonce: 1_000 + peer,
        }),
    }
}

fn block_msg(peer: u64, block: Block) -> Input {
    Input::Received {
        peer,
        message: Message::Block(BlockMsg {
            addr_from: String::new(),
            block,
        }),
    }
}

/// A valid coinbase-only block on the genesis, told apart by `i`.
fn rival(s: &Sim, i: u32) -> Block {
    let g = &s.genesis;
    let time = g.header.timestamp + 1 + i;
    let mut b = Block::template(g.hash(), 1, g.header.bits, time, [9; 20], SUBSIDY, vec![]);
    assert!(miner::solve(&mut b, 1, &AtomicBool::new(false)));
    b
}

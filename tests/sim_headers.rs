//! Headers-first sync in the deterministic simulator: a fresh node takes
//! its blocks from several peers at once; a peer that announces headers
//! and never serves their blocks is dropped as stalling while the others
//! finish the sync; a low-work branch forking at genesis, announced by
//! headers and `inv` and pushed, gets nothing fetched and nothing stored.

mod sans_io;
use sans_io::mint_to;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

use sledchain::core::block::{Block, BlockHeader};
use sledchain::core::params::SUBSIDY;
use sledchain::protocol::sync::Asked;
use sledchain::protocol::sync_peer::BLOCK_STALLING_TIMEOUT;
use sledchain::protocol::{DisconnectReason, Input};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, Headers, Inv, InvKind, PROTOCOL_VERSION, Version};

/// A hand-driven peer's address (TEST-NET-2: not a simulated node).
const STRANGER: &str = "198.51.100.8:40000";

/// A simulation of `nodes` nodes sharing genesis, node 0 started and
/// minted up to height `to`.
fn minted(nodes: usize, to: u64) -> Sim {
    let mut s = Sim::new(SimConfig {
        nodes,
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start(0);
    mint_to(&mut s, 0, to);
    s
}

fn recv(peer: u64, message: Message) -> Input {
    Input::Received { peer, message }
}

fn block_msg(block: &Block) -> Message {
    Message::Block(BlockMsg {
        addr_from: String::new(),
        block: block.clone(),
    })
}

/// Attaches a hand-driven version-2 peer to node 0 that claims
/// `branch`'s height and, a moment later, sends its headers.
fn offer_headers(s: &mut Sim, branch: &[Block]) -> u64 {
    let peer = stranger(s, 0, branch.len() as u64);
    s.run_for(100);
    let headers = branch.iter().map(|b| b.header).collect();
    s.inject(0, recv(peer, Message::Headers(Headers { headers })));
    peer
}

/// Attaches a hand-driven version-2 peer to node `i` and says `version`.
fn stranger(s: &mut Sim, i: usize, best_height: u64) -> u64 {
    let peer = s.attach(i, STRANGER.parse().expect("addr"));
    let v = Version {
        version: PROTOCOL_VERSION,
        best_height,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce: 99,
    };
    s.inject(i, recv(peer, Message::Version(v)));
    peer
}

/// The headers of node 0's best chain after genesis, in order.
fn best_headers(s: &Sim) -> Vec<BlockHeader> {
    let store = s.chain(0).store();
    let tip = s.height(0).expect("chain");
    (1..=tip)
        .map(|h| {
            let hash = store.hash_at(h).expect("read").expect("height");
            store.block(&hash).expect("read").expect("block").header
        })
        .collect()
}

/// The getdata items node `i` sent its attached peer `peer`.
fn asked_of(s: &Sim, i: usize, peer: u64) -> usize {
    s.stats
        .to_attached
        .iter()
        .filter(|(n, p, _)| (*n, *p) == (i, peer))
        .map(|(_, _, m)| match m {
            Message::GetData(g) if g.kind == InvKind::Block => g.items.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_fresh_node_syncs_headers_first_from_several_peers_at_once() {
    let mut s = minted(4, 40);
    s.start(1);
    s.start(2);
    assert!(
        s.run_while_not(30_000, |s| s.height(1) == Some(40)
            && s.height(2) == Some(40)),
        "nodes 1 and 2 did not sync"
    );
    s.start(3);
    // The most peers node 3 had blocks in flight from at one moment, and
    // whether any was asked from a header chain.
    let mut most = 0;
    let mut from_headers = false;
    let end = s.now() + 30_000;
    while s.height(3) != Some(40) && s.now() < end {
        let flights = s.protocol(3).sync().all_in_flight();
        let peers: BTreeSet<u64> = flights.values().map(|f| f.peer).collect();
        most = most.max(peers.len());
        from_headers |= flights.values().any(|f| f.kind == Asked::Headers);
        s.run_for(1);
    }
    assert_eq!(s.height(3), Some(40), "node 3 did not sync");
    assert!(most >= 2, "blocks in flight from {most} peer(s) at most");
    assert!(from_headers, "no block asked from a header chain");
}

#[test]
fn a_peer_that_announces_headers_and_never_serves_them_is_dropped_and_sync_completes() {
    let mut s = minted(2, 30);
    let headers = best_headers(&s);
    s.start(1);
    // Its headers are the real chain's, sent before the seed's arrive:
    // node 1 asks it for the first blocks, which never come.
    let staller = stranger(&mut s, 1, 30);
    s.inject(1, recv(staller, Message::Headers(Headers { headers })));
    let start = s.now();
    assert!(
        s.run_while_not(BLOCK_STALLING_TIMEOUT + 10_000, |s| s.height(1) == Some(30)),
        "sync did not complete without the staller: height {:?}",
        s.height(1)
    );
    assert!(
        asked_of(&s, 1, staller) > 0,
        "the staller was asked nothing"
    );
    assert!(
        s.stats.disconnects.iter().any(|(i, p, r)| (*i, *p) == (1, staller)
            && matches!(r, DisconnectReason::Stalling(_))),
        "the staller was not dropped as stalling: {:?}",
        s.stats.disconnects
    );
    assert!(s.now() < start + BLOCK_STALLING_TIMEOUT + 10_000);
}

/// `n` solved blocks forking at genesis, dated after node 0's tip.
fn low_branch(s: &Sim, n: u64) -> Vec<Block> {
    let tip = s.tip(0).expect("tip").hash;
    let tip = s.chain(0).store().block(&tip).expect("read").expect("tip");
    let bits = s.config().bits;
    let mut out: Vec<Block> = Vec::new();
    for height in 1..=n {
        let prev = out.last().map_or(s.genesis.hash(), Block::hash);
        let time = tip.header.timestamp + 60 + height as u32;
        let mut b = Block::template(prev, height, bits, time, [9; 20], SUBSIDY, vec![]);
        assert!(sledchain::chain::miner::solve(
            &mut b,
            1,
            &AtomicBool::new(false)
        ));
        out.push(b);
    }
    out
}

#[test]
fn a_low_work_branch_forking_at_genesis_gets_nothing_fetched_or_stored() {
    let mut s = minted(1, 20);
    let before = s.chain(0).store().block_index().expect("index").len();
    let branch = low_branch(&s, 10);
    let peer = offer_headers(&mut s, &branch);
    s.inject(
        0,
        recv(
            peer,
            Message::Inv(Inv {
                addr_from: String::new(),
                kind: InvKind::Block,
                items: branch.iter().map(|b| b.hash().0).collect(),
            }),
        ),
    );
    s.run_for(1_000);
    assert_eq!(asked_of(&s, 0, peer), 0, "low-work blocks were asked for");
    // Pushed unasked, they are refused and charged, not stored.
    for b in branch.iter().take(4) {
        s.inject(0, recv(peer, block_msg(b)));
        s.run_for(200);
    }
    let store = s.chain(0).store();
    for b in &branch {
        assert!(!store.has_block(&b.hash()).expect("read"), "stored");
    }
    assert_eq!(store.block_index().expect("index").len(), before);
    assert_eq!(s.height(0), Some(20));
}

#[test]
fn a_heavier_branch_forking_at_genesis_is_fetched_by_headers_and_reorged_to() {
    let mut s = minted(1, 10);
    let branch = low_branch(&s, 12);
    let peer = offer_headers(&mut s, &branch);
    // Serve every block asked for, as an honest peer would.
    let mut served = 0;
    for _ in 0..50 {
        s.run_for(100);
        let asked: Vec<_> = s
            .stats
            .to_attached
            .iter()
            .skip(served)
            .filter_map(|(n, p, m)| match m {
                Message::GetData(g) if (*n, *p) == (0, peer) && g.kind == InvKind::Block => {
                    Some(g.items.clone())
                }
                _ => None,
            })
            .flatten()
            .collect();
        served = s.stats.to_attached.len();
        for h in asked {
            if let Some(b) = branch.iter().find(|b| b.hash().0 == h) {
                s.inject(0, recv(peer, block_msg(b)));
            }
        }
        if s.height(0) == Some(12) {
            break;
        }
    }
    let tip = s.tip(0).expect("tip");
    assert_eq!(tip.hash, branch[11].hash(), "not on the heavier branch");
    assert_eq!(asked_of(&s, 0, peer), 12, "blocks asked for more than once");
}

//! Side-branch blocks with too little work (Bitcoin Core's
//! "too-little-chainwork"), in the deterministic simulator: a block pushed
//! unasked on a branch that trails the tip by more than the anti-DoS
//! margin is not stored and costs its sender points; one within the
//! margin still is stored, so races and short reorgs build up as before,
//! also when a version-1 peer announces it by `inv`. (A low-work block a
//! version-1 peer announces by `inv` and we ask for is not stored either,
//! but held in memory and charged to nobody: `tests/protocol_v1_side.rs`.)
//! An unrequested block whose parent we do not know costs points past a
//! few in a row.

mod sans_io;
use sans_io::minted_with_stranger;
use std::sync::atomic::AtomicBool;

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::params::SUBSIDY;
use sledchain::protocol::Input;
use sledchain::protocol::sync::SIDE_BRANCH_MARGIN_BLOCKS;
use sledchain::protocol::sync::mgr::MAX_UNCONNECTING_BLOCKS;
use sledchain::sim::Sim;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, PROTOCOL_VERSION, Version};

/// A hand-driven peer's address (TEST-NET-2: not a simulated node).
const STRANGER: &str = "198.51.100.7:40000";
/// The tip's height: well beyond the margin above genesis.
const TIP: u64 = SIDE_BRANCH_MARGIN_BLOCKS + 4;

/// Node 0 alone, minting [`TIP`] blocks, with a stranger attached and
/// ready; returns the sim and the stranger's peer id.
fn setup() -> (Sim, u64) {
    minted_with_stranger(TIP, STRANGER, PROTOCOL_VERSION, 99)
}

fn recv(peer: u64, message: Message) -> Input {
    Input::Received { peer, message }
}

fn block(peer: u64, block: Block) -> Input {
    let addr_from = STRANGER.to_string();
    recv(peer, Message::Block(BlockMsg { addr_from, block }))
}

/// A solved block on `prev` at `height`, told apart by `i`, dated a
/// minute after the tip (after any median time past, within the clock).
fn side(s: &Sim, prev: BlockHash, height: u64, i: u32) -> Block {
    let tip = s.tip(0).expect("tip").hash;
    let tip = s.chain(0).store().block(&tip).expect("read").expect("tip");
    let time = tip.header.timestamp + 60 + i;
    let bits = s.config().bits;
    let mut b = Block::template(prev, height, bits, time, [9; 20], SUBSIDY, vec![]);
    assert!(sledchain::chain::miner::solve(
        &mut b,
        1,
        &AtomicBool::new(false)
    ));
    b
}

fn stored(s: &Sim) -> usize {
    s.chain(0).store().block_index().expect("index").len()
}

fn score(s: &Sim, peer: u64) -> Option<u32> {
    s.protocol(0).peers().get(&peer).map(|p| p.score)
}

#[test]
fn a_low_work_side_block_pushed_unasked_is_not_stored_and_is_charged() {
    let (mut s, peer) = setup();
    let before = stored(&s);
    let genesis = s.genesis.hash();
    for i in 0..3 {
        let b = side(&s, genesis, 1, i);
        s.inject(0, block(peer, b.clone()));
        s.run_for(500);
        assert!(
            !s.chain(0).store().has_block(&b.hash()).expect("read"),
            "side block {i} on genesis stored"
        );
    }
    assert_eq!(stored(&s), before, "the store grew");
    assert_eq!(score(&s, peer), Some(60), "not charged 20 per block");
    assert_eq!(s.height(0), Some(TIP));
}

#[test]
fn a_side_block_within_the_margin_is_stored() {
    let (mut s, peer) = setup();
    let before = stored(&s);
    let fork = s
        .chain(0)
        .store()
        .hash_at(TIP - 2)
        .expect("read")
        .expect("on the chain");
    let b = side(&s, fork, TIP - 1, 0);
    s.inject(0, block(peer, b.clone()));
    s.run_for(500);
    assert!(s.chain(0).store().has_block(&b.hash()).expect("read"));
    assert_eq!(stored(&s), before + 1);
    assert_eq!(score(&s, peer), Some(0));
}

#[test]
fn unrequested_blocks_that_connect_to_nothing_we_know_are_charged_past_a_few() {
    let (mut s, peer) = setup();
    let before = stored(&s);
    let unknown = BlockHash(sledchain::core::hash::Hash256([0xab; 32]));
    let free = MAX_UNCONNECTING_BLOCKS;
    for i in 0..free + 2 {
        let b = side(&s, unknown, TIP + 5, i);
        s.inject(0, block(peer, b));
        s.run_for(500);
        let want = 10 * (i + 1).saturating_sub(free);
        assert_eq!(
            score(&s, peer),
            Some(want),
            "after {} unconnected pushes",
            i + 1
        );
    }
    assert_eq!(stored(&s), before);
}

/// A version-1 peer (synced by `getblocks`, no headers) attached to node
/// 0 with its handshake done; its peer id.
fn version_1_peer(s: &mut Sim) -> u64 {
    let peer = s.attach(0, "198.51.100.8:40000".parse().expect("addr"));
    let v = Version {
        version: 1,
        best_height: 0,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce: 98,
    };
    s.inject(0, recv(peer, Message::Version(v)));
    s.run_for(100);
    peer
}

/// `peer` announces `b` by `inv`, unasked, then delivers it.
fn announce_then_deliver(s: &mut Sim, peer: u64, b: &Block) {
    let inv = sledchain::wire::payload::Inv {
        addr_from: String::new(),
        kind: sledchain::wire::payload::InvKind::Block,
        items: vec![b.hash().0],
    };
    s.inject(0, recv(peer, Message::Inv(inv)));
    s.run_for(100);
    s.inject(0, block(peer, b.clone()));
    s.run_for(500);
}

/// A version-1 peer's announcement of a side block within the margin
/// (a race near the tip) is fetched and stored, uncharged.
#[test]
fn a_side_block_within_the_margin_announced_by_a_version_1_peer_is_stored() {
    let (mut s, _) = setup();
    let peer = version_1_peer(&mut s);
    let before = stored(&s);
    let fork = s
        .chain(0)
        .store()
        .hash_at(TIP - 2)
        .expect("read")
        .expect("on the chain");
    let b = side(&s, fork, TIP - 1, 0);
    announce_then_deliver(&mut s, peer, &b);
    assert!(s.chain(0).store().has_block(&b.hash()).expect("read"));
    assert_eq!(stored(&s), before + 1);
    assert_eq!(score(&s, peer), Some(0));
}

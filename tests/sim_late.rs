//! What the chain says reaches the protocol late, as in the node: the
//! chain worker runs a block a while after it arrived, and its sender may
//! be gone by then. Seeded simulator runs.

use std::net::SocketAddr;

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::params::SUBSIDY;
use sledchain::core::tx::Transaction;
use sledchain::protocol::{Input, LocalReply, LocalRequest};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, PROTOCOL_VERSION, Version};

fn solved(prev: BlockHash, height: u64, bits: u32, time: u32, reward: u64) -> Block {
    solved_with(prev, height, bits, time, reward, vec![])
}

fn solved_with(
    prev: BlockHash,
    height: u64,
    bits: u32,
    time: u32,
    reward: u64,
    txs: Vec<Transaction>,
) -> Block {
    let mut b = Block::template(prev, height, bits, time, [7; 20], reward, txs);
    assert!(sledchain::chain::miner::solve(
        &mut b,
        1,
        &Default::default()
    ));
    b
}

fn recv(peer: u64, message: Message) -> Input {
    Input::Received { peer, message }
}

/// A one-node simulation sharing genesis, node 0 started a second ago.
fn one_node() -> Sim {
    let mut s = Sim::new(SimConfig {
        nodes: 1,
        minters: vec![],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start(0);
    s.run_for(1_000);
    s
}

/// Attaches a hand-driven peer from `from` to node 0 that says `version`
/// (height 1, our genesis, `nonce`).
fn attach_peer(s: &mut Sim, from: SocketAddr, nonce: u64) -> u64 {
    let peer = s.attach(0, from);
    let v = Version {
        version: PROTOCOL_VERSION,
        best_height: 1,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce,
    };
    s.inject(0, recv(peer, Message::Version(v)));
    peer
}

/// `peer` (from `from`) pushes `block` to node 0.
fn push(s: &mut Sim, peer: u64, from: SocketAddr, block: Block) {
    let addr_from = from.to_string();
    s.inject(0, recv(peer, Message::Block(BlockMsg { addr_from, block })));
}

#[test]
fn a_peer_that_hangs_up_before_its_invalid_block_is_judged_is_still_banned() {
    let mut s = one_node();
    let from: SocketAddr = "203.0.113.66:40000".parse().expect("addr");
    let peer = attach_peer(&mut s, from, 99);
    // Valid proof of work on our tip, a coinbase paying far too much:
    // only the chain layer finds it invalid, after the step that took it.
    let time = u32::try_from(s.now() / 1000).expect("time");
    let bad = solved(s.genesis.hash(), 1, s.config().bits, time, SUBSIDY * 1000);
    push(&mut s, peer, from, bad);
    // It hangs up at once, before the chain worker has run the block.
    s.inject(0, Input::Disconnected { peer });
    s.run_for(1_000);
    assert_eq!(s.height(0), Some(0));
    assert!(
        s.protocol(0).addrbook().is_banned(&from.ip(), s.now()),
        "the sender of an invalid block escaped its ban by hanging up"
    );
    // It comes back: refused.
    let again = s.attach(0, from);
    assert!(!s.protocol(0).peers().contains_key(&again));
}

/// `status` and the node's figures are of one moment. The store has a
/// block as soon as the chain worker connects it; the protocol's copy of
/// the mempool follows when the chain's events arrive. Between the two the
/// node shows the height it showed before beside the mempool as it was,
/// never the new height beside a payment the block has mined.
#[test]
fn status_shows_the_height_and_the_mempool_of_one_moment() {
    let mut s = one_node();
    let txid = s.pay(0, [9; 20], 1).expect("pay");
    s.run_for(0);
    assert_eq!(s.protocol(0).mempool_len(), 1, "the payment not reported");
    let tx = Transaction::clone(s.chain(0).mempool().get(&txid).expect("in the mempool"));
    let from: SocketAddr = "203.0.113.67:40000".parse().expect("addr");
    let peer = attach_peer(&mut s, from, 98);
    let time = u32::try_from(s.now() / 1000).expect("time");
    let block = solved_with(
        s.genesis.hash(),
        1,
        s.config().bits,
        time,
        SUBSIDY,
        vec![tx],
    );
    push(&mut s, peer, from, block);
    // The chain worker connects it (and empties its mempool); its events
    // are on their way to the protocol.
    s.settle(0);
    assert_eq!(s.height(0), Some(1), "the block not connected");
    assert_eq!(s.chain(0).mempool().len(), 0);
    let status = |s: &mut Sim, id| {
        s.inject(0, Input::Local(id, LocalRequest::Status));
        match s.nodes[0].replies.remove(&id) {
            Some(LocalReply::Status {
                height, mempool, ..
            }) => (height, mempool),
            other => panic!("status answered {other:?}"),
        }
    };
    let info = s.protocol(0).node_info().expect("node info");
    assert_eq!(
        (info.height, info.mempool),
        (0, 1),
        "node info mixes two moments"
    );
    assert_eq!(status(&mut s, 900), (0, 1), "status mixes two moments");
    // The events arrive: both figures move together.
    s.run_for(0);
    let info = s.protocol(0).node_info().expect("node info");
    assert_eq!((info.height, info.mempool, info.mempool_bytes), (1, 0, 0));
    assert_eq!(status(&mut s, 901), (1, 0));
}

//! What the chain says reaches the protocol late, as in the node: the
//! chain worker runs a block a while after it arrived, and its sender may
//! be gone by then. Seeded simulator runs.

use std::net::SocketAddr;

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::params::SUBSIDY;
use sledchain::protocol::Input;
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, PROTOCOL_VERSION, Version};

fn solved(prev: BlockHash, height: u64, bits: u32, time: u32, reward: u64) -> Block {
    let mut b = Block::template(prev, height, bits, time, [7; 20], reward, vec![]);
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

#[test]
fn a_peer_that_hangs_up_before_its_invalid_block_is_judged_is_still_banned() {
    let mut s = Sim::new(SimConfig {
        nodes: 1,
        minters: vec![],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start(0);
    s.run_for(1_000);
    let from: SocketAddr = "203.0.113.66:40000".parse().expect("addr");
    let peer = s.attach(0, from);
    let v = Version {
        version: PROTOCOL_VERSION,
        best_height: 1,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce: 99,
    };
    s.inject(0, recv(peer, Message::Version(v)));
    // Valid proof of work on our tip, a coinbase paying far too much:
    // only the chain layer finds it invalid, after the step that took it.
    let time = u32::try_from(s.now() / 1000).expect("time");
    let bad = solved(s.genesis.hash(), 1, s.config().bits, time, SUBSIDY * 1000);
    let addr_from = from.to_string();
    s.inject(
        0,
        recv(
            peer,
            Message::Block(BlockMsg {
                addr_from,
                block: bad,
            }),
        ),
    );
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

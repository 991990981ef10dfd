//! Helpers shared by the tests that drive the protocol without sockets:
//! by hand (`tests/protocol*.rs`) or in the simulator (`tests/sim*.rs`).
#![allow(dead_code)]

use std::net::SocketAddr;

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::tx::Transaction;
use sledchain::protocol::{Config, Input, Output, PeerId, Protocol};
use sledchain::sim::{Sim, SimConfig};
use sledchain::store::ChainStore;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{PROTOCOL_VERSION, Version};

/// Who the test payments pay.
pub const PAYEE: [u8; 20] = [7; 20];

/// A protocol at 198.18.0.1:8333 (nonce 5, default timeouts and limits)
/// with `seeds`, over an empty temporary store.
pub fn protocol(seeds: Vec<SocketAddr>) -> Protocol {
    Protocol::new(
        config(seeds),
        ChainStore::temporary().expect("store"),
        vec![],
    )
}

/// The [`Config`] of [`protocol`].
pub fn config(seeds: Vec<SocketAddr>) -> Config {
    Config {
        me: "198.18.0.1:8333".parse().expect("address"),
        seeds,
        default_seeds: vec![],
        minter: None,
        mint_threshold: 2,
        idle_timeout: 60_000,
        handshake_timeout: 10_000,
        max_outbound: 8,
        ban_score: 100,
        ban_time: 3_600_000,
        nonce: 5,
        genesis: None,
    }
}

/// Every node's height, for failure messages.
pub fn heights(s: &Sim) -> Vec<Option<u64>> {
    (0..s.nodes.len()).map(|i| s.height(i)).collect()
}

/// Pays twice at node `at` (the mint threshold) and runs until every
/// started node is at `height`.
pub fn mint_block(s: &mut Sim, at: usize, height: u64) {
    for _ in 0..2 {
        assert!(s.pay(at, PAYEE, 1).is_some(), "the wallet cannot pay");
    }
    let started: Vec<usize> = (0..s.nodes.len()).filter(|i| s.nodes[*i].up).collect();
    let ok = s.run_while_not(30_000, |s| {
        started.iter().all(|i| s.height(*i) == Some(height))
    });
    assert!(
        ok,
        "not every started node reached height {height}: {:?}",
        heights(s)
    );
}

/// Mints at node `at` up to height `to`, one block at a time (two
/// payments each, the threshold), waiting for node `at` alone.
pub fn mint_to(s: &mut Sim, at: usize, to: u64) {
    while s.height(at).unwrap_or(0) < to {
        let height = s.height(at).unwrap_or(0) + 1;
        for _ in 0..2 {
            assert!(s.pay(at, PAYEE, 1).is_some(), "the wallet cannot pay");
        }
        assert!(
            s.run_while_not(30_000, |s| s.height(at) == Some(height)),
            "node {at} did not mint height {height}"
        );
    }
}

/// One started node with the genesis, minted up to height `tip`.
pub fn one_node_minted_to(tip: u64) -> Sim {
    let mut s = Sim::new(SimConfig {
        nodes: 1,
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start(0);
    mint_to(&mut s, 0, tip);
    s
}

/// Node 0 alone (genesis everywhere), minted up to height `tip`, with a
/// hand-driven peer at `stranger` attached whose `version` (protocol
/// `version`, at height 0, on our genesis, `nonce`) was received; returns
/// the sim and the stranger's peer id.
pub fn minted_with_stranger(tip: u64, stranger: &str, version: u32, nonce: u64) -> (Sim, PeerId) {
    let mut s = one_node_minted_to(tip);
    let peer = s.attach(0, stranger.parse().expect("addr"));
    let v = Version {
        version,
        best_height: 0,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce,
    };
    s.inject(
        0,
        Input::Received {
            peer,
            message: Message::Version(v),
        },
    );
    s.run_for(100);
    (s, peer)
}

/// Node `i`'s tip hash.
pub fn tip(s: &Sim, i: usize) -> Option<BlockHash> {
    s.tip(i).map(|t| t.hash)
}

/// Eight nodes, minters at 2 and 6 (seed 1, 200 ms links): the same two
/// payments reach both minters at once, both mint a block at height 1,
/// and the run goes on until every node is at height 1.
pub fn race_at_height_one() -> Sim {
    let mut s = Sim::new(SimConfig {
        nodes: 8,
        minters: vec![2, 6],
        genesis_everywhere: true,
        latency: 200,
        mint_time: 50,
        seed: 1,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start_all();
    s.run_for(3_000);
    let a = s.wallet.pay(s.chain(2), PAYEE, 1).expect("pay");
    s.submit(6, a.clone());
    s.submit(2, a);
    let b = s.wallet.pay(s.chain(2), PAYEE, 2).expect("pay");
    s.submit(6, b.clone());
    s.submit(2, b);
    assert!(s.run_while_not(10_000, |s| (0..8).all(|i| s.height(i) == Some(1))));
    s
}

/// One node that does not mint.
pub fn one_quiet_node() -> SimConfig {
    SimConfig {
        nodes: 1,
        minters: vec![],
        ..SimConfig::default()
    }
}

/// A payment and a child spending its change, made on a simulation of
/// [`one_quiet_node`] (so valid on a fresh one of the same chain).
pub fn parent_and_child() -> (Transaction, Transaction) {
    let mut maker = Sim::new(one_quiet_node()).expect("stores");
    maker.start(0);
    let parent = maker
        .wallet
        .pay(maker.chain(0), [7; 20], 1)
        .expect("parent");
    maker.submit(0, parent.clone());
    let child = maker.wallet.pay(maker.chain(0), [8; 20], 2).expect("child");
    (parent, child)
}

/// A [`protocol`] holding `genesis` whose outbound seed 198.51.100.1:8333,
/// connected as `peer` at time `t0`, finished the handshake claiming
/// `theirs` in `version`; returns it with the outputs of the handshake.
pub fn handshaken(genesis: &Block, theirs: u64, peer: PeerId, t0: u64) -> (Protocol, Vec<Output>) {
    handshaken_at(genesis, theirs, peer, t0, PROTOCOL_VERSION)
}

/// [`handshaken`] with a peer of protocol version `version` (1: synced by
/// `getblocks`; 2: headers first).
pub fn handshaken_at(
    genesis: &Block,
    theirs: u64,
    peer: PeerId,
    t0: u64,
    version: u32,
) -> (Protocol, Vec<Output>) {
    let store = ChainStore::temporary().expect("store");
    store.init_genesis(genesis).expect("genesis");
    let seed: SocketAddr = "198.51.100.1:8333".parse().expect("addr");
    let mut p = Protocol::new(protocol(vec![seed]).config().clone(), store, vec![]);
    let mut out = p.step(
        Input::Connected {
            peer,
            addr: seed,
            inbound: false,
        },
        t0,
    );
    out.extend(p.step(
        Input::Received {
            peer,
            message: Message::Version(Version {
                version,
                best_height: theirs,
                addr_from: seed.to_string(),
                genesis: Some(genesis.hash()),
                nonce: 77,
            }),
        },
        t0,
    ));
    (p, out)
}

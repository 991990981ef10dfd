//! A fresh node cannot be started on an attacker's chain: on real processes
//! on loopback, a raw-socket attacker reaches a chainless node before its
//! seed does and pushes a genesis of its own (bits 0, a coinbase of 10^18
//! coins); the node ignores it and ends on the seed's chain.

mod support;

use std::process::Command;

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::wire::message::Message;
use sledchain::wire::payload::BlockMsg;
use support::*;
use tempfile::TempDir;

/// Sends `signal` (`STOP`, `CONT`) to the node's process.
fn signal(node: &Node, signal: &str) {
    let st = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(node.pid().to_string())
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -{signal} failed");
}

#[test]
fn a_fresh_node_ignores_a_strangers_genesis_and_syncs_the_seeds_chain() {
    let net = TempDir::new().expect("temp dir");
    let mut seed = Node::new(net.path(), "seed");
    let mut fresh = Node::new(net.path(), "fresh");
    let g = seed.create_chain();
    let w = seed.create_wallet();
    seed.mint_send(&g, &w, 5);
    let want = seed.status().expect("seed status");
    seed.start_central(&[]);
    // The seed is frozen: the fresh node's dial is accepted by the kernel
    // but nothing answers it, so the attacker is sure to be first.
    signal(&seed, "STOP");
    fresh.start_seeded(&seed.addr(), &["--handshake-timeout", "300"]);

    let mut fake = Block::template(
        BlockHash::ZERO,
        0,
        0,
        now32(),
        owner(&key(66)),
        1_000_000_000_000_000_000,
        vec![],
    );
    solve(&mut fake);
    let mut attacker = RawPeer::connect(fresh.port);
    let who = attacker.me();
    attacker.hello(fake.hash(), 1_000);
    attacker.send(&Message::Block(BlockMsg {
        addr_from: who.clone(),
        block: fake.clone(),
    }));
    fresh.wait_log(&format!("peer {who}: genesis {} ignored", fake.hash()));
    let status = fresh.request(&sledchain::net::control::Request::Status);
    let err = status.expect_err("the attacker's genesis was adopted");
    assert!(err.to_string().contains("no chain yet"), "{err}");

    signal(&seed, "CONT");
    let tip = wait_same_tip(&[&seed, &fresh], want.height);
    assert_eq!(tip, want.tip);
    assert_eq!(fresh.ok(&["checkchain"]), "OK");
    fresh.assert_alive();
    fresh.stop();
    seed.stop();
}

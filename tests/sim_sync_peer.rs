//! One sync peer at a time, in the deterministic simulator: blocks are
//! fetched by `getblocks` from one peer while it has requests outstanding,
//! and a peer that claims a height it never serves holds that role for
//! the `getblocks` timeout (10 s) once, not for ever.

use sledchain::core::hash::BlockHash;
use sledchain::protocol::Input;
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{PROTOCOL_VERSION, Version};

const PAYEE: [u8; 20] = [7; 20];
/// A hand-driven peer's address (TEST-NET-2: not a simulated node).
const LIAR: &str = "198.51.100.9:40000";

/// Mints `blocks` blocks at node 0 (two payments each, the threshold).
fn mint(s: &mut Sim, blocks: u64) {
    for _ in 0..blocks {
        let height = s.height(0).unwrap_or(0) + 1;
        for _ in 0..2 {
            assert!(s.pay(0, PAYEE, 1).is_some(), "the wallet cannot pay");
        }
        assert!(
            s.run_while_not(30_000, |s| s.height(0) == Some(height)),
            "node 0 did not mint height {height}"
        );
    }
}

#[test]
fn a_peer_claiming_a_height_it_never_serves_delays_sync_once() {
    let mut s = Sim::new(SimConfig {
        nodes: 2,
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start(0);
    mint(&mut s, 3);
    // Node 1 starts; before it dials the seed, a peer tells it of a chain
    // at height 1,000 and then answers nothing.
    s.start(1);
    let liar = s.attach(1, LIAR.parse().expect("addr"));
    let genesis: BlockHash = s.genesis.hash();
    let v = Version {
        version: PROTOCOL_VERSION,
        best_height: 1_000,
        addr_from: String::new(),
        genesis: Some(genesis),
        nonce: 77,
    };
    s.inject(
        1,
        Input::Received {
            peer: liar,
            message: Message::Version(v),
        },
    );
    let start = s.now();
    // The liar is the sync peer: the seed, connected meanwhile and ahead,
    // is not asked while the liar's `getblocks` is outstanding.
    s.run_until(start + 9_000);
    assert_eq!(s.height(1), Some(0), "synced from a second peer at once");
    // Past the timeout the liar's claim is forgotten and the seed serves.
    assert!(
        s.run_while_not(20_000, |s| s.height(1) == Some(3)),
        "node 1 never synced from the seed: height {:?}",
        s.height(1)
    );
    assert!(s.now() < start + 15_000, "sync waited past the timeout");
}

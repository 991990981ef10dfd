//! Who holds the sync window, in the deterministic simulator: a peer that
//! claims a height it never serves, or announces made-up block hashes,
//! does not hold sync from honest peers up; a version-1 peer that answers
//! our `getblocks` with made-up hashes holds the `getblocks` window (not
//! the headers-first sync from others) for the stall timeout once, and is
//! disconnected.

mod sans_io;
use sans_io::mint_to;
use sledchain::core::hash::Hash256;
use sledchain::protocol::sync_peer::BLOCK_STALLING_TIMEOUT;
use sledchain::protocol::{DisconnectReason, Input};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{Inv, InvKind, PROTOCOL_VERSION, Version};

/// A hand-driven peer's address (TEST-NET-2: not a simulated node).
const LIAR: &str = "198.51.100.9:40000";

/// Two nodes, node 0 minting `blocks` blocks, node 1 started and a
/// hand-driven liar attached to it that said `version` claiming
/// `claimed`. Returns the sim and the liar's peer id at node 1.
fn with_liar(blocks: u64, claimed: u64) -> (Sim, u64) {
    with_liar_at(blocks, claimed, PROTOCOL_VERSION)
}

/// [`with_liar`] whose `version` gives protocol version `version`.
fn with_liar_at(blocks: u64, claimed: u64, version: u32) -> (Sim, u64) {
    let mut s = Sim::new(SimConfig {
        nodes: 2,
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start(0);
    mint_to(&mut s, 0, blocks);
    s.start(1);
    let liar = s.attach(1, LIAR.parse().expect("addr"));
    let v = Version {
        version,
        best_height: claimed,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce: 77,
    };
    s.inject(
        1,
        Input::Received {
            peer: liar,
            message: Message::Version(v),
        },
    );
    (s, liar)
}

/// An `inv` of `n` made-up block hashes from `peer`.
fn fake_inv(peer: u64, n: usize) -> Input {
    let items = (0..n)
        .map(|i| {
            let mut h = [0xee; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Hash256(h)
        })
        .collect();
    Input::Received {
        peer,
        message: Message::Inv(Inv {
            addr_from: String::new(),
            kind: InvKind::Block,
            items,
        }),
    }
}

#[test]
fn a_peer_claiming_a_height_it_never_serves_does_not_delay_sync() {
    let (mut s, _) = with_liar(3, 1_000);
    let start = s.now();
    // The liar's `getblocks` is outstanding; the seed, connected
    // meanwhile, is asked all the same.
    assert!(
        s.run_while_not(3_000, |s| s.height(1) == Some(3)),
        "node 1 waited on the liar: height {:?}",
        s.height(1)
    );
    assert!(s.now() < start + 3_000);
}

#[test]
fn an_inv_of_made_up_hashes_does_not_stall_sync_from_honest_peers() {
    let (mut s, liar) = with_liar(3, 0);
    // Announced unasked: 500 hashes nobody will ever deliver.
    s.inject(1, fake_inv(liar, 500));
    let start = s.now();
    assert!(
        s.run_while_not(3_000, |s| s.height(1) == Some(3)),
        "sync stalled behind made-up hashes: height {:?}",
        s.height(1)
    );
    assert!(s.now() < start + 3_000);
}

#[test]
fn a_sync_peer_answering_with_made_up_hashes_is_dropped_for_stalling() {
    // A version-1 liar, synced by `getblocks` (headers-first peers are
    // asked for headers, not for what they announce).
    let (mut s, liar) = with_liar_at(3, 1_000, 1);
    // It answers our `getblocks` with hashes it never delivers: it holds
    // the `getblocks` sync window, but not the headers-first sync from
    // the seed, which goes on meanwhile.
    s.inject(1, fake_inv(liar, 500));
    let start = s.now();
    assert!(
        s.run_while_not(BLOCK_STALLING_TIMEOUT - 1_000, |s| s.height(1) == Some(3)),
        "the seed's blocks waited on the liar's window: height {:?}",
        s.height(1)
    );
    assert!(s.protocol(1).holds_window(liar), "the liar lost the window");
    // Past the stall timeout it is dropped.
    s.run_until(start + BLOCK_STALLING_TIMEOUT + 5_000);
    assert!(
        s.stats
            .disconnects
            .iter()
            .any(|(i, p, r)| (*i, *p) == (1, liar) && matches!(r, DisconnectReason::Stalling(_))),
        "the staller was not dropped: {:?}",
        s.stats.disconnects
    );
    assert!(!s.protocol(1).peers().contains_key(&liar));
}

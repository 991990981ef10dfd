//! Transaction relay in batches: transactions the chain layer accepts
//! together are announced in one `inv` per peer (never back to the peer
//! that sent them), and a burst of payments submitted at once reaches
//! every node and is mined.

mod sans_io;

use sledchain::core::hash::Hash256;
use sledchain::protocol::{DisconnectReason, Input};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{InvKind, PROTOCOL_VERSION, TxMsg, Version};

/// Attaches a fake peer to node `i` and completes its handshake.
fn handshaked_peer(s: &mut Sim, i: usize, addr: &str, nonce: u64) -> u64 {
    let peer = s.attach(i, addr.parse().expect("addr"));
    let message = Message::Version(Version {
        version: PROTOCOL_VERSION,
        best_height: 0,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce,
    });
    s.inject(i, Input::Received { peer, message });
    peer
}

/// The transaction `inv`s node 0 sent to attached peer `peer`.
fn tx_invs(s: &Sim, peer: u64) -> Vec<Vec<Hash256>> {
    s.stats
        .to_attached
        .iter()
        .filter_map(|(node, p, m)| match m {
            Message::Inv(inv) if *node == 0 && *p == peer && inv.kind == InvKind::Tx => {
                Some(inv.items.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn transactions_accepted_together_go_out_in_one_inv_per_peer() {
    let (parent, child) = sans_io::parent_and_child();
    // Relayed child first: it waits as an orphan, and the parent brings
    // it in, so both are accepted in one go.
    let mut s = Sim::new(sans_io::one_quiet_node()).expect("stores");
    s.start(0);
    let sender = handshaked_peer(&mut s, 0, "198.51.100.9:40000", 3);
    let other = handshaked_peer(&mut s, 0, "198.51.100.10:40000", 4);
    for tx in [&child, &parent] {
        let message = Message::Tx(TxMsg {
            addr_from: String::new(),
            transaction: tx.clone(),
        });
        s.inject(
            0,
            Input::Received {
                peer: sender,
                message,
            },
        );
        s.run_for(10);
    }
    assert_eq!(s.protocol(0).mempool_len(), 2);
    let mut got = tx_invs(&s, other);
    assert_eq!(got.len(), 1, "one inv for both: {got:?}");
    got[0].sort();
    let mut want = vec![parent.txid().0, child.txid().0];
    want.sort();
    assert_eq!(got[0], want);
    assert!(
        tx_invs(&s, sender).is_empty(),
        "nothing is announced back to its sender"
    );
}

#[test]
fn a_burst_of_payments_reaches_every_node_and_is_mined() {
    let mut s = Sim::new(SimConfig {
        nodes: 3,
        minters: vec![2],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start_all();
    s.run_for(3_000);
    // Submitted in one instant to node 0, each spending the previous one's
    // change (19 coins of the genesis block's 20: a chain of 19, under the
    // mempool's ancestor limit).
    for _ in 0..19 {
        s.pay(0, [9; 20], 1).expect("pay");
    }
    let total: u64 = 19;
    // Mined: the destination's confirmed coins add up on that node.
    let mined = |s: &Sim, i: usize| {
        let coins = s.chain(i).store().utxos_of(&[9; 20]).unwrap_or_default();
        coins.iter().map(|c| c.1).sum::<u64>() == total
    };
    assert!(s.run_while_not(60_000, |s| (0..3).all(|i| mined(s, i)) && s.converged()));
    // Only the second connection of a pair that dialled each other is
    // dropped.
    let drops = s.stats.disconnects.iter();
    let other: Vec<_> = drops
        .filter(|d| d.2 != DisconnectReason::Duplicate)
        .collect();
    assert!(other.is_empty(), "{other:?}");
}

/// The transaction `getdata`s node 0 sent to attached peer `peer`.
fn tx_getdatas(s: &Sim, peer: u64) -> Vec<Vec<Hash256>> {
    s.stats
        .to_attached
        .iter()
        .filter_map(|(node, p, m)| match m {
            Message::GetData(g) if *node == 0 && *p == peer && g.kind == InvKind::Tx => {
                Some(g.items.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_mined_transaction_announced_late_is_not_fetched_nor_held_against_the_peer() {
    let mut s = Sim::new(SimConfig {
        nodes: 1,
        minters: vec![0],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start(0);
    let peer = handshaked_peer(&mut s, 0, "198.51.100.11:40000", 5);
    let first = s.pay(0, [9; 20], 1).expect("pay");
    let paid = s.wallet.pay(s.chain(0), [9; 20], 2).expect("pay");
    s.submit(0, paid.clone());
    assert!(s.run_while_not(20_000, |s| s.height(0) == Some(1)));
    assert_eq!(s.protocol(0).mempool_len(), 0, "both mined");
    // A slower peer announces and sends the mined transactions: more
    // copies than its whole budget of missing-input refusals.
    let inv = Message::Inv(sledchain::wire::payload::Inv {
        addr_from: String::new(),
        kind: InvKind::Tx,
        items: vec![first.0, paid.txid().0],
    });
    s.inject(0, Input::Received { peer, message: inv });
    for _ in 0..=sledchain::protocol::txflood::MISSING_INPUTS_BURST {
        let message = Message::Tx(TxMsg {
            addr_from: String::new(),
            transaction: paid.clone(),
        });
        s.inject(0, Input::Received { peer, message });
    }
    assert!(tx_getdatas(&s, peer).is_empty(), "mined: not fetched");
    // Its budget is whole: a new transaction it announces is fetched.
    let fresh = Hash256([42; 32]);
    let inv = Message::Inv(sledchain::wire::payload::Inv {
        addr_from: String::new(),
        kind: InvKind::Tx,
        items: vec![fresh],
    });
    s.inject(0, Input::Received { peer, message: inv });
    assert_eq!(tx_getdatas(&s, peer), vec![vec![fresh]]);
    assert!(s.stats.disconnects.is_empty(), "{:?}", s.stats.disconnects);
}

/// A node that connects after a payment was announced (it was down, or
/// its peer restarted) still gets the payment into its mempool before it
/// is mined: a peer that completes its handshake is told of the mempool.
/// Without that, the late node never held the payment until a block
/// brought it, and a minter below its threshold never minted it.
#[test]
fn a_node_that_connects_after_a_payment_was_announced_still_gets_it() {
    let mut s = Sim::new(SimConfig {
        nodes: 3,
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start(0);
    s.start(1);
    s.run_for(3_000);
    let txid = s.pay(0, [7; 20], 1).expect("pay");
    assert!(s.run_while_not(10_000, |s| s.chain(1).mempool().contains(&txid)));
    s.start(2);
    assert!(
        s.run_while_not(20_000, |s| s.chain(2).mempool().contains(&txid)),
        "node 2 connected to {} peers and never got the payment",
        s.protocol(2).peers().len()
    );
    assert!(s.protocol(2).peers().values().any(|p| p.is_ready()));
}

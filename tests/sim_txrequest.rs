//! Transaction requests and answers in the deterministic simulator
//! (`protocol/txs.rs`):
//!
//! * a peer that announces a txid first and never delivers it cannot keep
//!   it from us: after the request times out, the next announcer is asked;
//! * an `inv` flood of made-up txids is bounded per peer: announcements
//!   tracked and requests in flight;
//! * a `getdata` naming one transaction many times is answered once;
//! * a non-standard transaction costs its sender points and enters the
//!   reject filter.

use sledchain::core::hash::{Hash256, Txid};
use sledchain::core::params::TX_VERSION;
use sledchain::core::tx::{OutPoint, PUBKEY_LEN, SIGNATURE_LEN, Transaction, TxIn, TxOut};
use sledchain::protocol::Input;
use sledchain::protocol::txs::{
    MAX_PEER_TX_ANNOUNCEMENTS, MAX_PEER_TX_REQUEST_IN_FLIGHT, TX_REQUEST_TIMEOUT,
};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{
    GetData, Inv, InvKind, MAX_INV_ITEMS, PROTOCOL_VERSION, TxMsg, Version,
};

const PAYEE: [u8; 20] = [7; 20];

/// One node with a genesis block and no minter.
fn one_node() -> Sim {
    let mut s = Sim::new(SimConfig {
        nodes: 1,
        minters: vec![],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start(0);
    s
}

/// Attaches a hand-driven inbound peer at `addr` to node 0 and completes
/// its handshake; returns its peer id.
fn stranger(s: &mut Sim, addr: &str) -> u64 {
    let peer = s.attach(0, addr.parse().expect("addr"));
    let v = Version {
        version: PROTOCOL_VERSION,
        best_height: 0,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce: 99,
    };
    s.inject(0, recv(peer, Message::Version(v)));
    s.run_for(0);
    peer
}

/// Runs `ms` of sim time in 5 s steps, `peers` sending a ping at each
/// (so they are not dropped as idle).
fn run_alive(s: &mut Sim, ms: u64, peers: &[u64]) {
    let mut left = ms;
    while left > 0 {
        for p in peers {
            s.inject(0, recv(*p, Message::Ping(1)));
        }
        let step = left.min(5_000);
        s.run_for(step);
        left -= step;
    }
}

fn recv(peer: u64, message: Message) -> Input {
    Input::Received { peer, message }
}

fn inv(peer: u64, items: Vec<Hash256>) -> Input {
    recv(
        peer,
        Message::Inv(Inv {
            addr_from: String::new(),
            kind: InvKind::Tx,
            items,
        }),
    )
}

fn tx(peer: u64, transaction: Transaction) -> Input {
    recv(
        peer,
        Message::Tx(TxMsg {
            addr_from: String::new(),
            transaction,
        }),
    )
}

/// Txids node 0 asked `peer` for by `getdata`, in order.
fn asked(s: &Sim, peer: u64) -> Vec<Hash256> {
    s.stats
        .to_attached
        .iter()
        .filter(|(n, p, _)| *n == 0 && *p == peer)
        .filter_map(|(_, _, m)| match m {
            Message::GetData(g) if g.kind == InvKind::Tx => Some(g.items.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_peer_that_announces_first_and_never_delivers_cannot_censor_a_transaction() {
    let mut s = one_node();
    let payment = s.wallet.pay(s.chain(0), PAYEE, 1).expect("pay");
    let txid = payment.txid();
    let liar = stranger(&mut s, "198.51.100.7:40000");
    let honest = stranger(&mut s, "203.0.113.9:40000");
    s.inject(0, inv(liar, vec![txid.0]));
    s.run_for(100);
    s.inject(0, inv(honest, vec![txid.0]));
    s.run_for(100);
    assert_eq!(asked(&s, liar), [txid.0], "the first announcer is asked");
    assert!(
        asked(&s, honest).is_empty(),
        "one request per txid at a time"
    );
    // The liar never answers: after the timeout the honest announcer is.
    run_alive(&mut s, TX_REQUEST_TIMEOUT + 2_000, &[liar, honest]);
    assert_eq!(asked(&s, honest), [txid.0], "the next announcer is asked");
    s.inject(0, tx(honest, payment));
    s.run_for(100);
    assert_eq!(s.protocol(0).mempool_len(), 1);
    assert_eq!(s.protocol(0).txs().tracked(), (0, 0));
}

#[test]
fn a_notfound_hands_the_request_to_the_next_announcer_at_once() {
    let mut s = one_node();
    let txid = Txid(Hash256([9; 32]));
    let a = stranger(&mut s, "198.51.100.7:40000");
    let b = stranger(&mut s, "203.0.113.9:40000");
    s.inject(0, inv(a, vec![txid.0]));
    s.inject(0, inv(b, vec![txid.0]));
    s.run_for(10);
    let nf = sledchain::wire::payload::NotFound {
        kind: InvKind::Tx,
        items: vec![txid.0],
    };
    s.inject(0, recv(a, Message::NotFound(nf)));
    s.run_for(10);
    assert_eq!(asked(&s, b), [txid.0]);
}

#[test]
fn an_inv_flood_of_made_up_txids_is_bounded_per_peer() {
    let mut s = one_node();
    let flooder = stranger(&mut s, "198.51.100.7:40000");
    for round in 0..4u64 {
        let items: Vec<Hash256> = (0..MAX_INV_ITEMS as u64)
            .map(|i| {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&(round * 1_000_000 + i).to_le_bytes());
                Hash256(h)
            })
            .collect();
        s.inject(0, inv(flooder, items));
        s.run_for(10);
    }
    assert_eq!(asked(&s, flooder).len(), MAX_PEER_TX_REQUEST_IN_FLIGHT);
    let (tracked, in_flight) = s.protocol(0).txs().tracked();
    assert_eq!(tracked, MAX_PEER_TX_ANNOUNCEMENTS);
    assert_eq!(in_flight, MAX_PEER_TX_REQUEST_IN_FLIGHT);
    // Its requests time out and the backlog drains; once it is gone,
    // nothing of it is left.
    run_alive(&mut s, TX_REQUEST_TIMEOUT + 2_000, &[flooder]);
    let after = asked(&s, flooder).len();
    assert_eq!(after, 2 * MAX_PEER_TX_REQUEST_IN_FLIGHT, "paced by the cap");
    s.inject(0, Input::Disconnected { peer: flooder });
    s.run_for(10);
    assert_eq!(s.protocol(0).txs().tracked(), (0, 0));
}

#[test]
fn a_getdata_naming_one_transaction_many_times_is_answered_once() {
    let mut s = one_node();
    let txid = s.pay(0, PAYEE, 1).expect("pay");
    s.run_for(100);
    assert_eq!(s.protocol(0).mempool_len(), 1);
    let peer = stranger(&mut s, "198.51.100.7:40000");
    let g = GetData {
        addr_from: String::new(),
        kind: InvKind::Tx,
        items: vec![txid.0; MAX_INV_ITEMS],
    };
    s.inject(0, recv(peer, Message::GetData(g)));
    s.run_for(10);
    let answers = s
        .stats
        .to_attached
        .iter()
        .filter(|(n, p, m)| *n == 0 && *p == peer && matches!(m, Message::Tx(_)))
        .count();
    assert_eq!(answers, 1);
}

/// A transaction over the standard size (100,000 bytes) with a made-up
/// input.
fn oversized_tx() -> Transaction {
    Transaction {
        version: TX_VERSION,
        inputs: vec![TxIn {
            prev_out: OutPoint {
                txid: Txid(Hash256([0xab; 32])),
                vout: 0,
            },
            signature: [1; SIGNATURE_LEN],
            pubkey: [4; PUBKEY_LEN],
        }],
        outputs: vec![
            TxOut {
                value: 1,
                pubkey_hash: PAYEE,
            };
            4_000
        ],
        coinbase_height: 0,
    }
}

#[test]
fn a_non_standard_transaction_costs_its_sender_points_and_is_not_validated_again() {
    let mut s = one_node();
    let peer = stranger(&mut s, "198.51.100.7:40000");
    let big = oversized_tx();
    let txid = big.txid();
    let before = s.stats.tx_checks;
    s.inject(0, tx(peer, big.clone()));
    s.run_for(10);
    assert_eq!(s.stats.tx_checks, before + 1);
    assert!(s.protocol(0).rejects().contains(&txid));
    let score = s.protocol(0).peers().get(&peer).map(|p| p.score);
    assert_eq!(score, Some(10));
    s.inject(0, tx(peer, big));
    s.run_for(10);
    assert_eq!(s.stats.tx_checks, before + 1, "validated twice");
    let score = s.protocol(0).peers().get(&peer).map(|p| p.score);
    assert_eq!(score, Some(20));
}

//! The mempool cannot be jammed: an attacker peer fills a node's small
//! mempool with valid zero-fee chained transactions; an honest payment
//! without a fee is then refused (the mempool is really full), but one
//! paying a fee evicts the attacker's lowest package, is accepted and is
//! mined.

mod sans_io;

use p256::ecdsa::SigningKey;
use sledchain::chain::MempoolLimits;
use sledchain::chain::mempool::spendable_coins;
use sledchain::core::hash::hash160;
use sledchain::core::tx::{OutPoint, Transaction, TxIn, TxOut, pubkey_bytes};
use sledchain::protocol::{Input, LocalReply};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{PROTOCOL_VERSION, TxMsg, Version};

/// A signed transaction spending `coin` into `outputs` outputs (the first
/// keeps the whole value), all to `me`.
fn chained(key: &SigningKey, me: [u8; 20], coin: (OutPoint, TxOut), outputs: usize) -> Transaction {
    let mut outs = vec![
        TxOut {
            value: 0,
            pubkey_hash: me
        };
        outputs
    ];
    outs[0].value = coin.1.value;
    let mut tx = Transaction {
        version: 1,
        inputs: vec![TxIn::unsigned(coin.0)],
        outputs: outs,
        coinbase_height: 0,
    };
    tx.sign_input(0, &coin.1, key).expect("one input");
    tx
}

/// A chain of `len` zero-fee transactions from `coin`, each spending the
/// previous one's first output.
fn chain_of(
    key: &SigningKey,
    me: [u8; 20],
    mut coin: (OutPoint, TxOut),
    len: usize,
    outputs: usize,
) -> Vec<Transaction> {
    let mut v = Vec::new();
    for _ in 0..len {
        let tx = chained(key, me, coin, outputs);
        coin = (
            OutPoint {
                txid: tx.txid(),
                vout: 0,
            },
            tx.outputs[0],
        );
        v.push(tx);
    }
    v
}

fn received(peer: u64, message: Message) -> Input {
    Input::Received { peer, message }
}

#[test]
fn an_honest_payment_with_a_fee_is_mined_through_a_zero_fee_flood() {
    let mut s = Sim::new(SimConfig {
        nodes: 1,
        minters: vec![0],
        genesis_everywhere: true,
        mint_time: 20_000,
        mint_threshold: 1,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    // The smallest mempool: 101,000 bytes.
    s.nodes[0].chain.set_mempool_limits(MempoolLimits {
        max_bytes: 0,
        expiry_secs: 24 * 3600,
    });
    let limit = s.chain(0).mempool().limits().max_bytes;
    s.start_all();
    s.run_for(1_000);

    // The attacker gets two confirmed coins.
    let key = SigningKey::from_slice(&[42u8; 32]).expect("scalar");
    let me = hash160(&pubkey_bytes(key.verifying_key()));
    s.pay(0, me, 10).expect("pay");
    s.pay(0, me, 5).expect("pay");
    let funded = |s: &Sim| s.chain(0).store().utxos_of(&me).is_ok_and(|u| u.len() == 2);
    assert!(s.run_while_not(600_000, funded));
    assert!(s.chain(0).mempool().is_empty());
    let coins = spendable_coins(s.chain(0).store(), s.chain(0).mempool(), &me).expect("coins");
    assert_eq!(coins.len(), 2);

    // It connects and floods: 25 chained transactions of ~4 kB, then 24
    // minimal ones, all without a fee: more than the mempool holds.
    let peer = s.attach(0, "198.51.100.7:8333".parse().expect("addr"));
    let version = Message::Version(Version {
        version: PROTOCOL_VERSION,
        best_height: 1,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce: 7,
    });
    s.inject(0, received(peer, version));
    let mut flood = chain_of(&key, me, coins[0], 25, 135);
    flood.extend(chain_of(&key, me, coins[1], 24, 1));
    for tx in &flood {
        let m = Message::Tx(TxMsg {
            addr_from: String::new(),
            transaction: tx.clone(),
        });
        s.inject(0, received(peer, m));
    }
    s.run_for(10);
    let held = s.chain(0).mempool().bytes();
    assert!(held + 221 > limit, "flooded: {held} of {limit} bytes");
    let flood_held = flood
        .iter()
        .filter(|t| s.chain(0).mempool().contains(&t.txid()))
        .count();
    assert!(flood_held < flood.len(), "some of the flood was refused");

    // An honest payment without a fee finds no room...
    let free = s.wallet.pay(&s.nodes[0].chain, [9; 20], 1).expect("funds");
    let id = s.submit(0, free);
    s.run_for(10);
    match s.nodes[0].replies.get(&id) {
        Some(LocalReply::Rejected(why)) => assert!(why.contains("full"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // ...but one paying a fee of 1 evicts the attacker's worst package.
    let honest = s.pay_with_fee(0, [9; 20], 1, 1).expect("funds");
    s.run_for(10);
    assert!(matches!(
        s.nodes[0].replies.values().last(),
        Some(LocalReply::Accepted(t)) if *t == honest
    ));
    assert!(s.chain(0).mempool().bytes() <= limit);

    // And it is mined.
    let paid = |s: &Sim| {
        s.chain(0)
            .store()
            .utxos_of(&[9; 20])
            .is_ok_and(|u| u.iter().any(|(op, _)| op.txid == honest))
    };
    assert!(s.run_while_not(600_000, paid));
    assert!(!s.chain(0).mempool().contains(&honest));
}

/// A child relayed before its parent (they came from different peers) is
/// kept as an orphan transaction and enters the mempool once the parent
/// does, then is relayed like any other.
#[test]
fn a_child_that_arrives_before_its_parent_enters_once_the_parent_does() {
    use sledchain::protocol::Input;
    use sledchain::sim::Sim;
    use sledchain::wire::message::Message;
    use sledchain::wire::payload::{TxMsg, Version};
    let (parent, child) = sans_io::parent_and_child();
    assert!(
        child
            .inputs
            .iter()
            .any(|i| i.prev_out.txid == parent.txid())
    );
    // ...and relay them, child first, to a fresh node of the same chain.
    let mut s = Sim::new(sans_io::one_quiet_node()).expect("stores");
    s.start(0);
    let peer = s.attach(0, "198.51.100.9:40000".parse().expect("addr"));
    let version = Message::Version(Version {
        version: sledchain::wire::payload::PROTOCOL_VERSION,
        best_height: 0,
        addr_from: String::new(),
        genesis: Some(s.genesis.hash()),
        nonce: 3,
    });
    s.inject(
        0,
        Input::Received {
            peer,
            message: version,
        },
    );
    for tx in [&child, &parent] {
        let message = Message::Tx(TxMsg {
            addr_from: String::new(),
            transaction: tx.clone(),
        });
        s.inject(0, Input::Received { peer, message });
        s.run_for(10);
    }
    assert_eq!(s.protocol(0).mempool_len(), 2);
    assert!(s.chain(0).mempool().contains(&child.txid()));
    assert!(
        s.stats.disconnects.is_empty(),
        "a missing parent is not held against the peer"
    );
}

//! Who may start a node's chain, who is blamed for a bad block, and what a
//! flood of unusable transactions costs, in the deterministic simulator:
//!
//! * a node with no chain takes its genesis only from a seed it dialled (or
//!   the configured genesis hash), and never one with `bits` outside 1..=64;
//! * an invalid orphan is charged to its sender, not to the peer that later
//!   delivers its parent; a block from the future is not charged at all;
//! * a rejected transaction is not validated again until the tip changes,
//!   and a peer's stream of transactions with missing inputs is cut off
//!   after its budget.

mod sans_io;
use sans_io::{PAYEE, mint_block};
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Hash256, Txid};
use sledchain::core::params::{MAX_FUTURE_BLOCK_TIME, SUBSIDY, TX_VERSION};
use sledchain::core::tx::{OutPoint, PUBKEY_LEN, SIGNATURE_LEN, Transaction, TxIn, TxOut};
use sledchain::protocol::txflood::{MISSING_INPUTS_BURST, MISSING_INPUTS_REFILL};
use sledchain::protocol::{DisconnectReason, Input};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, PROTOCOL_VERSION, TxMsg, Version};

/// A hand-driven peer's address (TEST-NET-2: not a simulated node).
const STRANGER: &str = "198.51.100.7:40000";

fn sim(config: SimConfig) -> Sim {
    Sim::new(config).expect("temporary stores")
}

/// Attaches a hand-driven inbound peer to node `i` and sends its `version`
/// (on the chain of `genesis`, at `height`); returns its peer id there.
fn stranger(s: &mut Sim, i: usize, genesis: Option<BlockHash>, height: u64) -> u64 {
    let peer = s.attach(i, STRANGER.parse().expect("addr"));
    let v = Version {
        version: PROTOCOL_VERSION,
        best_height: height,
        addr_from: String::new(),
        genesis,
        nonce: 99,
    };
    s.inject(i, recv(peer, Message::Version(v)));
    peer
}

fn recv(peer: u64, message: Message) -> Input {
    Input::Received { peer, message }
}

fn block(peer: u64, block: Block) -> Input {
    let addr_from = STRANGER.to_string();
    recv(peer, Message::Block(BlockMsg { addr_from, block }))
}

fn tx(peer: u64, transaction: Transaction) -> Input {
    let addr_from = STRANGER.to_string();
    recv(
        peer,
        Message::Tx(TxMsg {
            addr_from,
            transaction,
        }),
    )
}

/// A solved block on `prev` at `height` and header time `time` (seconds),
/// its coinbase paying `reward` to [`PAYEE`].
fn solved(prev: BlockHash, height: u64, bits: u32, time: u32, reward: u64) -> Block {
    let mut b = Block::template(prev, height, bits, time, PAYEE, reward, vec![]);
    assert!(sledchain::chain::miner::solve(
        &mut b,
        1,
        &Default::default()
    ));
    b
}

fn secs(s: &Sim) -> u32 {
    u32::try_from(s.now() / 1000).expect("sim time fits u32")
}

/// Disconnects node `node` asked for because a peer misbehaved.
fn misbehaviour_drops(s: &Sim, node: usize) -> Vec<u64> {
    s.stats
        .disconnects
        .iter()
        .filter(|(n, _, r)| *n == node && matches!(r, DisconnectReason::Misbehaving(_)))
        .map(|(_, p, _)| *p)
        .collect()
}

/// A transaction spending an outpoint that never existed (`n` picks it).
fn missing_inputs_tx(n: u64) -> Transaction {
    let mut h = [0xab; 32];
    h[..8].copy_from_slice(&n.to_le_bytes());
    Transaction {
        version: TX_VERSION,
        inputs: vec![TxIn {
            prev_out: OutPoint {
                txid: Txid(Hash256(h)),
                vout: 0,
            },
            signature: [1; SIGNATURE_LEN],
            pubkey: [4; PUBKEY_LEN],
        }],
        outputs: vec![TxOut {
            value: 1,
            pubkey_hash: PAYEE,
        }],
        coinbase_height: 0,
    }
}

// ---------------------------------------------------------------- genesis

#[test]
fn an_unrequested_genesis_from_an_inbound_peer_is_ignored_and_the_seeds_is_adopted() {
    let mut s = sim(SimConfig {
        nodes: 2,
        ..SimConfig::default()
    });
    s.start(0);
    mint_block(&mut s, 0, 1);
    mint_block(&mut s, 0, 2);
    // Node 1 has no chain. Before its first tick dials the seed, a stranger
    // connects and pushes a genesis of its own: well formed, valid proof of
    // work, claimed to lead a longer chain.
    s.start(1);
    let bits = s.config().bits;
    let fake = solved(BlockHash::ZERO, 0, bits, secs(&s), SUBSIDY);
    let peer = stranger(&mut s, 1, Some(fake.hash()), 10);
    s.inject(1, block(peer, fake.clone()));
    s.settle_all();
    assert_eq!(s.height(1), None, "adopted a genesis from a stranger");
    assert!(!s.chain(1).store().has_block(&fake.hash()).expect("read"));
    // The seed's chain follows once node 1 has dialled it.
    let ok = s.run_while_not(30_000, |s| s.height(1) == Some(2) && s.converged());
    assert!(ok, "node 1 is at {:?}", s.height(1));
    let genesis = s.chain(1).store().genesis_hash().expect("read");
    assert_eq!(genesis, Some(s.genesis.hash()));
    assert!(misbehaviour_drops(&s, 1).is_empty(), "nobody is blamed");
}

#[test]
fn with_a_configured_genesis_only_that_hash_is_adopted_from_any_peer() {
    // Node 0 (the seed, holding the genesis) never runs: node 1 can only
    // learn its chain from strangers.
    let mut s = sim(SimConfig {
        nodes: 2,
        minters: vec![],
        pin_genesis: true,
        ..SimConfig::default()
    });
    s.start(1);
    let bits = s.config().bits;
    let fake = solved(BlockHash::ZERO, 0, bits, secs(&s), SUBSIDY);
    // A stranger on another network is told so at `version`.
    let liar = stranger(&mut s, 1, Some(fake.hash()), 10);
    // It gets our version (so it can say why too) and is dropped at the
    // next tick.
    s.run_for(1_000);
    assert!(!s.protocol(1).peers().contains_key(&liar));
    // One that hides its genesis in `version` still cannot push it.
    let quiet = stranger(&mut s, 1, None, 0);
    s.inject(1, block(quiet, fake));
    assert_eq!(s.height(1), None);
    // The configured genesis is taken from an inbound stranger.
    let genesis = s.genesis.clone();
    let honest = stranger(&mut s, 1, Some(genesis.hash()), 0);
    s.inject(1, block(honest, genesis.clone()));
    s.settle_all();
    assert_eq!(s.height(1), Some(0));
    let tip = s.tip(1).expect("tip");
    assert_eq!(tip.hash, genesis.hash());
}

#[test]
fn a_genesis_with_zero_bits_is_refused_even_from_the_seed() {
    // The seed itself runs a chain whose genesis has bits 0: any hash meets
    // its target, so its proof of work is free.
    let mut s = sim(SimConfig {
        nodes: 2,
        bits: 0,
        minters: vec![],
        ..SimConfig::default()
    });
    assert_eq!(s.genesis.header.bits, 0);
    s.start_all();
    s.run_for(5_000);
    assert_eq!(s.height(0), Some(0));
    assert_eq!(s.height(1), None, "node 1 adopted a zero-bits genesis");
    assert!(
        !misbehaviour_drops(&s, 1).is_empty(),
        "the seed was not blamed: {:?}",
        s.stats
    );
}

// ---------------------------------------------------------------- blame

#[test]
fn an_invalid_orphan_blames_its_sender_not_the_peer_that_delivers_its_parent() {
    let mut s = sim(SimConfig {
        nodes: 2,
        genesis_everywhere: true,
        ..SimConfig::default()
    });
    s.start(0);
    mint_block(&mut s, 0, 1);
    mint_block(&mut s, 0, 2);
    let tip = s.tip(0).expect("tip");
    // A child of the seed's block 2 whose coinbase pays far too much:
    // valid proof of work, invalid only once its parent is known.
    let bits = s.config().bits;
    let bad = solved(tip.hash, 3, bits, secs(&s), SUBSIDY * 1000);
    // Node 1 is at genesis: the stranger's block is an orphan there.
    s.start(1);
    let genesis = s.genesis.hash();
    let attacker = stranger(&mut s, 1, Some(genesis), 3);
    s.inject(1, block(attacker, bad.clone()));
    s.settle_all();
    assert!(s.chain(1).orphans().contains(&bad.hash()));
    // The seed delivers blocks 1 and 2; block 3 then fails.
    let ok = s.run_while_not(30_000, |s| {
        s.height(1) == Some(2) && !s.protocol(1).peers().contains_key(&attacker)
    });
    assert!(ok, "node 1 at {:?}", s.height(1));
    assert_eq!(misbehaviour_drops(&s, 1), vec![attacker]);
    let seed = s.nodes[0].addr;
    // Either connection between the two (they keep one) is the seed's.
    let seed_peer = s
        .protocol(1)
        .peers()
        .values()
        .find(|p| p.addr.ip() == seed.ip());
    assert_eq!(seed_peer.map(|p| p.score), Some(0), "the seed was charged");
    assert!(!s.chain(1).orphans().contains(&bad.hash()));
}

#[test]
fn a_block_from_the_future_is_not_scored_and_is_accepted_once_time_passes() {
    let mut s = sim(SimConfig {
        nodes: 1,
        minters: vec![],
        genesis_everywhere: true,
        idle_timeout: 600_000,
        ..SimConfig::default()
    });
    s.start(0);
    let genesis = s.genesis.hash();
    let peer = stranger(&mut s, 0, Some(genesis), 1);
    let ahead = MAX_FUTURE_BLOCK_TIME as u32 + 60;
    let bits = s.config().bits;
    let early = solved(s.genesis.hash(), 1, bits, secs(&s) + ahead, SUBSIDY);
    s.inject(0, block(peer, early.clone()));
    s.run_for(1_000);
    assert_eq!(s.height(0), Some(0));
    let p = s.protocol(0).peers().get(&peer).expect("still connected");
    assert_eq!(p.score, 0, "a clock difference was scored");
    let meta = s.chain(0).store().block_meta(&early.hash()).expect("read");
    assert!(meta.is_none(), "the block was recorded (as invalid?)");
    // A minute later the same block from the same peer is in range.
    s.run_for(60_000);
    s.inject(0, block(peer, early.clone()));
    s.run_for(1_000);
    assert_eq!(s.tip(0).map(|t| t.hash), Some(early.hash()));
    assert!(misbehaviour_drops(&s, 0).is_empty());
}

// ---------------------------------------------------------------- tx floods

#[test]
fn a_rejected_transaction_is_validated_once_until_the_tip_changes() {
    let mut s = sim(SimConfig {
        nodes: 1,
        genesis_everywhere: true,
        ..SimConfig::default()
    });
    s.start(0);
    let genesis = s.genesis.hash();
    let peer = stranger(&mut s, 0, Some(genesis), 0);
    // Spends the genesis coinbase into no outputs: invalid whatever the
    // signatures say (the txid covers inputs and outputs).
    let cb = s.genesis.transactions[0].txid();
    let mut bad = missing_inputs_tx(0);
    bad.inputs[0].prev_out = OutPoint { txid: cb, vout: 0 };
    bad.outputs.clear();
    let txid = bad.txid();
    let before = s.stats.tx_checks;
    s.inject(0, tx(peer, bad.clone()));
    s.settle_all();
    assert_eq!(s.stats.tx_checks, before + 1);
    assert!(s.protocol(0).rejects().contains(&txid));
    // Sent again: charged again, not validated again.
    s.inject(0, tx(peer, bad.clone()));
    s.settle_all();
    assert_eq!(s.stats.tx_checks, before + 1, "validated twice");
    let score = s.protocol(0).peers().get(&peer).map(|p| p.score);
    assert_eq!(score, Some(20));
    // A new tip clears the filter: validated again.
    mint_block(&mut s, 0, 1);
    assert!(!s.protocol(0).rejects().contains(&txid));
    let before = s.stats.tx_checks;
    s.inject(0, tx(peer, bad));
    s.settle_all();
    assert_eq!(s.stats.tx_checks, before + 1);
}

#[test]
fn a_stream_of_transactions_with_missing_inputs_is_rate_limited() {
    let mut s = sim(SimConfig {
        nodes: 1,
        minters: vec![],
        genesis_everywhere: true,
        ..SimConfig::default()
    });
    s.start(0);
    let genesis = s.genesis.hash();
    let peer = stranger(&mut s, 0, Some(genesis), 0);
    let burst = u64::from(MISSING_INPUTS_BURST);
    let before = s.stats.tx_checks;
    // Three times the budget at once: each verdict comes back before the
    // next transaction (the chain work runs at once), and no sim time
    // passes.
    for n in 0..3 * burst {
        s.inject(0, tx(peer, missing_inputs_tx(n)));
        s.settle_all();
    }
    assert_eq!(s.stats.tx_checks - before, burst);
    // Neither scored nor dropped: a missing input may be an honest race.
    let p = s.protocol(0).peers().get(&peer).expect("still connected");
    assert_eq!(p.score, 0);
    assert!(s.stats.disconnects.is_empty());
    // The budget refills at its rate.
    s.run_for(10 * MISSING_INPUTS_REFILL);
    let before = s.stats.tx_checks;
    for n in 3 * burst..3 * burst + 20 {
        s.inject(0, tx(peer, missing_inputs_tx(n)));
        s.settle_all();
    }
    assert_eq!(s.stats.tx_checks - before, 10);
}

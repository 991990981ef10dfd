//! Peer behaviour in the deterministic network simulator: the real
//! protocol and chain code over a simulated network and clock. Every test
//! is seeded and replayable.

use sledchain::chain::ChainEvent;
use sledchain::core::block::Block;
use sledchain::protocol::{DisconnectReason, Input, LocalReply};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, PROTOCOL_VERSION, Version};

mod sans_io;
use sans_io::{PAYEE, heights, mint_block, race_at_height_one};

fn sim(nodes: usize, minters: Vec<usize>) -> Sim {
    Sim::new(SimConfig {
        nodes,
        minters,
        ..SimConfig::default()
    })
    .expect("temporary stores")
}

fn blocks_of(s: &Sim, node: usize) -> Vec<Block> {
    let store = s.chain(node).store();
    let tip = store.tip().expect("tip").height;
    (0..=tip)
        .map(|h| {
            let hash = store.hash_at(h).expect("read").expect("height");
            store.block(&hash).expect("read").expect("block")
        })
        .collect()
}

fn version(genesis: &Block, height: u64) -> Input {
    Input::Received {
        peer: 0,
        message: Message::Version(Version {
            version: PROTOCOL_VERSION,
            best_height: height,
            addr_from: String::new(),
            genesis: Some(genesis.hash()),
            nonce: 99,
        }),
    }
}

fn to(peer: u64, input: Input) -> Input {
    match input {
        Input::Received { message, .. } => Input::Received { peer, message },
        other => other,
    }
}

#[test]
fn initial_sync_from_empty_and_a_late_joiner() {
    let mut s = sim(5, vec![0]);
    s.start(0);
    for h in 1..=3 {
        mint_block(&mut s, 0, h);
    }
    // Nodes 1..=3 have no chain: they adopt the seed's genesis and sync.
    for i in 1..4 {
        s.start(i);
    }
    assert!(s.run_while_not(30_000, |s| (0..4).all(|i| s.height(i) == Some(3))));
    assert!(s.converged());
    // Node 4 joins after two more blocks.
    mint_block(&mut s, 0, 4);
    mint_block(&mut s, 0, 5);
    s.start(4);
    assert!(
        s.run_while_not(30_000, |s| s.height(4) == Some(5)),
        "{:?}",
        heights(&s)
    );
    assert!(s.converged());
}

#[test]
fn payment_relays_to_the_minter_and_the_block_reaches_every_node() {
    let mut s = Sim::new(SimConfig {
        nodes: 6,
        minters: vec![5],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start_all();
    s.run_for(3_000);
    // Submitted at node 1, which does not mint; node 5 does.
    let a = s.pay(1, PAYEE, 1).expect("pay");
    let b = s.pay(1, PAYEE, 2).expect("pay");
    assert_eq!(
        s.nodes[1].replies.len(),
        0,
        "verdicts come back asynchronously"
    );
    assert!(s.run_while_not(20_000, |s| (0..6).all(|i| s.height(i) == Some(1))));
    let replies: Vec<_> = s.nodes[1].replies.values().cloned().collect();
    assert_eq!(replies, [LocalReply::Accepted(a), LocalReply::Accepted(b)]);
    let block = blocks_of(&s, 3).pop().expect("block");
    let txids = block.txids();
    assert!(txids.contains(&a) && txids.contains(&b));
    assert!((0..6).all(|i| s.protocol(i).mempool_len() == 0));
}

#[test]
fn orphans_arriving_out_of_order_connect_once_their_parent_arrives() {
    let mut maker = sim(1, vec![0]);
    maker.start(0);
    for h in 1..=3 {
        mint_block(&mut maker, 0, h);
    }
    let blocks = blocks_of(&maker, 0);
    let mut s = sim(1, vec![]);
    s.start(0);
    let peer = s.attach(0, "198.51.100.1:8333".parse().expect("addr"));
    s.inject(0, to(peer, version(&s.genesis, 3)));
    for b in [&blocks[3], &blocks[2]] {
        let m = Message::Block(BlockMsg {
            addr_from: String::new(),
            block: b.clone(),
        });
        s.inject(0, Input::Received { peer, message: m });
        s.run_for(10);
    }
    assert_eq!(s.height(0), Some(0));
    assert_eq!(s.chain(0).orphans().len(), 2);
    let m = Message::Block(BlockMsg {
        addr_from: String::new(),
        block: blocks[1].clone(),
    });
    s.inject(0, Input::Received { peer, message: m });
    s.run_for(10);
    assert_eq!(s.height(0), Some(3));
    assert_eq!(s.tip(0).map(|t| t.hash), Some(blocks[3].hash()));
    assert!(s.chain(0).orphans().is_empty());
}

#[test]
fn competing_minters_converge_and_reorg() {
    // The same two payments reach both minters at the same time: both mint
    // a block at height 1, and the network splits between them.
    let mut s = race_at_height_one();
    assert_eq!(s.stats.minted, 2, "both minters mint");
    let tip = |s: &Sim, i| s.tip(i).map(|t| t.hash);
    assert_ne!(tip(&s, 2), tip(&s, 6), "a fork at height 1");
    assert!(!s.converged());
    // The next block, minted on one branch, moves every node onto it.
    s.pay(2, PAYEE, 3).expect("pay");
    s.pay(2, PAYEE, 4).expect("pay");
    assert!(
        s.run_while_not(30_000, |s| s.converged() && s.height(0) == Some(2)),
        "{:?}",
        heights(&s)
    );
    assert!(s.stats.reorgs > 0, "the other branch's nodes reorganize");
    assert_eq!(s.height(0), Some(2));
}

#[test]
fn a_partition_with_a_minter_on_each_side_heals_onto_the_longer_branch() {
    let mut s = Sim::new(SimConfig {
        nodes: 6,
        minters: vec![0, 3],
        genesis_everywhere: true,
        idle_timeout: 10_000,
        ..SimConfig::default()
    })
    .expect("stores");
    s.start_all();
    s.run_for(3_000);
    s.partition(vec![0, 0, 0, 1, 1, 1]);
    mint_side(&mut s, 0, &[0, 1, 2], 1);
    mint_side(&mut s, 0, &[0, 1, 2], 2);
    mint_side(&mut s, 3, &[3, 4, 5], 1);
    let long = s.tip(0).expect("tip").hash;
    let short = s.tip(3).expect("tip").hash;
    assert_ne!(long, short);
    // The short side's minter goes offline: no new race after the heal.
    s.stop(3);
    s.heal();
    // Blocks come only with payments: the next block on the longer branch
    // reaches the other side as an orphan, whose parents it then fetches.
    mint_side(&mut s, 0, &[0, 1, 2, 4, 5], 3);
    // The minter comes back and reorganizes when it syncs.
    s.start(3);
    assert!(s.run_while_not(30_000, |s| s.height(3) == Some(3)));
    assert!(s.converged(), "{:?}", heights(&s));
    let on_best: Vec<_> = blocks_of(&s, 4).iter().map(Block::hash).collect();
    assert!(on_best.contains(&long) && !on_best.contains(&short));
    assert!(s.stats.reorgs >= 3, "every node of side 1 reorganizes");
}

/// Mints one block on one side of a partition at `height`.
fn mint_side(s: &mut Sim, minter: usize, side: &[usize], height: u64) {
    s.pay(minter, PAYEE, 1).expect("pay");
    s.pay(minter, PAYEE, 1).expect("pay");
    let ok = s.run_while_not(30_000, |s| {
        side.iter().all(|i| s.height(*i) == Some(height))
    });
    assert!(ok, "{:?}", heights(s));
}

#[test]
fn handshake_and_idle_timeouts_drop_silent_peers() {
    let mut s = sim(1, vec![]);
    s.start(0);
    let silent = s.attach(0, "198.51.100.2:40000".parse().expect("addr"));
    let quiet = s.attach(0, "198.51.100.3:40000".parse().expect("addr"));
    s.inject(0, to(quiet, version(&s.genesis, 0)));
    s.run_for(9_000);
    assert!(s.stats.disconnects.is_empty());
    s.run_for(2_000);
    assert_eq!(
        s.stats.disconnects,
        [(0, silent, DisconnectReason::HandshakeTimeout(10))]
    );
    s.run_for(50_000);
    assert_eq!(
        s.stats.disconnects[1..],
        [(0, quiet, DisconnectReason::Idle(60))]
    );
    assert!(s.protocol(0).peers().is_empty());
}

#[test]
fn misbehaviour_adds_up_to_a_ban_and_a_banned_ip_is_refused() {
    let mut s = sim(1, vec![]);
    s.start(0);
    let from = "198.51.100.4:40000".parse().expect("addr");
    let peer = s.attach(0, from);
    s.inject(0, to(peer, version(&s.genesis, 0)));
    let mut bad = s.genesis.clone();
    bad.header.nonce ^= 1; // proof of work no longer holds
    bad.height = 1;
    bad.header.prev_block_hash = s.genesis.hash();
    let m = Message::Block(BlockMsg {
        addr_from: String::new(),
        block: bad,
    });
    s.inject(0, Input::Received { peer, message: m });
    s.run_for(10);
    assert_eq!(
        s.stats.disconnects,
        [(0, peer, DisconnectReason::Misbehaving(100))]
    );
    let again = s.attach(0, "198.51.100.4:40001".parse().expect("addr"));
    assert_eq!(
        s.stats.disconnects[1..],
        [(0, again, DisconnectReason::Banned)]
    );
    // Messages before version cost 10 points each; a loopback peer is
    // disconnected at 100 but not banned.
    let local = s.attach(0, "127.0.0.1:40000".parse().expect("addr"));
    for _ in 0..10 {
        let ping = Message::Ping(1);
        s.inject(
            0,
            Input::Received {
                peer: local,
                message: ping,
            },
        );
    }
    assert_eq!(
        s.stats.disconnects[2..],
        [(0, local, DisconnectReason::Misbehaving(100))]
    );
    let back = s.attach(0, "127.0.0.1:40001".parse().expect("addr"));
    assert_eq!(s.stats.disconnects.len(), 3);
    assert!(s.protocol(0).peers().contains_key(&back));
}

#[test]
fn the_same_seed_replays_the_same_run_and_another_seed_differs() {
    let run = |seed| {
        let mut s = Sim::new(SimConfig {
            nodes: 12,
            seed,
            minters: vec![3, 7],
            loss: 0.01,
            ..SimConfig::default()
        })
        .expect("stores");
        s.start_all();
        s.run_for(5_000);
        for k in 0..4u64 {
            s.pay(3, PAYEE, 1 + k);
            s.pay(7, PAYEE, 1 + k);
            s.run_for(3_000);
        }
        (s.digest(), s.stats.messages, heights(&s))
    };
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a.0, run(12).0);
    let _ = ChainEvent::TipChanged;
}

#[test]
fn a_sync_reaches_the_chain_in_runs_of_blocks() {
    // Blocks served together arrive together; the chain worker takes the
    // ones queued behind each other as one run of `process_blocks`, and
    // their events reach the protocol after it, as in the node.
    let mut s = Sim::new(SimConfig {
        nodes: 2,
        minters: vec![0],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start(0);
    for h in 1..=8 {
        mint_block(&mut s, 0, h);
    }
    s.start(1);
    assert!(s.run_while_not(30_000, |s| s.height(1) == Some(8)));
    assert!(
        s.stats.largest_run > 1,
        "every block went to the chain alone ({} runs)",
        s.stats.block_runs
    );
}

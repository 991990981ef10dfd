//! Hostile peers against real `node` processes on loopback.
//!
//! Each test starts a seed node on a chain built here with the library (so the
//! test knows every key and coin), attacks it over TCP with a raw client
//! speaking the wire protocol through `sledchain::wire::frame`/`message`, and
//! after every attack checks that (a) the node logged the fault with the
//! attacker's address, (b) it is still running and did not panic, and (c) a
//! well-behaved peer is still served (`version` → `getblocks` → `inv`).

mod support;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use p256::ecdsa::SigningKey;
use sledchain::app::cli::NodePaths;
use sledchain::chain::ChainState;
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Hash256};
use sledchain::core::params::SUBSIDY;
use sledchain::core::tx::{OutPoint, Transaction, TxOut};
use sledchain::core::validation::SigCache;
use sledchain::net::reactor::CLOSING_SOCKETS;
use sledchain::store::ChainStore;
use sledchain::wire::frame::{Frame, command_bytes};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{Addr, BlockMsg, GetBlocks, GetData, Inv, InvKind, TxMsg};
use support::{Node, RawPeer, frame_header, free_port, key, now32, owner, pay, signed, solve};

/// Proof-of-work difficulty of the test chains, in leading zero bits.
const DIFFICULTY: u32 = 8;
/// `--idle-timeout` of the nodes under attack, in seconds.
const IDLE: u64 = 3;

// ---------------------------------------------------------------- harness

/// Starts node `port` of `dir` with `--seed 127.0.0.1:SEED`, the test idle
/// timeout and `extra` flags.
fn start(dir: &Path, port: u16, seed: u16, extra: &[&str]) -> Node {
    let mut node = Node::at(dir, port);
    let seed = format!("127.0.0.1:{seed}");
    let idle = IDLE.to_string();
    let mut args = vec!["--seed", seed.as_str(), "--idle-timeout", idle.as_str()];
    args.extend_from_slice(extra);
    node.start(&args);
    node
}

/// `node status` of the running node: (height, tip, mempool).
fn state(node: &Node) -> (u64, String, usize) {
    let s = node
        .status()
        .unwrap_or_else(|| panic!("no status; log tail:\n{}", node.tail(40)));
    (s.height, s.tip, s.mempool)
}

/// (c): a fresh well-behaved client is still served.
fn assert_served(node: &mut Node) {
    node.assert_alive();
    let items = RawPeer::connect(node.port).fetch_inv();
    assert!(!items.is_empty(), "empty inv");
}

/// Waits for `disconnected ADDR` in the node's log.
fn assert_disconnected(node: &Node, who: &str) -> String {
    node.wait_log(&format!("disconnected {who}:"))
}

// ---------------------------------------------------------------- chain

/// The test chain, built in the seed's datadir before it starts:
/// genesis (coinbase `cb0` to key 1), block 1 (coinbase `cb1` to key 1 and
/// `tx1` paying `cb0` to key 2). So `cb0` is spent, `cb1` (key 1) and
/// `tx1:0` (key 2) are unspent.
struct TestChain {
    tip: Block,
    cb0: (OutPoint, TxOut),
    cb1: (OutPoint, TxOut),
    tx1: (OutPoint, TxOut),
}

fn outpoint(tx: &Transaction, vout: u32) -> (OutPoint, TxOut) {
    (
        OutPoint {
            txid: tx.txid(),
            vout,
        },
        tx.outputs[vout as usize],
    )
}

fn build_chain(dir: &Path, port: u16) -> TestChain {
    let paths = NodePaths::new(dir, port);
    std::fs::create_dir_all(&paths.dir).expect("node dir");
    let store = ChainStore::open(&paths.chain, 16 << 20).expect("open store");
    let t0 = now32() - 600;
    let mut genesis = Block::template(
        BlockHash::ZERO,
        0,
        DIFFICULTY,
        t0,
        owner(&key(1)),
        SUBSIDY,
        vec![],
    );
    solve(&mut genesis);
    store.init_genesis(&genesis).expect("genesis");
    let chain = ChainState::new(store.clone(), Arc::new(SigCache::new(100))).expect("chain");
    let cb0 = outpoint(&genesis.transactions[0], 0);
    let tx1 = signed(&[(cb0.0, cb0.1, &key(1))], vec![pay(&key(2), SUBSIDY)]);
    let mut b1 = Block::template(
        genesis.hash(),
        1,
        DIFFICULTY,
        t0 + 1,
        owner(&key(1)),
        SUBSIDY,
        vec![tx1.clone()],
    );
    solve(&mut b1);
    chain
        .accept_block(&b1, sledchain::core::params::now_secs())
        .expect("block 1");
    store.flush().expect("flush");
    TestChain {
        cb1: outpoint(&b1.transactions[0], 0),
        tx1: outpoint(&tx1, 0),
        tip: b1,
        cb0,
    }
}

/// A solved block at height 2 on the tip with `txs` after a coinbase paying
/// `reward` to key 3.
fn block_on(c: &TestChain, reward: u64, txs: Vec<Transaction>) -> Block {
    let mut b = Block::template(
        c.tip.hash(),
        2,
        DIFFICULTY,
        now32(),
        owner(&key(3)),
        reward,
        txs,
    );
    solve(&mut b);
    b
}

/// Resets the merkle root and solves again after `f` changed the block.
fn altered(mut b: Block, f: impl FnOnce(&mut Block)) -> Block {
    f(&mut b);
    b.header.merkle_root = b.compute_merkle_root();
    solve(&mut b);
    b
}

fn spend(from: (OutPoint, TxOut), k: &SigningKey, outputs: Vec<TxOut>) -> Transaction {
    signed(&[(from.0, from.1, k)], outputs)
}

/// The invalid transactions, each with the text its rule puts in the log.
fn bad_txs(c: &TestChain) -> Vec<(&'static str, Transaction)> {
    let mut changed = spend(c.tx1, &key(2), vec![pay(&key(2), SUBSIDY)]);
    changed.outputs[0].pubkey_hash = owner(&key(9));
    let overflow = spend(
        c.cb1,
        &key(1),
        vec![pay(&key(1), u64::MAX), pay(&key(1), 1)],
    );
    vec![
        (
            "missing or already spent",
            spend(c.cb0, &key(1), vec![pay(&key(1), SUBSIDY)]),
        ),
        (
            "public key does not own the spent output",
            spend(c.tx1, &key(3), vec![pay(&key(3), SUBSIDY)]),
        ),
        ("signature does not verify", changed),
        ("output values overflow u64", overflow),
        (
            "outputs (21) exceed inputs (20)",
            spend(c.cb1, &key(1), vec![pay(&key(1), SUBSIDY + 1)]),
        ),
        (
            "twice",
            signed(
                &[(c.cb1.0, c.cb1.1, &key(1)), (c.cb1.0, c.cb1.1, &key(1))],
                vec![pay(&key(1), 1)],
            ),
        ),
        (
            "unexpected coinbase",
            Transaction::coinbase(2, owner(&key(4)), SUBSIDY),
        ),
    ]
}

// ---------------------------------------------------------------- tests

/// Malformed frames and messages: each is logged with the sender's address,
/// the fatal ones disconnect, and the node keeps serving.
#[test]
fn wire_abuse() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let c = build_chain(tmp.path(), port);
    let mut node = start(tmp.path(), port, port, &[]);
    assert_served(&mut node);

    // Silent peers, started first so their idle timeouts run meanwhile.
    let silent = RawPeer::connect(node.port);
    let mut header_only = RawPeer::connect(node.port);
    header_only.send_raw(&frame_header(&command_bytes("ping"), 8, [0; 4])[..10]);
    let mut short_payload = RawPeer::connect(node.port);
    let ping = Message::Ping(1).to_frame();
    let mut bytes = frame_header(&ping.command, 8, ping.checksum);
    bytes.extend_from_slice(&[1, 0, 0]);
    short_payload.send_raw(&bytes);
    let idle_started = Instant::now();

    // Fatal framing errors: logged and disconnected.
    let fatal: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "random bytes",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "bad network magic",
        ),
        (
            "wrong magic",
            {
                let mut h = frame_header(&command_bytes("ping"), 8, [0; 4]);
                h[0] = 0xfa;
                h
            },
            "bad network magic",
        ),
        (
            "length above 4,000,000",
            frame_header(&command_bytes("bogus"), 4_000_001, [0; 4]),
            "payload of 4000001 bytes exceeds",
        ),
        (
            "block over 1,000,000 bytes",
            frame_header(&command_bytes("block"), 1_001_025, [0; 4]),
            "\"block\" payload of 1001025 bytes exceeds",
        ),
        (
            "ping over its limit",
            frame_header(&command_bytes("ping"), 65, [0; 4]),
            "\"ping\" payload of 65 bytes exceeds",
        ),
    ];
    for (what, bytes, log) in fatal {
        let mut r = RawPeer::connect(node.port);
        let who = r.me();
        r.send_raw(&bytes);
        let line = node.wait_log_all(&[&format!("disconnected {who}:"), log]);
        assert!(line.contains("protocol violation"), "{what}: {line}");
        assert!(
            r.closed_within(Duration::from_secs(5)),
            "{what}: not closed"
        );
        assert_served(&mut node);
    }

    // A header cut short, then the peer closes.
    {
        let mut r = RawPeer::connect(node.port);
        let who = r.me();
        r.send_raw(&frame_header(&command_bytes("inv"), 40, [0; 4])[..20]);
        drop(r);
        node.wait_log_all(&[&format!("disconnected {who}:"), "read error"]);
        assert_served(&mut node);
    }

    // Non-fatal message errors: logged, dropped, connection kept.
    let mut r = RawPeer::connect(node.port);
    let who = r.me();
    let mut bad_sum = Message::Ping(5).to_frame();
    bad_sum.checksum[0] ^= 0xff;
    let mut trailing = Message::Ping(6).to_frame().payload.to_vec();
    trailing.push(0);
    let big_inv = {
        let mut p = sledchain::core::encode::encode(&Inv {
            addr_from: who.clone(),
            kind: InvKind::Block,
            items: vec![],
        });
        p.truncate(p.len() - 8);
        p.extend_from_slice(&50_001u64.to_le_bytes());
        p.extend(std::iter::repeat_n(0u8, 50_001 * 32));
        p
    };
    let big_getdata = big_inv.clone();
    let big_locator = {
        let mut p = sledchain::core::encode::encode(&who);
        p.extend_from_slice(&102u64.to_le_bytes());
        p.extend(std::iter::repeat_n(0u8, 102 * 32 + 32));
        p
    };
    let big_addr = {
        let mut p = 1_001u64.to_le_bytes().to_vec();
        for _ in 0..1_001 {
            p.extend_from_slice(&sledchain::core::encode::encode("1.2.3.4:5"));
        }
        p
    };
    let cases: Vec<(Frame, &str)> = vec![
        (bad_sum, "ping: payload checksum mismatch"),
        (
            Frame::new(command_bytes("bogus"), Bytes::from_static(b"x")),
            "unknown command \"bogus\"",
        ),
        (
            Frame::new(command_bytes("block"), Bytes::from_static(&[0xff; 40])),
            "block: ",
        ),
        (
            Frame::new(command_bytes("ping"), Bytes::from(trailing)),
            "ping: ",
        ),
    ];
    for (f, log) in cases {
        let mark = node.log_text().len();
        r.send_frame(f);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = node.log_text();
            if t[mark..]
                .lines()
                .any(|l| l.contains(&format!("peer {who}: dropped message")) && l.contains(log))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no log for {log}:\n{}",
                node.tail(20)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Five malformed messages reach the default ban score (5 × 20 = 100):
    // the oversized lists go on a fresh connection each.
    let lists: Vec<(&str, Vec<u8>, &str)> = vec![
        ("inv", big_inv, "inv: 50001 items exceed the limit of 50000"),
        (
            "getdata",
            big_getdata,
            "getdata: 50001 items exceed the limit of 50000",
        ),
        (
            "getblocks",
            big_locator,
            "getblocks: 102 items exceed the limit of 101",
        ),
        (
            "addr",
            big_addr,
            "addr: 1001 items exceed the limit of 1000",
        ),
    ];
    for (cmd, payload, log) in lists {
        let mut r = RawPeer::connect(node.port);
        let who = r.me();
        r.send_frame(Frame::new(command_bytes(cmd), Bytes::from(payload)));
        node.wait_log_all(&[&format!("peer {who}: dropped message"), log]);
        assert_served(&mut node);
    }
    // The connection that sent four malformed messages is still open and
    // served; a fifth reaches the ban score: disconnected, not banned.
    assert!(!r.closed_within(Duration::from_millis(300)));
    assert!(!r.fetch_inv().is_empty());
    r.send_frame(Frame::new(command_bytes("bogus"), Bytes::new()));
    node.wait_log(&format!(
        "peer {who} misbehaved: disconnecting (not banned: loopback)"
    ));
    assert_disconnected(&node, &who);
    assert!(r.closed_within(Duration::from_secs(5)));
    assert_served(&mut node);

    // The silent peers: dropped after the idle timeout, not before.
    for (what, r) in [
        ("sent nothing", &silent),
        ("header and then nothing", &header_only),
        ("payload shorter than its length", &short_payload),
    ] {
        let line = assert_disconnected(&node, &r.me());
        assert!(
            line.contains(&format!("idle for {IDLE}s")),
            "{what}: {line}"
        );
    }
    assert!(idle_started.elapsed() >= Duration::from_secs(IDLE));
    assert_served(&mut node);
    drop(c);
}

/// Invalid blocks and transactions over the wire: each refused with its rule
/// named, the tip and UTXO set unchanged, the mempool empty; repeat
/// offenders disconnected (not banned on loopback); a known tx not relayed
/// again; a valid block still connects; `checkchain` OK after a clean stop.
#[test]
fn invalid_blocks_and_transactions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let c = build_chain(tmp.path(), port);
    let mut node = start(tmp.path(), port, port, &[]);
    let (height, tip, _) = state(&node);
    assert_eq!(height, 1);
    assert_eq!(tip, c.tip.hash().to_string());

    let t1 = spend(c.cb1, &key(1), vec![pay(&key(1), SUBSIDY)]);
    let t2 = spend(c.tx1, &key(2), vec![pay(&key(2), SUBSIDY)]);
    let good = block_on(&c, SUBSIDY, vec![t1.clone(), t2.clone()]);
    let mut blocks: Vec<(&str, Block)> = Vec::new();
    {
        let mut b = good.clone();
        while b.header.meets_target() {
            b.header.nonce = b.header.nonce.wrapping_add(1);
        }
        blocks.push(("proof of work", b));
    }
    {
        let mut b = good.clone();
        b.header.bits = 4;
        solve(&mut b);
        blocks.push(("bits 4 differ from the chain's difficulty 8", b));
    }
    {
        let mut b = good.clone();
        b.header.merkle_root = Hash256([7; 32]);
        solve(&mut b);
        blocks.push(("merkle root does not match", b));
    }
    {
        // CVE-2012-2459: the last transaction repeated keeps the merkle root
        // and so the block hash.
        let mut b = good.clone();
        b.transactions.push(t2.clone());
        assert_eq!(b.compute_merkle_root(), good.header.merkle_root);
        assert_eq!(b.hash(), good.hash());
        blocks.push(("duplicate transaction", b));
    }
    blocks.push((
        "is a second coinbase",
        altered(good.clone(), |b| {
            b.transactions
                .insert(1, Transaction::coinbase(2, owner(&key(5)), SUBSIDY));
        }),
    ));
    blocks.push((
        "coinbase pays 21, more than subsidy + fees = 20",
        block_on(&c, SUBSIDY + 1, vec![t1.clone()]),
    ));
    blocks.push((
        "is spent twice in the block",
        block_on(
            &c,
            SUBSIDY,
            vec![
                t1.clone(),
                spend(c.cb1, &key(1), vec![pay(&key(4), SUBSIDY)]),
            ],
        ),
    ));
    for (log, tx) in bad_txs(&c) {
        if log == "unexpected coinbase" {
            continue;
        }
        blocks.push((log, block_on(&c, SUBSIDY, vec![tx])));
    }
    let future = {
        let mut b = good.clone();
        b.header.timestamp = now32() + 2 * 3600 + 600;
        solve(&mut b);
        b
    };
    {
        let mut b = Block::template(
            c.tip.hash(),
            5,
            DIFFICULTY,
            now32(),
            owner(&key(3)),
            SUBSIDY,
            vec![],
        );
        solve(&mut b);
        blocks.push(("height 5 does not follow parent height (expected 2)", b));
    }
    {
        // An orphan (unknown parent) at no difficulty at all: free to make,
        // so it must not be kept aside waiting for its parent.
        let mut b = Block::template(
            BlockHash(Hash256([9; 32])),
            7,
            0,
            now32(),
            owner(&key(3)),
            SUBSIDY,
            vec![],
        );
        solve(&mut b);
        blocks.push(("bits 0 outside 1..=64", b));
    }

    // Each invalid block is worth the whole ban score: one connection each.
    for (log, block) in blocks {
        let mut r = RawPeer::connect(node.port);
        let who = r.me();
        r.version();
        r.send(&Message::Block(BlockMsg {
            addr_from: who.clone(),
            block,
        }));
        // Refused by the chain layer, or before it (proof of work below
        // the chain's): the sender is charged with the rule either way.
        let line = node.wait_log(&format!("peer {who}: "));
        assert!(line.contains(log), "expected {log:?} in: {line}");
        node.wait_log(&format!(
            "peer {who} misbehaved: disconnecting (not banned: loopback)"
        ));
        assert_disconnected(&node, &who);
        assert!(r.closed_within(Duration::from_secs(5)));
        let (h, t, m) = state(&node);
        assert_eq!((h, t, m), (1, c.tip.hash().to_string(), 0), "after {log}");
        assert_served(&mut node);
    }

    // A block too far in the future is dropped, not blamed: clocks drift.
    {
        let mut r = RawPeer::connect(node.port);
        let who = r.me();
        r.version();
        r.send(&Message::Block(BlockMsg {
            addr_from: who.clone(),
            block: future.clone(),
        }));
        let hash = future.hash();
        node.wait_log(&format!("block {hash} from {who} dropped: its time"));
        // Still connected and served after the chain's verdict.
        r.send(&Message::GetBlocks(GetBlocks {
            addr_from: who.clone(),
            locator: vec![],
            stop: BlockHash::ZERO,
        }));
        let inv = std::iter::from_fn(|| r.recv(Duration::from_secs(5)))
            .find(|m| matches!(m, Message::Inv(_)));
        assert!(inv.is_some(), "no inv after a future block");
        assert!(!node.log_text().contains(&format!("peer {who}: ")));
        assert_eq!(state(&node).0, 1);
    }

    // The same faults as standalone transactions: refused by the mempool,
    // 10 points each except the missing input (a relay race makes that one
    // honest), so two rounds of the six reach the ban score.
    let mut r = RawPeer::connect(node.port);
    let who = r.me();
    r.version();
    let txs = bad_txs(&c);
    let mut sent = 0;
    let rounds = 2 * txs.len();
    while sent < rounds {
        for (log, tx) in &txs {
            if sent == rounds {
                break;
            }
            let txid = tx.txid().to_string();
            r.send(&Message::Tx(TxMsg {
                addr_from: who.clone(),
                transaction: tx.clone(),
            }));
            sent += 1;
            if sent <= txs.len() {
                let line = node.wait_log_all(&[&format!("rejected transaction {txid} from {who}")]);
                assert!(line.contains(log), "expected {log:?} in: {line}");
                assert_eq!(state(&node).2, 0, "mempool after {log}");
            }
        }
    }
    node.wait_log(&format!(
        "peer {who} misbehaved: disconnecting (not banned: loopback)"
    ));
    assert_disconnected(&node, &who);
    assert!(r.closed_within(Duration::from_secs(5)));
    assert!(!node.log_text().contains("banned for"));
    assert_served(&mut node);

    // A valid transaction is accepted and announced once; sent again, it is
    // not relayed again.
    let mut listener = RawPeer::connect(node.port);
    listener.version();
    let mut sender = RawPeer::connect(node.port);
    let sender_addr = sender.me();
    sender.version();
    std::thread::sleep(Duration::from_millis(300));
    let announced = |l: &mut RawPeer, within: Duration| {
        let deadline = Instant::now() + within;
        let mut n = 0;
        while Instant::now() < deadline {
            if let Some(Message::Inv(inv)) = l.recv(Duration::from_millis(200))
                && inv.kind == InvKind::Tx
                && inv.items.contains(&t1.txid().0)
            {
                n += 1;
            }
        }
        n
    };
    let msg = Message::Tx(TxMsg {
        addr_from: sender_addr.clone(),
        transaction: t1.clone(),
    });
    sender.send(&msg);
    node.wait_log(&format!("accepted transaction {}", t1.txid()));
    assert_eq!(announced(&mut listener, Duration::from_secs(2)), 1);
    sender.send(&msg);
    sender.send(&Message::Inv(Inv {
        addr_from: sender_addr,
        kind: InvKind::Tx,
        items: vec![t1.txid().0],
    }));
    assert_eq!(announced(&mut listener, Duration::from_secs(2)), 0);
    assert_eq!(state(&node).2, 1);

    // The genuine block whose hash the CVE-2012-2459 copy shares still
    // connects.
    let mut r = RawPeer::connect(node.port);
    let who = r.me();
    r.version();
    r.send(&Message::Block(BlockMsg {
        addr_from: who.clone(),
        block: good.clone(),
    }));
    node.wait_log_all(&[&format!("block {} connected at height 2", good.hash())]);
    assert_eq!(state(&node), (2, good.hash().to_string(), 0));
    // getdata for it returns it.
    r.send(&Message::GetData(GetData {
        addr_from: who,
        kind: InvKind::Block,
        items: vec![good.hash().0],
    }));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = false;
    while !got && Instant::now() < deadline {
        if let Some(Message::Block(b)) = r.recv(Duration::from_millis(200)) {
            got = b.block == good;
        }
    }
    assert!(got, "getdata for the new tip not answered");
    node.assert_alive();
    node.stop();
    assert_eq!(node.ok(&["checkchain"]), "OK");
}

/// 1,000 idle connections: the node's descriptors stay bounded by
/// `--max-inbound`, its memory modest, and a real node still syncs.
#[test]
fn connection_flood() {
    const FLOOD: usize = 1000;
    const MAX_INBOUND: usize = 20;
    raise_fd_limit(FLOOD as u64 + 256);
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let c = build_chain(tmp.path(), port);
    let max_inbound = MAX_INBOUND.to_string();
    let mut seed = start(tmp.path(), port, port, &["--max-inbound", &max_inbound]);
    let base_fds = seed.fd_count();
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        match TcpStream::connect(seed.addr()) {
            Ok(s) => flood.push(s),
            Err(e) => panic!("connect #{}: {e}", flood.len()),
        }
    }
    // Slots full: each newcomer evicts the oldest idle socket.
    seed.wait_log("evicted: inbound slots full");
    let mut max_fds = 0;
    let mut max_rss = 0;
    for _ in 0..10 {
        max_fds = max_fds.max(seed.fd_count());
        max_rss = max_rss.max(seed.rss_kib());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The slots, the sockets still closing on top of them, the one socket
    // the reactor has just accepted and is about to refuse, and one
    // outbound dial (the node redials its seed, itself here, and drops the
    // connection to itself; the base may or may not have caught one).
    let bound = base_fds + MAX_INBOUND + CLOSING_SOCKETS + 2;
    assert!(
        max_fds <= bound,
        "{max_fds} descriptors (base {base_fds}, --max-inbound {MAX_INBOUND}, bound {bound})"
    );
    assert!(max_rss < 200 * 1024, "RSS {max_rss} KiB");
    seed.assert_alive();

    // A second node, on an empty chain, syncs from the seed while the flood
    // connections are still open on the attacker's side.
    let port2 = free_port();
    let mut second = start(tmp.path(), port2, port, &[]);
    second.wait_log(&format!("block {} connected at height 1", c.tip.hash()));
    assert_eq!(state(&second).1, c.tip.hash().to_string());
    let held = flood.len();
    drop(flood);
    assert_eq!(held, FLOOD);
    // Now the second node's connection too, inbound or dialled back by
    // the seed, which learnt its address (one outbound socket).
    let fds = seed.fd_count();
    assert!(
        fds <= bound + 1,
        "{fds} descriptors with the second node (bound {bound} + 1)"
    );
    assert_served(&mut seed);
    second.assert_alive();
}

/// Raises this process's soft descriptor limit to `want` (within the hard
/// limit) with `prlimit`, which changes a running process's limits.
fn raise_fd_limit(want: u64) {
    let pid = std::process::id().to_string();
    let _ = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={want}:")])
        .status();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        soft >= want,
        "need {want} descriptors, soft limit is {soft}:\n{limits}"
    );
}

/// A peer that asks for 50,000 blocks and never reads the answers: the node
/// queues at most `SERVE_QUEUE_MAX` of them, and drops the peer (as not
/// reading, or as idle once what was sent fits in the socket buffers)
/// instead of waiting forever.
#[test]
fn getdata_without_reading() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let c = build_chain(tmp.path(), port);
    let mut node = start(tmp.path(), port, port, &[]);
    let base_fds = node.fd_count();
    let mut r = RawPeer::connect(node.port);
    let who = r.me();
    r.version();
    r.send(&Message::GetData(GetData {
        addr_from: who.clone(),
        kind: InvKind::Block,
        items: vec![c.tip.hash().0; 50_000],
    }));
    // Never read; keep sending nothing either.
    let line = node.wait_log(&format!("disconnected {who}:"));
    assert!(
        line.contains("not reading") || line.contains("idle"),
        "{line}"
    );
    // Its socket is closed too, though the peer still does not read.
    let deadline = Instant::now() + Duration::from_secs(8);
    while node.fd_count() > base_fds {
        assert!(
            Instant::now() < deadline,
            "{} descriptors, {base_fds} before the peer came",
            node.fd_count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_served(&mut node);
    drop(r);
}

/// `addr` messages full of made-up addresses: the sender gets its share of
/// the address book and no more, the excess is logged, the node keeps
/// serving.
#[test]
fn address_flood() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    build_chain(tmp.path(), port);
    let mut node = start(tmp.path(), port, port, &[]);
    let mut r = RawPeer::connect(node.port);
    let who = r.me();
    r.version();
    for batch in 0..3u32 {
        let addrs = (0..1000u32)
            .map(|i| {
                let k = batch * 1000 + i;
                // TEST-NET-1: never answers, so the dials just time out.
                format!("192.0.2.{}:{}", k % 250 + 1, 10_000 + k)
            })
            .collect();
        r.send(&Message::Addr(Addr { addrs }));
    }
    node.wait_log_all(&[&format!("peer {who}:"), "new addresses ignored"]);
    assert!(!r.closed_within(Duration::from_millis(300)));
    assert_served(&mut node);
    node.stop();
    let store =
        ChainStore::open(&NodePaths::new(tmp.path(), port).chain, 16 << 20).expect("open store");
    let known = store.peers().expect("peers").len();
    let share = sledchain::protocol::addrbook::MAX_PER_SOURCE + 1;
    assert!(known <= share, "{known} peers remembered");
}

/// A peer that asks for the same ~950 KB block 300 times and never reads:
/// the node does not queue 300 copies (≈ 285 MB) for it.
#[test]
fn getdata_of_large_blocks_without_reading() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let c = build_chain(tmp.path(), port);
    // Block 2: a coinbase with 34,000 outputs, about 950 KB.
    let mut big = block_on(&c, SUBSIDY, vec![]);
    big.transactions[0]
        .outputs
        .extend((0..34_000u32).map(|_| pay(&key(6), 0)));
    big.header.merkle_root = big.compute_merkle_root();
    solve(&mut big);
    assert!(big.encoded_size() > 900_000 && big.encoded_size() < 1_000_000);
    {
        let store = ChainStore::open(&NodePaths::new(tmp.path(), port).chain, 16 << 20)
            .expect("open store");
        let chain = ChainState::new(store.clone(), Arc::new(SigCache::new(10))).expect("chain");
        chain
            .accept_block(&big, sledchain::core::params::now_secs())
            .expect("big block");
        store.flush().expect("flush");
    }
    let mut node = start(tmp.path(), port, port, &[]);
    let base_rss = node.rss_kib();
    let mut r = RawPeer::connect(node.port);
    let who = r.me();
    r.version();
    r.send(&Message::GetData(GetData {
        addr_from: who.clone(),
        kind: InvKind::Block,
        items: vec![big.hash().0; 300],
    }));
    let mut max_rss = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !node.log_text().contains(&format!("disconnected {who}:")) {
        max_rss = max_rss.max(node.rss_kib());
        assert!(
            max_rss < base_rss + 100 * 1024,
            "RSS grew from {base_rss} KiB to {max_rss} KiB"
        );
        assert!(
            Instant::now() < deadline,
            "not disconnected:\n{}",
            node.tail(20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = node.wait_log(&format!("disconnected {who}:"));
    assert!(line.contains("not reading"), "{line}");
    assert_served(&mut node);
    drop(r);
}

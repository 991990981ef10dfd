//! Hostile peers against a release seed node, as raw sockets speaking the
//! wire protocol (`BENCH_ONLY=hostile` runs these rows alone):
//!
//! * peak RSS growth of the seed while `BENCH_HOSTILE_SOCKETS` [16]
//!   sockets ask for every block and twice for 50,000 unknown transactions
//!   (1.6 MB `notfound` each) and never read, kept alive with pongs, for
//!   10 s;
//! * how long an honest new tip, pushed by one socket, takes to connect
//!   while 3 sockets deliver `BENCH_SIDE_BLOCKS` [150] side-branch blocks
//!   of ~500 KB each (forking at genesis, less work than the tip);
//! * a fresh node syncing `BENCH_FAKE_SYNC_BLOCKS` [3000] blocks while one
//!   socket announces 500 made-up block hashes, against the same sync
//!   with no attacker;
//! * peak RSS growth of a node while 3 sockets, reading every answer, send
//!   `getdata`s naming one ~98 KB mempool transaction 50,000 times each,
//!   for 10 s;
//! * peak RSS growth of a node while 3 sockets send `inv`s of 50,000
//!   made-up txids each, one after the other, for `BENCH_INV_FLOOD_SECS`
//!   [15] s (reading what comes back and answering pings, so they are
//!   never dropped as idle or not reading);
//! * how much the seed's data directory grows (measured after a clean
//!   stop) when 100 side-branch blocks of ~100 KB forking at genesis, with
//!   less work than the tip, are offered by a headers-first (version 2)
//!   peer's `inv` and `headers`, then announced by a version-1 peer's
//!   `inv` (each block asked for served), then pushed unasked.
//!
//! The non-reading sockets' `pong`s carry a made-up nonce: they no longer
//! keep a socket alive (a `pong` counts only with our ping's nonce).

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sledchain::app::cli::NodePaths;
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Hash256, Txid};
use sledchain::core::params::SUBSIDY;
use sledchain::core::tx::{OutPoint, TxOut};
use sledchain::store::ChainStore;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{
    BlockMsg, GetData, Inv, InvKind, MAX_BLOCKS_PER_INV, MAX_INV_ITEMS, PROTOCOL_VERSION, TxMsg,
    Version,
};

use crate::harness::{Probe, Shape, Table, env, genchain, start, timeout, wait_until};
use crate::support::{Node, RawPeer, free_port, key, mine_on, now32, owner, signed, solve};

/// The rows, each under the name `BENCH_HOSTILE_ROWS` (comma-separated;
/// all when unset) picks it by.
pub fn run(t: &mut Table, root: &Path) -> Result<()> {
    type Row = fn(&mut Table, &Path) -> Result<()>;
    let rows: [(&str, Row); 6] = [
        ("nonreading", non_reading),
        ("side", side_branches),
        ("fakeinv", fake_inv_sync),
        ("sametx", same_tx_getdata),
        ("txinv", tx_inv_flood),
        ("sidedisk", side_branch_disk),
    ];
    let only = std::env::var("BENCH_HOSTILE_ROWS").unwrap_or_default();
    for (name, row) in rows {
        if only.is_empty() || only.split(',').any(|n| n.trim() == name) {
            row(t, &root.join(name))?;
        }
    }
    Ok(())
}

fn frame(m: &Message) -> Vec<u8> {
    use tokio_util::codec::Encoder;
    let mut b = bytes::BytesMut::new();
    sledchain::wire::frame::FrameCodec::for_messages()
        .encode(m.to_frame(), &mut b)
        .expect("encode frame");
    b.to_vec()
}

fn version(genesis: BlockHash, nonce: u64) -> Message {
    Message::Version(Version {
        version: PROTOCOL_VERSION,
        best_height: 0,
        addr_from: String::new(),
        genesis: Some(genesis),
        nonce,
    })
}

/// Peak RSS growth under a getdata flood from sockets that never read.
fn non_reading(t: &mut Table, dir: &Path) -> Result<()> {
    let sockets = env("BENCH_HOSTILE_SOCKETS", 16) as usize;
    eprintln!("hostile: {sockets} sockets flooding getdata, never reading");
    let port = free_port();
    let shape = Shape {
        blocks: 300,
        txs: 0,
        inputs: 1,
        foreign: 2000,
    };
    genchain(dir, port, &shape)?;
    let seed = start(dir, port, port, &["--idle-timeout", "5"])?;
    let mut probe = RawPeer::connect(port);
    let blocks = probe.fetch_inv();
    drop(probe);
    let genesis = BlockHash(blocks[0]);
    let base = seed.peak_rss_mb();
    let get_blocks = frame(&Message::GetData(GetData {
        addr_from: String::new(),
        kind: InvKind::Block,
        items: blocks.clone(),
    }));
    let get_txs = frame(&Message::GetData(GetData {
        addr_from: String::new(),
        kind: InvKind::Tx,
        items: (0..50_000u32)
            .map(|i| {
                let mut h = [0xa5u8; 32];
                h[..4].copy_from_slice(&i.to_le_bytes());
                Hash256(h)
            })
            .collect(),
    }));
    let pong = frame(&Message::Pong(1));
    let mut open = Vec::new();
    for i in 0..sockets {
        let mut s = TcpStream::connect(seed.addr()).context("connect")?;
        s.set_write_timeout(Some(Duration::from_millis(200)))?;
        let _ = s.write_all(&frame(&version(genesis, 500 + i as u64)));
        let _ = s.write_all(&get_blocks);
        let _ = s.write_all(&get_txs);
        let _ = s.write_all(&get_txs);
        open.push(s);
    }
    let mut peak = base;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        for s in &mut open {
            let _ = s.write_all(&pong);
        }
        peak = peak.max(seed.peak_rss_mb());
        std::thread::sleep(Duration::from_millis(200));
    }
    let grown = peak - base;
    let note = format!("{sockets} sockets, {base:.0} MB before");
    t.row(
        "peak RSS growth, non-reading getdata flood",
        grown,
        "MB",
        None,
        "< 50",
        note,
    );
    Ok(())
}

/// A block on `prev` at `height` at difficulty `bits` paying `to`, with
/// `outputs` extra zero-value coinbase outputs (about 31 bytes each).
/// Each block made is dated one second after the last one (from now on),
/// so that branches built here pass the median-time-past rule.
fn block_on(prev: BlockHash, height: u64, bits: u32, to: u8, outputs: usize) -> Block {
    use std::sync::atomic::{AtomicU32, Ordering};
    static LAST: AtomicU32 = AtomicU32::new(0);
    let time = LAST
        .fetch_max(now32(), Ordering::Relaxed)
        .max(now32())
        .saturating_add(1);
    LAST.store(time, Ordering::Relaxed);
    let mut b = mine_on(prev, height, bits, time, [to; 20], SUBSIDY, vec![]);
    if outputs > 0 {
        b.transactions[0]
            .outputs
            .extend((0..outputs).map(|_| TxOut {
                value: 0,
                pubkey_hash: [to; 20],
            }));
        b.header.merkle_root = b.compute_merkle_root();
        let stop = std::sync::atomic::AtomicBool::new(false);
        sledchain::core::block::solve_header(&mut b.header, 1, &stop);
    }
    b
}

/// A seed node started in `dir` on a chain of `blocks` blocks of a
/// coinbase only ([`genchain`]); returns its port and the node.
fn seed_on(dir: &Path, blocks: u64) -> Result<(u16, Node)> {
    let port = free_port();
    let shape = Shape {
        blocks,
        txs: 0,
        inputs: 1,
        foreign: 0,
    };
    genchain(dir, port, &shape)?;
    Ok((port, start(dir, port, port, &[])?))
}

/// How long an honest new tip takes while 3 sockets deliver side blocks.
fn side_branches(t: &mut Table, dir: &Path) -> Result<()> {
    let side = env("BENCH_SIDE_BLOCKS", 150);
    let bits = env("BENCH_DIFFICULTY", 4) as u32;
    eprintln!("hostile: honest tip while 3 sockets deliver {side} side blocks each");
    let height = side + 50;
    let (port, seed) = seed_on(dir, height)?;
    let mut probe = RawPeer::connect(port);
    let genesis = BlockHash(probe.fetch_inv()[0]);
    drop(probe);
    let status = seed.status().context("status")?;
    let tip = BlockHash::from_str(&status.tip).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // Three branches off genesis, shorter than the best chain.
    let branches: Vec<Vec<Block>> = (0..3u8)
        .map(|a| {
            let mut prev = genesis;
            (1..=side)
                .map(|h| {
                    let b = block_on(prev, h, bits, 0x40 + a, 16_000);
                    prev = b.hash();
                    b
                })
                .collect()
        })
        .collect();
    let honest = block_on(tip, status.height + 1, bits, 0x77, 0);
    let attackers: Vec<_> = branches
        .into_iter()
        .map(|blocks| {
            std::thread::spawn(move || {
                let mut r = RawPeer::connect(port);
                r.hello(genesis, 0);
                for chunk in blocks.chunks(MAX_BLOCKS_PER_INV) {
                    r.serve_blocks(chunk, Duration::from_secs(120));
                }
            })
        })
        .collect();
    // Let the side blocks pile up, then push the honest tip.
    std::thread::sleep(Duration::from_secs(2));
    let mut r = RawPeer::connect(port);
    r.hello(genesis, status.height);
    let started = Instant::now();
    r.send(&Message::Block(BlockMsg {
        addr_from: String::new(),
        block: honest,
    }));
    wait_until(timeout(), || Ok(seed.height() == Some(status.height + 1)))?;
    let secs = started.elapsed().as_secs_f64();
    for a in attackers {
        let _ = a.join();
    }
    let note = format!("3 x {side} side blocks of ~500 KB");
    t.row(
        "honest tip under side-branch flood",
        secs,
        "s",
        None,
        "<= 1",
        note,
    );
    Ok(())
}

/// A fresh node's sync of 3,000 blocks with one socket announcing 500
/// made-up hashes, against the same sync alone.
fn fake_inv_sync(t: &mut Table, dir: &Path) -> Result<()> {
    let blocks = env("BENCH_FAKE_SYNC_BLOCKS", 3000);
    eprintln!("hostile: sync of {blocks} blocks with a socket announcing fake hashes");
    let (port, seed) = seed_on(dir, blocks)?;
    let clean = timed_sync(dir, port, blocks)?;
    // The fresh node listens: the attacker announces fake hashes to it.
    let fresh_port = free_port();
    let t0 = Instant::now();
    let fresh = start(dir, fresh_port, port, &[])?;
    wait_until(timeout(), || {
        Ok(TcpStream::connect(("127.0.0.1", fresh_port)).is_ok())
    })?;
    let mut r = RawPeer::connect(fresh_port);
    r.version();
    let fake: Vec<Hash256> = (0..500u32)
        .map(|i| {
            let mut h = [0x3cu8; 32];
            h[..4].copy_from_slice(&i.to_le_bytes());
            Hash256(h)
        })
        .collect();
    r.send(&Message::Inv(Inv {
        addr_from: String::new(),
        kind: InvKind::Block,
        items: fake,
    }));
    wait_until(timeout(), || Ok(fresh.height() == Some(blocks)))?;
    let attacked = t0.elapsed().as_secs_f64();
    drop(r);
    drop(seed);
    let note = format!("{blocks} blocks: {clean:.2}s alone, {attacked:.2}s attacked");
    t.row(
        "sync with fake-hash inv (x alone)",
        attacked / clean,
        "x",
        None,
        "<= 2",
        note,
    );
    Ok(())
}

/// Seconds for a fresh node to sync `blocks` from the seed on `port`.
fn timed_sync(dir: &Path, port: u16, blocks: u64) -> Result<f64> {
    let t0 = Instant::now();
    let fresh: Node = start(dir, free_port(), port, &[])?;
    wait_until(timeout(), || Ok(fresh.height() == Some(blocks)))?;
    Ok(t0.elapsed().as_secs_f64())
}

/// Sockets of the `getdata` and `inv` floods.
const FLOOD_SOCKETS: usize = 3;

/// Starts a node on a fresh chain whose genesis pays key 5, with one
/// transaction of ~98 KB (one input, ~3,500 outputs) in its mempool;
/// returns the node, its genesis hash and the transaction's id.
fn node_with_large_tx(dir: &Path) -> Result<(Node, BlockHash, Txid)> {
    let port = free_port();
    let paths = NodePaths::new(dir, port);
    std::fs::create_dir_all(&paths.dir)?;
    let mut genesis = Block::template(
        BlockHash::ZERO,
        0,
        8,
        now32() - 600,
        owner(&key(5)),
        SUBSIDY,
        vec![],
    );
    solve(&mut genesis);
    {
        let store = ChainStore::open(&paths.chain, 16 << 20)?;
        store.init_genesis(&genesis)?;
        store.flush()?;
    }
    let node = start(dir, port, port, &[])?;
    let cb = &genesis.transactions[0];
    let coin = OutPoint {
        txid: cb.txid(),
        vout: 0,
    };
    let mut outputs = vec![TxOut {
        value: cb.outputs[0].value,
        pubkey_hash: owner(&key(6)),
    }];
    outputs.extend((0..3_500).map(|_| TxOut {
        value: 0,
        pubkey_hash: owner(&key(6)),
    }));
    let tx = signed(&[(coin, cb.outputs[0], &key(5))], outputs);
    let txid = tx.txid();
    let mut peer = RawPeer::connect(port);
    peer.hello(genesis.hash(), 0);
    peer.send(&Message::Tx(TxMsg {
        addr_from: String::new(),
        transaction: tx,
    }));
    wait_until(60, || Ok(node.mempool() == Some(1)))
        .context("the large transaction never reached the mempool")?;
    Ok((node, genesis.hash(), txid))
}

/// What a flooding socket sends in a round: (socket, peer, round) to
/// false once the node closed the connection.
type Each = std::sync::Arc<dyn Fn(usize, &mut RawPeer, u64) -> bool + Send + Sync>;

/// Runs `each` on [`FLOOD_SOCKETS`] connected, greeted sockets in threads
/// for `secs` seconds, sampling `node`'s peak RSS meanwhile; returns the
/// growth in MB, the slowest `status` answer seen (ms) and how many
/// messages `each` reported sending.
fn flood(node: &Node, genesis: BlockHash, secs: u64, each: Each) -> (f64, f64, u64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let base = node.peak_rss_mb();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let port = node.port;
    let threads: Vec<_> = (0..FLOOD_SOCKETS)
        .map(|i| {
            let (stop, sent, each) = (stop.clone(), sent.clone(), each.clone());
            std::thread::spawn(move || {
                let mut r = RawPeer::connect(port);
                r.hello(genesis, 0);
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    if !each(i, &mut r, round) {
                        return;
                    }
                    round += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                    // Whatever came back is read (pings answered).
                    while let Ok(Some(_)) = r.recv_open(Duration::from_millis(1)) {}
                }
            })
        })
        .collect();
    let (mut peak, mut slowest) = (base, 0f64);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        let t0 = Instant::now();
        let _ = node.status();
        slowest = slowest.max(t0.elapsed().as_secs_f64() * 1000.0);
        peak = peak.max(node.peak_rss_mb());
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    peak = peak.max(node.peak_rss_mb());
    (peak - base, slowest, sent.load(Ordering::Relaxed))
}

/// Peak RSS growth while sockets that read their answers ask for one
/// large mempool transaction 50,000 times per `getdata`.
fn same_tx_getdata(t: &mut Table, dir: &Path) -> Result<()> {
    eprintln!("hostile: {FLOOD_SOCKETS} sockets asking 50,000 times for one large transaction");
    let row = "peak RSS growth, getdata of one tx x50,000";
    flood_row(
        t,
        dir,
        row,
        10,
        "getdata of 50,000 x one ~98 KB tx",
        |txid| {
            let getdata = Message::GetData(GetData {
                addr_from: String::new(),
                kind: InvKind::Tx,
                items: vec![txid.0; MAX_INV_ITEMS],
            });
            std::sync::Arc::new(move |_, r, _| r.try_send(&getdata))
        },
    )
}

/// Peak RSS growth while sockets announce made-up txids as fast as the
/// node reads them.
fn tx_inv_flood(t: &mut Table, dir: &Path) -> Result<()> {
    let secs = env("BENCH_INV_FLOOD_SECS", 15);
    eprintln!("hostile: {FLOOD_SOCKETS} sockets announcing made-up txids for {secs} s");
    let row = "peak RSS growth, inv flood of made-up txids";
    flood_row(t, dir, row, secs, "inv of 50,000 made-up txids", |_| {
        std::sync::Arc::new(|i, r, round| {
            let items = (0..MAX_INV_ITEMS as u64)
                .map(|n| {
                    let mut h = [0x6eu8; 32];
                    h[..8].copy_from_slice(&(round * MAX_INV_ITEMS as u64 + n).to_le_bytes());
                    h[8] = i as u8;
                    Hash256(h)
                })
                .collect();
            r.try_send(&Message::Inv(Inv {
                addr_from: String::new(),
                kind: InvKind::Tx,
                items,
            }))
        })
    })
}

/// The row `name`: the peak RSS growth (target < 50 MB) of a node holding
/// one large mempool transaction ([`node_with_large_tx`]) while
/// [`FLOOD_SOCKETS`] sockets send for `secs` s what `each` (given the
/// transaction's id) makes them send, `what` naming it in the note.
fn flood_row(
    t: &mut Table,
    dir: &Path,
    name: &str,
    secs: u64,
    what: &str,
    each: impl FnOnce(Txid) -> Each,
) -> Result<()> {
    let (node, genesis, txid) = node_with_large_tx(dir)?;
    let (grown, slowest, sent) = flood(&node, genesis, secs, each(txid));
    let note =
        format!("{FLOOD_SOCKETS} sockets, {sent} {what} in {secs} s; status <= {slowest:.0} ms");
    t.row(name, grown, "MB", None, "< 50", note);
    Ok(())
}

/// Bytes of the files under `dir`, recursively.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// How much the seed's data directory grows when 100 low-work side-branch
/// blocks forking at genesis are offered by a version-2 peer (`inv`, then
/// `headers`), announced by a version-1 peer (`inv`; what is asked for is
/// served) and pushed unasked.
fn side_branch_disk(t: &mut Table, dir: &Path) -> Result<()> {
    const SIDE: u64 = 100;
    let bits = env("BENCH_DIFFICULTY", 4) as u32;
    eprintln!("hostile: data directory under {SIDE} low-work side-branch blocks");
    let port = free_port();
    let shape = Shape {
        blocks: 300,
        txs: 0,
        inputs: 1,
        foreign: 0,
    };
    genchain(dir, port, &shape)?;
    let mut seed = start(dir, port, port, &[])?;
    let mut probe = RawPeer::connect(port);
    let genesis = BlockHash(probe.fetch_inv()[0]);
    drop(probe);
    let height = seed.height().context("status")?;
    // A clean stop writes out what the start wrote: the size to compare.
    seed.stop();
    let before = dir_bytes(&seed.dir());
    let mut seed = start(dir, port, port, &[])?;
    let mut prev = genesis;
    let blocks: Vec<Block> = (1..=SIDE)
        .map(|h| {
            let b = block_on(prev, h, bits, 0x51, 3_200);
            prev = b.hash();
            b
        })
        .collect();
    // A headers-first (version 2) peer announces the branch's last block
    // and answers `getheaders` with the branch: its headers have too
    // little work, so no block should be asked for.
    let mut fetched_v2 = 0;
    let mut r = RawPeer::connect(port).headers_first();
    r.hello(genesis, SIDE);
    let last = blocks.last().map(|b| b.hash().0);
    if r.try_send(&Message::Inv(Inv {
        addr_from: String::new(),
        kind: InvKind::Block,
        items: last.into_iter().collect(),
    })) {
        while let Ok(Some(m)) = r.recv_open(Duration::from_secs(3)) {
            match m {
                // Answered in the guard; a closed connection ends it.
                Message::GetHeaders(g) if !r.answer_getheaders(&g, &blocks) => break,
                Message::GetData(g) if g.kind == InvKind::Block => {
                    for b in blocks.iter().filter(|b| g.items.contains(&b.hash().0)) {
                        fetched_v2 += 1;
                        let _ = r.try_send(&Message::Block(BlockMsg {
                            addr_from: String::new(),
                            block: b.clone(),
                        }));
                    }
                }
                _ => {}
            }
        }
    }
    drop(r);
    // Then a version-1 peer (synced by `getblocks`, no headers) announces
    // them all by `inv`, whatever is asked for served, until 3 s pass
    // with no request.
    let mut fetched = 0;
    let mut r = RawPeer::connect(port);
    r.hello(genesis, SIDE);
    if r.try_send(&Message::Inv(Inv {
        addr_from: String::new(),
        kind: InvKind::Block,
        items: blocks.iter().map(|b| b.hash().0).collect(),
    })) {
        while let Ok(Some(m)) = r.recv_open(Duration::from_secs(3)) {
            let Message::GetData(g) = m else { continue };
            for b in blocks.iter().filter(|b| g.items.contains(&b.hash().0)) {
                fetched += 1;
                let _ = r.try_send(&Message::Block(BlockMsg {
                    addr_from: String::new(),
                    block: b.clone(),
                }));
            }
        }
    }
    drop(r);
    // Then every block pushed unasked, on a new connection whenever the
    // seed drops the last one (at most 20 of them).
    let (mut pushed, mut connections) = (0, 0);
    let mut r = None;
    for b in &blocks {
        let m = Message::Block(BlockMsg {
            addr_from: String::new(),
            block: b.clone(),
        });
        loop {
            let peer = r.get_or_insert_with(|| {
                connections += 1;
                let mut p = RawPeer::connect(port);
                p.hello(genesis, SIDE);
                p
            });
            if peer.try_send(&m) {
                pushed += 1;
                break;
            }
            r = None;
            if connections >= 20 {
                break;
            }
        }
    }
    // Let the seed handle what it read.
    std::thread::sleep(Duration::from_secs(2));
    drop(r);
    // The tip did not move: the side branch has less work.
    let after_height = seed.height().context("status")?;
    seed.stop();
    let after = dir_bytes(&seed.dir());
    let grown = (after as f64 - before as f64) / 1e6;
    let size = blocks[0].encoded_size() / 1000;
    let note = format!(
        "v2 headers: {fetched_v2} fetched; v1 inv: {fetched} fetched; {pushed} pushed ({connections} connections); {SIDE} x ~{size} KB, fork at genesis, tip {height} -> {after_height}"
    );
    t.row(
        "data dir growth, 100 low-work side blocks",
        grown,
        "MB",
        None,
        "< 1",
        note,
    );
    Ok(())
}

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
//!   with no attacker.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Hash256};
use sledchain::core::params::SUBSIDY;
use sledchain::core::tx::TxOut;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{
    BlockMsg, GetData, Inv, InvKind, MAX_BLOCKS_PER_INV, PROTOCOL_VERSION, Version,
};

use crate::harness::{Probe, Shape, Table, env, genchain, start, timeout, wait_until};
use crate::support::{Node, RawPeer, free_port, mine_on, now32};

/// The three rows.
pub fn run(t: &mut Table, root: &Path) -> Result<()> {
    non_reading(t, &root.join("nonreading"))?;
    side_branches(t, &root.join("side"))?;
    fake_inv_sync(t, &root.join("fakeinv"))?;
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
fn block_on(prev: BlockHash, height: u64, bits: u32, to: u8, outputs: usize) -> Block {
    let mut b = mine_on(prev, height, bits, now32(), [to; 20], SUBSIDY, vec![]);
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

/// How long an honest new tip takes while 3 sockets deliver side blocks.
fn side_branches(t: &mut Table, dir: &Path) -> Result<()> {
    let side = env("BENCH_SIDE_BLOCKS", 150);
    let bits = env("BENCH_DIFFICULTY", 4) as u32;
    eprintln!("hostile: honest tip while 3 sockets deliver {side} side blocks each");
    let port = free_port();
    let height = side + 50;
    let shape = Shape {
        blocks: height,
        txs: 0,
        inputs: 1,
        foreign: 0,
    };
    genchain(dir, port, &shape)?;
    let seed = start(dir, port, port, &[])?;
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
    let port = free_port();
    let shape = Shape {
        blocks,
        txs: 0,
        inputs: 1,
        foreign: 0,
    };
    genchain(dir, port, &shape)?;
    let seed = start(dir, port, port, &[])?;
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

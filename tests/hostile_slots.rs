//! Slots and memory under hostile peers, on real `node` processes on
//! loopback: peers that never read cannot drive the node's memory up, and
//! a flood of idle sockets cannot keep a fresh node from syncing.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sledchain::core::hash::{BlockHash, Hash256};
use sledchain::wire::frame::FrameCodec;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{GetData, InvKind, PROTOCOL_VERSION, Version};
use support::{Node, RawPeer, genchain};
use tokio_util::codec::Encoder;

/// The bytes of `m` as a frame.
fn frame(m: &Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    FrameCodec::for_messages()
        .encode(m.to_frame(), &mut b)
        .expect("encode frame");
    b.to_vec()
}

/// Raises this process's soft descriptor limit to `want` with `prlimit`.
fn raise_fd_limit(want: u64) {
    let pid = std::process::id().to_string();
    let _ = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={want}:")])
        .status();
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

/// 125 inbound peers ask for many blocks and for many transactions and
/// never read: the node's peak RSS grows by less than 200 MB in all (the
/// peers whose queues fill are dropped as not reading).
#[test]
fn peers_that_never_read_cannot_grow_memory() {
    const PEERS: usize = 125;
    const ITEMS: usize = 10_000;
    const BLOCKS: usize = 300;
    raise_fd_limit(1024);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut node = Node::new(tmp.path(), "seed");
    genchain(tmp.path(), node.port, 30, 20);
    node.start_central(&[]);
    let mut probe = RawPeer::connect(node.port);
    let blocks = probe.fetch_inv();
    drop(probe);
    let genesis = BlockHash(blocks[0]);
    let base = node.peak_rss_kib();
    let get_blocks = frame(&Message::GetData(GetData {
        addr_from: String::new(),
        kind: InvKind::Block,
        items: (0..BLOCKS).map(|i| blocks[i % blocks.len()]).collect(),
    }));
    let get_txs = frame(&Message::GetData(GetData {
        addr_from: String::new(),
        kind: InvKind::Tx,
        items: (0..ITEMS as u32)
            .map(|i| {
                let mut h = [0xa5u8; 32];
                h[..4].copy_from_slice(&i.to_le_bytes());
                Hash256(h)
            })
            .collect(),
    }));
    let mut attackers = Vec::with_capacity(PEERS);
    for i in 0..PEERS {
        let mut s = TcpStream::connect(node.addr()).expect("connect");
        let _ = s.write_all(&frame(&version(genesis, 1_000 + i as u64)));
        let _ = s.write_all(&get_blocks);
        for _ in 0..4 {
            let _ = s.write_all(&get_txs);
        }
        attackers.push(s);
    }
    let mut peak = node.peak_rss_kib();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        peak = peak.max(node.peak_rss_kib());
        std::thread::sleep(Duration::from_millis(100));
    }
    peak = peak.max(node.peak_rss_kib());
    let grown = peak.saturating_sub(base);
    let dropped = node.log_text().matches("not reading").count();
    eprintln!(
        "peak RSS {base} KiB before, {peak} KiB after {PEERS} peers that never read \
         ({dropped} dropped as not reading): +{} MiB",
        grown / 1024
    );
    assert!(grown < 200 * 1024, "peak RSS grew by {grown} KiB");
    node.assert_alive();
    drop(attackers);
    support::wait_for(Duration::from_secs(30), "the node to answer", || {
        node.status().is_some()
    });
    let mut fresh = RawPeer::connect(node.port);
    assert_eq!(fresh.fetch_inv(), blocks);
}

/// Hundreds of idle sockets, reopened as fast as they are dropped, to a
/// seed with 20 inbound slots and a long handshake timeout: newcomers evict
/// the idle sockets, and a fresh node syncs from the seed meanwhile.
#[test]
fn a_fresh_node_syncs_from_a_seed_flooded_with_idle_sockets() {
    const FLOOD: usize = 300;
    raise_fd_limit(FLOOD as u64 + 512);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut seed = Node::new(tmp.path(), "seed");
    let (tip, height) = genchain(tmp.path(), seed.port, 5, 2);
    seed.start_central(&["--max-inbound", "20", "--handshake-timeout", "60"]);
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    let flood = {
        let (stop, opened, addr) = (stop.clone(), opened.clone(), seed.addr());
        std::thread::spawn(move || {
            let mut open = std::collections::VecDeque::new();
            let mut made = 0usize;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = TcpStream::connect(&addr) {
                    open.push_back(s);
                    made += 1;
                    opened.store(made, Ordering::Relaxed);
                }
                if open.len() > FLOOD {
                    open.pop_front();
                }
                if made >= FLOOD {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            made
        })
    };
    support::wait_for(Duration::from_secs(30), "the idle sockets", || {
        opened.load(Ordering::Relaxed) >= FLOOD
    });
    seed.wait_log("evicted");
    let mut fresh = Node::new(tmp.path(), "fresh");
    fresh.start_seeded(&seed.addr(), &[]);
    fresh.wait_height(height);
    assert_eq!(fresh.status().expect("status").tip, tip);
    stop.store(true, Ordering::Relaxed);
    let made = flood.join().expect("flood thread");
    assert!(made >= FLOOD, "{made} sockets opened");
    seed.assert_alive();
    fresh.assert_alive();
}

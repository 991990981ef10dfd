//! Send queues charged fairly, on real `node` processes on loopback: peers
//! that ask for answers and never read them pay for their own backlog;
//! an honest peer that reads is never dropped for it and keeps syncing.

mod support;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use sledchain::core::hash::{BlockHash, Hash256};
use sledchain::wire::frame::FrameCodec;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{GetBlocks, GetData, InvKind, PROTOCOL_VERSION, Version};
use support::{Node, RawPeer, genchain};
use tokio_util::codec::Encoder;

/// Sockets that never read.
const ATTACKERS: usize = 16;

/// The bytes of `m` as a frame.
fn frame(m: &Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    FrameCodec::for_messages()
        .encode(m.to_frame(), &mut b)
        .expect("encode frame");
    b.to_vec()
}

/// What an attacker sends every 200 ms once its big requests are out.
#[derive(Clone, Copy)]
enum Then {
    /// A `pong`: it stays alive, asks for nothing more.
    Pong,
    /// A `getblocks` from genesis: an 18 KB `inv` more each time.
    GetBlocks,
}

/// `getdata`s each attacker sends: each names 50,000 unknown txids and
/// is answered with a `notfound` of the 5,000 the node queues (160 kB),
/// so 20 of them are more than the socket's kernel buffers take (about
/// 0.5 MB) plus the 1 MiB past which the node stops reading a peer.
const GETDATAS: u32 = 20;

/// One attacker: connects, asks [`GETDATAS`] times for 50,000 unknown
/// transactions, then sends `then` every 200 ms until `stop` or the node
/// closes it (or stops reading it), never reading a byte. Its local
/// address goes into `used`.
fn attack(
    addr: String,
    genesis: BlockHash,
    then: Then,
    stop: Arc<AtomicBool>,
    used: Arc<Mutex<HashSet<String>>>,
) {
    let version = frame(&Message::Version(Version {
        version: PROTOCOL_VERSION,
        best_height: 0,
        addr_from: String::new(),
        genesis: Some(genesis),
        nonce: 99,
    }));
    let getdata = frame(&Message::GetData(GetData {
        addr_from: String::new(),
        kind: InvKind::Tx,
        items: (0..50_000u32)
            .map(|i| {
                let mut h = [0x5au8; 32];
                h[..4].copy_from_slice(&i.to_le_bytes());
                Hash256(h)
            })
            .collect(),
    }));
    let more = frame(&match then {
        Then::Pong => Message::Pong(1),
        Then::GetBlocks => Message::GetBlocks(GetBlocks {
            addr_from: String::new(),
            locator: vec![],
            stop: BlockHash::ZERO,
        }),
    });
    // A small receive window, as a peer that never reads soon has: what
    // the node sends then waits in its own queues, not in the kernel's.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let to: std::net::SocketAddr = addr.parse().expect("seed address");
    socket.connect(&to.into()).expect("connect to the seed");
    let mut s: TcpStream = socket.into();
    let me = s.local_addr().expect("local address");
    used.lock().expect("lock").insert(me.to_string());
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let ok = match round {
            0 => s.write_all(&version).is_ok(),
            n if n <= GETDATAS => s.write_all(&getdata).is_ok(),
            _ => s.write_all(&more).is_ok(),
        };
        if !ok {
            // Dropped by the node: its kernel buffers are gone too.
            return;
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The seed's connected peers as `GET /api/node/peers` lists them (what
/// `peers --json` prints): their addresses.
fn connected(seed: &Node) -> Vec<String> {
    let path = "/api/node/peers".to_string();
    let text = seed
        .request(&sledchain::net::control::Request::Get(path))
        .expect("peers");
    let answer: sledchain::net::control::GetAnswer =
        serde_json::from_str(&text).expect("GET answer");
    let list: Vec<sledchain::api::schema::Peer> =
        serde_json::from_str(&answer.body).expect("peers JSON");
    list.into_iter().map(|p| p.addr).collect()
}

/// 16 sockets that ask for 3 MB of answers and then for an `inv` every
/// 200 ms, never reading, against a seed, while a fresh
/// node syncs 1,000 blocks from it: the node-wide send cap never drops
/// the honest node (every peer dropped as not reading is an attacker;
/// the fresh node's connection, as the seed's peer list shows it, is the
/// one it opened first), the fresh node reaches the tip, and every
/// attacker is dropped.
#[test]
fn an_honest_peer_syncs_while_sockets_never_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut seed = Node::new(tmp.path(), "seed");
    let (tip, height) = genchain(tmp.path(), seed.port, 1_000, 0);
    // Not 3 s as below: on a loaded machine the debug-build seed's own
    // writer, or the fresh node busy adopting genesis, can leave an honest
    // queue unflushed for that long; 10 s still drops every attacker
    // well within the test.
    seed.start_central(&["--idle-timeout", "10"]);
    let mut probe = RawPeer::connect(seed.port);
    let genesis = BlockHash(probe.fetch_inv()[0]);
    drop(probe);
    let stop = Arc::new(AtomicBool::new(false));
    let used = Arc::new(Mutex::new(HashSet::new()));
    let threads: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            let (addr, stop, used) = (seed.addr(), stop.clone(), used.clone());
            std::thread::spawn(move || attack(addr, genesis, Then::GetBlocks, stop, used))
        })
        .collect();
    // Let the attackers' queues fill before the honest node comes.
    std::thread::sleep(Duration::from_secs(2));
    let mut fresh = Node::new(tmp.path(), "fresh");
    let started = std::time::Instant::now();
    support::wait_for(Duration::from_secs(60), "every attacker connected", || {
        used.lock().expect("lock").len() == ATTACKERS
    });
    let before = connected(&seed);
    fresh.start_seeded(&seed.addr(), &[]);
    let mut honest = None;
    support::wait_for(
        Duration::from_secs(60),
        "the fresh node's connection",
        || {
            let used = used.lock().expect("lock");
            honest = connected(&seed)
                .into_iter()
                .find(|a| !used.contains(a) && !before.contains(a));
            honest.is_some()
        },
    );
    let honest = honest.expect("the fresh node's address");
    fresh.wait_height(height);
    eprintln!(
        "fresh node synced {height} blocks in {:?}",
        started.elapsed()
    );
    assert_eq!(fresh.status().expect("status").tip, tip);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("attacker thread");
    }
    let used = used.lock().expect("lock");
    support::wait_for(Duration::from_secs(30), "every attacker dropped", || {
        !connected(&seed).iter().any(|a| used.contains(a))
    });
    assert!(
        connected(&seed).contains(&honest),
        "the fresh node's first connection {honest} was dropped: {:?}; {}",
        connected(&seed),
        seed.log_text()
            .lines()
            .filter(|l| l.contains(&honest))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let log = seed.log_text();
    let not_reading: Vec<&str> = log.lines().filter(|l| l.contains("not reading")).collect();
    for line in &not_reading {
        let who = line
            .split("disconnected ")
            .nth(1)
            .and_then(|rest| rest.split(": ").next())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        assert!(used.contains(who), "an honest peer was dropped: {line}");
    }
    seed.assert_alive();
    fresh.assert_alive();
}

/// One socket asks for more answers than its kernel buffers take, never
/// reads them and sends a `pong` every 200 ms: it is dropped (its pongs
/// are not read while its answers wait, and carry no nonce of ours), instead of holding its share of
/// the node's send queues for as long as it keeps talking.
#[test]
fn a_peer_that_never_reads_is_dropped_though_it_sends_pongs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut seed = Node::new(tmp.path(), "seed");
    genchain(tmp.path(), seed.port, 5, 0);
    seed.start_central(&["--idle-timeout", "3"]);
    let mut probe = RawPeer::connect(seed.port);
    let genesis = BlockHash(probe.fetch_inv()[0]);
    drop(probe);
    let stop = Arc::new(AtomicBool::new(false));
    let used = Arc::new(Mutex::new(HashSet::new()));
    let attacker = {
        let (addr, stop, used) = (seed.addr(), stop.clone(), used.clone());
        std::thread::spawn(move || attack(addr, genesis, Then::Pong, stop, used))
    };
    support::wait_for(Duration::from_secs(5), "the attacker", || {
        !used.lock().expect("lock").is_empty()
    });
    let who = used.lock().expect("lock").iter().next().cloned();
    let who = who.expect("attacker address");
    let line = seed.wait_log(&format!("disconnected {who}:"));
    assert!(
        line.contains("idle") || line.contains("not reading") || line.contains("ping unanswered"),
        "{line}"
    );
    stop.store(true, Ordering::Relaxed);
    attacker.join().expect("attacker thread");
    seed.assert_alive();
}

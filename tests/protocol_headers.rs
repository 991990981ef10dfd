//! Headers-first sync rules driven through `Protocol::step` by hand (and
//! the simulator for a version-1 peer syncing from us): headers that
//! break a rule checkable on headers cost their sender points from the one
//! table; a version-2 peer is asked for headers and a version-1 peer for
//! blocks by `getblocks`; an `inv` of an unknown block from a headers
//! peer is answered with `getheaders`, not `getdata`; `getblocks` and
//! `getheaders` are both answered.

mod sans_io;

use std::sync::atomic::AtomicBool;

use sledchain::chain::orphans::MAX_ORPHANS;
use sledchain::core::block::{Block, BlockHeader};
use sledchain::core::hash::{BlockHash, Hash256};
use sledchain::protocol::points::Misbehavior;
use sledchain::protocol::sync_headers::{BLOCK_DOWNLOAD_WINDOW, MAX_BLOCKS_IN_TRANSIT_PER_PEER};
use sledchain::protocol::{Input, Output, Protocol};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{
    GetBlocks, GetData, GetHeaders, Headers, Inv, InvKind, MAX_HEADERS, PROTOCOL_VERSION, Version,
};

const T0: u64 = 1_700_000_000_000;
const PEER: u64 = 1;
/// The test chain's difficulty: enough that bits 1 is far below it.
const BITS: u32 = 8;

/// A solved block on `prev` at `height`, `time` seconds since the epoch.
fn block(prev: BlockHash, height: u64, bits: u32, time: u32) -> Block {
    let mut b = Block::template(prev, height, bits, time, [1; 20], 20, vec![]);
    sledchain::chain::miner::solve(&mut b, 1, &AtomicBool::new(false));
    b
}

fn genesis() -> Block {
    block(BlockHash::ZERO, 0, BITS, (T0 / 1000) as u32)
}

/// `n` solved headers after `from` (at height `height`), a second apart.
fn headers_after(from: &Block, n: u64) -> Vec<BlockHeader> {
    let mut out: Vec<Block> = Vec::new();
    for i in 1..=n {
        let prev = out.last().map_or(from.hash(), Block::hash);
        let time = from.header.timestamp + i as u32;
        out.push(block(prev, from.height + i, BITS, time));
    }
    out.into_iter().map(|b| b.header).collect()
}

fn received(message: Message) -> Input {
    Input::Received {
        peer: PEER,
        message,
    }
}

fn headers(h: Vec<BlockHeader>) -> Input {
    received(Message::Headers(Headers { headers: h }))
}

fn score(p: &Protocol) -> Option<u32> {
    p.peers().get(&PEER).map(|x| x.score)
}

fn sent<'a>(out: &'a [Output], name: &str) -> Vec<&'a Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { message, .. } if message.command() == name => Some(message),
            _ => None,
        })
        .collect()
}

fn blocks_asked(out: &[Output]) -> usize {
    sent(out, "getdata")
        .iter()
        .map(|m| match m {
            Message::GetData(g) => g.items.len(),
            _ => 0,
        })
        .sum()
}

/// The outputs carry a misbehaviour event of `points` points.
fn charged(out: &[Output], points: u32) -> bool {
    out.iter().any(|o| {
        matches!(o, Output::Event(sledchain::protocol::Event::Misbehaved { points: p, .. }) if *p == points)
    })
}

#[test]
fn headers_below_the_chains_proof_of_work_are_charged_as_invalid() {
    let g = genesis();
    let (mut p, _) = sans_io::handshaken(&g, 5, PEER, T0);
    let time = g.header.timestamp + 1;
    let cheap = block(g.hash(), 1, 1, time).header;
    let out = p.step(headers(vec![cheap]), T0 + 1);
    let points = Misbehavior::InvalidHeader(cheap.hash(), String::new()).points();
    assert!(charged(&out, points), "not charged: {out:?}");
    assert_eq!(points, 100);
    assert!(score(&p).is_none(), "still connected at 100 points");
    assert_eq!(blocks_asked(&out), 0);
}

#[test]
fn headers_that_link_to_nothing_we_know_are_charged() {
    let g = genesis();
    let (mut p, _) = sans_io::handshaken(&g, 5, PEER, T0);
    let stranger = block(
        BlockHash(Hash256([0xab; 32])),
        7,
        BITS,
        g.header.timestamp + 1,
    );
    let out = p.step(headers(vec![stranger.header]), T0 + 1);
    let points = Misbehavior::UnconnectedHeaders(stranger.hash()).points();
    assert!(charged(&out, points), "not charged: {out:?}");
    assert_eq!(score(&p), Some(points));
    assert_eq!(blocks_asked(&out), 0);
}

#[test]
fn headers_too_far_in_the_future_are_charged_and_not_kept() {
    let g = genesis();
    let (mut p, _) = sans_io::handshaken(&g, 5, PEER, T0);
    let ok = block(g.hash(), 1, BITS, g.header.timestamp + 1);
    let late = block(ok.hash(), 2, BITS, (T0 / 1000) as u32 + 3 * 3600);
    let out = p.step(headers(vec![ok.header, late.header]), T0 + 1);
    let points = Misbehavior::FutureHeader(late.hash(), 0).points();
    assert!(charged(&out, points), "not charged: {out:?}");
    assert_eq!(score(&p), Some(points));
    assert!(p.sync().headers().get(&late.hash()).is_none(), "kept");
    // The valid header before it is kept and its block asked for.
    assert!(p.sync().headers().get(&ok.hash()).is_some());
    assert_eq!(blocks_asked(&out), 1);
}

#[test]
fn headers_out_of_chain_order_or_before_the_median_time_are_charged() {
    let g = genesis();
    let (mut p, _) = sans_io::handshaken(&g, 5, PEER, T0);
    let mut h = headers_after(&g, 3);
    h.swap(1, 2);
    let out = p.step(headers(h), T0 + 1);
    assert!(charged(&out, 100), "out of order not charged: {out:?}");
    let (mut p, _) = sans_io::handshaken(&g, 5, PEER, T0);
    // Dated at genesis's time: not after the median time past.
    let old = block(g.hash(), 1, BITS, g.header.timestamp);
    let out = p.step(headers(vec![old.header]), T0 + 1);
    assert!(charged(&out, 100), "median time not enforced: {out:?}");
}

#[test]
fn a_version_2_peer_is_asked_for_headers_and_a_version_1_peer_by_getblocks() {
    let g = genesis();
    let (_, out) = sans_io::handshaken_at(&g, 5, PEER, T0, PROTOCOL_VERSION);
    assert_eq!(sent(&out, "getheaders").len(), 1, "{out:?}");
    assert!(sent(&out, "getblocks").is_empty());
    let (_, out) = sans_io::handshaken_at(&g, 5, PEER, T0, 1);
    assert_eq!(sent(&out, "getblocks").len(), 1, "{out:?}");
    assert!(sent(&out, "getheaders").is_empty());
}

#[test]
fn valid_headers_get_their_blocks_asked_for_and_a_full_answer_asks_for_more() {
    let g = genesis();
    let (mut p, _) = sans_io::handshaken(&g, 5, PEER, T0);
    let h = headers_after(&g, 5);
    let out = p.step(headers(h.clone()), T0 + 1);
    assert_eq!(blocks_asked(&out), 5);
    assert_eq!(score(&p), Some(0));
    assert_eq!(p.sync().headers().len(), 5);
    assert!(
        sent(&out, "getheaders").is_empty(),
        "asked again after a short answer"
    );
    // A full answer (2,000 headers, at difficulty 1 to be quick to make):
    // the next `getheaders` starts at its last header.
    let g = block(BlockHash::ZERO, 0, 1, (T0 / 1000) as u32);
    let (mut p, _) = sans_io::handshaken(&g, 3_000, PEER, T0);
    let mut full: Vec<BlockHeader> = Vec::new();
    let mut prev = g.clone();
    for i in 1..=MAX_HEADERS as u64 {
        let b = block(prev.hash(), i, 1, g.header.timestamp + i as u32);
        full.push(b.header);
        prev = b;
    }
    let out = p.step(headers(full), T0 + 1);
    let again = sent(&out, "getheaders");
    assert_eq!(again.len(), 1, "not asked for more");
    let Message::GetHeaders(gh) = again[0] else {
        unreachable!()
    };
    assert_eq!(gh.locator.first(), Some(&prev.hash()));
}

#[test]
fn one_peer_serving_is_asked_for_the_whole_download_window_at_once() {
    // From a single peer, 16 blocks in flight would cost a round trip per
    // 16 blocks: it gets the window (the blocks still fit the orphan pool).
    let g = genesis();
    let (mut p, _) = sans_io::handshaken(&g, 100, PEER, T0);
    let out = p.step(headers(headers_after(&g, 100)), T0 + 1);
    assert_eq!(blocks_asked(&out), BLOCK_DOWNLOAD_WINDOW as usize);
    assert!(BLOCK_DOWNLOAD_WINDOW as usize <= MAX_ORPHANS);
    assert!(MAX_BLOCKS_IN_TRANSIT_PER_PEER < BLOCK_DOWNLOAD_WINDOW as usize);
}

#[test]
fn an_inv_of_an_unknown_block_from_a_headers_peer_is_answered_with_getheaders() {
    let g = genesis();
    let (mut p, _) = sans_io::handshaken(&g, 0, PEER, T0);
    // The handshake's `getheaders` answered: nothing new yet.
    p.step(headers(vec![]), T0);
    let inv = Inv {
        addr_from: String::new(),
        kind: InvKind::Block,
        items: vec![Hash256([0xcd; 32])],
    };
    let out = p.step(received(Message::Inv(inv)), T0 + 1);
    assert_eq!(blocks_asked(&out), 0, "asked for an unknown block unseen");
    assert_eq!(sent(&out, "getheaders").len(), 1, "{out:?}");
}

#[test]
fn a_version_1_node_syncs_from_us_by_getblocks_and_a_version_2_one_by_getheaders() {
    let mut s = sans_io::one_node_minted_to(3);
    let genesis = s.genesis.hash();
    for (n, version) in [(0u8, 1u32), (1, PROTOCOL_VERSION)] {
        let addr = format!("198.51.100.{}:40000", 20 + n);
        let peer = s.attach(0, addr.parse().expect("addr"));
        let recv = |message| Input::Received { peer, message };
        s.inject(
            0,
            recv(Message::Version(Version {
                version,
                best_height: 0,
                addr_from: String::new(),
                genesis: Some(genesis),
                nonce: 500 + u64::from(n),
            })),
        );
        let locator = vec![genesis];
        let ask = if version == 1 {
            Message::GetBlocks(GetBlocks {
                addr_from: String::new(),
                locator,
                stop: BlockHash::ZERO,
            })
        } else {
            Message::GetHeaders(GetHeaders {
                addr_from: String::new(),
                locator,
                stop: BlockHash::ZERO,
            })
        };
        s.inject(0, recv(ask));
        s.run_for(100);
        let answers: Vec<&Message> = s
            .stats
            .to_attached
            .iter()
            .filter(|(_, p, _)| *p == peer)
            .map(|(_, _, m)| m)
            .collect();
        let hashes: Vec<Hash256> = answers
            .iter()
            .find_map(|m| match m {
                Message::Inv(i) if version == 1 && i.kind == InvKind::Block => {
                    Some(i.items.clone())
                }
                Message::Headers(h) if version != 1 => {
                    Some(h.headers.iter().map(|x| x.hash().0).collect())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("version {version}: no answer in {answers:?}"));
        assert_eq!(hashes.len(), 3, "version {version}");
        // And the blocks themselves on `getdata`.
        s.inject(
            0,
            recv(Message::GetData(GetData {
                addr_from: String::new(),
                kind: InvKind::Block,
                items: hashes.clone(),
            })),
        );
        s.run_for(100);
        let served = s
            .stats
            .to_attached
            .iter()
            .filter(|(_, p, m)| *p == peer && matches!(m, Message::Block(_)))
            .count();
        assert_eq!(served, 3, "version {version}");
    }
}

#[test]
fn the_stall_timeout_doubles_after_a_stall_disconnect() {
    use sledchain::protocol::DisconnectReason;
    use sledchain::protocol::sync_peer::BLOCK_STALLING_TIMEOUT;
    let g = genesis();
    let (mut p, _) = sans_io::handshaken(&g, 5, PEER, T0);
    let h = headers_after(&g, 5);
    assert_eq!(blocks_asked(&p.step(headers(h.clone()), T0 + 1)), 5);
    let stalled = |out: &[Output], peer: u64| -> Option<u64> {
        out.iter().find_map(|o| match o {
            Output::Disconnect {
                peer: q,
                reason: DisconnectReason::Stalling(secs),
            } if *q == peer => Some(*secs),
            _ => None,
        })
    };
    let t1 = T0 + 2 + BLOCK_STALLING_TIMEOUT;
    let out = p.step(Input::Tick, t1);
    assert_eq!(stalled(&out, PEER), Some(BLOCK_STALLING_TIMEOUT / 1000));
    // A second peer with the same headers: asked for the same blocks,
    // and given twice as long.
    let second = PEER + 1;
    p.step(
        Input::Connected {
            peer: second,
            addr: "198.51.100.2:8333".parse().expect("addr"),
            inbound: true,
        },
        t1,
    );
    let v = Version {
        version: PROTOCOL_VERSION,
        best_height: 5,
        addr_from: String::new(),
        genesis: Some(g.hash()),
        nonce: 78,
    };
    p.step(
        Input::Received {
            peer: second,
            message: Message::Version(v),
        },
        t1,
    );
    let out = p.step(
        Input::Received {
            peer: second,
            message: Message::Headers(Headers { headers: h }),
        },
        t1 + 1,
    );
    assert_eq!(blocks_asked(&out), 5);
    let out = p.step(Input::Tick, t1 + 2 + BLOCK_STALLING_TIMEOUT);
    assert_eq!(stalled(&out, second), None, "dropped at the base timeout");
    let out = p.step(Input::Tick, t1 + 2 + 2 * BLOCK_STALLING_TIMEOUT);
    assert_eq!(
        stalled(&out, second),
        Some(2 * BLOCK_STALLING_TIMEOUT / 1000)
    );
}

#[test]
fn a_claimed_height_falls_to_what_the_peers_headers_show() {
    let g = genesis();
    let (mut p, out) = sans_io::handshaken(&g, 1_000_000, PEER, T0);
    assert_eq!(sent(&out, "getheaders").len(), 1);
    let out = p.step(headers(headers_after(&g, 5)), T0 + 1);
    assert_eq!(blocks_asked(&out), 5);
    let s = p.sync().peer(PEER).expect("peer");
    assert_eq!(
        (s.claimed, s.height()),
        (5, 5),
        "the claim outranks headers"
    );
    assert_eq!(p.node_info().expect("node info").best_peer_height, 5);
}

/// A store that counts the headers read from it.
struct Counting {
    store: sledchain::store::ChainStore,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl sledchain::protocol::BlockReader for Counting {
    fn tip(&self) -> Result<Option<sledchain::store::Tip>, sledchain::store::StoreError> {
        sledchain::protocol::BlockReader::tip(&self.store)
    }
    fn genesis(&self) -> Result<Option<BlockHash>, sledchain::store::StoreError> {
        sledchain::protocol::BlockReader::genesis(&self.store)
    }
    fn difficulty(&self) -> Result<Option<u32>, sledchain::store::StoreError> {
        sledchain::protocol::BlockReader::difficulty(&self.store)
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, sledchain::store::StoreError> {
        sledchain::protocol::BlockReader::block(&self.store, hash)
    }
    fn block_meta(
        &self,
        hash: &BlockHash,
    ) -> Result<Option<sledchain::store::BlockMeta>, sledchain::store::StoreError> {
        sledchain::protocol::BlockReader::block_meta(&self.store, hash)
    }
    fn locator(&self) -> Result<Vec<BlockHash>, sledchain::store::StoreError> {
        sledchain::protocol::BlockReader::locator(&self.store)
    }
    fn hashes_after(
        &self,
        locator: &[BlockHash],
        stop: &BlockHash,
        max: usize,
    ) -> Result<Vec<BlockHash>, sledchain::store::StoreError> {
        sledchain::protocol::BlockReader::hashes_after(&self.store, locator, stop, max)
    }
    fn header(
        &self,
        hash: &BlockHash,
    ) -> Result<Option<BlockHeader>, sledchain::store::StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        sledchain::protocol::BlockReader::header(&self.store, hash)
    }
}

/// A protocol reading `store` through [`Counting`], with [`PEER`]
/// connected and its `version` (on `genesis`, at height 0) handled; and
/// the count of headers it read.
fn counted(
    store: sledchain::store::ChainStore,
    genesis: &Block,
) -> (Protocol, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = Counting {
        store,
        reads: reads.clone(),
    };
    let config = sans_io::protocol(vec![]).config().clone();
    let mut p = Protocol::with_reader(config, Box::new(reader), vec![]);
    p.step(
        Input::Connected {
            peer: PEER,
            addr: "198.51.100.3:8333".parse().expect("addr"),
            inbound: true,
        },
        T0,
    );
    let v = Version {
        version: PROTOCOL_VERSION,
        best_height: 0,
        addr_from: String::new(),
        genesis: Some(genesis.hash()),
        nonce: 79,
    };
    p.step(received(Message::Version(v)), T0);
    (p, reads)
}

#[test]
fn headers_served_once_are_not_read_from_the_store_again() {
    use sledchain::protocol::BlockReader;
    use std::sync::atomic::Ordering;
    let g = genesis();
    let store = sledchain::store::ChainStore::temporary().expect("store");
    store.init_genesis(&g).expect("genesis");
    assert!(BlockReader::tip(&store).expect("tip").is_some());
    let (mut p, reads) = counted(store, &g);
    let ask = || {
        received(Message::GetHeaders(GetHeaders {
            addr_from: String::new(),
            locator: vec![],
            stop: BlockHash::ZERO,
        }))
    };
    let answered = |out: &[Output]| -> usize {
        sent(out, "headers")
            .iter()
            .map(|m| match m {
                Message::Headers(h) => h.headers.len(),
                _ => 0,
            })
            .sum()
    };
    // An empty locator is answered from genesis.
    assert_eq!(answered(&p.step(ask(), T0 + 1)), 1);
    let first = reads.load(Ordering::SeqCst);
    assert_eq!(first, 1);
    for i in 0..10 {
        assert_eq!(answered(&p.step(ask(), T0 + 2 + i)), 1);
    }
    assert_eq!(reads.load(Ordering::SeqCst), first, "read again");
}

#[test]
fn a_headers_message_repeated_does_not_make_us_read_stored_headers_again() {
    use std::sync::atomic::Ordering;
    let g = genesis();
    let store = sledchain::store::ChainStore::temporary().expect("store");
    store.init_genesis(&g).expect("genesis");
    let mut chain = vec![g.clone()];
    for i in 1..=20u64 {
        let prev = chain.last().expect("chain");
        let b = block(prev.hash(), i, BITS, prev.header.timestamp + 1);
        store.connect_block(&b, &[]).expect("connect");
        chain.push(b);
    }
    let (mut p, reads) = counted(store, &g);
    // One valid header on block 12: it trails our tip by more than the
    // margin, so it is neither kept nor charged; checking its time reads
    // the eleven stored headers before it.
    let side = headers_after(&chain[12], 1);
    let out = p.step(headers(side.clone()), T0 + 1);
    assert_eq!(blocks_asked(&out), 0);
    let first = reads.load(Ordering::SeqCst);
    assert!(first >= 11, "{first} reads");
    // Sent again and again: never read again.
    for i in 0..10 {
        let out = p.step(headers(side.clone()), T0 + 2 + i);
        assert_eq!(blocks_asked(&out), 0);
    }
    assert_eq!(reads.load(Ordering::SeqCst), first, "read again");
    assert_eq!(score(&p), Some(0));
}

#[test]
fn a_version_2_peer_claiming_no_more_than_us_is_still_asked_for_headers() {
    // Its claim is only a hint: a heavier chain may have fewer blocks
    // (more work per block), or its `version` may be stale. Its headers
    // decide, so it is asked for them whatever it claims.
    let g = genesis();
    let (mut p, out) = sans_io::handshaken(&g, 0, PEER, T0);
    assert_eq!(sent(&out, "getheaders").len(), 1, "{out:?}");
    let out = p.step(headers(headers_after(&g, 3)), T0 + 1);
    assert_eq!(blocks_asked(&out), 3);
    // A version-1 peer claiming no more than us is not asked.
    let (_, out) = sans_io::handshaken_at(&g, 0, PEER, T0, 1);
    assert!(sent(&out, "getblocks").is_empty() && sent(&out, "getheaders").is_empty());
}

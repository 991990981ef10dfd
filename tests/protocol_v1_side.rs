//! Low-work side blocks from version-1 peers (no headers: synced by
//! `getblocks`, blocks announced by `inv`) are held in memory, charged to
//! their sender, and never reach the chain layer (so never the store)
//! unless a later block of that peer brings their branch within the
//! too-little-chainwork margin; then they go in order, so an honest
//! peer's deeper heavier branch is still reorged to. Bounded per peer and
//! freed when the peer leaves. Driven through `Protocol::step` by hand
//! over an in-memory chain, and in the simulator over a real store.

mod sans_io;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;

use sledchain::chain::ChainEvent;
use sledchain::core::block::{Block, block_work};
use sledchain::core::hash::{BlockHash, Hash256};
use sledchain::protocol::sync::SIDE_BRANCH_MARGIN_BLOCKS;
use sledchain::protocol::sync::side::MAX_SIDE_BLOCKS_PER_PEER;
use sledchain::protocol::{BlockReader, Input, Output, PeerId, Protocol};
use sledchain::store::{BlockMeta, BlockStatus, StoreError, Tip};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, Inv, InvKind, MAX_BLOCKS_PER_INV, Version};

const T0: u64 = 1_700_000_000_000;
const PEER: PeerId = 1;
const OTHER: PeerId = 2;
/// The chain's difficulty: cheap to solve, and every block the same work.
const BITS: u32 = 2;

/// A solved block on `prev` at `height`, told apart by `tag`.
fn block(prev: BlockHash, height: u64, tag: u8) -> Block {
    let time = (T0 / 1000) as u32 + height as u32;
    let mut b = Block::template(prev, height, BITS, time, [tag; 20], 20, vec![]);
    assert!(sledchain::chain::miner::solve(
        &mut b,
        1,
        &AtomicBool::new(false)
    ));
    b
}

/// `len` blocks on `from` (at `height`), told apart by `tag`.
fn branch(from: &Block, len: u64, tag: u8) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for i in 1..=len {
        let prev = out.last().map_or(from.hash(), Block::hash);
        out.push(block(prev, from.height + i, tag));
    }
    out
}

/// A chain the protocol reads: `genesis` and a best chain of `height`
/// blocks of which only the tip's index entry is known (enough for every
/// rule the protocol applies to side blocks).
struct Fixed {
    genesis: Block,
    tip: Tip,
    /// Further index entries, added by a test as if another peer's
    /// blocks were stored meanwhile.
    stored: Stored,
}

/// Index entries a test adds to [`Fixed`] while the protocol reads it.
type Stored = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<BlockHash, BlockMeta>>>;

impl Fixed {
    fn new(genesis: &Block, height: u64) -> Fixed {
        Fixed {
            genesis: genesis.clone(),
            tip: Tip {
                hash: BlockHash(Hash256([0xee; 32])),
                height,
                chain_work: work_at(height),
            },
            stored: Stored::default(),
        }
    }
}

/// Work from genesis to a block at `height`, inclusive.
fn work_at(height: u64) -> u128 {
    block_work(BITS) * u128::from(height + 1)
}

impl BlockReader for Fixed {
    fn tip(&self) -> Result<Option<Tip>, StoreError> {
        Ok(Some(self.tip))
    }
    fn genesis(&self) -> Result<Option<BlockHash>, StoreError> {
        Ok(Some(self.genesis.hash()))
    }
    fn difficulty(&self) -> Result<Option<u32>, StoreError> {
        Ok(Some(BITS))
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        Ok((*hash == self.genesis.hash()).then(|| self.genesis.clone()))
    }
    fn block_meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, StoreError> {
        let meta = |height, prev| BlockMeta {
            height,
            prev,
            chain_work: work_at(height),
            status: BlockStatus::Valid,
        };
        Ok(if *hash == self.genesis.hash() {
            Some(meta(0, BlockHash::ZERO))
        } else if *hash == self.tip.hash {
            Some(meta(self.tip.height, BlockHash(Hash256([0xed; 32]))))
        } else {
            self.stored.lock().expect("stored").get(hash).cloned()
        })
    }
    fn locator(&self) -> Result<Vec<BlockHash>, StoreError> {
        Ok(vec![self.tip.hash, self.genesis.hash()])
    }
    fn hashes_after(
        &self,
        _: &[BlockHash],
        _: &BlockHash,
        _: usize,
    ) -> Result<Vec<BlockHash>, StoreError> {
        Ok(Vec::new())
    }
}

/// A protocol over [`Fixed`] (tip at `height`) with no peer yet.
fn node(genesis: &Block, height: u64) -> Protocol {
    node_storing(genesis, height).0
}

/// [`node`], and the entries a test may add to its chain.
fn node_storing(genesis: &Block, height: u64) -> (Protocol, Stored) {
    let config = sans_io::config(vec![seed(PEER)]);
    let fixed = Fixed::new(genesis, height);
    let stored = fixed.stored.clone();
    (
        Protocol::with_reader(config, Box::new(fixed), vec![]),
        stored,
    )
}

fn seed(peer: PeerId) -> SocketAddr {
    format!("198.51.100.{peer}:8333").parse().expect("addr")
}

/// Connects `peer` (outbound) and finishes its handshake as a version-1
/// peer claiming `theirs`; the outputs.
fn connect_v1(p: &mut Protocol, genesis: &Block, peer: PeerId, theirs: u64) -> Vec<Output> {
    let mut out = p.step(
        Input::Connected {
            peer,
            addr: seed(peer),
            inbound: false,
        },
        T0,
    );
    out.extend(p.step(
        Input::Received {
            peer,
            message: Message::Version(Version {
                version: 1,
                best_height: theirs,
                addr_from: seed(peer).to_string(),
                genesis: Some(genesis.hash()),
                nonce: 70 + peer,
            }),
        },
        T0,
    ));
    out
}

fn inv(peer: PeerId, blocks: &[Block]) -> Input {
    Input::Received {
        peer,
        message: Message::Inv(Inv {
            addr_from: String::new(),
            kind: InvKind::Block,
            items: blocks.iter().map(|b| b.hash().0).collect(),
        }),
    }
}

fn deliver(peer: PeerId, b: &Block) -> Input {
    Input::Received {
        peer,
        message: Message::Block(BlockMsg {
            addr_from: String::new(),
            block: b.clone(),
        }),
    }
}

/// The blocks `out` hands to the chain layer, in order.
fn processed(out: &[Output]) -> Vec<BlockHash> {
    out.iter()
        .filter_map(|o| match o {
            Output::ProcessBlock { block, .. } => Some(block.hash()),
            _ => None,
        })
        .collect()
}

/// Block hashes `out` asks for by `getdata`.
fn asked(out: &[Output]) -> Vec<BlockHash> {
    out.iter()
        .flat_map(|o| match o {
            Output::Send {
                message: Message::GetData(g),
                ..
            } => g.items.iter().map(|h| BlockHash(*h)).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn score(p: &Protocol, peer: PeerId) -> Option<u32> {
    p.peers().get(&peer).map(|x| x.score)
}

/// `peer` announces `blocks` in one `inv` and delivers each it is asked
/// for, in order; every output.
fn offer(p: &mut Protocol, peer: PeerId, blocks: &[Block], t: u64) -> Vec<Output> {
    let mut out = p.step(inv(peer, blocks), t);
    let wanted = asked(&out);
    for b in blocks.iter().filter(|b| wanted.contains(&b.hash())) {
        out.extend(p.step(deliver(peer, b), t + 1));
    }
    out
}

#[test]
fn a_hundred_low_work_side_blocks_from_a_version_1_peer_never_reach_the_chain_layer() {
    let g = block(BlockHash::ZERO, 0, 0);
    let mut p = node(&g, 300);
    connect_v1(&mut p, &g, PEER, 0);
    let side = branch(&g, 100, 1);
    let out = offer(&mut p, PEER, &side, T0 + 10);
    assert_eq!(asked(&out).len(), 100, "not all asked for");
    assert!(
        processed(&out).is_empty(),
        "{} low-work side blocks handed to the chain layer",
        processed(&out).len()
    );
    let s = p.sync();
    assert_eq!(s.side().len_of(PEER), 100, "not held");
    let bytes: u64 = side.iter().map(Block::encoded_size).sum();
    assert_eq!(s.side().bytes(), bytes, "memory not accounted");
    assert_eq!(s.pending(PEER), 0, "held blocks still in flight");
    assert_eq!(score(&p, PEER), Some(0), "charged: it may be honest");
    // Announced again: not fetched again from it; pushed again: dropped.
    let out = p.step(inv(PEER, &side), T0 + 20);
    assert!(asked(&out).is_empty(), "held blocks asked for again");
    let out = p.step(deliver(PEER, &side[99]), T0 + 21);
    assert!(processed(&out).is_empty());
    assert_eq!(score(&p, PEER), Some(0));
}

#[test]
fn a_heavier_branch_from_a_version_1_peers_getblocks_answer_goes_to_the_chain_in_order() {
    let g = block(BlockHash::ZERO, 0, 0);
    // Our tip at 30; the peer's branch from genesis is 40 long.
    let mut p = node(&g, 30);
    let out = connect_v1(&mut p, &g, PEER, 40);
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Send {
                message: Message::GetBlocks(_),
                ..
            }
        )),
        "no getblocks to a peer ahead"
    );
    let b = branch(&g, 40, 2);
    let mut out = p.step(inv(PEER, &b), T0 + 10);
    assert_eq!(asked(&out).len(), 40);
    // The first block within the margin: work of height k + margin >= tip's.
    let first = (30 - SIDE_BRANCH_MARGIN_BLOCKS) as usize;
    let mut seen = Vec::new();
    for (i, x) in b.iter().enumerate() {
        let step = p.step(deliver(PEER, x), T0 + 11);
        let now = processed(&step);
        if i + 1 < first {
            assert!(now.is_empty(), "block {} handed on below the margin", i + 1);
        } else if i + 1 == first {
            assert_eq!(now.len(), first, "the held blocks not handed on with it");
        }
        seen.extend(now);
        out.extend(step);
    }
    let all: Vec<BlockHash> = b.iter().map(Block::hash).collect();
    assert_eq!(seen, all, "not every block, or not in chain order");
    assert_eq!(p.sync().side().bytes(), 0, "memory not released");
    // With the chain layer until it is done: the sync window is held.
    assert_eq!(p.sync().pending(PEER), 40);
    assert!(p.holds_window(PEER));
    let done: Vec<ChainEvent> = all
        .iter()
        .map(|&hash| ChainEvent::BlockDone {
            hash,
            from: Some(PEER),
        })
        .collect();
    p.step(Input::Chain(done), T0 + 12);
    assert_eq!(p.sync().pending(PEER), 0);
    assert_eq!(score(&p, PEER), Some(0));
}

#[test]
fn a_version_1_peer_past_its_cap_gets_nothing_more_held_and_another_keeps_its_room() {
    let g = block(BlockHash::ZERO, 0, 0);
    let cap = MAX_SIDE_BLOCKS_PER_PEER;
    assert_eq!(cap, MAX_BLOCKS_PER_INV);
    let mut p = node(&g, 1_000);
    connect_v1(&mut p, &g, PEER, 0);
    connect_v1(&mut p, &g, OTHER, 0);
    let long = branch(&g, cap as u64 + 10, 3);
    let out = offer(&mut p, PEER, &long[..cap], T0 + 10);
    assert_eq!(asked(&out).len(), cap);
    assert_eq!(p.sync().side().len_of(PEER), cap);
    let held = p.sync().side().bytes();
    let info = p.node_info().expect("node info");
    assert_eq!(info.side_held_bytes, held, "node info (status, /metrics)");
    // Past its cap: fetched once, dropped uncharged, not asked again.
    let out = offer(&mut p, PEER, &long[cap..], T0 + 20);
    assert_eq!(asked(&out).len(), 10);
    assert!(processed(&out).is_empty(), "handed to the chain layer");
    assert_eq!(p.sync().side().len_of(PEER), cap, "held past the cap");
    assert_eq!(p.sync().side().bytes(), held);
    assert_eq!(p.sync().pending(PEER), 0, "dropped blocks still in flight");
    assert_eq!(score(&p, PEER), Some(0));
    let out = p.step(inv(PEER, &long[cap..]), T0 + 30);
    assert!(asked(&out).is_empty(), "turned-away blocks asked for again");
    // Another peer: its own room, and the first peer's blocks are asked
    // of it too (held for one peer is no reason to refuse another's).
    let mine = branch(&g, 5, 4);
    let out = offer(&mut p, OTHER, &mine, T0 + 40);
    assert_eq!(asked(&out).len(), 5);
    assert_eq!(p.sync().side().len_of(OTHER), 5, "no room for another peer");
    let out = p.step(inv(OTHER, &long[..3]), T0 + 50);
    assert_eq!(asked(&out).len(), 3, "another peer's announcement blocked");
    assert!(processed(&out).is_empty());
}

#[test]
fn a_version_1_peers_held_blocks_go_when_it_disconnects() {
    let g = block(BlockHash::ZERO, 0, 0);
    let mut p = node(&g, 300);
    connect_v1(&mut p, &g, PEER, 0);
    connect_v1(&mut p, &g, OTHER, 0);
    let side = branch(&g, 100, 5);
    offer(&mut p, PEER, &side, T0 + 10);
    let mine = branch(&g, 3, 6);
    offer(&mut p, OTHER, &mine, T0 + 10);
    let others = p.sync().side().bytes_of(OTHER);
    assert!(p.sync().side().bytes() > others);
    p.step(Input::Disconnected { peer: PEER }, T0 + 20);
    assert_eq!(p.sync().side().len_of(PEER), 0);
    assert_eq!(p.sync().side().bytes(), others, "memory not released");
    assert_eq!(
        p.sync().side().len_of(OTHER),
        3,
        "another peer's blocks went"
    );
    // Back on a new connection, its announcement is asked for again.
    connect_v1(&mut p, &g, 3, 0);
    let out = p.step(inv(3, &side), T0 + 30);
    assert_eq!(asked(&out).len(), 100);
}

/// In the simulator over a real store: a version-1 peer's low-work side
/// blocks forking at genesis leave the store as it was, and a heavier
/// branch from a version-1 peer, forking at genesis too, is reorged to.
mod sim {
    use super::*;
    use sledchain::core::params::SUBSIDY;
    use sledchain::sim::Sim;

    /// The tip's height: the side branches fork well past the margin.
    const TIP: u64 = SIDE_BRANCH_MARGIN_BLOCKS + 4;
    const STRANGER: &str = "198.51.100.8:40000";

    fn setup() -> (Sim, PeerId) {
        sans_io::minted_with_stranger(TIP, STRANGER, 1, 98)
    }

    /// `len` solved blocks on genesis at the chain's difficulty, dated
    /// after the tip.
    fn side(s: &Sim, len: u64, tag: u8) -> Vec<Block> {
        let tip = s.tip(0).expect("tip").hash;
        let tip = s.chain(0).store().block(&tip).expect("read").expect("tip");
        let bits = s.config().bits;
        let mut prev = s.genesis.hash();
        (1..=len)
            .map(|h| {
                let time = tip.header.timestamp + 60 + h as u32;
                let mut b = Block::template(prev, h, bits, time, [tag; 20], SUBSIDY, vec![]);
                assert!(sledchain::chain::miner::solve(
                    &mut b,
                    1,
                    &AtomicBool::new(false)
                ));
                prev = b.hash();
                b
            })
            .collect()
    }

    /// `peer` announces `blocks` in one `inv`, then delivers them in order.
    fn announce_and_deliver(s: &mut Sim, peer: PeerId, blocks: &[Block]) {
        s.inject(0, inv(peer, blocks));
        s.run_for(100);
        for b in blocks {
            s.inject(0, deliver(peer, b));
            s.run_for(50);
        }
        s.run_for(1_000);
    }

    fn stored(s: &Sim) -> usize {
        s.chain(0).store().block_index().expect("index").len()
    }

    /// The scenario of `blocks_held_below_a_version_1_peers_orphans_go_on_with_their_work`
    /// over a real chain layer: the orphans connect once the blocks below
    /// them come, and the heavier branch is reorged to.
    #[test]
    fn a_branch_whose_first_blocks_come_last_from_another_peer_is_reorged_to() {
        let (mut s, honest) = setup();
        let other = s.attach(0, "198.51.100.9:40000".parse().expect("addr"));
        let v = Version {
            version: 1,
            best_height: 0,
            addr_from: String::new(),
            genesis: Some(s.genesis.hash()),
            nonce: 97,
        };
        s.inject(
            0,
            Input::Received {
                peer: other,
                message: Message::Version(v),
            },
        );
        s.run_for(100);
        let b = side(&s, TIP + 5, 14);
        s.inject(0, inv(other, &b[..3]));
        s.run_for(100);
        s.inject(0, inv(honest, &b));
        s.run_for(100);
        for x in &b[3..] {
            s.inject(0, deliver(honest, x));
            s.run_for(50);
        }
        for x in &b[..3] {
            s.inject(0, deliver(other, x));
            s.run_for(50);
        }
        s.run_for(1_000);
        let last = b.last().expect("branch");
        let at = s.chain(0).store().hash_at(last.height).expect("read");
        assert_eq!(at, Some(last.hash()), "not reorged");
        assert_eq!(s.protocol(0).sync().side().bytes(), 0);
        let score = |peer| s.protocol(0).peers().get(&peer).map(|p| p.score);
        assert_eq!((score(honest), score(other)), (Some(0), Some(0)));
    }

    #[test]
    fn low_work_side_blocks_from_a_version_1_peer_leave_the_store_as_it_was() {
        let (mut s, peer) = setup();
        let before = stored(&s);
        let b = side(&s, 3, 9);
        announce_and_deliver(&mut s, peer, &b);
        for x in &b {
            assert!(
                !s.chain(0).store().has_block(&x.hash()).expect("read"),
                "stored"
            );
        }
        assert_eq!(stored(&s), before, "the store grew");
        assert_eq!(s.protocol(0).sync().side().len_of(peer), 3);
        assert_eq!(s.protocol(0).peers().get(&peer).map(|p| p.score), Some(0));
        assert_eq!(s.height(0), Some(TIP));
    }

    #[test]
    fn a_heavier_branch_from_a_version_1_peer_forking_at_genesis_is_reorged_to() {
        let (mut s, peer) = setup();
        let b = side(&s, TIP + 5, 10);
        announce_and_deliver(&mut s, peer, &b);
        let last = b.last().expect("branch");
        // On the best chain (node 0 mints on it afterwards, with the
        // payments its old branch gave back to the mempool).
        let at = s.chain(0).store().hash_at(last.height).expect("read");
        assert_eq!(at, Some(last.hash()), "not reorged");
        assert_eq!(s.protocol(0).sync().side().bytes(), 0);
        assert_eq!(s.protocol(0).peers().get(&peer).map(|p| p.score), Some(0));
    }
}

/// A block asked of an honest version-1 peer, pushed unasked first by
/// another peer (a copy it relays, at no cost of its own): the pusher is
/// charged for the low-work push, and the honest peer's request stands,
/// so its copy is held as asked for, not charged as pushed unasked.
#[test]
fn a_copy_pushed_first_by_another_peer_neither_charges_the_honest_sender_nor_cancels_its_request() {
    let g = block(BlockHash::ZERO, 0, 0);
    let mut p = node(&g, 300);
    connect_v1(&mut p, &g, PEER, 310);
    connect_v1(&mut p, &g, OTHER, 0);
    let b = branch(&g, 310, 7);
    let out = p.step(inv(PEER, &b), T0 + 10);
    assert_eq!(asked(&out).len(), 310);
    // Again and again, on fresh connections of its own.
    for round in 0..6u64 {
        let pusher = 10 + round;
        connect_v1(&mut p, &g, pusher, 0);
        p.step(deliver(pusher, &b[0]), T0 + 11 + round);
        assert_eq!(score(&p, pusher), Some(20), "the pusher not charged");
    }
    assert_eq!(p.sync().in_flight(&b[0].hash()).map(|f| f.peer), Some(PEER));
    let out = p.step(deliver(PEER, &b[0]), T0 + 20);
    assert!(processed(&out).is_empty());
    assert_eq!(score(&p, PEER), Some(0), "the honest sender charged");
    assert_eq!(p.sync().side().len_of(PEER), 1, "its copy not held");
}

/// A copy of an honest peer's block with the same header (so the same
/// hash and proof of work) but another body, held from another peer
/// first: never handed on in place of the honest peer's copy, and charged
/// to its sender, not to the honest peer.
#[test]
fn a_forged_body_under_an_honest_blocks_header_is_never_handed_on_for_it() {
    let g = block(BlockHash::ZERO, 0, 0);
    let mut p = node(&g, 30);
    connect_v1(&mut p, &g, OTHER, 0);
    let b = branch(&g, 40, 8);
    let mut forged = b[0].clone();
    forged.transactions[0].outputs[0].pubkey_hash = [0xf0; 20];
    assert_eq!(forged.hash(), b[0].hash());
    let out = offer(&mut p, OTHER, std::slice::from_ref(&forged), T0 + 5);
    assert!(processed(&out).is_empty());
    assert_eq!(p.sync().side().len_of(OTHER), 0, "a forged body held");
    // 100 points: banned and gone.
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Disconnect { peer, .. } if *peer == OTHER))
    );
    assert_eq!(score(&p, OTHER), None, "the forger not charged");
    connect_v1(&mut p, &g, PEER, 40);
    let mut out = p.step(inv(PEER, &b), T0 + 10);
    assert_eq!(asked(&out).len(), 40);
    for x in &b {
        out.extend(p.step(deliver(PEER, x), T0 + 11));
    }
    let first = out.iter().find_map(|o| match o {
        Output::ProcessBlock { block, from } if block.hash() == b[0].hash() => {
            Some((block.clone(), *from))
        }
        _ => None,
    });
    assert_eq!(
        first,
        Some((b[0].clone(), Some(PEER))),
        "the forged body handed on"
    );
    assert_eq!(score(&p, PEER), Some(0));
}

/// `getblocks` sent to `peer` in `out`.
fn getblocks_to(out: &[Output], peer: PeerId) -> bool {
    out.iter().any(
        |o| matches!(o, Output::Send { peer: to, message: Message::GetBlocks(_) } if *to == peer),
    )
}

/// A version-1 peer whose whole `getblocks` answer is low-work blocks,
/// all held: none of them stays in flight, so it holds no sync window and
/// no stall clock; asked again and offering nothing new, its height is
/// doubted and an honest peer is synced from, its heavier branch reorged
/// to; nobody charged.
#[test]
fn a_getblocks_answer_held_whole_leaves_sync_to_an_honest_peer() {
    let g = block(BlockHash::ZERO, 0, 0);
    let mut p = node(&g, 300);
    const HONEST: PeerId = 3;
    let out = connect_v1(&mut p, &g, PEER, 1_000);
    assert!(getblocks_to(&out, PEER));
    connect_v1(&mut p, &g, HONEST, 310);
    let junk = branch(&g, 250, 9);
    let out = offer(&mut p, PEER, &junk, T0 + 10);
    assert_eq!(asked(&out).len(), 250);
    assert!(processed(&out).is_empty());
    assert_eq!(p.sync().side().len_of(PEER), 250);
    assert_eq!(p.sync().pending(PEER), 0, "held blocks still in flight");
    assert!(!p.holds_window(PEER));
    // Still ahead by its claim: asked again, it offers the same.
    assert!(getblocks_to(&out, PEER), "not asked for more");
    let out = p.step(inv(PEER, &junk), T0 + 20);
    assert!(asked(&out).is_empty(), "held blocks asked for again");
    assert!(!getblocks_to(&out, PEER), "asked again and again");
    let b = branch(&g, 310, 10);
    let out = offer(&mut p, HONEST, &b, T0 + 30);
    assert_eq!(asked(&out).len(), 310, "the sync window not free");
    let all: Vec<BlockHash> = b.iter().map(Block::hash).collect();
    assert_eq!(processed(&out), all, "the heavier branch not handed on");
    // Past the stall timeout (and within the idle one): nobody dropped
    // for the held blocks.
    let out = p.step(Input::Tick, T0 + 45_000);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Disconnect { .. })),
        "a peer dropped: {:?}",
        out.iter()
            .filter(|o| matches!(o, Output::Disconnect { .. }))
            .collect::<Vec<_>>()
    );
    assert_eq!((score(&p, PEER), score(&p, HONEST)), (Some(0), Some(0)));
}

/// The first blocks of an honest version-1 peer's heavier branch, asked of
/// another peer (which announced them first) and held from it: the honest
/// peer's later blocks build on them, and the whole branch goes to the
/// chain layer in order once it has the work, rather than the honest
/// blocks going as orphans of blocks never handed on.
#[test]
fn a_branch_built_on_blocks_held_from_another_peer_goes_on_whole() {
    let g = block(BlockHash::ZERO, 0, 0);
    let mut p = node(&g, 30);
    connect_v1(&mut p, &g, OTHER, 0);
    let b = branch(&g, 40, 11);
    let out = p.step(inv(OTHER, &b[..3]), T0 + 5);
    assert_eq!(asked(&out).len(), 3);
    connect_v1(&mut p, &g, PEER, 40);
    let out = p.step(inv(PEER, &b), T0 + 10);
    assert_eq!(asked(&out).len(), 37, "asked twice at once");
    let mut out = Vec::new();
    for x in &b[..3] {
        out.extend(p.step(deliver(OTHER, x), T0 + 11));
    }
    assert_eq!(p.sync().side().len_of(OTHER), 3);
    for x in &b[3..] {
        out.extend(p.step(deliver(PEER, x), T0 + 12));
    }
    let all: Vec<BlockHash> = b.iter().map(Block::hash).collect();
    assert_eq!(processed(&out), all, "not the whole branch, in order");
    assert_eq!(p.sync().side().bytes(), 0, "memory not released");
    // Sent again by either while with the chain layer: not handed on twice.
    let mut again = p.step(deliver(OTHER, &b[0]), T0 + 13);
    again.extend(p.step(deliver(PEER, &b[5]), T0 + 13));
    again.extend(p.step(inv(OTHER, &b), T0 + 14));
    assert!(processed(&again).is_empty(), "handed on twice");
    assert!(asked(&again).is_empty(), "asked for again");
    assert_eq!((score(&p, PEER), score(&p, OTHER)), (Some(0), Some(0)));
}

/// A low-work block whose height its parent's does not allow is never
/// held (it could be no honest peer's, and its height would stand as its
/// sender's claim): charged as the chain layer charges an invalid block.
#[test]
fn a_low_work_block_with_a_height_its_parent_does_not_allow_is_not_held() {
    let g = block(BlockHash::ZERO, 0, 0);
    let mut p = node(&g, 300);
    connect_v1(&mut p, &g, PEER, 0);
    let time = (T0 / 1000) as u32 + 1;
    let mut bad = Block::template(g.hash(), 1_000_000, BITS, time, [12; 20], 20, vec![]);
    assert!(sledchain::chain::miner::solve(
        &mut bad,
        1,
        &AtomicBool::new(false)
    ));
    let out = offer(&mut p, PEER, std::slice::from_ref(&bad), T0 + 10);
    assert_eq!(asked(&out).len(), 1);
    assert!(processed(&out).is_empty());
    assert_eq!(p.sync().side().len_of(PEER), 0, "held");
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Disconnect { peer, .. } if *peer == PEER)),
        "not charged"
    );
}

/// As above, but the other peer sends the blocks asked of it only after
/// the honest peer's later blocks have gone to the chain layer as orphans
/// (their parent unknown): once they come they go on too, bringing the
/// orphans' work, rather than wait held below them for good.
#[test]
fn blocks_held_below_a_version_1_peers_orphans_go_on_with_their_work() {
    let g = block(BlockHash::ZERO, 0, 0);
    let mut p = node(&g, 30);
    connect_v1(&mut p, &g, OTHER, 0);
    let b = branch(&g, 40, 13);
    let out = p.step(inv(OTHER, &b[..3]), T0 + 5);
    assert_eq!(asked(&out).len(), 3);
    connect_v1(&mut p, &g, PEER, 40);
    let out = p.step(inv(PEER, &b), T0 + 10);
    assert_eq!(asked(&out).len(), 37);
    let mut out = Vec::new();
    for x in &b[3..] {
        out.extend(p.step(deliver(PEER, x), T0 + 11));
    }
    let later: Vec<BlockHash> = b[3..].iter().map(Block::hash).collect();
    assert_eq!(processed(&out), later);
    let mut out = Vec::new();
    for x in &b[..3] {
        out.extend(p.step(deliver(OTHER, x), T0 + 12));
    }
    let first: Vec<BlockHash> = b[..3].iter().map(Block::hash).collect();
    assert_eq!(processed(&out), first, "the blocks below the orphans held");
    assert_eq!(p.sync().side().bytes(), 0);
    assert_eq!((score(&p, PEER), score(&p, OTHER)), (Some(0), Some(0)));
}

#[test]
fn a_child_of_a_block_turned_away_and_stored_since_is_judged_on_the_stored_parent() {
    let g = block(BlockHash::ZERO, 0, 0);
    let cap = MAX_SIDE_BLOCKS_PER_PEER;
    let (mut p, stored) = node_storing(&g, 1_000);
    connect_v1(&mut p, &g, PEER, 0);
    let long = branch(&g, cap as u64 + 2, 5);
    offer(&mut p, PEER, &long[..cap], T0 + 10);
    // Past its cap: the next block is turned away from this peer.
    offer(&mut p, PEER, &long[cap..=cap], T0 + 20);
    assert_eq!(p.sync().side().len_of(PEER), cap);
    // Meanwhile the chain stored that block from someone else, on a
    // branch with the work to beat the tip.
    let parent = &long[cap];
    stored.lock().expect("stored").insert(
        parent.hash(),
        BlockMeta {
            height: parent.height,
            prev: parent.header.prev_block_hash,
            chain_work: work_at(1_000),
            status: BlockStatus::Valid,
        },
    );
    // Its child from this peer goes to the chain: the parent is stored,
    // so its being turned away from this peer once no longer counts.
    let child = &long[cap + 1];
    let out = offer(&mut p, PEER, std::slice::from_ref(child), T0 + 30);
    assert_eq!(
        processed(&out),
        vec![child.hash()],
        "the child was turned away"
    );
    assert_eq!(score(&p, PEER), Some(0));
}

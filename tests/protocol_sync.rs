//! Block sync rules driven through `Protocol::step` by hand: a claimed
//! height is only a hint (even 2^64-1 starts no sync run and is not
//! reported for long), a block's proof of work is checked against the
//! chain's difficulty before it reaches the chain layer, and a block
//! refused for its timestamp is not fetched again and again.

mod sans_io;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;

use sledchain::chain::ChainEvent;
use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::protocol::sync::mgr::MAX_CLAIM_AHEAD;
use sledchain::protocol::sync_peer::GETBLOCKS_TIMEOUT;
use sledchain::protocol::{BlockReader, Event, Input, Output, Protocol};
use sledchain::store::{BlockMeta, StoreError, Tip};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, Inv, InvKind, PROTOCOL_VERSION, Version};

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

/// A protocol holding `genesis` and a ready outbound seed that claimed
/// `theirs` in `version`; returns it with the outputs of the handshake.
fn connected(genesis: &Block, theirs: u64) -> (Protocol, Vec<Output>) {
    sans_io::handshaken(genesis, theirs, PEER, T0)
}

fn received(message: Message) -> Input {
    Input::Received {
        peer: PEER,
        message,
    }
}

fn block_msg(b: &Block) -> Input {
    received(Message::Block(BlockMsg {
        addr_from: String::new(),
        block: b.clone(),
    }))
}

fn processed(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::ProcessBlock { .. }))
        .count()
}

fn asked(out: &[Output]) -> usize {
    out.iter()
        .map(|o| match o {
            Output::Send {
                message: Message::GetData(g),
                ..
            } => g.items.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_claimed_height_of_u64_max_starts_no_sync_and_is_dropped_when_unbacked() {
    let g = genesis();
    let (mut p, out) = connected(&g, u64::MAX);
    for o in &out {
        if let Output::Event(Event::Syncing { theirs, .. }) = o {
            panic!("a bare claim started a sync run aiming at {theirs}");
        }
    }
    let shown = p.node_info().expect("read").best_peer_height;
    assert!(
        shown <= MAX_CLAIM_AHEAD,
        "claimed height shown unproven: {shown}"
    );
    // It never answers our `getblocks`: the claim goes.
    p.step(Input::Tick, T0 + GETBLOCKS_TIMEOUT + 1);
    assert_eq!(
        p.node_info().expect("read").best_peer_height,
        0,
        "still syncing"
    );
}

#[test]
fn a_block_below_the_chains_proof_of_work_is_blamed_before_validation() {
    let g = genesis();
    let (mut p, _) = connected(&g, 0);
    let time = (T0 / 1000) as u32 + 1;
    // Cheap: bits 1 where the chain asks 8, and dated 3 h ahead.
    let cheap = block(g.hash(), 1, 1, time + 3 * 3600);
    let out = p.step(block_msg(&cheap), T0 + 1);
    assert_eq!(processed(&out), 0, "handed to the chain layer");
    let blamed = out
        .iter()
        .any(|o| matches!(o, Output::Event(Event::Misbehaved { points, .. }) if *points >= 100));
    assert!(blamed, "not blamed: {out:?}");
    assert!(!p.peers().contains_key(&PEER), "still connected");
}

#[test]
fn a_block_whose_hash_misses_the_target_is_blamed() {
    let g = genesis();
    let (mut p, _) = connected(&g, 0);
    let mut b = block(g.hash(), 1, BITS, (T0 / 1000) as u32 + 1);
    // Unsolve it: find a nonce whose hash misses the target.
    while b.header.meets_target() {
        b.header.nonce = b.header.nonce.wrapping_add(1);
    }
    let out = p.step(block_msg(&b), T0 + 1);
    assert_eq!(processed(&out), 0, "handed to the chain layer");
    assert!(!p.peers().contains_key(&PEER), "still connected");
}

#[test]
fn a_block_refused_for_its_time_is_not_fetched_again() {
    let g = genesis();
    // A version-1 peer, whose `inv`s are asked for (a headers-first one's
    // future header is refused before its block is asked for).
    let (mut p, _) = sans_io::handshaken_at(&g, 0, PEER, T0, 1);
    let late = block(g.hash(), 1, BITS, (T0 / 1000) as u32 + 3 * 3600);
    let hash = late.hash();
    let inv = || {
        received(Message::Inv(Inv {
            addr_from: String::new(),
            kind: InvKind::Block,
            items: vec![hash.0],
        }))
    };
    assert_eq!(asked(&p.step(inv(), T0 + 1)), 1);
    assert_eq!(processed(&p.step(block_msg(&late), T0 + 2)), 1);
    let time = late.header.timestamp;
    let from = Some(PEER);
    p.step(
        Input::Chain(vec![
            ChainEvent::FutureBlock { hash, time, from },
            ChainEvent::BlockDone { hash, from },
        ]),
        T0 + 3,
    );
    // Announced again (by anyone): not asked for, nor validated if pushed.
    assert_eq!(asked(&p.step(inv(), T0 + 4)), 0, "fetched again");
    assert_eq!(processed(&p.step(block_msg(&late), T0 + 5)), 0);
    assert!(
        p.peers().contains_key(&PEER),
        "blamed for a clock difference"
    );
}

/// A chain that cannot be read: every read fails, but the genesis hash
/// when one is given.
struct Unreadable(Option<BlockHash>);

fn broken() -> Result<std::convert::Infallible, StoreError> {
    Err(StoreError::Corrupt("disk gone".into()))
}

impl BlockReader for Unreadable {
    fn tip(&self) -> Result<Option<Tip>, StoreError> {
        broken().map(|_| None)
    }
    fn genesis(&self) -> Result<Option<BlockHash>, StoreError> {
        match self.0 {
            Some(g) => Ok(Some(g)),
            None => broken().map(|_| None),
        }
    }
    fn difficulty(&self) -> Result<Option<u32>, StoreError> {
        broken().map(|_| None)
    }
    fn block(&self, _: &BlockHash) -> Result<Option<Block>, StoreError> {
        broken().map(|_| None)
    }
    fn block_meta(&self, _: &BlockHash) -> Result<Option<BlockMeta>, StoreError> {
        broken().map(|_| None)
    }
    fn locator(&self) -> Result<Vec<BlockHash>, StoreError> {
        broken().map(|_| Vec::new())
    }
    fn hashes_after(
        &self,
        _: &[BlockHash],
        _: &BlockHash,
        _: usize,
    ) -> Result<Vec<BlockHash>, StoreError> {
        broken().map(|_| Vec::new())
    }
}

/// A protocol over `reader` with a seed connected that said `version`
/// on the network of `genesis`; returns it with the `version` step's
/// outputs.
fn over(reader: Unreadable, genesis: BlockHash) -> (Protocol, Vec<Output>) {
    let seed: SocketAddr = "198.51.100.1:8333".parse().expect("addr");
    let config = sans_io::protocol(vec![seed]).config().clone();
    let mut p = Protocol::with_reader(config, Box::new(reader), vec![]);
    p.step(
        Input::Connected {
            peer: PEER,
            addr: seed,
            inbound: false,
        },
        T0,
    );
    let out = p.step(
        received(Message::Version(Version {
            version: PROTOCOL_VERSION,
            best_height: 10,
            addr_from: seed.to_string(),
            genesis: Some(genesis),
            nonce: 77,
        })),
        T0,
    );
    (p, out)
}

fn read_failed(out: &[Output]) -> bool {
    out.iter()
        .any(|o| matches!(o, Output::Event(Event::ChainReadFailed(_))))
}

#[test]
fn a_failed_genesis_read_is_reported_and_never_taken_for_no_chain() {
    // A seed of any network: with the genesis check unreadable it must not
    // pass as "no chain yet".
    let (_, out) = over(Unreadable(None), BlockHash::ZERO);
    assert!(
        read_failed(&out),
        "the failed read was not reported: {out:?}"
    );
    let ready = out
        .iter()
        .any(|o| matches!(o, Output::Event(Event::PeerReady { .. })));
    assert!(!ready, "a peer passed an unreadable genesis check");
    assert_eq!(getdata_or_getblocks(&out), 0, "asked for blocks on a guess");
}

#[test]
fn a_failed_block_read_is_not_answered_as_unknown() {
    let g = genesis().hash();
    let (mut p, out) = over(Unreadable(Some(g)), g);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(Event::PeerReady { .. }))),
        "not ready: {out:?}"
    );
    let out = p.step(
        received(Message::GetData(sledchain::wire::payload::GetData {
            addr_from: String::new(),
            kind: InvKind::Block,
            items: vec![g.0],
        })),
        T0 + 1,
    );
    assert!(
        read_failed(&out),
        "the failed read was not reported: {out:?}"
    );
    let notfound = out.iter().any(|o| {
        matches!(
            o,
            Output::Send {
                message: Message::NotFound(_),
                ..
            }
        )
    });
    assert!(!notfound, "an unreadable block was answered as unknown");
    // An `inv` is not asked for on a guess of "we lack it" either.
    let out = p.step(
        received(Message::Inv(Inv {
            addr_from: String::new(),
            kind: InvKind::Block,
            items: vec![sledchain::core::hash::Hash256([3; 32])],
        })),
        T0 + 2,
    );
    assert_eq!(asked(&out), 0, "asked for a block on a failed read");
}

fn getdata_or_getblocks(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| {
            matches!(
                o,
                Output::Send {
                    message: Message::GetData(_) | Message::GetBlocks(_) | Message::GetHeaders(_),
                    ..
                }
            )
        })
        .count()
}

//! Initial sync asks for the next blocks before the current ones are
//! processed, driving `Protocol::step` by hand: once the last block of the
//! `inv` asked of the sync peer arrives, a `getblocks` whose locator starts
//! at that block goes out at once, and its answer is asked for while the
//! first blocks are still with the chain layer (none is reported done
//! here). Past the memory bound on blocks waiting for the chain layer, it
//! is not.

mod sans_io;

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::protocol::sync_peer::ASK_AHEAD_BYTES;
use sledchain::protocol::{Input, Output, Protocol};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{BlockMsg, Inv, InvKind};

const T0: u64 = 1_700_000_000_000;
const PEER: u64 = 1;

/// A chain of `n` solved blocks after genesis at difficulty 1, each
/// coinbase carrying `pad` extra outputs (to make blocks big).
fn chain(n: u64, pad: usize) -> Vec<Block> {
    let t = (T0 / 1000) as u32;
    let mut prev = BlockHash::ZERO;
    let mut out = Vec::new();
    for height in 0..=n {
        let mut b = Block::template(prev, height, 1, t + height as u32, [1; 20], 20, vec![]);
        if let Some(cb) = b.transactions.first_mut() {
            let extra = cb.outputs[0];
            cb.outputs.extend(std::iter::repeat_n(extra, pad));
        }
        b.header.merkle_root = b.compute_merkle_root();
        sledchain::chain::miner::solve(&mut b, 1, &Default::default());
        prev = b.hash();
        out.push(b);
    }
    out
}

/// A protocol holding `genesis` and an outbound seed at height `theirs`
/// that is ready; returns it with the `getblocks` sent.
fn syncing(genesis: &Block, theirs: u64) -> Protocol {
    // A version-1 peer: the `getblocks` flow.
    let (p, out) = sans_io::handshaken_at(genesis, theirs, PEER, T0, 1);
    assert!(!getblocks(&out).is_empty(), "no getblocks at handshake");
    p
}

fn getblocks(out: &[Output]) -> Vec<Vec<BlockHash>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                message: Message::GetBlocks(g),
                ..
            } => Some(g.locator.clone()),
            _ => None,
        })
        .collect()
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

fn inv(blocks: &[Block]) -> Input {
    Input::Received {
        peer: PEER,
        message: Message::Inv(Inv {
            addr_from: String::new(),
            kind: InvKind::Block,
            items: blocks.iter().map(|b| b.hash().0).collect(),
        }),
    }
}

fn block(b: &Block) -> Input {
    Input::Received {
        peer: PEER,
        message: Message::Block(BlockMsg {
            addr_from: String::new(),
            block: b.clone(),
        }),
    }
}

#[test]
fn the_next_blocks_are_asked_for_when_the_last_asked_one_arrives() {
    let blocks = chain(12, 0);
    let mut p = syncing(&blocks[0], 12);
    let (first, second) = blocks[1..].split_at(6);
    assert_eq!(asked(&p.step(inv(first), T0 + 1)), 6);
    for (i, b) in first.iter().enumerate() {
        let out = p.step(block(b), T0 + 2);
        let sent = getblocks(&out);
        if i + 1 < first.len() {
            assert!(sent.is_empty(), "asked ahead before the last block");
        } else {
            assert_eq!(sent.len(), 1, "no getblocks once the last block arrived");
            assert_eq!(sent[0].first(), Some(&b.hash()), "locator starts elsewhere");
        }
    }
    // The answer is asked for although nothing is processed yet.
    assert_eq!(asked(&p.step(inv(second), T0 + 3)), 6);
}

#[test]
fn nothing_is_asked_ahead_past_the_memory_bound() {
    // Blocks of about 1 MB: enough of them exceed the bound.
    let pad = 1_000_000 / 30;
    let n = (ASK_AHEAD_BYTES / 1_000_000) + 2;
    let blocks = chain(n, pad);
    let mut p = syncing(&blocks[0], n + 10);
    assert_eq!(asked(&p.step(inv(&blocks[1..]), T0 + 1)), n as usize);
    let mut sent = Vec::new();
    for b in &blocks[1..] {
        sent.extend(getblocks(&p.step(block(b), T0 + 2)));
    }
    assert!(sent.is_empty(), "asked ahead with {n} MB waiting: {sent:?}");
}

#[test]
fn a_peer_answering_getblocks_with_nothing_new_is_not_asked_again() {
    let blocks = chain(1, 0);
    let mut p = syncing(&blocks[0], 1_000);
    // It claims height 1,000 but offers only what we hold.
    let out = p.step(inv(&blocks[..1]), T0 + 1);
    assert_eq!(asked(&out), 0);
    assert!(getblocks(&out).is_empty(), "asked again at once");
    let out = p.step(Input::Tick, T0 + 2_000);
    assert!(getblocks(&out).is_empty(), "asked again on the next tick");
    // A block it announces later is fetched as usual.
    assert_eq!(asked(&p.step(inv(&blocks[1..]), T0 + 3_000)), 1);
}

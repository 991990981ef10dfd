//! Hostile nodes for the simulator: hand-driven peers that hold inbound
//! connections into honest nodes and carry out the protocol's threat
//! list, so a scenario can mix them among honest nodes.
//!
//! Each round (a call of [`Hostile::attack`]), on every connection it
//! holds, a hostile node:
//!
//! * has claimed a huge height in its `version` and never answers
//!   `getblocks` or `getdata`;
//! * announces made-up block hashes and made-up txids (never delivered);
//! * floods `getdata` naming one txid (the latest honest payment) 1,000
//!   times;
//! * pings, so it is not dropped as idle;
//!
//! and every [`PUSH_EVERY`] rounds it pushes, unasked, a side-branch block
//! on genesis (too little work once the chain is a few blocks long), and
//! as often, half-way between, a block on the tip below the chain's
//! difficulty (which gets it banned).
//!
//! It also announces every honest payment's txid first, the moment it is
//! made ([`Hostile::announce_first`]), and never delivers it. A dropped or
//! banned connection is dialled again at the next round from a fresh
//! address (a Sybil), so the attacks never stop. What honest nodes send a hostile
//! node lands in [`super::Stats::to_attached`] and is never answered.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;

use crate::core::block::Block;
use crate::core::hash::{BlockHash, Hash256, Txid};
use crate::core::params::SUBSIDY;
use crate::protocol::Input;
use crate::wire::message::Message;
use crate::wire::payload::{BlockMsg, GetData, Inv, InvKind, PROTOCOL_VERSION, Version};

use super::{Rng, Sim};

/// Coinbase payee of the side-branch blocks hostile nodes push.
pub const SIDE_PAYEE: [u8; 20] = [0xba; 20];
/// Coinbase payee of the blocks below the chain's difficulty they push.
pub const EASY_PAYEE: [u8; 20] = [0xbb; 20];
/// Height hostile nodes claim in their `version`.
pub const CLAIMED_HEIGHT: u64 = 1_000_000_000;
/// Rounds between two block pushes of one kind.
pub const PUSH_EVERY: u32 = 10;
/// Leading zero bits the easy blocks lack against the chain's difficulty.
const EASIER_BITS: u32 = 4;

/// One connection of hostile node `hostile` into honest node `node`, as
/// that node's peer `peer` (0 before the first dial), from its `dials`-th
/// address.
struct Link {
    hostile: usize,
    node: usize,
    peer: u64,
    dials: u32,
}

/// A set of hostile nodes and their connections (module docs).
pub struct Hostile {
    links: Vec<Link>,
    rng: Rng,
    round: u32,
}

/// The `dial`-th address of hostile node `k`: 100.64.0.0/10 (RFC 6598),
/// outside the simulated nodes' range; 256 addresses per node, one /24
/// each (reused past that, so refused while banned).
pub fn address(k: usize, dial: u32) -> SocketAddr {
    let ip = [100, 64 | ((k >> 8) as u8 & 0x3f), k as u8, dial as u8];
    SocketAddr::from((ip, 40_000))
}

fn recv(peer: u64, message: Message) -> Input {
    Input::Received { peer, message }
}

fn inv(kind: InvKind, items: Vec<Hash256>) -> Message {
    Message::Inv(Inv {
        addr_from: String::new(),
        kind,
        items,
    })
}

/// A block on `prev` at `height`, solved at `bits`, its coinbase paying
/// `to`.
fn solved(prev: BlockHash, height: u64, bits: u32, time: u32, to: [u8; 20]) -> Block {
    let mut b = Block::template(prev, height, bits, time, to, SUBSIDY, vec![]);
    crate::chain::miner::solve(&mut b, 1, &AtomicBool::new(false));
    b
}

impl Hostile {
    /// `count` hostile nodes (at most 16,384), each connecting into `links`
    /// distinct honest nodes of `sim` drawn with `seed`, and sending its
    /// `version`.
    pub fn new(sim: &mut Sim, count: usize, links: usize, seed: u64) -> Hostile {
        let honest = sim.nodes.len();
        let mut h = Hostile {
            links: Vec::new(),
            rng: Rng::new(seed ^ 0xbad),
            round: 0,
        };
        for hostile in 0..count.min(1 << 14) {
            let mut nodes: Vec<usize> = Vec::new();
            while nodes.len() < links.min(honest) {
                let n = h.rng.below(honest as u64) as usize;
                if !nodes.contains(&n) {
                    nodes.push(n);
                }
            }
            for node in nodes {
                h.links.push(Link {
                    hostile,
                    node,
                    peer: 0,
                    dials: 0,
                });
            }
        }
        h.reconnect(sim);
        h
    }

    /// Connections currently open.
    pub fn connected(&self, sim: &Sim) -> usize {
        self.links.iter().filter(|l| Self::open(sim, l)).count()
    }

    fn open(sim: &Sim, l: &Link) -> bool {
        l.peer != 0 && sim.protocol(l.node).peers().contains_key(&l.peer)
    }

    /// Dials again from a fresh address on every dropped connection, with a
    /// `version` claiming [`CLAIMED_HEIGHT`].
    fn reconnect(&mut self, sim: &mut Sim) {
        let genesis = sim.genesis.hash();
        for l in &mut self.links {
            if Self::open(sim, l) {
                continue;
            }
            l.dials += 1;
            let from = address(l.hostile, l.dials);
            l.peer = sim.attach(l.node, from);
            let v = Version {
                version: PROTOCOL_VERSION,
                best_height: CLAIMED_HEIGHT,
                addr_from: from.to_string(),
                genesis: Some(genesis),
                nonce: 7_000 + l.hostile as u64,
            };
            sim.inject(l.node, recv(l.peer, Message::Version(v)));
        }
    }

    /// Sends `message` on every open connection.
    fn broadcast(&self, sim: &mut Sim, message: &Message) {
        for l in &self.links {
            if Self::open(sim, l) {
                sim.inject(l.node, recv(l.peer, message.clone()));
            }
        }
    }

    /// `n` hashes no block or transaction has.
    fn made_up(&mut self, n: usize) -> Vec<Hash256> {
        (0..n)
            .map(|k| {
                let mut h = [0xee; 32];
                h[0..4].copy_from_slice(&self.round.to_le_bytes());
                h[4..12].copy_from_slice(&(k as u64).to_le_bytes());
                h[12..20].copy_from_slice(&self.rng.next_u64().to_le_bytes());
                Hash256(h)
            })
            .collect()
    }

    /// Announces `txid` (an honest payment, just made) on every connection;
    /// it is never delivered.
    pub fn announce_first(&self, sim: &mut Sim, txid: Txid) {
        self.broadcast(sim, &inv(InvKind::Tx, vec![txid.0]));
    }

    /// One round of every attack on every connection (module docs);
    /// `recent` is the txid the `getdata` flood names.
    pub fn attack(&mut self, sim: &mut Sim, recent: Option<Txid>) {
        self.round += 1;
        self.reconnect(sim);
        let blocks = self.made_up(20);
        self.broadcast(sim, &inv(InvKind::Block, blocks));
        let txids = self.made_up(100);
        self.broadcast(sim, &inv(InvKind::Tx, txids));
        if let Some(txid) = recent {
            let flood = Message::GetData(GetData {
                addr_from: String::new(),
                kind: InvKind::Tx,
                items: vec![txid.0; 1_000],
            });
            self.broadcast(sim, &flood);
        }
        let bits = sim.config().bits;
        let time = (sim.now() / 1000) as u32;
        if self.round.is_multiple_of(PUSH_EVERY) {
            let genesis = sim.genesis.hash();
            let side = solved(genesis, 1, bits, time, SIDE_PAYEE);
            self.broadcast(sim, &block(side));
        }
        if self.round % PUSH_EVERY == PUSH_EVERY / 2
            && let Some(tip) = sim.tip(0)
        {
            let easy_bits = bits.saturating_sub(EASIER_BITS);
            let easy = solved(tip.hash, tip.height + 1, easy_bits, time, EASY_PAYEE);
            self.broadcast(sim, &block(easy));
        }
        self.broadcast(sim, &Message::Ping(u64::from(self.round)));
    }
}

fn block(block: Block) -> Message {
    Message::Block(BlockMsg {
        addr_from: String::new(),
        block,
    })
}

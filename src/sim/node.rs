//! One simulated node: the real protocol over the real chain, in memory.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::chain::{Chain, ChainError, PeerId};
use crate::core::block::Block;
use crate::core::validation::SigCache;
use crate::protocol::{Config, LocalReply, Protocol, ReplyId};
use crate::store::ChainStore;

use super::{Rng, SimConfig};

/// Port every simulated node listens on.
pub const PORT: u16 = 8333;

/// The address of node `i`: 198.18.x.y:8333 (a label; no traffic).
pub fn address(i: usize) -> SocketAddr {
    let n = i as u32 + 1;
    let ip = IpAddr::from([198, 18 + (n >> 16) as u8 % 2, (n >> 8) as u8, n as u8]);
    SocketAddr::new(ip, PORT)
}

/// Node `i`'s index from its address, if it is one.
pub fn index_of(addr: &SocketAddr) -> Option<usize> {
    let IpAddr::V4(v4) = addr.ip() else {
        return None;
    };
    let [a, b, c, d] = v4.octets();
    if a != 198 || !(18..=19).contains(&b) || addr.port() != PORT {
        return None;
    }
    let n = (u32::from(b - 18) << 16) | (u32::from(c) << 8) | u32::from(d);
    (n as usize).checked_sub(1)
}

/// The addresses node `i` knows at the start: `count` random others.
pub fn known(i: usize, all: &[SocketAddr], count: usize, rng: &mut Rng) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    if all.len() <= 1 {
        return out;
    }
    for _ in 0..count.min(all.len() - 1) * 2 {
        let j = rng.below(all.len() as u64) as usize;
        if j != i && !out.contains(&all[j]) && out.len() < count {
            out.push(all[j]);
        }
    }
    out
}

/// One node of the simulation.
pub struct SimNode {
    /// Its index.
    pub index: usize,
    /// Its address.
    pub addr: SocketAddr,
    /// Its protocol.
    pub protocol: Protocol,
    /// Its chain.
    pub chain: Chain,
    /// Running (a stopped node drops what it is sent).
    pub up: bool,
    /// Replies to local requests, by id.
    pub replies: BTreeMap<ReplyId, LocalReply>,
    pub(super) next_peer: PeerId,
    /// Peer ids of fake peers attached by the test.
    pub(super) attached: Vec<PeerId>,
    pub(super) next_reply: ReplyId,
    /// Chain jobs waiting for its worker.
    pub(super) jobs: crate::exec::Lanes,
    /// True while its worker has a [`super::Event::Work`] scheduled.
    pub(super) working: bool,
}

impl SimNode {
    /// Node `i` with a temporary store (holding `genesis` when
    /// `with_genesis`), knowing `known`, sharing the signature cache;
    /// minting to `minter` when given.
    ///
    /// Errors: [`ChainError::Store`] from the temporary store.
    pub fn new(
        i: usize,
        config: &SimConfig,
        genesis: (&Block, bool),
        known: Vec<SocketAddr>,
        cache: Arc<SigCache>,
        minter: Option<[u8; 20]>,
    ) -> Result<SimNode, ChainError> {
        let store = ChainStore::temporary()?;
        if genesis.1 {
            store.init_genesis(genesis.0)?;
        }
        let (chain, _) = Chain::open(store.clone(), cache)?;
        let addr = address(i);
        let protocol_config = Config {
            me: addr,
            seeds: vec![address(0)],
            default_seeds: Vec::new(),
            genesis: config.pin_genesis.then(|| genesis.0.hash()),
            minter,
            mint_threshold: config.mint_threshold,
            idle_timeout: config.idle_timeout,
            handshake_timeout: config.handshake_timeout,
            max_outbound: config.outbound,
            ban_score: 100,
            ban_time: 24 * 3600 * 1000,
            nonce: config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(i as u64 + 1),
        };
        Ok(SimNode {
            index: i,
            addr,
            protocol: Protocol::new(protocol_config, store, known),
            chain,
            up: false,
            replies: BTreeMap::new(),
            next_peer: 1,
            attached: Vec::new(),
            next_reply: 1,
            jobs: crate::exec::Lanes::new(),
            working: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for i in [0, 1, 255, 256, 70_000] {
            assert_eq!(index_of(&address(i)), Some(i));
        }
    }
}

//! A deterministic network simulator: N nodes, each the real
//! [`Protocol`] over the real [`Chain`] (sled in temporary mode), joined by
//! a simulated network with seeded per-link latency, message loss and
//! partitions, under a simulated clock. The same seed gives the same run,
//! message for message; [`Sim::digest`] hashes the ordered event log.
//!
//! Each node's chain work (blocks, transactions, mints, peer records)
//! goes through the executor the node uses ([`crate::exec::run`]), from a
//! queue of its own, at a later simulated time ([`SimConfig::work`]).
//!
//! Nothing here touches a socket or the wall clock: addresses are labels
//! in 198.18.0.0/15 (the benchmarking range, RFC 2544), and time is a
//! number in [`Sim::now`].
//!
//! ```no_run
//! use sledchain::sim::{Sim, SimConfig};
//! let mut sim = Sim::new(SimConfig { nodes: 3, ..SimConfig::default() }).expect("stores");
//! sim.start_all();
//! sim.run_for(5_000);
//! assert!(sim.converged());
//! ```

pub mod hostile;
mod network;
mod node;
mod rng;
mod run;
mod wallet;

use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::chain::{Chain, ChainError};
use crate::core::block::Block;
use crate::core::validation::SigCache;
use crate::protocol::{Millis, Protocol};

pub use hostile::Hostile;
pub use node::SimNode;
pub use rng::Rng;
pub use wallet::SimWallet;

/// Sim time at the start: 2023-11-14, in ms since the Unix epoch.
pub const EPOCH: Millis = 1_700_000_000_000;

/// Settings of one simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of nodes; node 0 is the seed node every other dials first.
    pub nodes: usize,
    /// Mean one-way latency per link (ms); each link draws its own in
    /// 0.5..1.5 times it.
    pub latency: Millis,
    /// Probability (0..1) that a message is lost.
    pub loss: f64,
    /// Outbound connections per node.
    pub outbound: usize,
    /// Random addresses each node knows at the start besides the seed.
    pub known: usize,
    /// Proof-of-work difficulty of the genesis block (bits).
    pub bits: u32,
    /// Mint at this many mempool transactions.
    pub mint_threshold: usize,
    /// Mean time a minter needs to find a block (ms, exponential).
    pub mint_time: Millis,
    /// Idle timeout (ms).
    pub idle_timeout: Millis,
    /// Handshake timeout (ms).
    pub handshake_timeout: Millis,
    /// Tick interval (ms).
    pub tick: Millis,
    /// Every node starts with the genesis block (else only node 0).
    pub genesis_everywhere: bool,
    /// Nodes that mint (to the sim wallet).
    pub minters: Vec<usize>,
    /// Mean time the chain worker spends on one job (ms): a node's chain
    /// jobs wait in its queue ([`crate::exec::Lanes`]) and each run is
    /// carried out ([`crate::exec::run`]) a seeded 1..=2×`work` ms after
    /// the worker takes it up, so jobs queued meanwhile join it and chain
    /// events reach the protocol late, as in the node. 0: every job runs
    /// as soon as it is queued (still after the step that asked for it).
    pub work: Millis,
    /// Every node is configured with the genesis hash
    /// ([`crate::protocol::Config::genesis`]), as `startnode --genesis`.
    pub pin_genesis: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            nodes: 4,
            latency: 50,
            loss: 0.0,
            outbound: 8,
            known: 16,
            bits: 6,
            mint_threshold: 2,
            mint_time: 200,
            idle_timeout: 60_000,
            handshake_timeout: 10_000,
            tick: 500,
            genesis_everywhere: false,
            minters: vec![0],
            pin_genesis: false,
            work: 2,
        }
    }
}

/// Something scheduled at a sim time.
#[derive(Debug)]
enum Event {
    /// Deliver an input to a node's protocol.
    Input(usize, crate::protocol::Input),
    /// A dial from `node` to `addr` completes or fails.
    Dial(usize, SocketAddr),
    /// A tick for a node.
    Tick(usize),
    /// A minter found a block.
    Mined(usize, Block),
    /// A node's chain worker finishes the run it took up.
    Work(usize),
}

/// Figures a run collects.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Messages sent.
    pub messages: u64,
    /// Bytes sent (whole frames).
    pub bytes: u64,
    /// Messages lost to loss or partitions.
    pub dropped: u64,
    /// Reorgs, summed over nodes.
    pub reorgs: u64,
    /// Blocks minted.
    pub minted: u64,
    /// Transactions handed to the chain layer for validation
    /// ([`crate::protocol::Output::AcceptTx`]), summed over nodes.
    pub tx_checks: u64,
    /// Every disconnect the protocols asked for: (node, peer, reason).
    pub disconnects: Vec<(usize, u64, crate::protocol::DisconnectReason)>,
    /// Block hashes asked for in `getdata`, summed over nodes.
    pub block_getdata: u64,
    /// Messages sent to peers attached with [`Sim::attach`] (which are
    /// not delivered anywhere): (node, its peer id, the message).
    pub to_attached: Vec<(usize, u64, crate::wire::message::Message)>,
    /// Runs of blocks handed to [`Chain::process_blocks`] (one call each),
    /// summed over nodes.
    pub block_runs: u64,
    /// The most blocks handed to [`Chain::process_blocks`] in one run.
    pub largest_run: usize,
    /// When each block was first connected, and when each node connected
    /// it.
    pub block_times: BTreeMap<crate::core::hash::BlockHash, (Millis, Vec<Millis>)>,
}

/// A running simulation (module docs).
pub struct Sim {
    config: SimConfig,
    now: Millis,
    seq: u64,
    queue: BinaryHeap<std::cmp::Reverse<(Millis, u64, usize)>>,
    events: BTreeMap<usize, Event>,
    next_event: usize,
    /// The nodes, by index.
    pub nodes: Vec<SimNode>,
    net: network::Network,
    rng: Rng,
    digest: Sha256,
    /// Figures of the run so far.
    pub stats: Stats,
    /// A funded wallet (the genesis and every coinbase pay its keys).
    pub wallet: SimWallet,
    /// The genesis block.
    pub genesis: Block,
}

impl Sim {
    /// A simulation of `config.nodes` nodes, none started yet.
    ///
    /// Errors: [`ChainError::Store`] opening a temporary store.
    pub fn new(config: SimConfig) -> Result<Sim, ChainError> {
        let mut rng = Rng::new(config.seed);
        let wallet = SimWallet::new(config.seed, config.minters.len() + 1);
        let genesis = wallet.genesis(config.bits, (EPOCH / 1000) as u32);
        let cache = Arc::new(SigCache::new(200_000));
        let addrs: Vec<SocketAddr> = (0..config.nodes).map(node::address).collect();
        let mut nodes = Vec::with_capacity(config.nodes);
        for i in 0..config.nodes {
            let with_genesis = i == 0 || config.genesis_everywhere;
            let known = node::known(i, &addrs, config.known, &mut rng);
            let minter = config
                .minters
                .iter()
                .position(|m| *m == i)
                .map(|k| wallet.pkh(k + 1));
            let g = (&genesis, with_genesis);
            nodes.push(SimNode::new(i, &config, g, known, cache.clone(), minter)?);
        }
        let net = network::Network::new(config.latency, config.loss, config.seed);
        Ok(Sim {
            config,
            now: EPOCH,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_event: 0,
            nodes,
            net,
            rng,
            digest: Sha256::new(),
            stats: Stats::default(),
            wallet,
            genesis,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Sim time now (ms since the Unix epoch).
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Hex SHA-256 of the ordered event log so far.
    pub fn digest(&self) -> String {
        hex::encode(self.digest.clone().finalize())
    }

    /// Schedules `event` at `at`.
    fn schedule(&mut self, at: Millis, event: Event) {
        let id = self.next_event;
        self.next_event += 1;
        self.events.insert(id, event);
        self.seq += 1;
        self.queue
            .push(std::cmp::Reverse((at.max(self.now), self.seq, id)));
    }

    /// Starts node `i`: its ticks begin (it dials on the first).
    pub fn start(&mut self, i: usize) {
        self.nodes[i].up = true;
        let jitter = self.rng.below(self.config.tick);
        self.schedule(self.now + jitter, Event::Tick(i));
    }

    /// Starts every node.
    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// Runs events until sim time `until` (ms since the Unix epoch).
    pub fn run_until(&mut self, until: Millis) {
        while let Some(std::cmp::Reverse((at, _, id))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            if let Some(e) = self.events.remove(&id) {
                self.handle(e);
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs for `ms` of sim time.
    pub fn run_for(&mut self, ms: Millis) {
        self.run_until(self.now + ms);
    }

    /// Runs until `done` holds (checked every 100 ms of sim time) or
    /// `limit` ms pass; true if it held.
    pub fn run_while_not(&mut self, limit: Millis, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.run_for(100);
        }
        done(self)
    }

    fn log(&mut self, line: &str) {
        self.digest.update(self.now.to_le_bytes());
        self.digest.update(line.as_bytes());
        self.digest.update(b"\n");
    }

    /// The protocol of node `i`.
    pub fn protocol(&self, i: usize) -> &Protocol {
        &self.nodes[i].protocol
    }

    /// The chain of node `i`.
    pub fn chain(&self, i: usize) -> &Chain {
        &self.nodes[i].chain
    }

    /// Node `i`'s tip as its protocol reads it (`None` with no chain).
    ///
    /// Panics when the node's temporary store cannot be read: the
    /// simulation cannot go on.
    pub fn tip(&self, i: usize) -> Option<crate::store::Tip> {
        match self.protocol(i).tip() {
            Ok(tip) => tip,
            Err(e) => panic!("node {i}'s store cannot be read: {e}"),
        }
    }

    /// Height of node `i`'s tip (`None` with no chain).
    pub fn height(&self, i: usize) -> Option<u64> {
        self.tip(i).map(|t| t.height)
    }

    /// True when every started node has the same tip.
    pub fn converged(&self) -> bool {
        let mut tips = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].up)
            .map(|i| self.tip(i).map(|t| t.hash));
        let Some(first) = tips.next() else {
            return true;
        };
        first.is_some() && tips.all(|t| t == first)
    }
}

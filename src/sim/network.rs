//! The simulated network: connections between nodes, per-link latency
//! (seeded, fixed per link), in-order delivery per connection, message
//! loss and partitions.

use std::collections::BTreeMap;

use crate::chain::PeerId;
use crate::protocol::Millis;

use super::Rng;

/// Connections and link conditions (module docs).
pub struct Network {
    latency: Millis,
    loss: f64,
    rng: Rng,
    links: BTreeMap<(usize, usize), Millis>,
    /// (node, its peer id) -> (other node, its peer id), both directions.
    conns: BTreeMap<(usize, PeerId), (usize, PeerId)>,
    /// Last delivery time per direction, so a connection stays in order.
    last: BTreeMap<(usize, PeerId), Millis>,
    /// Partition group of each node; nodes in different groups cannot
    /// reach each other. Empty: no partition.
    groups: Vec<u32>,
    /// Node pairs (lower index first) that cannot reach each other.
    cut: std::collections::BTreeSet<(usize, usize)>,
}

impl Network {
    /// A network with mean one-way latency `latency` ms and loss
    /// probability `loss`.
    pub fn new(latency: Millis, loss: f64, seed: u64) -> Network {
        Network {
            latency,
            loss,
            rng: Rng::new(seed ^ 0x005e_ed0f_114e),
            links: BTreeMap::new(),
            conns: BTreeMap::new(),
            last: BTreeMap::new(),
            groups: Vec::new(),
            cut: Default::default(),
        }
    }

    /// One-way latency between `a` and `b` (drawn once per link).
    pub fn latency(&mut self, a: usize, b: usize) -> Millis {
        let key = (a.min(b), a.max(b));
        let mean = self.latency;
        let rng = &mut self.rng;
        *self
            .links
            .entry(key)
            .or_insert_with(|| mean / 2 + rng.below(mean.max(1)))
    }

    /// True when `a` and `b` are on different sides of a partition, or
    /// their link is cut.
    pub fn blocked(&self, a: usize, b: usize) -> bool {
        if self.cut.contains(&(a.min(b), a.max(b))) {
            return true;
        }
        match (self.groups.get(a), self.groups.get(b)) {
            (Some(x), Some(y)) => x != y,
            _ => false,
        }
    }

    /// Splits the nodes: `groups[i]` is node i's side.
    pub fn partition(&mut self, groups: Vec<u32>) {
        self.groups = groups;
    }

    /// Cuts the link between `a` and `b` for good: dials fail and messages
    /// are lost.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    /// Ends any partition.
    pub fn heal(&mut self) {
        self.groups.clear();
    }

    /// Whether the next message is lost.
    pub fn lose(&mut self) -> bool {
        self.loss > 0.0 && self.rng.unit() < self.loss
    }

    /// Records a connection between (a, pa) and (b, pb).
    pub fn connect(&mut self, a: (usize, PeerId), b: (usize, PeerId)) {
        self.conns.insert(a, b);
        self.conns.insert(b, a);
    }

    /// The other end of `(node, peer)`.
    pub fn other(&self, end: (usize, PeerId)) -> Option<(usize, PeerId)> {
        self.conns.get(&end).copied()
    }

    /// Removes the connection at `end`; returns the other end.
    pub fn close(&mut self, end: (usize, PeerId)) -> Option<(usize, PeerId)> {
        let other = self.conns.remove(&end)?;
        self.conns.remove(&other);
        self.last.remove(&end);
        self.last.remove(&other);
        Some(other)
    }

    /// Every connection end of `node`.
    pub fn ends_of(&self, node: usize) -> Vec<(usize, PeerId)> {
        self.conns
            .keys()
            .filter(|(n, _)| *n == node)
            .copied()
            .collect()
    }

    /// When a message sent now over `end` arrives: after the link's
    /// latency, and not before the previous one on the same direction.
    pub fn arrival(&mut self, end: (usize, PeerId), to: usize, now: Millis) -> Millis {
        let at = now + self.latency(end.0, to);
        let last = self.last.entry(end).or_insert(0);
        *last = (*last).max(at);
        *last
    }
}

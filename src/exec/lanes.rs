//! [`Lanes`]: chain jobs waiting, one lane per peer (local work in one
//! more), taken in turn, single-threaded and deterministic: the
//! simulator's queue. It takes jobs in the order the node's
//! `net/queue.rs` does (which adds locking and each peer's charge):
//! [`Lanes::take_next`] starts with the next lane in turn,
//! [`Lanes::next_in_lane`] (how [`super::run`] gathers a run) continues
//! the current one, so a peer's jobs keep their order and a new tip from
//! one peer waits behind one run of each other peer, not behind all they
//! sent.

use std::collections::{BTreeMap, VecDeque};

use super::Job;
use crate::chain::PeerId;

/// Jobs waiting, by lane (module docs).
#[derive(Debug, Default)]
pub struct Lanes {
    lanes: BTreeMap<Option<PeerId>, VecDeque<Job>>,
    /// Lanes with jobs, in turn.
    order: VecDeque<Option<PeerId>>,
    /// The lane [`Lanes::take_next`] last took from.
    current: Option<Option<PeerId>>,
    /// A job handed back ([`Lanes::put_back`]): it comes out first.
    held: Option<Job>,
}

impl Lanes {
    /// An empty queue.
    pub fn new() -> Lanes {
        Lanes::default()
    }

    /// Queues `job` at the end of its lane ([`Job::lane`]).
    pub fn push(&mut self, job: Job) {
        let lane = job.lane();
        let q = self.lanes.entry(lane).or_default();
        q.push_back(job);
        if q.len() == 1 {
            self.order.push_back(lane);
        }
    }

    /// Hands back a job taken but not run ([`super::Done::next`]): the
    /// next [`Lanes::take_next`] returns it.
    pub fn put_back(&mut self, job: Job) {
        self.held = Some(job);
    }

    /// The job handed back, else the front job of the next lane in turn;
    /// `None` when nothing waits.
    pub fn take_next(&mut self) -> Option<Job> {
        if let Some(job) = self.held.take() {
            return Some(job);
        }
        while let Some(lane) = self.order.pop_front() {
            self.current = Some(lane);
            if let Some(job) = self.take(lane) {
                return Some(job);
            }
        }
        None
    }

    /// The next job of the lane [`Lanes::take_next`] last took from; `None`
    /// when it has none.
    pub fn next_in_lane(&mut self) -> Option<Job> {
        let lane = self.current?;
        if self.lanes.get(&lane).is_none_or(VecDeque::is_empty) {
            return None;
        }
        if let Some(i) = self.order.iter().position(|l| *l == lane) {
            self.order.remove(i);
        }
        self.take(lane)
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.lanes.values().map(VecDeque::len).sum::<usize>() + usize::from(self.held.is_some())
    }

    /// True when no job waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the front job of `lane` (not in `order`), putting the lane
    /// back at the end of `order` if it has more.
    fn take(&mut self, lane: Option<PeerId>) -> Option<Job> {
        let q = self.lanes.get_mut(&lane)?;
        let job = q.pop_front()?;
        if q.is_empty() {
            self.lanes.remove(&lane);
        } else {
            self.order.push_back(lane);
        }
        Some(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::Block;
    use crate::core::hash::BlockHash;

    fn block(n: u32, from: Option<PeerId>) -> Job {
        let b = Block::template(BlockHash::ZERO, u64::from(n), 1, n, [0; 20], 0, vec![]);
        Job::Block(b, from)
    }

    fn height(job: Option<Job>) -> Option<(u64, Option<PeerId>)> {
        match job? {
            Job::Block(b, from) => Some((b.height, from)),
            _ => None,
        }
    }

    #[test]
    fn lanes_take_turns_and_a_run_stays_in_its_lane() {
        let mut q = Lanes::new();
        for n in 0..3 {
            q.push(block(n, Some(1)));
        }
        q.push(block(10, Some(2)));
        q.push(block(20, None));
        assert_eq!(q.len(), 5);
        assert_eq!(height(q.take_next()), Some((0, Some(1))));
        assert_eq!(height(q.next_in_lane()), Some((1, Some(1))));
        // The next run starts with the other lanes.
        assert_eq!(height(q.take_next()), Some((10, Some(2))));
        assert_eq!(height(q.next_in_lane()), None);
        assert_eq!(height(q.take_next()), Some((20, None)));
        let last = q.take_next().expect("the last job of peer 1");
        q.put_back(last);
        assert_eq!(height(q.take_next()), Some((2, Some(1))));
        assert!(q.is_empty());
        assert!(q.take_next().is_none());
    }
}

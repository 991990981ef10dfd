//! The chain worker's queue: bounded per peer and in total, drained fairly.
//!
//! Blocks and transactions from a peer are charged to that peer's [`Load`]
//! and to the node's total from the moment the reactor queues them until
//! the worker takes them. The peer's reader does not read its next message
//! while the peer has more than [`PEER_JOBS`] jobs or [`PEER_JOB_BYTES`]
//! waiting, or has any waiting while the node's total passes
//! [`TOTAL_JOB_BYTES`] ([`Load::over`]): back-pressure on the socket of
//! whoever sends the work, nothing dropped.
//!
//! Each peer's jobs wait in a lane of their own (local work — mints,
//! queries, locally submitted transactions — in one more), and the worker
//! takes lanes in turn: [`JobReceiver::recv`] starts with the next lane,
//! [`JobReceiver::try_recv`] (how the worker gathers a batch) continues
//! the current one. A peer's jobs keep their order; a new tip from one
//! peer waits behind one batch of each other peer, not behind all they
//! sent. [`Job::Stop`] comes out once every lane is empty.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::worker::Job;
use crate::chain::{MAX_RUN_BLOCKS, PeerId};

/// Jobs (blocks and transactions) one peer may have waiting for the chain
/// worker before its socket is not read: one batch of blocks.
pub const PEER_JOBS: u64 = MAX_RUN_BLOCKS as u64;
/// Bytes of blocks and transactions (as encoded) one peer may have waiting
/// for the chain worker before its socket is not read: also the most of
/// one peer's work a block from another peer waits behind (one batch).
pub const PEER_JOB_BYTES: u64 = 4 << 20;
/// Bytes waiting for the chain worker from all peers together past which
/// every peer with jobs waiting is not read.
pub const TOTAL_JOB_BYTES: u64 = 64 << 20;

/// What one peer has waiting for the chain worker.
#[derive(Debug, Default)]
pub struct Load {
    jobs: AtomicU64,
    bytes: AtomicU64,
    total: Arc<AtomicU64>,
    /// Told each time the worker takes one of the peer's jobs: its reader,
    /// paused while [`Load::over`], reads on as soon as there is room.
    taken: tokio::sync::Notify,
}

impl Load {
    /// True while the peer's next message should not be read (module docs).
    pub fn over(&self) -> bool {
        let jobs = self.jobs.load(Ordering::Relaxed);
        jobs > PEER_JOBS
            || self.bytes.load(Ordering::Relaxed) > PEER_JOB_BYTES
            || (jobs > 0 && self.total.load(Ordering::Relaxed) > TOTAL_JOB_BYTES)
    }

    /// Jobs of the peer waiting.
    pub fn jobs(&self) -> u64 {
        self.jobs.load(Ordering::Relaxed)
    }

    /// Completes once the worker took one of the peer's jobs (at once when
    /// it took one since the last call).
    pub async fn taken(&self) {
        self.taken.notified().await;
    }
}

/// One job's charge, released when the worker takes the job.
struct Ticket {
    load: Arc<Load>,
    bytes: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.load.jobs.fetch_sub(1, Ordering::Relaxed);
        self.load.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        self.load.total.fetch_sub(self.bytes, Ordering::Relaxed);
        self.load.taken.notify_one();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lane {
    Local,
    Peer(PeerId),
}

#[derive(Default)]
struct State {
    lanes: HashMap<Lane, VecDeque<(Job, Option<Ticket>)>>,
    /// Lanes with jobs, in turn.
    order: VecDeque<Lane>,
    /// The lane the last [`JobReceiver::recv`] took from.
    current: Option<Lane>,
    stop: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    total: Arc<AtomicU64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The chain worker has stopped: the job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the chain worker has stopped")]
pub struct Stopped;

/// No job waits (in the current lane, for [`JobReceiver::try_recv`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty;

/// Queues jobs for the chain worker; cloneable.
#[derive(Clone)]
pub struct JobSender {
    shared: Arc<Shared>,
}

/// The chain worker's end of the queue.
pub struct JobReceiver {
    shared: Arc<Shared>,
}

/// A new queue.
pub fn channel() -> (JobSender, JobReceiver) {
    let shared = Arc::new(Shared::default());
    (
        JobSender {
            shared: shared.clone(),
        },
        JobReceiver { shared },
    )
}

impl JobSender {
    /// A fresh [`Load`] for a new peer, counted in this queue's total.
    pub fn new_load(&self) -> Arc<Load> {
        Arc::new(Load {
            total: self.shared.total.clone(),
            ..Load::default()
        })
    }

    /// Queues `job` uncharged, in the lane of its peer if it names one.
    ///
    /// Errors: [`Stopped`].
    pub fn send(&self, job: Job) -> Result<(), Stopped> {
        self.push(job, None)
    }

    /// Queues `job` (a block or transaction from a peer) charged to `load`
    /// until the worker takes it.
    ///
    /// Errors: [`Stopped`].
    pub fn send_charged(&self, job: Job, load: &Arc<Load>) -> Result<(), Stopped> {
        let bytes = match &job {
            Job::Chain(job) => job.bytes(),
            _ => 0,
        };
        load.jobs.fetch_add(1, Ordering::Relaxed);
        load.bytes.fetch_add(bytes, Ordering::Relaxed);
        load.total.fetch_add(bytes, Ordering::Relaxed);
        let ticket = Ticket {
            load: load.clone(),
            bytes,
        };
        self.push(job, Some(ticket))
    }

    /// Bytes waiting from all peers.
    pub fn total_bytes(&self) -> u64 {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// Jobs waiting in every lane (the queue's depth; a job the worker has
    /// taken no longer counts).
    pub fn depth(&self) -> usize {
        self.shared.lock().lanes.values().map(VecDeque::len).sum()
    }

    fn push(&self, job: Job, ticket: Option<Ticket>) -> Result<(), Stopped> {
        let mut s = self.shared.lock();
        if s.closed {
            return Err(Stopped);
        }
        if let Job::Stop = job {
            s.stop = true;
            self.shared.ready.notify_one();
            return Ok(());
        }
        let lane = job.lane().map_or(Lane::Local, Lane::Peer);
        let q = s.lanes.entry(lane).or_default();
        q.push_back((job, ticket));
        if q.len() == 1 {
            s.order.push_back(lane);
        }
        drop(s);
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl JobReceiver {
    /// The next job, from the next lane in turn; waits for one.
    /// [`Job::Stop`] once asked for and every lane is empty.
    ///
    /// Errors: never while the worker holds a [`JobSender`] (it does); the
    /// `Result` keeps the shape of a channel's `recv`.
    pub fn recv(&self) -> Result<Job, Stopped> {
        let mut s = self.shared.lock();
        loop {
            if let Some(job) = next_job(&mut s) {
                return Ok(job);
            }
            s = self.shared.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// As [`JobReceiver::recv`], but waits at most `timeout`: `None` when
    /// no job came in that time (the worker is idle).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Job> {
        let deadline = std::time::Instant::now() + timeout;
        let mut s = self.shared.lock();
        loop {
            if let Some(job) = next_job(&mut s) {
                return Some(job);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            s = self
                .shared
                .ready
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The next job of the lane [`JobReceiver::recv`] last took from,
    /// without waiting.
    ///
    /// Errors: [`Empty`] when that lane has none.
    pub fn try_recv(&self) -> Result<Job, Empty> {
        let mut s = self.shared.lock();
        let Some(lane) = s.current else {
            return Err(Empty);
        };
        if s.lanes.get(&lane).is_none_or(|q| q.is_empty()) {
            return Err(Empty);
        }
        if let Some(i) = s.order.iter().position(|l| *l == lane) {
            s.order.remove(i);
        }
        take(&mut s, lane).ok_or(Empty)
    }
}

/// The next job from the next lane in turn, or [`Job::Stop`] once asked
/// for and every lane is empty; `None` when there is none yet.
fn next_job(s: &mut State) -> Option<Job> {
    while let Some(lane) = s.order.pop_front() {
        s.current = Some(lane);
        if let Some(job) = take(s, lane) {
            return Some(job);
        }
    }
    if s.stop {
        s.stop = false;
        return Some(Job::Stop);
    }
    None
}

/// Takes the front job of `lane` (not in `order`), putting the lane back
/// at the end of `order` if it has more; its charge is released.
fn take(s: &mut State, lane: Lane) -> Option<Job> {
    let q = s.lanes.get_mut(&lane)?;
    let (job, _ticket) = q.pop_front()?;
    if q.is_empty() {
        s.lanes.remove(&lane);
    } else {
        s.order.push_back(lane);
    }
    Some(job)
}

impl Drop for JobReceiver {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.closed = true;
        // Jobs never taken release their charges.
        s.lanes.clear();
        s.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::Block;
    use crate::core::hash::BlockHash;
    use crate::exec;

    fn block(n: u32, from: Option<PeerId>) -> Job {
        let b = Block::template(BlockHash::ZERO, n as u64, 1, n, [0; 20], 0, vec![]);
        Job::Chain(exec::Job::Block(b, from))
    }

    fn minted() -> Job {
        Job::Chain(exec::Job::Minted(None))
    }

    fn height(job: Job) -> (u64, Option<PeerId>) {
        match job {
            Job::Chain(exec::Job::Block(b, from)) => (b.height, from),
            _ => panic!("not a block"),
        }
    }

    #[test]
    fn recv_timeout_is_none_when_idle_and_takes_what_waits() {
        let (tx, rx) = channel();
        let wait = std::time::Duration::from_millis(20);
        assert!(rx.recv_timeout(wait).is_none(), "a job from an empty queue");
        tx.send(block(4, None)).unwrap();
        assert_eq!(height(rx.recv_timeout(wait).expect("the job")), (4, None));
        tx.send(Job::Stop).unwrap();
        assert!(matches!(rx.recv_timeout(wait), Some(Job::Stop)));
    }

    #[test]
    fn lanes_take_turns_and_a_batch_stays_in_its_lane() {
        let (tx, rx) = channel();
        let (a, b) = (tx.new_load(), tx.new_load());
        for n in 0..3 {
            tx.send_charged(block(n, Some(1)), &a).unwrap();
        }
        tx.send_charged(block(10, Some(2)), &b).unwrap();
        assert_eq!(a.jobs(), 3);
        assert_eq!(height(rx.recv().unwrap()), (0, Some(1)));
        assert_eq!(a.jobs(), 2);
        assert_eq!(height(rx.try_recv().unwrap()), (1, Some(1)));
        // The next batch starts with the other peer.
        assert_eq!(height(rx.recv().unwrap()), (10, Some(2)));
        assert_eq!(rx.try_recv().err(), Some(Empty));
        assert_eq!(height(rx.recv().unwrap()), (2, Some(1)));
        assert_eq!((a.jobs(), b.jobs(), tx.total_bytes()), (0, 0, 0));
    }

    #[test]
    fn stop_comes_after_every_queued_job() {
        let (tx, rx) = channel();
        let a = tx.new_load();
        tx.send_charged(block(1, Some(1)), &a).unwrap();
        tx.send(Job::Stop).unwrap();
        tx.send(minted()).unwrap();
        assert!(matches!(rx.recv(), Ok(Job::Chain(exec::Job::Block(..)))));
        assert!(matches!(rx.recv(), Ok(Job::Chain(exec::Job::Minted(None)))));
        assert!(matches!(rx.recv(), Ok(Job::Stop)));
    }

    #[test]
    fn a_paused_reader_is_told_when_the_worker_takes_a_job() {
        let (tx, rx) = channel();
        let a = tx.new_load();
        for n in 0..=PEER_JOBS as u32 {
            tx.send_charged(block(n, Some(1)), &a).unwrap();
        }
        assert!(a.over());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut wait = std::pin::pin!(a.taken());
            assert!(futures::poll!(&mut wait).is_pending(), "nothing taken yet");
            let _ = rx.recv();
            assert!(
                futures::poll!(&mut wait).is_ready(),
                "the reader waits on after the worker took a job"
            );
        });
        assert!(!a.over());
    }

    #[test]
    fn a_peer_over_its_share_is_over() {
        let (tx, rx) = channel();
        let a = tx.new_load();
        for n in 0..=PEER_JOBS as u32 {
            assert!(!a.over());
            tx.send_charged(block(n, Some(1)), &a).unwrap();
        }
        assert!(a.over());
        let _ = rx.recv();
        assert!(!a.over());
        drop(rx);
        assert_eq!((a.jobs(), tx.total_bytes()), (0, 0));
        assert_eq!(tx.send(minted()), Err(Stopped));
    }
}

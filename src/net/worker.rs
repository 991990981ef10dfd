//! The chain worker: one thread that owns the [`Chain`] and runs the
//! block processing, transaction checks, mints, peer-record saves and
//! control queries the reactor hands it (each peer's in order, peers in
//! turn: [`super::queue`]), so validation and reorgs never block the
//! reactor. The chain work itself is [`crate::exec::run`], the code the
//! simulator runs too; results go back to the reactor as [`Input`]s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::queue::{JobReceiver, JobSender};
use crate::chain::{Chain, PeerId, miner};
use crate::core::block::Block;
use crate::core::params::now_secs;
use crate::exec;
use crate::protocol::Input;

/// How long the worker spends on chain work, for `/metrics`: wall-clock
/// seconds, buckets from 0.1 ms to about 26 s (×4 each).
#[derive(Debug, Clone)]
pub struct Timings {
    /// One observation per batch of blocks handed to
    /// [`Chain::process_blocks`] (up to [`crate::chain::MAX_RUN_BLOCKS`]
    /// from one peer, or one minted block): validation, connect or reorg, and the
    /// mempool's update, together.
    pub blocks: prometheus_client::metrics::histogram::Histogram,
    /// One observation per transaction checked for the mempool (a run's
    /// time shared evenly among its transactions).
    pub txs: prometheus_client::metrics::histogram::Histogram,
}

impl Default for Timings {
    fn default() -> Timings {
        use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
        Timings {
            blocks: Histogram::new(exponential_buckets(0.000_1, 4.0, 10)),
            txs: Histogram::new(exponential_buckets(0.000_1, 4.0, 10)),
        }
    }
}

/// A read-only query run on the worker, between chain updates.
pub type QueryJob = Box<dyn FnOnce(&Chain) -> anyhow::Result<String> + Send>;

/// Work for the chain worker.
pub enum Job {
    /// Chain work the protocol asked for (or a solved block), carried out
    /// by [`crate::exec::run`] as the simulator does.
    Chain(exec::Job),
    /// A control-socket query and where its answer goes.
    Query(QueryJob, oneshot::Sender<anyhow::Result<String>>),
    /// Finish: every job queued before this one has run.
    Stop,
}

impl Job {
    /// The lane the job waits in ([`exec::Job::lane`]); `None`: local
    /// work, queries and [`Job::Stop`].
    pub fn lane(&self) -> Option<PeerId> {
        match self {
            Job::Chain(job) => job.lane(),
            _ => None,
        }
    }
}

/// Runs the worker until [`Job::Stop`] (or every sender of `jobs` is
/// gone), timing its chain work into `timings`; returns the chain so the
/// caller can flush its store.
pub fn run(
    mut chain: Chain,
    jobs: JobReceiver,
    own: JobSender,
    (inputs, timings): (mpsc::Sender<Input>, Timings),
    threads: usize,
) -> Chain {
    let mut mining: Option<Arc<AtomicBool>> = None;
    let report = |input: Input| {
        let _ = inputs.blocking_send(input);
    };
    // A job taken from the queue while gathering a run, run next.
    let mut next: Option<Job> = None;
    let mut gap = MintGap::default();
    loop {
        // True when the job below is the held mint, due now.
        let mut due = false;
        if next.is_none()
            && let Some((job, mint)) = gap.next(&jobs)
        {
            next = Some(job);
            due = mint;
        }
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv_timeout(IDLE_FLUSH) {
                Some(job) => job,
                None => {
                    // Idle (a sync ended, or between blocks): write the
                    // chain-state cache out while nothing waits.
                    if let Err(e) = chain.store().flush_state() {
                        warn!("could not flush the chain state: {e}");
                    }
                    continue;
                }
            },
        };
        let job = match job {
            Job::Chain(job) if due => job,
            Job::Chain(job) => match gap.admit(job) {
                Some(job) => job,
                None => continue,
            },
            Job::Query(q, reply) => {
                let _ = reply.send(q(&chain));
                continue;
            }
            Job::Stop => break,
        };
        if let exec::Job::Minted(block) = &job {
            mining = None;
            gap.minted();
            if block.is_none() {
                info!("minting abandoned: a new tip arrived first");
            }
        }
        // The run gathers the jobs of the same lane queued behind this
        // one; a query or stop met meanwhile runs next.
        let mut held = None;
        // A run of blocks asks again after `None` (blocks may arrive while
        // it is verified): once a query or stop is held, nothing more is
        // taken, so none is lost.
        let mut more = || {
            if held.is_some() {
                return None;
            }
            match jobs.try_recv() {
                Ok(Job::Chain(job)) => Some(job),
                Ok(other) => {
                    held = Some(other);
                    None
                }
                Err(_) => None,
            }
        };
        let started = Instant::now();
        // A run of blocks reports each step written at once, so the
        // protocol asks for the next blocks while the rest is verified.
        let done = exec::run_with(
            &mut chain,
            job,
            &mut more,
            Some(&mut |input| report(input)),
            now_secs(),
        );
        let elapsed = started.elapsed().as_secs_f64();
        match done.work {
            exec::Work::Blocks(_) => timings.blocks.observe(elapsed),
            exec::Work::Txs(n) => {
                for _ in 0..n {
                    timings.txs.observe(elapsed / n.max(1) as f64);
                }
            }
            exec::Work::Other => {}
        }
        next = done.next.map(Job::Chain).or(held);
        if done.new_tip {
            cancel(&mining);
        }
        if let Some(w) = done.warning {
            warn!("{w}");
        }
        if let Some(block) = done.solve {
            mining = Some(spawn_miner(block, threads, own.clone()));
        }
        for input in done.inputs {
            report(input);
        }
    }
    cancel(&mining);
    chain
}

/// Least time between two blocks minted here at the mint threshold: a
/// mint asked for sooner after the last one waits (chain work queued
/// meanwhile runs; `node mint`, threshold 0, does not wait), so a
/// steady stream of payments is minted in blocks of many rather than a
/// block per few (each block costs every node a connect, a store write,
/// an index step and a push to each peer, whatever it holds; a peer
/// pushed blocks faster than it connects them drops some). Proof of work
/// at a low difficulty takes microseconds, so without it a minter at a
/// threshold of 2 mints as fast as its chain worker turns.
const MINT_GAP: std::time::Duration = std::time::Duration::from_millis(25);

/// The minter's own mints spaced [`MINT_GAP`] apart ([`run`]): when the
/// last block minted here was connected (or abandoned), and the mint held
/// until the gap has passed since, with its time.
#[derive(Default)]
struct MintGap {
    last_minted: Option<Instant>,
    held: Option<(exec::Job, Instant)>,
}

impl MintGap {
    /// With a mint held: the next job queued before it is due (chain work
    /// queued meanwhile runs first), else the mint itself, due now (true).
    /// `None` with no mint held.
    fn next(&mut self, jobs: &JobReceiver) -> Option<(Job, bool)> {
        let (_, at) = self.held.as_ref()?;
        let left = at.saturating_duration_since(Instant::now());
        if let Some(job) = jobs.recv_timeout(left) {
            return Some((job, false));
        }
        let (mint, _) = self.held.take()?;
        Some((Job::Chain(mint), true))
    }

    /// `job`, to run now; `None` when it is a mint at the threshold asked
    /// within the gap, held until due. A threshold of 0 is `node mint`,
    /// the operator's: at once.
    fn admit(&mut self, job: exec::Job) -> Option<exec::Job> {
        if !matches!(job, exec::Job::Mint { threshold: 1.., .. }) || self.held.is_some() {
            return Some(job);
        }
        match self.last_minted.map(|t| t + MINT_GAP) {
            Some(at) if at > Instant::now() => {
                self.held = Some((job, at));
                None
            }
            _ => Some(job),
        }
    }

    /// A block minted here was connected or abandoned now.
    fn minted(&mut self) {
        self.last_minted = Some(Instant::now());
    }
}

/// How long the worker waits with nothing queued before it flushes the
/// chain-state cache (`store/cache.rs`): long enough that a sync's next
/// blocks arrive first, short enough that a synced node's state is on disk
/// a moment after each block.
const IDLE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

fn cancel(mining: &Option<Arc<AtomicBool>>) {
    if let Some(cancel) = mining {
        cancel.store(true, Ordering::Relaxed);
    }
}

/// Solves `block` on a thread of its own; the result comes back as
/// [`Job::Minted`]. Returns the flag that abandons it.
fn spawn_miner(mut block: Block, threads: usize, jobs: JobSender) -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    info!(
        "minting a block of {} transactions at height {}",
        block.transactions.len().saturating_sub(1),
        block.height
    );
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let solved = miner::solve(&mut block, threads, &flag);
        if solved {
            info!(
                "minted block {} (nonce {}, {:.2}s)",
                block.hash(),
                block.header.nonce,
                started.elapsed().as_secs_f64()
            );
        }
        let _ = jobs.send(Job::Chain(exec::Job::Minted(solved.then_some(block))));
    });
    cancel
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validation::SigCache;
    use crate::store::ChainStore;

    /// A worker on a chain with no genesis yet (every mint ends at once
    /// with [`Input::MintDone`]), with its queue and what it reports.
    fn worker() -> (
        std::thread::JoinHandle<Chain>,
        JobSender,
        mpsc::Receiver<Input>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ChainStore::open(&dir.path().join("chain"), 1 << 20).expect("store");
        let (chain, _) = Chain::open(store, Arc::new(SigCache::new(16))).expect("chain");
        let (tx, rx) = super::super::queue::channel();
        let (inputs, reports) = mpsc::channel(16);
        let own = tx.clone();
        let handle =
            std::thread::spawn(move || run(chain, rx, own, (inputs, Timings::default()), 1));
        (handle, tx, reports, dir)
    }

    fn mint() -> Job {
        Job::Chain(exec::Job::Mint {
            minter: [0; 20],
            time: 0,
            threshold: 1,
        })
    }

    fn mint_done(reports: &mut mpsc::Receiver<Input>) -> Instant {
        loop {
            match reports.blocking_recv() {
                Some(Input::MintDone) => return Instant::now(),
                Some(_) => continue,
                None => panic!("the worker stopped"),
            }
        }
    }

    #[test]
    fn a_mint_asked_soon_after_a_minted_block_waits_for_the_gap_and_lets_queued_work_run() {
        let (handle, jobs, mut reports, _dir) = worker();
        // A first mint, with no block minted before, runs at once.
        jobs.send(mint()).expect("send");
        mint_done(&mut reports);
        // A block comes back from the miner (abandoned here), then the next
        // mint is asked for at once, with a query queued behind it.
        let before = Instant::now();
        jobs.send(Job::Chain(exec::Job::Minted(None)))
            .expect("send");
        mint_done(&mut reports);
        jobs.send(mint()).expect("send");
        let (queried_tx, queried) = std::sync::mpsc::channel();
        let (reply, _) = oneshot::channel();
        let query: QueryJob = Box::new(move |_| {
            let _ = queried_tx.send(Instant::now());
            Ok(String::new())
        });
        jobs.send(Job::Query(query, reply)).expect("send");
        let second = mint_done(&mut reports);
        let query_ran = queried.recv().expect("the query ran");
        assert!(
            second.duration_since(before) >= MINT_GAP,
            "the mint ran {:?} after the minted block, under {MINT_GAP:?}",
            second.duration_since(before)
        );
        assert!(query_ran < second, "the queued query waited for the mint");
        // `node mint` (threshold 0) right after a minted block runs at
        // once: before the query queued behind it, which waits until the
        // mint's verdict is in.
        jobs.send(Job::Chain(exec::Job::Minted(None)))
            .expect("send");
        mint_done(&mut reports);
        jobs.send(Job::Chain(exec::Job::Mint {
            minter: [0; 20],
            time: 0,
            threshold: 0,
        }))
        .expect("send");
        let (go_tx, go) = std::sync::mpsc::channel::<()>();
        let (released_tx, released) = std::sync::mpsc::channel();
        let (reply, _) = oneshot::channel();
        let query: QueryJob = Box::new(move |_| {
            let in_time = go.recv_timeout(std::time::Duration::from_secs(10)).is_ok();
            let _ = released_tx.send(in_time);
            Ok(String::new())
        });
        jobs.send(Job::Query(query, reply)).expect("send");
        mint_done(&mut reports);
        let _ = go_tx.send(());
        assert!(
            released.recv().expect("the query ran"),
            "the mint waited behind the query"
        );
        jobs.send(Job::Stop).expect("send");
        handle.join().expect("the worker ran");
    }
}

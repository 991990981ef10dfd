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
    loop {
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
            Job::Chain(job) => job,
            Job::Query(q, reply) => {
                let _ = reply.send(q(&chain));
                continue;
            }
            Job::Stop => break,
        };
        if let exec::Job::Minted(block) = &job {
            mining = None;
            if block.is_none() {
                info!("minting abandoned: a new tip arrived first");
            }
        }
        // The run gathers the jobs of the same lane queued behind this
        // one; a query or stop met meanwhile runs next.
        let mut held = None;
        let mut more = || match jobs.try_recv() {
            Ok(Job::Chain(job)) => Some(job),
            Ok(other) => {
                held = Some(other);
                None
            }
            Err(_) => None,
        };
        let started = Instant::now();
        let done = exec::run(&mut chain, job, &mut more, now_secs());
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
